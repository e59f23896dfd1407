//! A host: one tenant's view of the engine. The machine itself is the `default`
//! host; virtual hosts come later. A host owns its container records, its image
//! names (through `ImageStore`) and the monitors of its running containers.
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
#[path = "host_net.rs"]
mod net;
#[path = "host_vol.rs"]
mod vol;

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
    host_pid: i64,
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
            host_pid: 0,
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
    /// See `Entry::host_pid`.
    #[serde(rename = "HostPid", default, skip_serializing_if = "is_zero")]
    host_pid: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The label of a virtual host's own init, a container no API call shows.
pub const SANDBOX_LABEL: &str = "dockhand.sandbox";

fn hidden(rec: &ContainerInspect) -> bool {
    rec.config.labels.contains_key(SANDBOX_LABEL)
}

/// What makes a host virtual: its uid range and its init (see `engine::vhost`).
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

/// See `Host::container_fs`.
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

pub struct Host {
    name: String,
    dir: PathBuf,
    run_dir: PathBuf,
    exe: PathBuf,
    pub images: ImageStore,
    /// The host's cgroups, when the machine offers a cgroupfs we can use.
    cgroups: Option<crate::cgroups::Cgroups>,
    /// What the host's kernel can limit (Docker's sysinfo).
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

impl AsRef<ImageStore> for Host {
    fn as_ref(&self) -> &ImageStore {
        &self.images
    }
}

fn event_message(
    typ: &str,
    action: &str,
    id: &str,
    attributes: BTreeMap<String, String>,
) -> shared::api::EventMessage {
    let now = chrono::Utc::now();
    shared::api::EventMessage {
        typ: typ.into(),
        action: action.into(),
        actor: shared::api::EventActor {
            id: id.into(),
            attributes,
        },
        scope: "local".into(),
        time: now.timestamp(),
        time_nano: now.timestamp_nanos_opt().unwrap_or(0),
        ..Default::default()
    }
}

fn no_such(id: &str) -> Error {
    Error::NotFound(format!("No such container: {id}"))
}

fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

pub const HOSTS_BASE: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// The container's resolv.conf: the host's, without loopback resolvers (they would
/// point into the container itself), or Docker's public defaults if none remain.
pub fn container_resolv_conf(host: &str) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let t = line.trim();
        if let Some(ns) = t.strip_prefix("nameserver") {
            let ns = ns.trim();
            if ns.starts_with("127.") || ns == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

impl Host {
    /// Open (or create) a host under `data_root`, reconciling containers whose
    /// processes ended while no daemon was watching. Must run inside a tokio runtime.
    pub fn open(
        data_root: &Path,
        name: &str,
        exe: PathBuf,
        net: Option<crate::network::NetConfig>,
    ) -> Result<Arc<Host>> {
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
    ) -> Result<Arc<Host>> {
        Self::open_with(data_root, name, exe, None, cgroups, Some(virt))
    }

    fn open_with(
        data_root: &Path,
        name: &str,
        exe: PathBuf,
        net: Option<crate::network::NetConfig>,
        cgroups: Option<crate::cgroups::Cgroups>,
        virt: Option<Arc<VirtualNs>>,
    ) -> Result<Arc<Host>> {
        let dir = data_root.join("hosts").join(name);
        std::fs::create_dir_all(dir.join("containers")).ctx("create dir", &dir)?;
        let mut images = ImageStore::open(data_root, name)?;
        if virt.is_some() {
            images = images.with_disk_quota(&dir);
        }
        let run_dir = data_root.join("run");
        std::fs::create_dir_all(&run_dir).ctx("create dir", &run_dir)?;
        let volumes = crate::volume::VolumeStore::open(&dir)?;
        let host = Arc::new(Host {
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
        host.load()?;
        Ok(host)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Subscribe to this host's events.
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<shared::api::EventMessage> {
        self.events.subscribe()
    }

    /// Publish an event of `typ` (`image`, `network`, `volume`, ...).
    pub fn emit(&self, typ: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) {
        let _ = self.events.send(event_message(typ, action, id, attributes));
    }

    /// A container event, with the name and image attributes (and the legacy
    /// status/id/from fields) Docker gives.
    fn emit_container(&self, rec: &ContainerInspect, action: &str, extra: &[(&str, String)]) {
        if hidden(rec) {
            return;
        }
        let mut attrs: BTreeMap<String, String> = rec.config.labels.clone();
        attrs.insert("name".into(), rec.name.trim_start_matches('/').to_string());
        attrs.insert("image".into(), rec.config.image.clone());
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        let _ = self.events.send(shared::api::EventMessage {
            status: action.into(),
            id: rec.id.clone(),
            from: rec.config.image.clone(),
            ..event_message("container", action, &rec.id, attrs)
        });
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
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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

    fn persist(&self, e: &Entry) -> Result<()> {
        let rec = Record {
            inspect: e.rec.clone(),
            manual_stop: e.manual_stop,
            host_pid: e.host_pid,
        };
        write_json_atomic(&self.cdir(&e.rec.id).join("config.v2.json"), &rec)?;
        Ok(())
    }

    /// Read every record; drop directories a crash left without one; reconcile.
    fn load(self: &Arc<Self>) -> Result<()> {
        let root = self.dir.join("containers");
        let mut running = vec![];
        for ent in std::fs::read_dir(&root).ctx("read dir", &root)?.flatten() {
            let path = ent.path();
            let rec: Option<Record> = match read_json(&path.join("config.v2.json")) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("skipping unreadable container record: {e}");
                    continue;
                }
            };
            let Some(Record {
                inspect: mut rec,
                manual_stop,
                host_pid,
            }) = rec
            else {
                // A create that died before its record was written (a folder
                // named by a container ID: ours); anything else is not ours.
                if crate::reference::is_full_hex_id(&ent.file_name().to_string_lossy()) {
                    // Never across a mount point.
                    let _ = crate::fsutil::remove_tree_on_one_mount(&path);
                } else {
                    tracing::warn!("leaving {}: not a container of this daemon", path.display());
                }
                continue;
            };
            if rec.state.restarting {
                // The daemon died during a restart back-off: decided again below.
                rec.state.restarting = false;
                rec.state.status = "exited".into();
            }
            if rec.state.running || rec.state.status == "running" {
                running.push(rec.id.clone());
            } else if rec.state.status != "exited" && rec.state.status != "created" {
                rec.state.status = "created".into();
            }
            let (tx, _) = watch::channel(Watch {
                exit_code: rec.state.exit_code,
                running: rec.state.running,
                ..Default::default()
            });
            let mut e = Entry::new(rec, tx, false, manual_stop);
            e.host_pid = host_pid;
            self.lock().insert(e.rec.id.clone(), e);
        }
        if let Some(cg) = &self.cgroups {
            // Cgroups of containers that are gone (a crash between exit and cleanup).
            let st = self.lock();
            // Only our own: other hosts (virtual ones) clean up theirs.
            let keep = |host: &str, id: &str| {
                host != self.name || st.get(id).is_some_and(|e| e.rec.state.running)
            };
            if let Err(e) = cg.cleanup_orphans(&keep) {
                tracing::warn!("cleaning up orphaned cgroups: {e}");
            }
        }
        for id in running {
            let host = self.clone();
            tokio::spawn(async move { host.reattach(id).await });
        }
        let autoremove: Vec<String> = self
            .lock()
            .values()
            .filter(|e| e.rec.host_config.auto_remove && e.rec.state.status == "exited")
            .map(|e| e.rec.id.clone())
            .collect();
        for id in autoremove {
            let _ = self.remove_now(&id, true);
        }
        // Restart policies at daemon start: `always` restarts even a container that
        // was stopped by hand; `unless-stopped` only one that was not.
        let to_start: Vec<String> = self
            .lock()
            .values()
            .filter(|e| e.rec.state.status == "exited")
            .filter(|e| match e.rec.host_config.restart_policy.name.as_str() {
                "always" => true,
                "unless-stopped" => !e.manual_stop,
                _ => false,
            })
            .map(|e| e.rec.id.clone())
            .collect();
        for id in to_start {
            let host = self.clone();
            tokio::spawn(async move {
                if let Err(e) = host.start(&id).await {
                    tracing::warn!("restart policy: starting {id}: {e}");
                }
            });
        }
        Ok(())
    }

    /// After a daemon restart: watch a container's monitor again, or record the
    /// exit that happened while nobody watched.
    async fn reattach(self: Arc<Self>, id: String) {
        let socket = self.socket_path(&id);
        match connect_monitor(&socket, &AttachRequest::default()).await {
            Ok(stream) => self.watch_exit(id, stream).await,
            Err(_) => {
                let status = self.read_exit(&id);
                self.on_exit(&id, status);
            }
        }
    }

    fn read_exit(&self, id: &str) -> ExitStatus {
        read_json(&self.cdir(id).join("exit.json"))
            .ok()
            .flatten()
            .unwrap_or(ExitStatus {
                code: 255,
                oom_killed: false,
                finished_at: time::now_rfc3339(),
            })
    }

    /// Find a container by full ID, name, or unique ID prefix.
    pub fn resolve(&self, key: &str) -> Result<String> {
        let st = self.lock();
        resolve_in(&st, key)
    }

    pub fn inspect(&self, key: &str) -> Result<ContainerInspect> {
        let mut rec = self.inspect_raw(key)?;
        if self.virt.is_some() && rec.state.pid > 0 {
            let st = self.lock();
            rec.state.pid = st.get(&rec.id).map(|e| e.host_pid).unwrap_or(0);
        }
        Ok(rec)
    }

    /// As `inspect`, with `State.Pid` the machine's pid (for our own use).
    fn inspect_raw(&self, key: &str) -> Result<ContainerInspect> {
        let mut rec = {
            let st = self.lock();
            let id = resolve_in(&st, key)?;
            st[&id].rec.clone()
        };
        let execs: Vec<String> = self
            .execs()
            .iter()
            .filter(|(_, x)| x.container_id == rec.id && x.running)
            .map(|(k, _)| k.clone())
            .collect();
        rec.exec_ids = (!execs.is_empty()).then_some(execs);
        if rec.state.running {
            if let Some(ns) = self.live_network_settings(&rec) {
                rec.network_settings = ns;
            }
        }
        Ok(rec)
    }

    /// `POST /containers/create`.
    pub fn create(&self, name: Option<&str>, req: ContainerCreateRequest) -> Result<IdResponse> {
        if let Some(n) = name {
            if !names::valid(n.trim_start_matches('/')) {
                return Err(Error::InvalidParameter(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
        }
        let image = self.images.resolve(&req.config.image)?;
        let mut config = container::merge_config(&req.config, &image.config);
        let Some((path, args)) = container::command_of(&config) else {
            return Err(Error::InvalidParameter("no command specified".into()));
        };
        validate_host_config(&req.host_config).map_err(Error::InvalidParameter)?;
        let requested_networks = self.requested_networks(&req)?;
        let (resources, warnings) =
            crate::resources::Resources::for_create(&req.host_config.extra, &self.sys)?;
        crate::runtime::caps::effective_set(
            false,
            &req.host_config.cap_add,
            &req.host_config.cap_drop,
            u64::MAX,
        )
        .map_err(Error::InvalidParameter)?;
        let id = random_id();
        if config.hostname.is_empty() {
            // With the host's network the container shows the host's name, as Docker.
            config.hostname =
                if let (true, Some(v)) = (req.host_config.network_mode == "host", &self.virt) {
                    v.hostname.clone()
                } else if req.host_config.network_mode == "host" {
                    nix::unistd::gethostname()
                        .map(|h| h.to_string_lossy().into_owned())
                        .unwrap_or_else(|_| id[..12].to_string())
                } else {
                    id[..12].to_string()
                };
        }
        if let Some(other) = req.host_config.network_mode.strip_prefix("container:") {
            self.resolve(other)?;
        }
        let mounts: Vec<serde_json::Value> = self
            .mount_points(&req.host_config, &config)?
            .into_iter()
            .filter_map(|m| serde_json::to_value(m).ok())
            .collect();
        let dir = self.cdir(&id);
        let rec = {
            let mut st = self.lock();
            let name = match name {
                Some(n) => {
                    let n = format!("/{}", n.trim_start_matches('/'));
                    if let Some(other) = st.values().find(|e| e.rec.name == n) {
                        return Err(Error::Conflict(format!(
                            "Conflict. The container name \"{n}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                            other.rec.id
                        )));
                    }
                    n
                }
                None => {
                    let mut retry = 0;
                    loop {
                        let n = format!("/{}", names::generate(retry));
                        if !st.values().any(|e| e.rec.name == n) {
                            break n;
                        }
                        retry += 1;
                    }
                }
            };
            let mut host_config = req.host_config.clone();
            resources.write_to(&mut host_config.extra);
            if host_config.restart_policy.name.is_empty() {
                host_config.restart_policy.name = "no".into();
            }
            let log = host_config
                .extra
                .entry("LogConfig")
                .or_insert_with(|| serde_json::json!({}));
            if let Some(obj) = log.as_object_mut() {
                if obj
                    .get("Type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("")
                    .is_empty()
                {
                    obj.insert("Type".into(), "json-file".into());
                }
                obj.entry("Config").or_insert_with(|| serde_json::json!({}));
            }
            if host_config.network_mode.is_empty() || host_config.network_mode == "default" {
                host_config.network_mode = "bridge".into();
            }
            let rec = ContainerInspect {
                id: id.clone(),
                created: time::now_rfc3339(),
                path,
                args,
                state: shared::api::ContainerState {
                    status: "created".into(),
                    started_at: time::ZERO.into(),
                    finished_at: time::ZERO.into(),
                    ..Default::default()
                },
                image: image.id.clone(),
                resolv_conf_path: dir.join("resolv.conf").display().to_string(),
                hostname_path: dir.join("hostname").display().to_string(),
                hosts_path: dir.join("hosts").display().to_string(),
                log_path: dir.join(format!("{id}-json.log")).display().to_string(),
                name,
                driver: "overlay2".into(),
                platform: "linux".into(),
                host_config,
                graph_driver: shared::api::GraphDriver {
                    name: "overlay2".into(),
                    data: BTreeMap::from([
                        (
                            "LowerDir".into(),
                            image
                                .layers
                                .iter()
                                .rev()
                                .map(|p| p.display().to_string())
                                .collect::<Vec<_>>()
                                .join(":"),
                        ),
                        ("UpperDir".into(), dir.join("upper").display().to_string()),
                        ("WorkDir".into(), dir.join("work").display().to_string()),
                        ("MergedDir".into(), dir.join("rootfs").display().to_string()),
                    ]),
                },
                config,
                network_settings: shared::api::NetworkSettings {
                    networks: requested_networks,
                    ..Default::default()
                },
                mounts,
                ..Default::default()
            };
            // Reserve the name before the slow part; the record is not on disk yet.
            let (tx, _) = watch::channel(Watch::default());
            st.insert(id.clone(), Entry::new(rec.clone(), tx, true, false));
            rec
        };
        let made = self.lay_out(&rec).and_then(|_| {
            let (tx, _) = watch::channel(Watch::default());
            self.persist(&Entry::new(rec.clone(), tx, false, false))
        });
        let mut st = self.lock();
        match made {
            Ok(()) => {
                if let Some(e) = st.get_mut(&id) {
                    e.starting = false;
                    self.emit_container(&e.rec, "create", &[]);
                }
                Ok(IdResponse { id, warnings })
            }
            Err(e) => {
                st.remove(&id);
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// The container's directory: upper and work dirs, the init layer with the
    /// mount points Docker's `-init` layer has, and the hosts/hostname/resolv files.
    fn lay_out(&self, rec: &ContainerInspect) -> Result<()> {
        let dir = self.cdir(&rec.id);
        let init = dir.join("init");
        for d in ["upper", "work", "rootfs"] {
            std::fs::create_dir_all(dir.join(d)).ctx("create dir", dir.join(d))?;
        }
        for d in ["proc", "sys", "dev/pts", "dev/shm", "etc"] {
            std::fs::create_dir_all(init.join(d)).ctx("create dir", init.join(d))?;
        }
        for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
            std::fs::write(init.join(f), b"").ctx("write", init.join(f))?;
        }
        let _ = std::os::unix::fs::symlink("/proc/mounts", init.join("etc/mtab"));
        let mut hosts = HOSTS_BASE.to_string();
        for h in &rec.host_config.extra_hosts {
            if let Some((name, ip)) = h.split_once(':') {
                hosts.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        let w = |name: &str, data: &str| {
            std::fs::write(dir.join(name), data).ctx("write", dir.join(name))
        };
        w("hosts", &hosts)?;
        w("hostname", &format!("{}\n", rec.config.hostname))?;
        w(
            "resolv.conf",
            &container_resolv_conf(
                &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            ),
        )?;
        // In a virtual host the container's root directory and these files belong
        // to its root (the image layers are idmapped instead).
        for f in ["upper", "hosts", "hostname", "resolv.conf"] {
            self.chown_to_root(&dir.join(f));
        }
        Ok(())
    }

    fn spec_for(&self, rec: &ContainerInspect) -> Result<RuntimeSpec> {
        let dir = self.cdir(&rec.id);
        let is_sandbox = hidden(rec);
        let mut lower = match (&self.virt, is_sandbox) {
            (Some(v), true) => vec![v.base_layer.clone()],
            _ => self.images.resolve(&rec.image)?.layers,
        };
        lower.push(dir.join("init"));
        let hc = &rec.host_config;
        let log_opt = |k: &str| {
            hc.extra
                .get("LogConfig")
                .and_then(|l| l.get("Config"))
                .and_then(|c| c.get(k))
                .and_then(|v| v.as_str())
                .map(String::from)
        };
        let log_max_size = match log_opt("max-size") {
            Some(v) => Some(
                parse_size(&v)
                    .ok_or_else(|| Error::InvalidParameter(format!("invalid max-size: {v}")))?,
            ),
            None => None,
        };
        let log_max_file = match log_opt("max-file") {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::InvalidParameter(format!("invalid max-file: {v}")))?,
            None => 1,
        };
        let net = self.net_namespace(&hc.network_mode)?;
        let mode = |k: &str| hc.extra.get(k).and_then(|v| v.as_str()).unwrap_or("") == "host";
        let sandbox = self.virt.as_ref().map(|v| {
            let init_pid = v.init_pid.load(std::sync::atomic::Ordering::SeqCst);
            crate::runtime::spec::SandboxNs {
                init_pid: (!is_sandbox).then_some(init_pid),
                uid_base: v.uid_base,
                size: v.size,
            }
        });
        if sandbox.as_ref().is_some_and(|s| s.init_pid == Some(0)) {
            return Err(Error::Conflict("the virtual host is not running".into()));
        }
        let mut mounts = self.runtime_mounts(rec)?;
        let mut self_binds = vec![];
        if let (Some(v), true) = (&self.virt, is_sandbox) {
            // The directory, not the socket: a restarted daemon binds a new
            // socket there and the running host sees it.
            mounts.push(crate::runtime::spec::SpecMount {
                kind: "bind".into(),
                source: v.socket.parent().unwrap_or(&v.socket).to_path_buf(),
                destination: "/var/run".into(),
                ..Default::default()
            });
            self_binds.push("/usr/local/bin/docker".to_string());
        }
        Ok(RuntimeSpec {
            mounts,
            pid_host: mode("PidMode"),
            ipc_host: mode("IpcMode"),
            uts_host: mode("UTSMode"),
            sandbox,
            self_binds,
            net,
            id: rec.id.clone(),
            rootfs: dir.join("rootfs"),
            lower,
            upper: dir.join("upper"),
            work: dir.join("work"),
            process: self.process_spec(
                rec,
                rec_args(rec),
                {
                    // Legacy links: the linked containers' addresses, ports and env.
                    let mut env = rec.config.env.clone();
                    for l in self.link_infos(rec)? {
                        env.extend(crate::network::hosts::link_env(
                            rec.name.trim_start_matches('/'),
                            &l,
                        ));
                    }
                    env
                },
                &rec.config.user,
                &rec.config.working_dir,
                rec.config.tty,
                hc.privileged,
            ),
            open_stdin: rec.config.open_stdin,
            stdin_once: rec.config.stdin_once,
            console_size: hc
                .console_size
                .map(|[h, w]| [h as u16, w as u16])
                .filter(|[h, w]| *h > 0 && *w > 0),
            readonly_rootfs: hc.readonly_rootfs,
            init: hc.init.unwrap_or(false),
            hosts_path: dir.join("hosts"),
            hostname_path: dir.join("hostname"),
            resolv_conf_path: dir.join("resolv.conf"),
            log_path: PathBuf::from(&rec.log_path),
            log_max_size,
            log_max_file,
            cgroup_procs: self.cgroup_procs(rec)?,
            socket: self.socket_path(&rec.id),
            exit_path: dir.join("exit.json"),
        })
    }

    /// The endpoint settings a create asks for (aliases, a fixed IP), by network
    /// name; the network must exist, as Docker checks at create.
    fn requested_networks(
        &self,
        req: &ContainerCreateRequest,
    ) -> Result<BTreeMap<String, serde_json::Value>> {
        let mut out = BTreeMap::new();
        let mode = req.host_config.network_mode.as_str();
        if let (Some(nets), Some(primary)) = (self.networks.get(), net::primary_network(mode)) {
            let found = nets
                .find(primary)
                .map_err(|_| Error::NotFound(format!("network {primary} not found")))?;
            let cfg = req
                .networking_config
                .as_ref()
                .and_then(|n| n.get("EndpointsConfig"))
                .and_then(|e| e.get(mode).or_else(|| e.get(&found.name)))
                .cloned()
                .unwrap_or_else(|| serde_json::json!({}));
            out.insert(found.name, cfg);
        }
        Ok(out)
    }

    /// `--net host`, `--net container:NAME`, or a namespace of its own.
    fn net_namespace(&self, mode: &str) -> Result<crate::runtime::spec::NetNamespace> {
        use crate::runtime::spec::NetNamespace;
        if mode == "host" {
            return Ok(NetNamespace::Host);
        }
        if let Some(other) = mode.strip_prefix("container:") {
            let rec = self.inspect_raw(other)?;
            if !rec.state.running || rec.state.pid <= 0 {
                return Err(Error::Conflict(format!(
                    "cannot join network namespace of a non running container: {other}"
                )));
            }
            return Ok(NetNamespace::Join(rec.state.pid as i32));
        }
        Ok(NetNamespace::New)
    }

    /// The process part of a spec: the container's own or an exec'd one, which
    /// shares the container's capability settings.
    #[allow(clippy::too_many_arguments)]
    fn process_spec(
        &self,
        rec: &ContainerInspect,
        args: Vec<String>,
        env: Vec<String>,
        user: &str,
        cwd: &str,
        tty: bool,
        privileged: bool,
    ) -> ProcessSpec {
        let hc = &rec.host_config;
        ProcessSpec {
            args,
            env,
            cwd: cwd.to_string(),
            user: user.to_string(),
            hostname: rec.config.hostname.clone(),
            tty,
            privileged,
            no_new_privileges: hc.security_opt.iter().any(|o| {
                o == "no-new-privileges"
                    || o == "no-new-privileges:true"
                    || o == "no-new-privileges=true"
            }),
            cap_add: hc.cap_add.clone(),
            cap_drop: hc.cap_drop.clone(),
        }
    }

    fn cgroup(&self, id: &str) -> Option<crate::cgroups::AnyCgroupManager> {
        self.cgroups
            .as_ref()
            .and_then(|cg| cg.for_container(&self.name, id).ok())
    }

    /// Create the container's cgroups; the `cgroup.procs` files its processes join.
    fn cgroup_procs(&self, rec: &ContainerInspect) -> Result<Vec<PathBuf>> {
        use crate::cgroups::{CgroupManager, Controller};
        let id = rec.id.as_str();
        let Some(m) = self.cgroup(id) else {
            return Ok(vec![]);
        };
        m.create()
            .map_err(|e| Error::Internal(format!("create cgroup: {e}")))?;
        // Limits are in place before any process of the container runs.
        let res = crate::resources::Resources::from_host_config(&rec.host_config.extra)?;
        if let Err(e) = m.apply(&res.limits()) {
            let _ = m.remove();
            return Err(Error::Internal(format!("apply resource limits: {e}")));
        }
        let mut procs: Vec<PathBuf> = Controller::ALL
            .iter()
            .filter_map(|c| m.path(*c))
            .map(|p| p.join("cgroup.procs"))
            .collect();
        // On hybrid hosts the unified tree holds no controllers, but processes
        // join it too (as runc does), so that tools reading it see the container.
        if let Some(cg) = &self.cgroups {
            if let Some(u) = cg.unified_root() {
                let dir = u.join(cg.prefix()).join(&self.name).join(id);
                if dir.is_dir() {
                    procs.push(dir.join("cgroup.procs"));
                }
            }
        }
        procs.sort();
        procs.dedup();
        Ok(procs)
    }

    fn remove_cgroup(&self, id: &str) {
        use crate::cgroups::CgroupManager;
        if let Some(m) = self.cgroup(id) {
            if let Err(e) = m.remove() {
                tracing::warn!("removing cgroup of {id}: {e}");
            }
        }
    }

    /// `POST /containers/{id}/pause` (`true`) and `/unpause` (`false`): the
    /// freezer stops every process of the container at once.
    pub fn pause(&self, key: &str, pause: bool) -> Result<()> {
        use crate::cgroups::CgroupManager;
        let mut st = self.lock();
        let id = resolve_in(&st, key)?;
        let e = st.get_mut(&id).ok_or_else(|| no_such(key))?;
        if !e.rec.state.running {
            return Err(Error::Conflict(format!("Container {id} is not running")));
        }
        if pause && e.rec.state.paused {
            return Err(Error::Conflict(format!("Container {id} is already paused")));
        }
        if !pause && !e.rec.state.paused {
            return Err(Error::Conflict(format!("Container {id} is not paused")));
        }
        let m = self.cgroup(&id).ok_or_else(|| {
            Error::Internal("pause needs the freezer cgroup, which this host does not offer".into())
        })?;
        let r = if pause { m.freeze() } else { m.thaw() };
        r.map_err(|err| {
            Error::Internal(format!(
                "{}: {err}",
                if pause { "pause" } else { "unpause" }
            ))
        })?;
        e.rec.state.paused = pause;
        e.rec.state.status = if pause { "paused" } else { "running" }.into();
        self.persist(e)
    }

    /// Thaw a paused container so that a signal sent to it takes effect.
    fn thaw_if_paused(&self, id: &str) {
        use crate::cgroups::CgroupManager;
        let paused = self.lock().get(id).is_some_and(|e| e.rec.state.paused);
        if paused {
            if let Some(m) = self.cgroup(id) {
                let _ = m.thaw();
            }
        }
    }

    /// The cgroup layout's version for `info`: "1" (legacy, hybrid) or "2".
    pub fn cgroup_version(&self) -> &'static str {
        self.cgroups.as_ref().map(|c| c.version()).unwrap_or("1")
    }

    /// `POST /containers/{id}/start`. `Ok(false)` when it already runs (Docker's 304).
    pub async fn start(self: &Arc<Self>, key: &str) -> Result<bool> {
        let (rec, pending) = {
            let mut st = self.lock();
            let id = resolve_in(&st, key)?;
            let e = st.get_mut(&id).ok_or_else(|| no_such(key))?;
            if e.rec.state.running {
                return Ok(false);
            }
            if e.starting {
                return Err(Error::Conflict(format!(
                    "container {id} is already being started"
                )));
            }
            e.cancel_restart();
            e.starting = true;
            e.manual_stop = false;
            e.rec.restart_count = 0;
            e.backoff = std::time::Duration::ZERO;
            (e.rec.clone(), std::mem::take(&mut e.pending))
        };
        self.start_prepared(rec, pending).await
    }

    /// Start a container already marked `starting` (a manual start, or a restart
    /// by policy which keeps the restart count).
    async fn start_prepared(
        self: &Arc<Self>,
        rec: ContainerInspect,
        pending: Vec<Pending>,
    ) -> Result<bool> {
        let id = rec.id.clone();
        let exits_before = self
            .lock()
            .get(&id)
            .map(|e| e.watch.borrow().exits)
            .unwrap_or(0);
        let result = self.launch(&rec, pending).await;
        // Records are persisted under the state lock so that this update and the
        // exit watcher's (which may already have run, for a short-lived process)
        // land in order, and never after an auto-remove deleted the directory.
        let mut st = self.lock();
        let Some(e) = st.get_mut(&id) else {
            // Ran, exited and was auto-removed before we got here.
            return match result {
                Ok(_) => Ok(true),
                Err((_, msg)) => Err(Error::Internal(format!(
                    "failed to create task for container: {msg}: unknown"
                ))),
            };
        };
        e.starting = false;
        match result {
            Ok(pid) => {
                let already_exited = e.watch.borrow().exits > exits_before;
                let s = &mut e.rec.state;
                s.started_at = time::now_rfc3339();
                if !already_exited {
                    s.status = "running".into();
                    s.running = true;
                    s.pid = pid as i64;
                    s.exit_code = 0;
                    s.error.clear();
                    s.finished_at = time::ZERO.into();
                    e.watch.send_modify(|w| w.running = true);
                }
                self.persist(e)?;
                let rec = e.rec.clone();
                drop(st);
                self.emit_container(&rec, "start", &[]);
                // The exit watcher leaves auto-removal to us while we start.
                if already_exited && rec.host_config.auto_remove {
                    let _ = self.remove_now(&id, true);
                }
                Ok(true)
            }
            Err((code, msg)) => {
                e.rec.state.exit_code = code;
                e.rec.state.error = msg.clone();
                let _ = self.persist(e);
                let rec = e.rec.clone();
                drop(st);
                // As moby: a container that was to be removed on exit is removed
                // when it cannot start (`run --rm` waits for that).
                if rec.host_config.auto_remove {
                    let _ = self.remove_now(&id, true);
                }
                let full = format!("failed to create task for container: {msg}: unknown");
                Err(if code == 126 || code == 127 {
                    Error::InvalidParameter(full)
                } else {
                    Error::Internal(full)
                })
            }
        }
    }

    /// Spawn the monitor, hand it the pending attachers, learn whether exec worked.
    async fn launch(
        self: &Arc<Self>,
        rec: &ContainerInspect,
        pending: Vec<Pending>,
    ) -> Result<i32, (i64, String)> {
        let internal = |e: &dyn std::fmt::Display| (125i64, e.to_string());
        let spec = self.spec_for(rec).map_err(|e| internal(&e))?;
        let dir = self.cdir(&rec.id);
        let _ = std::fs::remove_file(&spec.exit_path);
        write_json_atomic(&dir.join("spec.json"), &spec).map_err(|e| internal(&e))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("monitor.log"))
            .map_err(|e| internal(&e))?;
        let mut child = tokio::process::Command::new(&self.exe)
            .arg("__monitor")
            .arg(&dir)
            .arg((pending.len() + 1).to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| internal(&format!("start monitor: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| internal(&"monitor stdout"))?;
        let monitor_pid = child.id();
        // Reap the monitor whenever it ends; the container's fate is reported by it.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let mut pid = 0;
        let mut pending = pending;
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<MonitorReport>(&line) {
                Ok(MonitorReport::Ready {
                    pid: p,
                    host_pid,
                    monitor,
                }) => {
                    pid = p;
                    let monitor_pid = monitor.map(|m| m as u32).or(monitor_pid);
                    if let Some(e) = self.lock().get_mut(&rec.id) {
                        e.host_pid = host_pid.unwrap_or(0) as i64;
                    }
                    // Interfaces, ports and DNS before the process runs.
                    if let Err(e) = self.attach_network(rec, p).await {
                        // The monitor dies and takes its waiting init with it.
                        if let Some(m) = monitor_pid {
                            // SAFETY: kill(2) on the monitor we spawned.
                            unsafe { libc::kill(m as i32, libc::SIGKILL) };
                        }
                        let _ = std::fs::remove_file(&spec.socket);
                        return Err((125, e.to_string()));
                    }
                    match connect_monitor(&spec.socket, &AttachRequest::default()).await {
                        Ok(control) => {
                            let host = self.clone();
                            let id = rec.id.clone();
                            tokio::spawn(async move { host.watch_exit(id, control).await });
                        }
                        Err(e) => return Err(internal(&format!("connect to monitor: {e}"))),
                    }
                    for p in pending.drain(..) {
                        let r = connect_monitor(&spec.socket, &p.req).await;
                        let _ =
                            p.tx.send(r.map_err(|e| Error::Internal(format!("attach: {e}"))));
                    }
                }
                Ok(MonitorReport::Started) => return Ok(pid),
                Ok(MonitorReport::Failed { code, message }) => return Err((code, message)),
                Err(_) => {}
            }
        }
        let log = std::fs::read_to_string(dir.join("monitor.log")).unwrap_or_default();
        Err((
            125,
            format!("container monitor ended unexpectedly: {}", log.trim()),
        ))
    }

    /// Read the control stream until the monitor reports the exit.
    async fn watch_exit(self: Arc<Self>, id: String, mut stream: UnixStream) {
        let mut d = shared::mux::Demuxer::default();
        let mut buf = vec![0u8; 8192];
        let status = loop {
            while let Some((s, data)) = d.next_frame() {
                if s == EXIT_STREAM {
                    if let Ok(st) = serde_json::from_slice::<ExitStatus>(&data) {
                        self.on_exit(&id, st);
                        return;
                    }
                }
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break self.read_exit(&id),
                Ok(n) => d.push(&buf[..n]),
            }
        };
        self.on_exit(&id, status);
    }

    fn on_exit(self: &Arc<Self>, id: &str, mut status: ExitStatus) {
        // The kernel's OOM-kill counter of the (fresh) cgroup tells whether the
        // OOM killer ended it; read before the cgroup goes with its processes.
        if let Some(m) = self.cgroup(id) {
            if crate::stats::OomWatch::from_zero()
                .oom_killed(&m)
                .unwrap_or(false)
            {
                status.oom_killed = true;
            }
        }
        self.remove_cgroup(id);
        self.release_network(id);
        // Exec sessions end with the container.
        self.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, x| x.container_id != id);
        let (auto, restart_in) = {
            let mut st = self.lock();
            let Some(e) = st.get_mut(id) else { return };
            let ran = time::parse(&e.rec.state.started_at)
                .map(|t| chrono::Utc::now() - t)
                .unwrap_or_default();
            let s = &mut e.rec.state;
            s.status = "exited".into();
            s.running = false;
            s.paused = false;
            s.pid = 0;
            s.exit_code = status.code;
            s.oom_killed = status.oom_killed;
            s.finished_at = status.finished_at.clone();
            if status.oom_killed {
                self.emit_container(&e.rec, "oom", &[]);
            }
            self.emit_container(&e.rec, "die", &[("exitCode", status.code.to_string())]);
            let policy = &e.rec.host_config.restart_policy;
            let restart = !e.rec.host_config.auto_remove
                && should_restart(
                    &policy.name,
                    policy.maximum_retry_count,
                    status.code,
                    e.manual_stop,
                    e.rec.restart_count,
                );
            let mut delay = None;
            if restart {
                // moby's restart manager: 100 ms, doubling while the process keeps
                // dying within 10 s of its start, at most a minute.
                e.backoff = if e.backoff.is_zero() || ran >= chrono::Duration::seconds(10) {
                    std::time::Duration::from_millis(100)
                } else {
                    (e.backoff * 2).min(std::time::Duration::from_secs(60))
                };
                e.rec.state.status = "restarting".into();
                e.rec.state.restarting = true;
                delay = Some(e.backoff);
            }
            if let Err(err) = self.persist(e) {
                tracing::error!("persist {id}: {err}");
            }
            e.watch.send_modify(|w| {
                w.exits += 1;
                w.exit_code = status.code;
                w.running = false;
            });
            (e.rec.host_config.auto_remove && !e.starting, delay)
        };
        if let Some(delay) = restart_in {
            let host = self.clone();
            let cid = id.to_string();
            let task = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                host.restart_by_policy(&cid).await;
            });
            if let Some(e) = self.lock().get_mut(id) {
                e.restart_task = Some(task.abort_handle());
            }
        } else if auto {
            let _ = self.remove_now(id, true);
        }
    }

    async fn restart_by_policy(self: &Arc<Self>, id: &str) {
        let (rec, pending) = {
            let mut st = self.lock();
            let Some(e) = st.get_mut(id) else { return };
            if !e.rec.state.restarting || e.starting {
                return;
            }
            e.restart_task = None;
            e.rec.state.restarting = false;
            e.rec.restart_count += 1;
            e.starting = true;
            (e.rec.clone(), std::mem::take(&mut e.pending))
        };
        if let Err(err) = self.start_prepared(rec, pending).await {
            tracing::warn!("restart policy: {id}: {err}");
        }
    }

    /// Drop a stopped container's record and files.
    /// With `volumes`, the container's anonymous volumes go too (`rm -v`, `--rm`).
    fn remove_now(&self, id: &str, volumes: bool) -> Result<()> {
        self.execs().retain(|_, x| x.container_id != id);
        self.remove_cgroup(id);
        self.release_network(id);
        let entry = self.lock().remove(id);
        if let Some(e) = &entry {
            self.emit_container(&e.rec, "destroy", &[]);
        }
        let dir = self.cdir(id);
        // Record first: a crash after this point leaves only a directory without a
        // record, which the next start deletes.
        let _ = std::fs::remove_file(dir.join("config.v2.json"));
        let r = std::fs::remove_dir_all(&dir).ctx("remove", &dir);
        if let Some(e) = entry {
            if volumes {
                self.remove_anonymous_volumes(&e.rec.mounts);
            }
            e.watch.send_modify(|w| w.removed = true);
        }
        // Content of an image removed with `rmi -f` while this container used it
        // can go now.
        if let Err(e) = self
            .images
            .release_unused(&|img: &str| self.image_users(img))
        {
            tracing::warn!("releasing unused image content: {e}");
        }
        r.map_err(Error::from)
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove(&self, key: &str, force: bool) -> Result<()> {
        self.remove_with_volumes(key, force, false).await
    }

    /// `DELETE /containers/{id}?v=1`: also the container's anonymous volumes.
    pub async fn remove_with_volumes(&self, key: &str, force: bool, volumes: bool) -> Result<()> {
        self.remove_inner(key, force, volumes, false).await
    }

    /// Remove a virtual host's own init (for `engine::vhost`).
    pub(crate) async fn remove_sandbox(&self) -> Result<()> {
        match self.sandbox_record() {
            Some(rec) => self.remove_inner(&rec.id, true, true, true).await,
            None => Ok(()),
        }
    }

    async fn remove_inner(&self, key: &str, force: bool, volumes: bool, any: bool) -> Result<()> {
        let (id, running, rx) = {
            let mut st = self.lock();
            let id = if any && st.contains_key(key) {
                key.to_string()
            } else {
                resolve_in(&st, key)?
            };
            let e = st.get_mut(&id).ok_or_else(|| no_such(key))?;
            if force {
                e.cancel_restart();
            }
            if e.starting {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"{}\": container is starting",
                    e.rec.name
                )));
            }
            if e.rec.state.restarting && !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"{}\": container is restarting: stop the container before removing or force remove",
                    e.rec.name
                )));
            }
            if e.rec.state.running && !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
                    e.rec.name
                )));
            }
            (id.clone(), e.rec.state.running, e.watch.subscribe())
        };
        let t0 = std::time::Instant::now();
        if running {
            self.signal(&id, libc::SIGKILL)?;
            wait_for(rx, |w| !w.running, std::time::Duration::from_secs(30)).await;
        }
        tracing::debug!("remove {id}: stopped after {:?}", t0.elapsed());
        if self.lock().get(&id).is_none() {
            self.release_network_now(&id).await;
            return Ok(()); // auto-removed meanwhile
        }
        let r = self.remove_now(&id, volumes);
        tracing::debug!("remove {id}: record removed after {:?}", t0.elapsed());
        self.release_network_now(&id).await;
        tracing::debug!("remove {id}: network released after {:?}", t0.elapsed());
        r
    }

    fn signal(&self, id: &str, sig: i32) -> Result<()> {
        let pid = self.lock().get(id).map(|e| e.rec.state.pid).unwrap_or(0);
        if pid <= 0 {
            return Ok(());
        }
        // SAFETY: kill(2) with a pid we recorded for a running container.
        if unsafe { libc::kill(pid as i32, sig) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::ESRCH) {
                return Err(Error::Internal(format!("kill {pid}: {err}")));
            }
        }
        // A frozen process only acts on the signal once thawed.
        if sig == libc::SIGKILL || sig == libc::SIGTERM {
            self.thaw_if_paused(id);
        }
        Ok(())
    }

    /// `POST /containers/{id}/kill`.
    pub fn kill(&self, key: &str, signal: Option<&str>) -> Result<()> {
        let sig = match signal {
            Some(s) if !s.is_empty() => parse_signal(s)
                .ok_or_else(|| Error::InvalidParameter(format!("Invalid signal: {s}")))?,
            _ => libc::SIGKILL,
        };
        let id = {
            let mut st = self.lock();
            let id = resolve_in(&st, key)?;
            let e = st.get_mut(&id).ok_or_else(|| no_such(key))?;
            if !e.rec.state.running {
                return Err(Error::Conflict(format!(
                    "Cannot kill container: {key}: Container {id} is not running"
                )));
            }
            // A fatal signal suspends the restart policy until the next start
            // (Docker's documented rule); SIGUSR1 and the like leave it in place.
            let stop_sig = e.rec.config.stop_signal.as_deref().and_then(parse_signal);
            if [libc::SIGKILL, libc::SIGTERM, libc::SIGINT, libc::SIGQUIT].contains(&sig)
                || Some(sig) == stop_sig
            {
                e.manual_stop = true;
                let _ = self.persist(e);
            }
            id
        };
        self.signal(&id, sig)
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after `timeout`
    /// seconds. `Ok(false)` when it was not running (Docker's 304).
    pub async fn stop(
        &self,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<bool> {
        let (id, rx, stop_signal, default_timeout) = {
            let mut st = self.lock();
            let id = resolve_in(&st, key)?;
            let e = st.get_mut(&id).ok_or_else(|| no_such(key))?;
            if !e.rec.state.running {
                if e.rec.state.restarting {
                    e.cancel_restart();
                    e.manual_stop = true;
                    let _ = self.persist(e);
                }
                return Ok(false);
            }
            e.manual_stop = true;
            let _ = self.persist(e);
            (
                id.clone(),
                e.watch.subscribe(),
                e.rec.config.stop_signal.clone(),
                e.rec.config.stop_timeout,
            )
        };
        let sig_name = signal
            .map(String::from)
            .or(stop_signal)
            .unwrap_or_else(|| "SIGTERM".into());
        let sig = parse_signal(&sig_name)
            .ok_or_else(|| Error::InvalidParameter(format!("Invalid signal: {sig_name}")))?;
        let t = timeout.or(default_timeout).unwrap_or(10);
        self.signal(&id, sig)?;
        let done = if t < 0 {
            wait_for(
                rx.clone(),
                |w| !w.running || w.removed,
                std::time::Duration::from_secs(u64::MAX / 4),
            )
            .await
        } else {
            wait_for(
                rx.clone(),
                |w| !w.running || w.removed,
                std::time::Duration::from_secs(t as u64),
            )
            .await
        };
        if !done {
            self.signal(&id, libc::SIGKILL)?;
            wait_for(
                rx,
                |w| !w.running || w.removed,
                std::time::Duration::from_secs(30),
            )
            .await;
        }
        Ok(true)
    }

    /// `POST /containers/{id}/wait`: subscribe now (so the caller can flush headers
    /// before `start`), resolve later.
    pub fn wait(
        &self,
        key: &str,
        cond: WaitCondition,
    ) -> Result<impl std::future::Future<Output = WaitResponse> + Send + 'static> {
        let mut rx = {
            let st = self.lock();
            let id = resolve_in(&st, key)?;
            st[&id].watch.subscribe()
        };
        let start = rx.borrow().clone();
        Ok(async move {
            loop {
                let w = rx.borrow_and_update().clone();
                let done = match cond {
                    WaitCondition::NotRunning => !w.running,
                    WaitCondition::NextExit => w.exits > start.exits,
                    WaitCondition::Removed => w.removed,
                };
                if done {
                    return WaitResponse {
                        status_code: w.exit_code,
                        error: None,
                    };
                }
                if rx.changed().await.is_err() {
                    let w = rx.borrow().clone();
                    return WaitResponse {
                        status_code: w.exit_code,
                        error: None,
                    };
                }
            }
        })
    }

    /// Connect to a container's output (and stdin). Checks happen now, so errors
    /// reach the client before the HTTP upgrade; the connection resolves later: for
    /// a container not yet started, when it starts and before its process runs.
    pub fn attach(
        &self,
        key: &str,
        req: AttachRequest,
    ) -> Result<impl std::future::Future<Output = Result<UnixStream>> + Send + 'static> {
        let mut st = self.lock();
        let id = resolve_in(&st, key)?;
        let e = st.get_mut(&id).ok_or_else(|| no_such(key))?;
        let socket = self.socket_path(&id);
        let rx = if e.rec.state.running {
            None
        } else if e.rec.state.status == "created" || e.starting {
            let (tx, rx) = oneshot::channel();
            e.pending.push(Pending {
                req: req.clone(),
                tx,
            });
            Some(rx)
        } else {
            return Err(Error::Conflict(
                "You cannot attach to a stopped container, start it first".into(),
            ));
        };
        Ok(async move {
            match rx {
                Some(rx) => rx
                    .await
                    .map_err(|_| Error::Internal("container was removed".into()))?,
                None => connect_monitor(&socket, &req)
                    .await
                    .map_err(|e| Error::Internal(format!("attach: {e}"))),
            }
        })
    }

    /// Whether the container has a TTY (raw stream) or not (multiplexed).
    pub fn has_tty(&self, key: &str) -> Result<bool> {
        Ok(self.inspect(key)?.config.tty)
    }

    fn execs(&self) -> MutexGuard<'_, HashMap<String, ExecRecord>> {
        self.execs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `POST /containers/{id}/exec`: record what to run; it starts with `exec_start`.
    pub fn exec_create(&self, key: &str, req: shared::api::ExecCreateRequest) -> Result<String> {
        let rec = self.inspect(key)?;
        self.exec_create_for(rec, req)
    }

    /// An exec in a virtual host's own init: a shell of the virtual host.
    pub fn sandbox_exec_create(&self, req: shared::api::ExecCreateRequest) -> Result<String> {
        let rec = self
            .sandbox_record()
            .ok_or_else(|| Error::Conflict("this host has no virtual host init".into()))?;
        self.exec_create_for(rec, req)
    }

    /// The virtual host's own init, if this host is virtual and it exists.
    pub fn sandbox_record(&self) -> Option<ContainerInspect> {
        self.lock()
            .values()
            .find(|e| hidden(&e.rec))
            .map(|e| e.rec.clone())
    }

    /// Every container ID, the hidden init of a virtual host included.
    pub fn all_ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Create (not start) a virtual host's init: a hidden container on the
    /// virtual host's base layer, with `docker-init` reaping as PID 1.
    pub fn create_sandbox(&self, env: Vec<String>, hosts_extra: &str) -> Result<String> {
        let v = self
            .virt
            .as_ref()
            .ok_or_else(|| Error::Internal("not a virtual host".into()))?;
        let id = random_id();
        let dir = self.cdir(&id);
        let config = shared::api::ContainerConfig {
            hostname: v.hostname.clone(),
            env,
            cmd: Some(vec!["sleep".into(), "2147483647".into()]),
            working_dir: "/root".into(),
            labels: BTreeMap::from([(SANDBOX_LABEL.to_string(), "1".to_string())]),
            ..Default::default()
        };
        let mut host_config = shared::api::HostConfig {
            network_mode: "none".into(),
            privileged: true,
            init: Some(true),
            ..Default::default()
        };
        host_config.restart_policy.name = "no".into();
        let rec = ContainerInspect {
            id: id.clone(),
            created: time::now_rfc3339(),
            path: "sleep".into(),
            args: vec!["2147483647".into()],
            state: shared::api::ContainerState {
                status: "created".into(),
                started_at: time::ZERO.into(),
                finished_at: time::ZERO.into(),
                ..Default::default()
            },
            image: "dockhand-vhost-base".into(),
            resolv_conf_path: dir.join("resolv.conf").display().to_string(),
            hostname_path: dir.join("hostname").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            log_path: dir.join(format!("{id}-json.log")).display().to_string(),
            name: format!("/{}-init", v.hostname),
            driver: "overlay2".into(),
            platform: "linux".into(),
            host_config,
            config,
            ..Default::default()
        };
        self.lay_out(&rec)?;
        let hosts = format!("{HOSTS_BASE}{hosts_extra}");
        std::fs::write(dir.join("hosts"), hosts).ctx("write", dir.join("hosts"))?;
        let (tx, _) = watch::channel(Watch::default());
        let e = Entry::new(rec, tx, false, false);
        self.persist(&e)?;
        self.lock().insert(id.clone(), e);
        Ok(id)
    }

    /// Start the virtual host's init (see `create_sandbox`); its real pid.
    pub async fn start_sandbox(self: &Arc<Self>, id: &str) -> Result<i32> {
        let rec = self
            .lock()
            .get(id)
            .map(|e| e.rec.clone())
            .ok_or_else(|| no_such(id))?;
        self.start_prepared(rec, vec![]).await?;
        let pid = self.lock().get(id).map(|e| e.rec.state.pid).unwrap_or(0);
        if pid <= 0 {
            return Err(Error::Internal(
                "the virtual host's init did not start".into(),
            ));
        }
        Ok(pid as i32)
    }

    fn exec_create_for(
        &self,
        rec: ContainerInspect,
        req: shared::api::ExecCreateRequest,
    ) -> Result<String> {
        if rec.state.paused {
            return Err(Error::Conflict(format!(
                "Container {} is paused, unpause the container before exec",
                rec.id
            )));
        }
        if !rec.state.running {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                rec.id
            )));
        }
        if req.cmd.is_empty() {
            return Err(Error::InvalidParameter("No exec command specified".into()));
        }
        let user = if req.user.is_empty() {
            rec.config.user.clone()
        } else {
            req.user.clone()
        };
        let cwd = if req.working_dir.is_empty() {
            rec.config.working_dir.clone()
        } else {
            req.working_dir.clone()
        };
        let env = container::merge_env(&rec.config.env, &req.env);
        let privileged = req.privileged || rec.host_config.privileged;
        let id = random_id();
        let spec = ExecSpec {
            id: id.clone(),
            process: self.process_spec(
                &rec,
                req.cmd.clone(),
                env,
                &user,
                &cwd,
                req.tty,
                privileged,
            ),
            stdin: req.attach_stdin,
            console_size: req
                .console_size
                .map(|[h, w]| [h as u16, w as u16])
                .filter(|[h, w]| *h > 0 && *w > 0),
        };
        self.execs().insert(
            id.clone(),
            ExecRecord {
                container_id: rec.id,
                spec,
                running: false,
                started: false,
                exit_code: None,
                stdout: req.attach_stdout,
                stderr: req.attach_stderr,
                detach_keys: req.detach_keys,
            },
        );
        Ok(id)
    }

    fn exec_record(&self, exec_id: &str) -> Result<ExecRecord> {
        self.execs()
            .get(exec_id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("No such exec instance: {exec_id}")))
    }

    /// Whether the exec has a TTY, and its detach keys.
    pub fn exec_tty(&self, exec_id: &str) -> Result<(bool, String)> {
        let x = self.exec_record(exec_id)?;
        Ok((x.spec.process.tty, x.detach_keys))
    }

    /// `POST /exec/{id}/start`: the connection to the monitor that runs it. The
    /// stream ends with the exit frame; pass its code to `exec_finished`.
    pub fn exec_start(
        &self,
        exec_id: &str,
        console_size: Option<[u16; 2]>,
    ) -> Result<impl std::future::Future<Output = Result<UnixStream>> + Send + 'static> {
        let (req, socket) = {
            let mut execs = self.execs();
            let x = execs
                .get_mut(exec_id)
                .ok_or_else(|| Error::NotFound(format!("No such exec instance: {exec_id}")))?;
            if x.running {
                return Err(Error::Conflict(format!(
                    "Error: Exec command {exec_id} is already running"
                )));
            }
            if x.started {
                return Err(Error::Conflict(format!(
                    "Error: Exec command {exec_id} has already run"
                )));
            }
            let running = self
                .lock()
                .get(&x.container_id)
                .is_some_and(|e| e.rec.state.running);
            if !running {
                return Err(Error::Conflict(format!(
                    "container {} is not running",
                    x.container_id
                )));
            }
            x.running = true;
            x.started = true;
            let mut spec = x.spec.clone();
            if console_size.is_some() {
                spec.console_size = console_size;
            }
            let req = AttachRequest {
                stdin: spec.stdin,
                stdout: x.stdout,
                stderr: x.stderr,
                exec: Some(spec),
                ..Default::default()
            };
            (req, self.socket_path(&x.container_id))
        };
        Ok(async move {
            connect_monitor(&socket, &req)
                .await
                .map_err(|e| Error::Internal(format!("exec: {e}")))
        })
    }

    /// The exec'd process ended with `code`.
    pub fn exec_finished(&self, exec_id: &str, code: i64) {
        if let Some(x) = self.execs().get_mut(exec_id) {
            x.running = false;
            x.exit_code = Some(code);
        }
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, exec_id: &str) -> Result<shared::api::ExecInspect> {
        let x = self.exec_record(exec_id)?;
        let p = &x.spec.process;
        Ok(shared::api::ExecInspect {
            id: exec_id.to_string(),
            running: x.running,
            exit_code: x.exit_code,
            process_config: shared::api::ExecProcessConfig {
                tty: p.tty,
                entrypoint: p.args.first().cloned().unwrap_or_default(),
                arguments: p.args.iter().skip(1).cloned().collect(),
                privileged: p.privileged,
                user: p.user.clone(),
            },
            open_stdin: x.spec.stdin,
            open_stderr: x.stderr,
            open_stdout: x.stdout,
            can_remove: false,
            container_id: x.container_id.clone(),
            detach_keys: x.detach_keys.clone(),
            pid: 0,
        })
    }

    /// `POST /containers/{id}/resize` and `POST /exec/{id}/resize`.
    pub async fn resize(
        &self,
        key: &str,
        exec_id: Option<&str>,
        rows: u16,
        cols: u16,
    ) -> Result<()> {
        let id = match exec_id {
            Some(x) => self.exec_record(x)?.container_id,
            None => self.resolve(key)?,
        };
        if !self.lock().get(&id).is_some_and(|e| e.rec.state.running) {
            if exec_id.is_none() {
                return Err(Error::Conflict(format!("Container {id} is not running")));
            }
            return Ok(());
        }
        let req = AttachRequest {
            resize: Some([rows, cols]),
            exec_id: exec_id.map(String::from),
            ..Default::default()
        };
        // The monitor applies it and closes; a failure means it is going away.
        let _ = connect_monitor(&self.socket_path(&id), &req).await;
        Ok(())
    }

    /// A container's filesystem as layers: what `commit`, `diff` and `export` read.
    /// `lower` is the image's layers, bottom-most first; `upper` holds the
    /// container's changes in overlayfs form (whiteouts as 0/0 character devices,
    /// opaque directories marked with `trusted.overlay.opaque`).
    pub fn container_fs(&self, key: &str) -> Result<ContainerFs> {
        let rec = self.inspect(key)?;
        let image = self.images.resolve(&rec.image)?;
        Ok(ContainerFs {
            upper: self.cdir(&rec.id).join("upper"),
            lower: image.layers,
            image_id: rec.image.clone(),
            running: rec.state.running,
            paused: rec.state.paused,
            record: rec,
        })
    }

    /// `POST /containers/{id}/rename`.
    pub fn rename(&self, key: &str, new_name: &str) -> Result<()> {
        let bare = new_name.trim_start_matches('/');
        if !names::valid(bare) {
            return Err(Error::InvalidParameter(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let slash = format!("/{bare}");
        let mut st = self.lock();
        let id = resolve_in(&st, key)?;
        if st[&id].rec.name == slash {
            return Err(Error::InvalidParameter(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if let Some(other) = st.values().find(|e| e.rec.name == slash) {
            return Err(Error::Conflict(format!(
                "Conflict. The container name \"{slash}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.rec.id
            )));
        }
        let e = st.get_mut(&id).ok_or_else(|| no_such(key))?;
        e.rec.name = slash;
        self.persist(e)
    }

    /// `POST /containers/{id}/update`: new limits (applied at once to a running
    /// container) and restart policy. Returns Docker's warnings.
    pub fn update(
        &self,
        key: &str,
        body: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<String>> {
        use crate::cgroups::CgroupManager;
        let mut st = self.lock();
        let id = resolve_in(&st, key)?;
        let e = st.get_mut(&id).ok_or_else(|| no_such(key))?;
        let current = crate::resources::Resources::from_host_config(&e.rec.host_config.extra)?;
        let (merged, warnings) =
            crate::resources::Resources::for_update(&current, body, &self.sys)?;
        let mut policy = e.rec.host_config.restart_policy.clone();
        if let Some(rp) = body.get("RestartPolicy") {
            policy = serde_json::from_value(rp.clone())
                .map_err(|err| Error::InvalidParameter(format!("invalid restart policy: {err}")))?;
            let mut probe = e.rec.host_config.clone();
            probe.restart_policy = policy.clone();
            validate_host_config(&probe).map_err(|m| {
                if m.contains("AutoRemove") {
                    Error::InvalidParameter(
                        "Cannot update restart policy of an AutoRemove container".into(),
                    )
                } else {
                    Error::InvalidParameter(m)
                }
            })?;
        }
        if e.rec.state.running {
            if let Some(m) = self.cgroup(&id) {
                m.apply(&merged.limits()).map_err(|err| {
                    Error::Internal(format!("Cannot update container {id}: {err}"))
                })?;
            }
        }
        merged.write_to(&mut e.rec.host_config.extra);
        e.rec.host_config.restart_policy = policy;
        self.persist(e)?;
        Ok(warnings)
    }

    /// What `stats` samples: the container's cgroup, name and PID 1 (for its
    /// network counters), or `None` when it does not run.
    #[allow(clippy::type_complexity)]
    pub fn stats_source(
        &self,
        key: &str,
    ) -> Result<(
        String,
        String,
        Option<(crate::cgroups::AnyCgroupManager, i32)>,
    )> {
        let rec = self.inspect_raw(key)?;
        let running = rec.state.running && rec.state.pid > 0;
        let src = if running {
            self.cgroup(&rec.id).map(|m| (m, rec.state.pid as i32))
        } else {
            None
        };
        Ok((rec.id, rec.name, src))
    }

    /// `GET /containers/{id}/top`: the container's processes, as `ps -ef` columns.
    pub fn top(&self, key: &str) -> Result<shared::api::TopResponse> {
        let rec = self.inspect_raw(key)?;
        if !rec.state.running {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                rec.id
            )));
        }
        Ok(crate::top::top(rec.state.pid as i32))
    }

    /// `GET /containers/json`.
    pub fn list(
        &self,
        all: bool,
        limit: Option<usize>,
        filters: &Filters,
    ) -> Result<Vec<ContainerSummary>> {
        container::check_filters(filters).map_err(Error::InvalidParameter)?;
        let mut ancestors = BTreeMap::new();
        for v in filters.get("ancestor").into_iter().flatten() {
            if let Ok(img) = self.images.resolve(v) {
                ancestors.insert(v.clone(), img.id);
            }
        }
        let now = chrono::Utc::now();
        let st = self.lock();
        let mut recs: Vec<&ContainerInspect> = st
            .values()
            .map(|e| &e.rec)
            .filter(|r| !hidden(r))
            .filter(|r| all || limit.is_some() || r.state.running || filters.contains_key("status"))
            .filter(|r| container::matches(r, filters, &ancestors))
            .collect();
        recs.sort_by(|a, b| b.created.cmp(&a.created));
        if let Some(n) = limit {
            recs.truncate(n);
        }
        let mut rows: Vec<ContainerSummary> = recs
            .into_iter()
            .map(|r| container::summary(r, now))
            .collect();
        drop(st);
        for row in &mut rows {
            if row.state == "running" {
                row.ports = self.ps_ports(&row.id);
            }
        }
        Ok(rows)
    }

    /// Counts for `/info`: (total, running, paused, stopped).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let st = self.lock();
        let shown = || st.values().filter(|e| !hidden(&e.rec));
        let total = shown().count();
        let running = shown().filter(|e| e.rec.state.running).count();
        let paused = shown().filter(|e| e.rec.state.paused).count();
        (total, running, paused, total - running)
    }

    /// Containers (id, running) created from an image, for `rmi`'s checks.
    pub fn image_users(&self, image_id: &str) -> Vec<(String, bool)> {
        self.lock()
            .values()
            .filter(|e| e.rec.image == image_id)
            .map(|e| (e.rec.id.clone(), e.rec.state.running))
            .collect()
    }

    /// The log file and whether the container runs (for `logs`).
    pub fn log_source(&self, key: &str) -> Result<(PathBuf, bool, String)> {
        let rec = self.inspect(key)?;
        Ok((PathBuf::from(rec.log_path), rec.state.running, rec.id))
    }

    /// New complete log entries after byte `offset`; returns the new offset and
    /// whether the container still runs.
    pub fn logs_since(&self, id: &str, offset: u64) -> Result<(Vec<LogEntry>, u64, bool)> {
        use std::io::{Read, Seek};
        let rec = self.inspect(id)?;
        let mut text = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&rec.log_path) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            // The file was rotated under us: start over in the new one.
            let start = if len < offset { 0 } else { offset };
            if f.seek(std::io::SeekFrom::Start(start)).is_ok() {
                // At most a few MiB per poll keeps memory bounded.
                let _ = f.take(4 << 20).read_to_end(&mut text);
            }
            if start != offset {
                let end = text
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map(|p| p + 1)
                    .unwrap_or(0);
                let entries = crate::logs::parse_entries(&String::from_utf8_lossy(&text[..end]));
                return Ok((entries, end as u64, rec.state.running));
            }
        }
        let tail = &text[..];
        // Only whole lines: the monitor may be mid-write.
        let end = tail
            .iter()
            .rposition(|b| *b == b'\n')
            .map(|p| p + 1)
            .unwrap_or(0);
        let entries = crate::logs::parse_entries(&String::from_utf8_lossy(&tail[..end]));
        Ok((entries, offset + end as u64, rec.state.running))
    }
}

