//! Dockhand's HTTP side: the Docker Engine API served on a unix socket.

use std::path::PathBuf;

/// What `dockhand daemon` is started with (dockerd's flag names).
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// `--data-root`, default `/var/lib/dockhand`.
    pub data_root: PathBuf,
    /// `-H unix:///PATH`, default `/run/dockhand.sock`.
    pub socket: PathBuf,
}

/// Run the daemon until SIGTERM/SIGINT. Builds its own tokio runtime.
pub fn run_daemon(opts: DaemonOptions) -> std::io::Result<()> {
    let _ = opts;
    Err(std::io::Error::other("daemon not implemented yet"))
}
