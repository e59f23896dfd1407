//! What every backend shares: the `CgroupManager` trait and the enum that
//! dispatches to a backend (youki's `libcgroups/src/common.rs` shape), and small
//! helpers for reading and writing cgroupfs files.

use super::error::CgroupError;
use super::layout::Controller;
use super::limits::Limits;
use super::v1::V1Manager;
use super::v2::V2Manager;
use crate::error::{IoContext, IoError};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The cgroup of one container, in every hierarchy the host has.
pub trait CgroupManager {
    /// Create the cgroup and its missing ancestors. Creating twice is fine.
    fn create(&self) -> Result<(), CgroupError>;
    /// Move a process (all its threads) into the cgroup in every hierarchy.
    fn add_pid(&self, pid: i32) -> Result<(), CgroupError>;
    /// Stop every process of the cgroup and wait until the kernel says so.
    fn freeze(&self) -> Result<(), CgroupError>;
    /// Let the processes run again.
    fn thaw(&self) -> Result<(), CgroupError>;
    fn is_frozen(&self) -> Result<bool, CgroupError>;
    /// The processes in the cgroup, sorted.
    fn pids(&self) -> Result<Vec<i32>, CgroupError>;
    /// SIGKILL every process in the cgroup, also ones forked meanwhile.
    fn kill_all(&self) -> Result<(), CgroupError>;
    /// Remove the cgroup from every hierarchy, and the daemon's and the prefix's
    /// directories above it once they are empty. Removing twice is fine.
    fn remove(&self) -> Result<(), CgroupError>;
    /// Write resource limits; `None` fields are left as they are, so applying
    /// is idempotent and serves `update` of a running container as well.
    fn apply(&self, limits: &Limits) -> Result<(), CgroupError>;
    /// Read back what the kernel holds, in the units of `Limits` (-1 for
    /// unlimited; `None` where the host lacks the file). On v2 the shares come
    /// back from `cpu.weight` as the smallest value with that weight.
    fn read_limits(&self) -> Result<Limits, CgroupError>;
    /// How many processes the OOM killer has killed in the cgroup
    /// (`oom_kill` of `memory.oom_control` on v1, `memory.events` on v2);
    /// `None` when the kernel does not count them.
    fn oom_kills(&self) -> Result<Option<u64>, CgroupError>;
    /// Where the cgroup lives for a controller (for diagnostics and stats);
    /// `None` when the host does not offer that controller.
    fn path(&self, controller: Controller) -> Option<PathBuf>;
}

/// A container's cgroup on whichever backend the host needs.
#[derive(Debug, Clone)]
pub enum AnyCgroupManager {
    /// Legacy and hybrid hosts.
    V1(V1Manager),
    /// Unified hosts.
    V2(V2Manager),
}

macro_rules! dispatch {
    ($self:ident, $m:ident => $e:expr) => {
        match $self {
            AnyCgroupManager::V1($m) => $e,
            AnyCgroupManager::V2($m) => $e,
        }
    };
}

impl CgroupManager for AnyCgroupManager {
    fn create(&self) -> Result<(), CgroupError> {
        dispatch!(self, m => m.create())
    }
    fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        dispatch!(self, m => m.add_pid(pid))
    }
    fn freeze(&self) -> Result<(), CgroupError> {
        dispatch!(self, m => m.freeze())
    }
    fn thaw(&self) -> Result<(), CgroupError> {
        dispatch!(self, m => m.thaw())
    }
    fn is_frozen(&self) -> Result<bool, CgroupError> {
        dispatch!(self, m => m.is_frozen())
    }
    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        dispatch!(self, m => m.pids())
    }
    fn kill_all(&self) -> Result<(), CgroupError> {
        dispatch!(self, m => m.kill_all())
    }
    fn remove(&self) -> Result<(), CgroupError> {
        dispatch!(self, m => m.remove())
    }
    fn apply(&self, limits: &Limits) -> Result<(), CgroupError> {
        dispatch!(self, m => m.apply(limits))
    }
    fn read_limits(&self) -> Result<Limits, CgroupError> {
        dispatch!(self, m => m.read_limits())
    }
    fn oom_kills(&self) -> Result<Option<u64>, CgroupError> {
        dispatch!(self, m => m.oom_kills())
    }
    fn path(&self, controller: Controller) -> Option<PathBuf> {
        dispatch!(self, m => m.path(controller))
    }
}