/// Checks of `HostConfig` that moby makes at create, with its texts.
pub fn validate_host_config(hc: &shared::api::HostConfig) -> Result<(), String> {
    let mode = |k: &str| {
        hc.extra
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let pid = mode("PidMode");
    if !matches!(pid.as_str(), "" | "host") {
        return Err(if pid.starts_with("container:") {
            format!("PID mode {pid} is not supported by this engine")
        } else {
            format!("invalid PID mode: {pid}")
        });
    }
    let ipc = mode("IpcMode");
    if !matches!(ipc.as_str(), "" | "host" | "private" | "shareable") {
        return Err(if ipc.starts_with("container:") || ipc == "none" {
            format!("IPC mode {ipc} is not supported by this engine")
        } else {
            format!("invalid IPC mode: {ipc}")
        });
    }
    let uts = mode("UTSMode");
    if !matches!(uts.as_str(), "" | "host") {
        return Err(format!("invalid UTS mode: {uts}"));
    }
    let p = &hc.restart_policy;
    match p.name.as_str() {
        "" | "no" | "always" | "unless-stopped" => {
            if p.maximum_retry_count != 0 {
                return Err("invalid restart policy: maximum retry count can only be used with 'on-failure'".into());
            }
        }
        "on-failure" => {
            if p.maximum_retry_count < 0 {
                return Err("invalid restart policy: maximum retry count cannot be negative".into());
            }
        }
        other => {
            return Err(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            ))
        }
    }
    if hc.auto_remove && !matches!(p.name.as_str(), "" | "no") {
        return Err("can't create 'AutoRemove' container with restart policy".into());
    }
    if let Some(log) = hc.extra.get("LogConfig") {
        let kind = log.get("Type").and_then(|t| t.as_str()).unwrap_or("");
        if !matches!(kind, "" | "json-file") {
            return Err(format!(
                "logger: no log driver named '{kind}' is registered"
            ));
        }
        let opt = |k: &str| {
            log.get("Config")
                .and_then(|c| c.get(k))
                .and_then(|v| v.as_str())
        };
        if let Some(v) = opt("max-size") {
            if parse_size(v).is_none() {
                return Err(format!("invalid max-size: {v}"));
            }
        }
        if let Some(v) = opt("max-file") {
            if v.parse::<u32>().ok().filter(|n| *n > 0).is_none() {
                return Err(format!("invalid max-file: {v}"));
            }
        }
        if let Some(cfg) = log.get("Config").and_then(|c| c.as_object()) {
            for k in cfg.keys() {
                if !matches!(
                    k.as_str(),
                    "max-size" | "max-file" | "compress" | "labels" | "env" | "tag"
                ) {
                    return Err(format!("unknown log opt '{k}' for json-file log driver"));
                }
            }
        }
    }
    Ok(())
}

