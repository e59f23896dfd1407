//! A daemon: what one Docker API socket serves, one tenant's view of the
//! engine. The machine's daemon is `default`; each virtual host (`crate::vhost`)
//! has its own, scoped to the virtual host's namespaces ([`VirtualNs`]). A
//! daemon owns its container records, its image names (through `ImageStore`)
//! and the monitors of its running containers; its files are under
//! `<data_root>/daemons/<name>` ([`dir_in`]).
//!
//! Container state lives in memory behind a std mutex (never held across an
//! `.await`) and on disk as `containers/<id>/config.v2.json`, written atomically
//! after every change. A `watch` channel per container wakes `wait` callers.

use crate::container::{self, Filters};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{read_json, write_json_atomic};
use crate::image::ImageStore;
use crate::logs::LogEntry;
use crate::monitor::{AttachRequest, EXIT_STREAM};
use crate::runtime::spec::{ExecSpec, ExitStatus, MonitorReport, ProcessSpec, RuntimeSpec};
use crate::{names, time};
use shared::api::{
    ContainerCreateRequest, ContainerInspect, ContainerSummary, IdResponse, WaitResponse,
};
use shared::sync::Locked;

mod archive_path;
mod attach;
mod cgroups;
mod config;
mod create;
#[cfg(test)]
mod create_tests;
mod events;
mod exec;
mod exit;
mod health;
mod logs;
mod net;
mod records;
mod remove;
mod resources;
mod sandbox;
mod start;
mod stop_kill;
#[cfg(test)]
mod tests;
mod units;
mod volumes;

pub use archive_path::{ArchiveSource, ContainerView, ExtractRequest};
pub use cgroups::open_cgroups;
pub use config::{container_resolv_conf, validate_host_config, HOSTS_BASE};
pub use exit::should_restart;
pub use units::{parse_signal, parse_size};

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{oneshot, watch};

/// What `wait` callers watch.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub exits: u64,
    pub exit_code: i64,
    pub running: bool,
    pub removed: bool,
}

struct Pending {
    req: AttachRequest,
    tx: oneshot::Sender<Result<UnixStream>>,
}

struct Entry {
    rec: ContainerInspect,
    watch: watch::Sender<Watch>,
    pending: Vec<Pending>,
    starting: bool,
    /// Docker's `HasBeenManuallyStopped`: stop, or kill with a fatal signal,
    /// suspends the restart policy until the next start.
    manual_stop: bool,
    /// Restart back-off (doubles from 100 ms while the process keeps dying fast).
    backoff: std::time::Duration,
    /// A scheduled restart, cancelled by stop, kill, start and rm.
    restart_task: Option<tokio::task::AbortHandle>,
    /// PID 1 as the virtual host sees it (`State.Pid` there); 0 on the machine,
    /// where `rec.state.pid` is both.
    vhost_pid: i64,
}

impl Entry {
    fn new(
        rec: ContainerInspect,
        watch: watch::Sender<Watch>,
        starting: bool,
        manual_stop: bool,
    ) -> Entry {
        Entry {
            rec,
            watch,
            pending: vec![],
            starting,
            manual_stop,
            backoff: std::time::Duration::ZERO,
            restart_task: None,
            vhost_pid: 0,
        }
    }

    fn cancel_restart(&mut self) {
        if let Some(t) = self.restart_task.take() {
            t.abort();
        }
        if self.rec.state.restarting {
            self.rec.state.restarting = false;
            self.rec.state.status = "exited".into();
        }
    }
}

/// The on-disk record: what inspect shows plus the daemon's own bookkeeping.
#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    #[serde(flatten)]
    inspect: ContainerInspect,
    #[serde(rename = "HasBeenManuallyStopped", default)]
    manual_stop: bool,
    /// See `Entry::vhost_pid` (`HostPid` in records of earlier versions).
    #[serde(
        rename = "VhostPid",
        alias = "HostPid",
        default,
        skip_serializing_if = "is_zero"
    )]
    vhost_pid: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The label of a virtual host's own init, a container no API call shows.
pub const SANDBOX_LABEL: &str = "dockhand.sandbox";

fn hidden(rec: &ContainerInspect) -> bool {
    rec.config.labels.contains_key(SANDBOX_LABEL)
}

/// What makes a daemon a virtual host's: its uid range and its init (see `engine::vhost`).
#[derive(Debug)]
pub struct VirtualNs {
    /// uid/gid 0..size inside are uid_base..uid_base+size on the machine.
    pub uid_base: u32,
    pub size: u32,
    /// What `hostname` says inside (node1).
    pub hostname: String,
    /// The read-only root layer of the virtual host itself.
    pub base_layer: PathBuf,
    /// The socket bound at /var/run/docker.sock inside.
    pub socket: PathBuf,
    /// Real pid of its init; 0 until it runs.
    pub init_pid: std::sync::atomic::AtomicI32,
    /// Unix time of the last use seen (API calls, shell input), for idle timeouts.
    pub last_active: std::sync::atomic::AtomicI64,
}

