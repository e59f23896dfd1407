//! The cgroup module's errors. Every I/O failure carries the operation and the
//! path it touched (youki's `WrappedIoError`), because "permission denied" alone
//! says nothing when a container start fails on an unusual host.

use crate::error::IoError;
use std::path::PathBuf;
use std::time::Duration;

/// Anything that can go wrong while managing cgroups.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A read, write, mkdir or rmdir on cgroupfs failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Neither a cgroup2 tree nor any v1 controller hierarchy is mounted there.
    #[error("no cgroup filesystem found at {0}")]
    NoCgroupfs(PathBuf),
    /// A prefix, daemon or container name that is not a single path component.
    #[error("invalid cgroup name {0:?}")]
    InvalidName(String),
    /// The operation needs a controller this host does not mount.
    #[error("cgroup controller {0} is not available on this host")]
    MissingController(&'static str),
    /// The freezer did not settle in time (a task stuck in the kernel, or a
    /// process that keeps forking).
    #[error("cgroup {path} did not become {want} within {waited:?}")]
    FreezeTimeout {
        path: PathBuf,
        want: &'static str,
        waited: Duration,
    },
    /// A cgroup file held something that is not what the kernel writes there.
    #[error("unexpected content in {path}: {content:?}")]
    Parse { path: PathBuf, content: String },
    /// A limit needs a control file this kernel does not offer (e.g.
    /// `memory.memsw.limit_in_bytes` without swap accounting).
    #[error("cgroup file {0} does not exist: the kernel does not support this limit")]
    MissingFile(PathBuf),
    /// A limit cgroup v2 cannot express.
    #[error("{0} is not supported on cgroup v2")]
    Unsupported(&'static str),
    /// Limits that contradict each other.
    #[error("{0}")]
    InvalidLimits(String),
    /// Sending a signal to a process of the cgroup failed.
    #[error("kill {pid}: {source}")]
    Signal {
        pid: i32,
        #[source]
        source: nix::Error,
    },
}