/// How cgroup directories are made and unmade. The kernel fills a new cgroup
/// with its control files and lets `rmdir` remove a directory that still shows
/// them; a temp-dir tree in tests needs both done by hand (see `test_tree`).
pub(crate) trait TreeOps: Send + Sync + std::fmt::Debug {
    fn mkdir(&self, dir: &Path) -> io::Result<()>;
    fn rmdir(&self, dir: &Path) -> io::Result<()>;
}

/// The real kernel: plain `mkdir` and `rmdir`.
#[derive(Debug)]
pub(crate) struct KernelTree;

impl TreeOps for KernelTree {
    fn mkdir(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir(dir)
    }
    fn rmdir(&self, dir: &Path) -> io::Result<()> {
        fs::remove_dir(dir)
    }
}

/// A prefix, daemon or container name must be one plain path component: it is
/// joined onto cgroupfs paths that we later `rmdir`.
pub(crate) fn check_name(name: &str) -> Result<(), CgroupError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(CgroupError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// How many times `create` walks its path again when a parent vanished.
const CREATE_ATTEMPTS: usize = 20;

/// Create a cgroup path with `walk` (which makes each missing directory from
/// the root down), again when a parent vanished under it: removing the last
/// container of a daemon removes the emptied `<prefix>/<daemon>` and
/// `<prefix>`, and a create between its mkdirs then meets ENOENT (or ENODEV,
/// reading a control file of a directory the kernel is removing). Once the
/// leaf exists no parent is empty, so a finished walk stays whole.
pub(crate) fn create_path(
    mut walk: impl FnMut() -> Result<(), CgroupError>,
) -> Result<(), CgroupError> {
    let mut attempt = 1;
    loop {
        match walk() {
            Err(CgroupError::Io(e)) if vanished(&e.source) && attempt < CREATE_ATTEMPTS => {
                attempt += 1;
            }
            r => return r,
        }
    }
}

/// Whether an error means the cgroup directory is gone or going.
fn vanished(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENODEV)
}

/// Create `dir` if missing; `Ok(true)` when this call created it.
pub(crate) fn mkdir(ops: &dyn TreeOps, dir: &Path) -> Result<bool, CgroupError> {
    match ops.mkdir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(IoError::new("create cgroup", dir, e).into()),
    }
}

pub(crate) fn read(path: &Path) -> Result<String, CgroupError> {
    Ok(fs::read_to_string(path).ctx("read", path)?)
}

/// Read a file that may be absent (an optional kernel feature).
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>, CgroupError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IoError::new("read", path, e).into()),
    }
}

/// Write a control file in one `write(2)`, as the kernel expects.
pub(crate) fn write(path: &Path, data: &str) -> Result<(), CgroupError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .ctx("open", path)?;
    f.write_all(data.as_bytes()).ctx("write", path)?;
    Ok(())
}

/// Read and parse an optional one-value file; `Ok(None)` when it is absent.
pub(crate) fn read_parsed<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, CgroupError> {
    match read_opt(path)? {
        None => Ok(None),
        Some(text) => parse(&text).map(Some).ok_or_else(|| CgroupError::Parse {
            path: path.to_path_buf(),
            content: text,
        }),
    }
}

/// Whether a cgroup error is the kernel's EINVAL for a write.
pub(crate) fn is_einval(e: &CgroupError) -> bool {
    matches!(e, CgroupError::Io(io) if io.source.raw_os_error() == Some(libc::EINVAL))
}

