//! Helpers for unit tests (the engine's and the server's).

/// Whether this test may use the kernel as root (mounts, netlink, chown);
/// when it may not, it says so on stderr and is to be skipped.
pub fn root_or_skip() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    // libtest names each test's thread after the test.
    let name = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    // Straight to stderr: libtest captures `eprintln!` of passing tests.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {name} needs root");
    false
}

/// Skip the calling test (return) unless it runs as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::testing::root_or_skip() {
            return;
        }
    };
}
pub use require_root;
