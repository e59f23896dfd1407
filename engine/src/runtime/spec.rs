//! What the daemon tells a container's monitor: written as `spec.json` in the
//! container's directory before the monitor is spawned.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The process to run: the container's own or an exec'd one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProcessSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
    pub hostname: String,
    pub tty: bool,
    pub privileged: bool,
    pub no_new_privileges: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `HostConfig.GroupAdd`: more supplementary groups, names or numbers.
    #[serde(default)]
    pub group_add: Vec<String>,
    /// Seccomp filters to install before `execve`, in order; none: unconfined.
    #[serde(default)]
    pub seccomp: Option<Vec<crate::runtime::seccomp::Program>>,
}

/// Which network namespace the container's processes live in.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum NetNamespace {
    /// A new one (loopback up; the daemon adds interfaces before the process runs).
    #[default]
    New,
    /// The host's (`--net host`).
    Host,
    /// That of another container's PID 1 (`--net container:NAME`).
    Join(i32),
}

/// A volume, bind or tmpfs mounted into the container's root after /proc, /dev
/// and the hosts files, before the switch into the root.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SpecMount {
    /// `bind` (host paths and volumes) or `tmpfs`.
    pub kind: String,
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub destination: String,
    pub readonly: bool,
    /// tmpfs options as `--tmpfs` writes them (`size=64m,mode=1777,exec`).
    pub options: String,
    /// A volume: fill it from the image's content at the destination when empty.
    pub copy_up: bool,
    /// A path of the virtual host (`-v /data:/data` inside one): resolved in its
    /// mount namespace, not the machine's.
    #[serde(default)]
    pub in_sandbox: bool,
    /// The source is not ours to make (a bind volume's device): a missing one
    /// fails the start instead of being created as `-v` does.
    #[serde(default)]
    pub must_exist: bool,
}

/// A virtual host's namespaces, for its containers and for its own init.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SandboxNs {
    /// Real pid of the virtual host's init: its user, pid, net, uts, ipc and mount
    /// namespaces are "the host" of this container. `None` for that init itself,
    /// which gets a new user namespace with the mapping below.
    pub init_pid: Option<i32>,
    /// uid and gid `0..size` inside are `base..base+size` on the machine.
    pub uid_base: u32,
    pub size: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RuntimeSpec {
    /// Volumes, binds and tmpfs mounts, in mount order.
    #[serde(default)]
    pub mounts: Vec<SpecMount>,
    #[serde(default)]
    pub net: NetNamespace,
    /// `--pid host`, `--ipc host`, `--uts host`: share the host's namespace (the
    /// virtual host's, in one).
    #[serde(default)]
    pub pid_host: bool,
    #[serde(default)]
    pub ipc_host: bool,
    #[serde(default)]
    pub uts_host: bool,
    /// Set for containers of a virtual host and for its init.
    #[serde(default)]
    pub sandbox: Option<SandboxNs>,
    /// Extra read-only binds of our own binary (the virtual host's
    /// `/usr/local/bin/docker`), and a file or socket bound at a path.
    #[serde(default)]
    pub self_binds: Vec<String>,
    pub id: String,
    /// Where the overlay root is mounted (inside the container's mount namespace only).
    pub rootfs: PathBuf,
    /// Lower layers, bottom-most first (the container's init layer last).
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub process: ProcessSpec,
    pub open_stdin: bool,
    /// Close the process's stdin when the (last) attached client closes its input.
    pub stdin_once: bool,
    /// `[rows, cols]` of the TTY at start.
    pub console_size: Option<[u16; 2]>,
    pub readonly_rootfs: bool,
    /// `--init`: our own binary is bind-mounted at /sbin/docker-init and runs as PID 1.
    pub init: bool,
    /// Files bind-mounted at /etc/hosts, /etc/hostname, /etc/resolv.conf.
    pub hosts_path: PathBuf,
    pub hostname_path: PathBuf,
    pub resolv_conf_path: PathBuf,
    /// The json-file log the monitor appends to.
    pub log_path: PathBuf,
    /// Rotate the log past this size (`--log-opt max-size`), keeping `log_max_file` files.
    pub log_max_size: Option<u64>,
    pub log_max_file: u32,
    /// `cgroup.procs` files every process of the container is written to.
    pub cgroup_procs: Vec<PathBuf>,
    /// A cgroup namespace of its own, rooted at its cgroup (`--cgroupns
    /// private`, Docker's default on cgroup v2).
    #[serde(default)]
    pub cgroupns: bool,
    /// Mount the cgroup2 tree at /sys/fs/cgroup (a private namespace on a
    /// cgroup v2 machine: the container sees its own cgroup as the root).
    #[serde(default)]
    pub cgroup2_mount: bool,
    /// The monitor's unix socket for attach, exec and exit notification.
    pub socket: PathBuf,
    /// Where the monitor records the exit status (atomically).
    pub exit_path: PathBuf,
}

/// An exec'd process, started by the monitor in the container's namespaces.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecSpec {
    pub id: String,
    pub process: ProcessSpec,
    pub stdin: bool,
    pub console_size: Option<[u16; 2]>,
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
    Ready {
        pid: i32,
        /// The pid as the virtual host sees it (in a virtual host only).
        #[serde(default, alias = "host_pid", skip_serializing_if = "Option::is_none")]
        vhost_pid: Option<i32>,
        /// The monitor's own pid, when it is not the process the daemon spawned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        monitor: Option<i32>,
    },
    /// `execve` succeeded: the container runs.
    Started,
    /// Setup or exec failed; nothing runs. `code` is Docker's (125/126/127).
    Failed { code: i64, message: String },
}