/// Parse `cgroup.procs`: one pid per line.
pub(crate) fn read_pids(procs: &Path) -> Result<Vec<i32>, CgroupError> {
    let text = match read_opt(procs)? {
        Some(t) => t,
        None => return Ok(Vec::new()),
    };
    let mut pids = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let pid = line.parse::<i32>().map_err(|_| CgroupError::Parse {
            path: procs.to_path_buf(),
            content: line.to_string(),
        })?;
        pids.push(pid);
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// SIGKILL one process; one that is already gone is not an error.
/// Kill every process of a cgroup by signal: freeze first (when the freezer is
/// there) so that none can fork between reading the list and the kill; SIGKILL
/// stays pending until the thaw, then they die.
pub(crate) fn freeze_kill_thaw(m: &impl CgroupManager) -> Result<(), CgroupError> {
    let frozen = match m.freeze() {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!("kill_all without freezing: {e}");
            false
        }
    };
    let killed = m
        .pids()
        .and_then(|pids| pids.into_iter().try_for_each(sigkill));
    let thawed = if frozen { m.thaw() } else { Ok(()) };
    killed.and(thawed)
}

pub(crate) fn sigkill(pid: i32) -> Result<(), CgroupError> {
    match kill(Pid::from_raw(pid), Signal::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(source) => Err(CgroupError::Signal { pid, source }),
    }
}

/// Poll `check` with a growing pause until it holds or `timeout` passes.
pub(crate) fn wait_until(
    timeout: Duration,
    mut check: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<bool, CgroupError> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    loop {
        if check()? {
            return Ok(true);
        }
        if start.elapsed() >= timeout {
            return Ok(false);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// How long `remove` keeps retrying while the last processes exit.
const RMDIR_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// Remove a leaf cgroup. EBUSY means processes are still exiting (after a
/// kill), so retry for a while; an absent directory is already removed.
pub(crate) fn rmdir_leaf(ops: &dyn TreeOps, dir: &Path) -> Result<(), CgroupError> {
    let mut last = None;
    let done = wait_until(RMDIR_BUSY_TIMEOUT, || match ops.rmdir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            last = Some(e);
            Ok(false)
        }
        Err(e) => Err(IoError::new("remove cgroup", dir, e).into()),
    })?;
    match (done, last) {
        (false, Some(e)) => Err(IoError::new("remove cgroup", dir, e).into()),
        _ => Ok(()),
    }
}

/// Remove a parent (`<prefix>/<daemon>`, `<prefix>`) if nothing else lives there.
pub(crate) fn rmdir_if_empty(ops: &dyn TreeOps, dir: &Path) -> Result<(), CgroupError> {
    match ops.rmdir(dir) {
        Ok(()) => Ok(()),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EBUSY)) =>
        {
            Ok(())
        }
        Err(e) => Err(IoError::new("remove cgroup", dir, e).into()),
    }
}

/// The names of the child cgroups of `dir`; none when `dir` is absent.
pub(crate) fn child_cgroups(dir: &Path) -> Result<Vec<String>, CgroupError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(IoError::new("read dir", dir, e).into()),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.ctx("read dir", dir)?;
        if entry.file_type().ctx("stat", entry.path())?.is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Thaw every cgroup of a subtree and SIGKILL what runs there. A frozen process
/// cannot die, and on v1 it may be frozen in another hierarchy than the one
/// being removed, so this runs over every tree before any `remove_tree`.
pub(crate) fn thaw_and_kill_tree(dir: &Path) -> Result<(), CgroupError> {
    if !dir.exists() {
        return Ok(());
    }
    for child in child_cgroups(dir)? {
        thaw_and_kill_tree(&dir.join(child))?;
    }
    let state = dir.join("freezer.state");
    if state.exists() {
        write(&state, "THAWED")?;
    }
    let freeze = dir.join("cgroup.freeze");
    if freeze.exists() {
        write(&freeze, "0")?;
    }
    for pid in read_pids(&dir.join("cgroup.procs"))? {
        sigkill(pid)?;
    }
    Ok(())
}

/// Remove a whole subtree, deepest first. For daemon shutdown and tests, never
/// for a single container.
pub(crate) fn remove_tree(ops: &dyn TreeOps, dir: &Path) -> Result<(), CgroupError> {
    if !dir.exists() {
        return Ok(());
    }
    for child in child_cgroups(dir)? {
        remove_tree(ops, &dir.join(child))?;
    }
    rmdir_leaf(ops, dir)
}