impl VirtualNs {
    /// Note a use of the virtual host.
    pub fn touch(&self) {
        self.last_active.store(
            chrono::Utc::now().timestamp(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

/// One exec'd process, as `GET /exec/{id}/json` reports it.
#[derive(Debug, Clone)]
struct ExecRecord {
    container_id: String,
    spec: ExecSpec,
    running: bool,
    started: bool,
    exit_code: Option<i64>,
    stdout: bool,
    stderr: bool,
    detach_keys: String,
}

/// See `Daemon::container_fs`.
#[derive(Debug, Clone)]
pub struct ContainerFs {
    pub upper: PathBuf,
    pub lower: Vec<PathBuf>,
    pub image_id: String,
    pub running: bool,
    pub paused: bool,
    pub record: ContainerInspect,
}

/// `wait` conditions of the Engine API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

pub struct Daemon {
    name: String,
    dir: PathBuf,
    run_dir: PathBuf,
    exe: PathBuf,
    pub images: ImageStore,
    /// The machine's cgroups under this data root's prefix, when the machine
    /// offers a cgroupfs we can use.
    cgroups: Option<crate::cgroups::Cgroups>,
    /// What the machine's kernel can limit (Docker's sysinfo).
    pub sys: crate::resources::SysInfo,
    /// Bridges, endpoints, published ports and embedded DNS (set once; a
    /// virtual host gets them when its network namespace exists).
    networks: std::sync::OnceLock<Arc<crate::network::Networks>>,
    /// Named and anonymous volumes.
    volumes: crate::volume::VolumeStore,
    state: Mutex<HashMap<String, Entry>>,
    execs: Mutex<HashMap<String, ExecRecord>>,
    /// Set for a virtual host.
    virt: Option<Arc<VirtualNs>>,
    /// Engine events (`GET /events`).
    events: tokio::sync::broadcast::Sender<shared::api::EventMessage>,
}

impl AsRef<ImageStore> for Daemon {
    fn as_ref(&self) -> &ImageStore {
        &self.images
    }
}

/// Where the daemon `name` keeps its containers, volumes, image index and
/// build cache: `<data_root>/daemons/<name>` (the machine's is `default`; a
/// virtual host's is its own disk, mounted there).
pub fn dir_in(data_root: &Path, name: &str) -> PathBuf {
    data_root.join(DAEMONS_DIR).join(name)
}

/// The folder of every daemon's own files under a data root.
pub const DAEMONS_DIR: &str = "daemons";
/// What data roots of earlier versions called it.
const OLD_DAEMONS_DIR: &str = "hosts";

/// Moves a data root of an earlier version to today's layout: `hosts/` (the
/// daemons' own files, named like the virtual hosts beside them in `vhosts/`)
/// becomes `daemons/`. The old name stays as a link to the new one: container
/// monitors and virtual host inits an older daemon left running know their
/// paths by it (records' paths are moved as they are read: [`moved_paths`]).
/// Nothing to do on a new data root or one already moved. Call it before any
/// daemon opens the data root, and only once no older daemon serves it.
pub fn migrate_data_root(data_root: &Path) -> Result<()> {
    let old = data_root.join(OLD_DAEMONS_DIR);
    let new = data_root.join(DAEMONS_DIR);
    let Ok(meta) = std::fs::symlink_metadata(&old) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return Ok(());
    }
    if new.exists() {
        tracing::warn!(
            "data root {}: both {OLD_DAEMONS_DIR}/ and {DAEMONS_DIR}/ exist; using {DAEMONS_DIR}/ \
             and leaving {OLD_DAEMONS_DIR}/ alone",
            data_root.display()
        );
        return Ok(());
    }
    std::fs::rename(&old, &new).ctx("rename", &old)?;
    std::os::unix::fs::symlink(DAEMONS_DIR, &old).ctx("symlink", &old)?;
    tracing::info!(
        "data root {}: moved {OLD_DAEMONS_DIR}/ to {DAEMONS_DIR}/ (the old name links to it)",
        data_root.display()
    );
    Ok(())
}

/// A record written before the move names its files under `hosts/`: point
/// them at `daemons/` (`dir` is the daemon's folder under the new name).
/// Paths elsewhere (a record of another data root) are left as they are.
pub(crate) fn moved_paths(rec: &mut ContainerInspect, dir: &Path) {
    let (Some(name), Some(root)) = (dir.file_name(), dir.parent().and_then(Path::parent)) else {
        return;
    };
    let old = root.join(OLD_DAEMONS_DIR).join(name);
    for p in [
        &mut rec.log_path,
        &mut rec.hosts_path,
        &mut rec.hostname_path,
        &mut rec.resolv_conf_path,
    ] {
        if let Ok(rest) = Path::new(p.as_str()).strip_prefix(&old) {
            *p = dir.join(rest).display().to_string();
        }
    }
}

fn no_such(id: &str) -> Error {
    Error::NotFound(format!("No such container: {id}"))
}

fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

impl Daemon {
    /// Open (or create) a daemon under `data_root`, reconciling containers whose
    /// processes ended while no daemon was watching. Must run inside a tokio runtime.
    pub fn open(
        data_root: &Path,
        name: &str,
        exe: PathBuf,
        net: Option<crate::network::NetConfig>,
    ) -> Result<Arc<Daemon>> {
        Self::open_with(data_root, name, exe, net, open_cgroups(data_root), None)
    }

    /// Open a virtual host's view (see `engine::vhost`), with the machine's
    /// cgroups as its manager found them.
    pub fn open_virtual(
        data_root: &Path,
        name: &str,
        exe: PathBuf,
        cgroups: Option<crate::cgroups::Cgroups>,
        virt: Arc<VirtualNs>,
    ) -> Result<Arc<Daemon>> {
        Self::open_with(data_root, name, exe, None, cgroups, Some(virt))
    }

    fn open_with(
        data_root: &Path,
        name: &str,
        exe: PathBuf,
        net: Option<crate::network::NetConfig>,
        cgroups: Option<crate::cgroups::Cgroups>,
        virt: Option<Arc<VirtualNs>>,
    ) -> Result<Arc<Daemon>> {
        let dir = dir_in(data_root, name);
        std::fs::create_dir_all(dir.join("containers")).ctx("create dir", &dir)?;
        let mut images = ImageStore::open(data_root, name)?;
        if virt.is_some() {
            images = images.with_disk_quota(&dir);
        }
        let run_dir = data_root.join("run");
        std::fs::create_dir_all(&run_dir).ctx("create dir", &run_dir)?;
        let volumes = crate::volume::VolumeStore::open(&dir)?;
        let daemon = Arc::new(Daemon {
            volumes,
            name: name.to_string(),
            dir,
            run_dir,
            exe,
            images,
            sys: crate::resources::SysInfo::detect(cgroups.as_ref()),
            networks: {
                let cell = std::sync::OnceLock::new();
                if let Some(cfg) = net {
                    let _ = cell.set(Arc::new(crate::network::Networks::open(
                        &data_root.join("network"),
                        cfg,
                    )?));
                }
                cell
            },
            cgroups,
            state: Mutex::new(HashMap::new()),
            execs: Mutex::new(HashMap::new()),
            virt,
            events: tokio::sync::broadcast::channel(1024).0,
        });
        daemon.load()?;
        Ok(daemon)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Give a virtual host its networks once its network namespace exists.
    pub fn set_networks(&self, nets: crate::network::Networks) -> Result<()> {
        self.networks
            .set(Arc::new(nets))
            .map_err(|_| Error::Internal("networks are already set".into()))
    }

    /// The virtual host's namespaces, when this host is one.
    pub fn virtual_ns(&self) -> Option<&Arc<VirtualNs>> {
        self.virt.as_ref()
    }

    /// This host's directory (a virtual host's disk is mounted there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Give a path the virtual host's root as owner (a no-op on the machine).
    pub fn chown_to_root(&self, path: &Path) {
        if let Some(v) = &self.virt {
            let id = Some(v.uid_base);
            let _ = std::os::unix::fs::chown(path, id, id);
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.state.locked()
    }

    fn cdir(&self, id: &str) -> PathBuf {
        self.dir.join("containers").join(id)
    }

    /// The monitor's socket. Unix socket paths must fit in 108 bytes, so it lives in
    /// a short directory under the data root, named by a prefix of the ID.
    fn socket_path(&self, id: &str) -> PathBuf {
        self.run_dir
            .join(format!("{}.sock", &id[..24.min(id.len())]))
    }
}

fn rec_args(rec: &ContainerInspect) -> Vec<String> {
    std::iter::once(rec.path.clone())
        .chain(rec.args.iter().cloned())
        .collect()
}

fn resolve_in(st: &HashMap<String, Entry>, key: &str) -> Result<String> {
    if key.is_empty() {
        return Err(no_such(key));
    }
    if st.get(key).is_some_and(|e| !hidden(&e.rec)) {
        return Ok(key.to_string());
    }
    let slash = format!("/{}", key.trim_start_matches('/'));
    if let Some(e) = st.values().find(|e| e.rec.name == slash && !hidden(&e.rec)) {
        return Ok(e.rec.id.clone());
    }
    let found: Vec<&String> = st
        .iter()
        .filter(|(id, e)| id.starts_with(key) && !hidden(&e.rec))
        .map(|(id, _)| id)
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(no_such(key)),
        _ => Err(Error::InvalidParameter(format!(
            "multiple IDs found with provided prefix: {key}"
        ))),
    }
}

async fn connect_monitor(socket: &Path, req: &AttachRequest) -> std::io::Result<UnixStream> {
    let mut s = crate::unix_socket::connect(socket).await?;
    let mut line = serde_json::to_vec(req).map_err(std::io::Error::other)?;
    line.push(b'\n');
    s.write_all(&line).await?;
    Ok(s)
}

/// Wait until `pred` holds or `limit` passes; true if it held.
async fn wait_for(
    mut rx: watch::Receiver<Watch>,
    pred: impl Fn(&Watch) -> bool,
    limit: std::time::Duration,
) -> bool {
    let fut = async {
        loop {
            if pred(&rx.borrow_and_update()) {
                return true;
            }
            if rx.changed().await.is_err() {
                return true;
            }
        }
    };
    tokio::time::timeout(limit, fut).await.unwrap_or(false)
}