/// Docker's restart decision after an exit.
pub fn should_restart(
    policy: &str,
    max_retries: i64,
    code: i64,
    manual_stop: bool,
    count: i64,
) -> bool {
    match policy {
        "always" | "unless-stopped" => !manual_stop,
        "on-failure" => !manual_stop && code != 0 && (max_retries <= 0 || count < max_retries),
        _ => false,
    }
}

/// The daemon's cgroups under a prefix derived from its data root, so that two
/// daemons on one machine (tests, virtual hosts) never share a cgroup. The prefix
/// is written to `<data_root>/cgroup-prefix` for tools that clean up after it.
pub fn open_cgroups(data_root: &Path) -> Option<crate::cgroups::Cgroups> {
    use sha2::Digest;
    let canon = std::fs::canonicalize(data_root).unwrap_or_else(|_| data_root.to_path_buf());
    let hash = sha2::Sha256::digest(canon.as_os_str().as_encoded_bytes());
    let prefix = format!("dockhand-{}", &hex::encode(hash)[..12]);
    let _ = std::fs::write(data_root.join("cgroup-prefix"), &prefix);
    match crate::cgroups::Cgroups::new(Path::new(crate::cgroups::DEFAULT_ROOT), &prefix) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("no cgroups: {e}; pause and limits are unavailable");
            None
        }
    }
}

