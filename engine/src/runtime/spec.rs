//! What the daemon tells a container's monitor: written as `spec.json` in the
//! container's directory before the monitor is spawned.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RuntimeSpec {
    pub id: String,
    /// Where the overlay root is mounted (inside the container's mount namespace only).
    pub rootfs: PathBuf,
    /// Lower layers, bottom-most first (the container's init layer last).
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
    pub hostname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub no_new_privileges: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// Files bind-mounted at /etc/hosts, /etc/hostname, /etc/resolv.conf.
    pub hosts_path: PathBuf,
    pub hostname_path: PathBuf,
    pub resolv_conf_path: PathBuf,
    /// The json-file log the monitor appends to.
    pub log_path: PathBuf,
    /// The monitor's unix socket for attach and exit notification.
    pub socket: PathBuf,
    /// Where the monitor records the exit status (atomically).
    pub exit_path: PathBuf,
}

/// What the monitor writes to `exit_path` when the container's PID 1 is gone.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ExitStatus {
    /// Docker's exit code: the process's own, or 128+N for signal N.
    pub code: i64,
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds.
    pub finished_at: String,
}

/// The monitor's report lines to the daemon on its stdout (JSON, one per line).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum MonitorReport {
    /// The container's init is set up and waits for the go; attach now.
    Ready { pid: i32 },
    /// `execve` succeeded: the container runs.
    Started,
    /// Setup or exec failed; nothing runs. `code` is Docker's (125/126/127).
    Failed { code: i64, message: String },
}
