//! The per-container monitor process (stub).

/// Entry point of `dockhand __monitor ARGS...`. Never returns.
pub fn main(args: Vec<String>) -> ! {
    let _ = args;
    std::process::exit(1)
}