fn rec_args(rec: &ContainerInspect) -> Vec<String> {
    std::iter::once(rec.path.clone())
        .chain(rec.args.iter().cloned())
        .collect()
}

/// Docker's size strings for `--log-opt max-size`: `10m`, `1g`, `512k`, bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.parse().ok()?;
    (v >= 0.0).then_some((v * mult as f64) as u64)
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
    let mut s = UnixStream::connect(socket).await?;
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

/// `KILL`, `SIGKILL`, `9`, `sigterm`.
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return None,
    };
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_decisions_follow_the_policy() {
        assert!(should_restart("always", 0, 0, false, 5));
        assert!(
            !should_restart("always", 0, 0, true, 0),
            "a manual stop suspends it"
        );
        assert!(should_restart("unless-stopped", 0, 1, false, 0));
        assert!(should_restart("on-failure", 2, 1, false, 1));
        assert!(
            !should_restart("on-failure", 2, 1, false, 2),
            "retry count reached"
        );
        assert!(
            !should_restart("on-failure", 0, 0, false, 0),
            "exit 0 is no failure"
        );
        assert!(!should_restart("no", 0, 1, false, 0));
    }

    #[test]
    fn host_config_checks_use_mobys_texts() {
        let mut hc = shared::api::HostConfig::default();
        hc.restart_policy.name = "sometimes".into();
        assert!(validate_host_config(&hc)
            .unwrap_err()
            .contains("unknown policy 'sometimes'"));
        hc.restart_policy.name = "always".into();
        hc.restart_policy.maximum_retry_count = 3;
        assert!(validate_host_config(&hc)
            .unwrap_err()
            .contains("can only be used with 'on-failure'"));
        hc.restart_policy.name = "on-failure".into();
        validate_host_config(&hc).unwrap();
        hc.auto_remove = true;
        assert!(validate_host_config(&hc).is_err());
        let mut hc = shared::api::HostConfig::default();
        hc.extra.insert(
            "LogConfig".into(),
            serde_json::json!({"Type": "json-file", "Config": {"max-size": "10x"}}),
        );
        assert!(validate_host_config(&hc).unwrap_err().contains("max-size"));
        assert_eq!(parse_size("10k"), Some(10240));
        assert_eq!(parse_size("1.5m"), Some(1572864));
    }

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("KILL"), Some(9));
        assert_eq!(parse_signal("sigterm"), Some(15));
        assert_eq!(parse_signal("SIGUSR1"), Some(libc::SIGUSR1));
        assert_eq!(parse_signal("2"), Some(2));
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal("0"), None);
    }

    #[test]
    fn resolv_conf_drops_loopback_resolvers() {
        let got = container_resolv_conf("search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\n");
        assert_eq!(got, "search lan\nnameserver 10.0.0.1\n");
        assert!(container_resolv_conf("nameserver 127.0.0.1\n").contains("8.8.8.8"));
    }
}
