//! Test harness: each test starts its own daemon on a temporary data root and
//! socket, drives it with our CLI or the real docker CLI, and on drop removes
//! everything it made (containers, monitors, mounts, files), also when the test
//! fails or panics.

pub mod pty;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The dockhand binary under test: `DOCKHAND_BIN`, else the workspace's debug build.
pub fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("DOCKHAND_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let p = root.join("target/debug/dockhand");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p dockhand-cli` first (or set DOCKHAND_BIN)",
        p.display()
    );
    p
}

/// The real docker CLI, when installed.
pub fn docker_cli() -> Option<PathBuf> {
    let p = PathBuf::from(
        std::env::var_os("DOCKER_CLI").unwrap_or_else(|| "/usr/local/bin/docker".into()),
    );
    p.exists().then_some(p)
}

/// Skip a test visibly when the real docker CLI is absent.
#[macro_export]
macro_rules! require_docker_cli {
    () => {
        match $crate::docker_cli() {
            Some(p) => p,
            None => {
                eprintln!("SKIPPED: the real docker CLI is not installed at /usr/local/bin/docker");
                return;
            }
        }
    };
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
}

/// Output of a CLI run, with helpers for assertions.
pub struct Run {
    pub out: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    /// Assert success and return trimmed stdout.
    #[track_caller]
    pub fn ok(&self) -> String {
        assert_eq!(
            self.code(),
            0,
            "command failed\nstdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self.stdout().trim().to_string()
    }
}

impl Daemon {
    pub fn start() -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("dockhand-test-")
            .tempdir()
            .expect("tempdir");
        let root = dir.path().join("root");
        let socket = dir.path().join("dockhand.sock");
        let mut d = Daemon {
            dir,
            root,
            socket,
            child: None,
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("daemon log");
        let child = Command::new(bin())
            .arg("daemon")
            .arg("--data-root")
            .arg(&self.root)
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start daemon");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("daemon exited with {st}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("daemon did not listen within 20s: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn host_uri(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Run our CLI against this daemon.
    pub fn cli(&self, args: &[&str]) -> Run {
        self.cli_stdin(args, None)
    }

    pub fn cli_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut cmd = Command::new(bin());
        cmd.arg("-H").arg(self.host_uri()).args(args);
        run_with(cmd, stdin)
    }

    /// Run the real docker CLI against this daemon (panics if absent: guard with
    /// `require_docker_cli!`).
    pub fn docker(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(docker_cli().expect("docker CLI"));
        cmd.env("DOCKER_HOST", self.host_uri())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env("DOCKER_BUILDKIT", "0")
            .env("DOCKER_CLI_HINTS", "false")
            .args(args);
        run_with(cmd, None)
    }

    /// SIGKILL the daemon (containers keep running under their monitors).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Pids of processes whose command line mentions this test's directory
    /// (monitors), plus the processes of its containers.
    pub fn leftover_processes(&self) -> Vec<i32> {
        let needle = self.dir.path().to_string_lossy().into_owned();
        let mut pids = vec![];
        let me = std::process::id() as i32;
        let daemon = self.child.as_ref().map(|c| c.id() as i32);
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if pid == me || Some(pid) == daemon {
                continue;
            }
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains(&needle) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Cgroup directories the daemon made (under the prefix it records in its data
    /// root), in every hierarchy.
    pub fn leftover_cgroups(&self) -> Vec<PathBuf> {
        let Ok(prefix) = std::fs::read_to_string(self.root.join("cgroup-prefix")) else {
            return vec![];
        };
        cgroup_dirs(prefix.trim())
    }

    /// Mount points under this test's directory in the host's mount namespace.
    pub fn leftover_mounts(&self) -> Vec<String> {
        let needle = self.dir.path().to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&needle))
            .map(String::from)
            .collect()
    }
}

/// Every directory named `prefix` directly under a cgroup hierarchy root, with
/// everything below it, deepest first.
fn cgroup_dirs(prefix: &str) -> Vec<PathBuf> {
    if prefix.is_empty() || prefix.contains('/') {
        return vec![];
    }
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            roots.push(e.path());
        }
    }
    let mut out = vec![];
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(&e.path(), out);
            }
        }
        out.push(dir.to_path_buf());
    }
    for r in roots {
        let top = r.join(prefix);
        if top.is_dir() {
            walk(&top, &mut out);
        }
    }
    out
}

fn run_with(mut cmd: Command, stdin: Option<&[u8]>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn CLI");
    if let Some(data) = stdin {
        use std::io::Write;
        let mut s = child.stdin.take().expect("stdin");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = s.write_all(&data);
        });
    }
    // Bounded: no CLI call in a test may hang the suite.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Run {
        out: child.wait_with_output().expect("CLI output"),
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Remove containers through the API while the daemon is up; then make sure
        // nothing survives: kill monitors and container processes, detach mounts.
        if self.child.is_some() {
            let ids = self.cli(&["ps", "-aq", "--no-trunc"]).stdout();
            for id in ids.split_whitespace() {
                let _ = self.cli(&["rm", "-f", id]);
            }
        }
        self.kill9();
        for _ in 0..3 {
            let pids = self.leftover_processes();
            if pids.is_empty() {
                break;
            }
            for p in pids {
                // SAFETY: kill(2) on a pid we found; errors are ignored.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for dir in self.leftover_cgroups() {
            for pid in std::fs::read_to_string(dir.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
            {
                if let Ok(p) = pid.trim().parse::<i32>() {
                    // SAFETY: kill(2) on a pid listed in our own cgroup.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
            }
            let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
            for _ in 0..20 {
                if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for m in self.leftover_mounts().iter().rev() {
            let c = std::ffi::CString::new(m.as_str()).expect("path");
            // SAFETY: umount2 with a path string we own.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}
