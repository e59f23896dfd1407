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
use crate::logs::{LogEntry, LogOptions};
use crate::monitor::{AttachRequest, EXIT_STREAM};
use crate::runtime::spec::{ExitStatus, MonitorReport, RuntimeSpec};
use crate::{names, time};
use shared::api::{
    ContainerCreateRequest, ContainerInspect, ContainerSummary, IdResponse, WaitResponse,
};
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
    state: Mutex<HashMap<String, Entry>>,
}

fn no_such(id: &str) -> Error {
    Error::NotFound(format!("No such container: {id}"))
}

fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

const HOSTS_BASE: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

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
    pub fn open(data_root: &Path, name: &str, exe: PathBuf) -> Result<Arc<Host>> {
        let dir = data_root.join("hosts").join(name);
        std::fs::create_dir_all(dir.join("containers")).ctx("create dir", &dir)?;
        let images = ImageStore::open(data_root, name)?;
        let run_dir = data_root.join("run");
        std::fs::create_dir_all(&run_dir).ctx("create dir", &run_dir)?;
        let host = Arc::new(Host {
            name: name.to_string(),
            dir,
            run_dir,
            exe,
            images,
            state: Mutex::new(HashMap::new()),
        });
        host.load()?;
        Ok(host)
    }

    pub fn name(&self) -> &str {
        &self.name
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

    fn persist(&self, rec: &ContainerInspect) -> Result<()> {
        write_json_atomic(&self.cdir(&rec.id).join("config.v2.json"), rec)?;
        Ok(())
    }

    /// Read every record; drop directories a crash left without one; reconcile.
    fn load(self: &Arc<Self>) -> Result<()> {
        let root = self.dir.join("containers");
        let mut running = vec![];
        for ent in std::fs::read_dir(&root).ctx("read dir", &root)?.flatten() {
            let path = ent.path();
            let rec: Option<ContainerInspect> = match read_json(&path.join("config.v2.json")) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("skipping unreadable container record: {e}");
                    continue;
                }
            };
            let Some(mut rec) = rec else {
                // A create that died before its record was written.
                let _ = std::fs::remove_dir_all(&path);
                continue;
            };
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
            self.lock().insert(
                rec.id.clone(),
                Entry {
                    rec,
                    watch: tx,
                    pending: vec![],
                    starting: false,
                },
            );
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
            let _ = self.remove_now(&id);
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
        let st = self.lock();
        let id = resolve_in(&st, key)?;
        Ok(st[&id].rec.clone())
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
        crate::runtime::caps::effective_set(
            false,
            &req.host_config.cap_add,
            &req.host_config.cap_drop,
            u64::MAX,
        )
        .map_err(Error::InvalidParameter)?;
        let id = random_id();
        if config.hostname.is_empty() {
            config.hostname = id[..12].to_string();
        }
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
                ..Default::default()
            };
            // Reserve the name before the slow part; the record is not on disk yet.
            let (tx, _) = watch::channel(Watch::default());
            st.insert(
                id.clone(),
                Entry {
                    rec: rec.clone(),
                    watch: tx,
                    pending: vec![],
                    starting: true,
                },
            );
            rec
        };
        let made = self.lay_out(&rec).and_then(|_| self.persist(&rec));
        let mut st = self.lock();
        match made {
            Ok(()) => {
                if let Some(e) = st.get_mut(&id) {
                    e.starting = false;
                }
                Ok(IdResponse {
                    id,
                    warnings: vec![],
                })
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
        Ok(())
    }

    fn spec_for(&self, rec: &ContainerInspect) -> Result<RuntimeSpec> {
        let dir = self.cdir(&rec.id);
        let image = self.images.resolve(&rec.image)?;
        let mut lower = image.layers.clone();
        lower.push(dir.join("init"));
        let hc = &rec.host_config;
        Ok(RuntimeSpec {
            id: rec.id.clone(),
            rootfs: dir.join("rootfs"),
            lower,
            upper: dir.join("upper"),
            work: dir.join("work"),
            args: std::iter::once(rec.path.clone())
                .chain(rec.args.iter().cloned())
                .collect(),
            env: rec.config.env.clone(),
            cwd: rec.config.working_dir.clone(),
            user: rec.config.user.clone(),
            hostname: rec.config.hostname.clone(),
            tty: rec.config.tty,
            open_stdin: rec.config.open_stdin,
            privileged: hc.privileged,
            readonly_rootfs: hc.readonly_rootfs,
            no_new_privileges: hc.security_opt.iter().any(|o| {
                o == "no-new-privileges"
                    || o == "no-new-privileges:true"
                    || o == "no-new-privileges=true"
            }),
            cap_add: hc.cap_add.clone(),
            cap_drop: hc.cap_drop.clone(),
            hosts_path: dir.join("hosts"),
            hostname_path: dir.join("hostname"),
            resolv_conf_path: dir.join("resolv.conf"),
            log_path: PathBuf::from(&rec.log_path),
            socket: self.socket_path(&rec.id),
            exit_path: dir.join("exit.json"),
        })
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
            e.starting = true;
            (e.rec.clone(), std::mem::take(&mut e.pending))
        };
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
                let rec = e.rec.clone();
                self.persist(&rec)?;
                drop(st);
                // The exit watcher leaves auto-removal to us while we start.
                if already_exited && rec.host_config.auto_remove {
                    let _ = self.remove_now(&id);
                }
                Ok(true)
            }
            Err((code, msg)) => {
                e.rec.state.exit_code = code;
                e.rec.state.error = msg.clone();
                let rec = e.rec.clone();
                let _ = self.persist(&rec);
                drop(st);
                // As moby: a container that was to be removed on exit is removed
                // when it cannot start (`run --rm` waits for that).
                if rec.host_config.auto_remove {
                    let _ = self.remove_now(&id);
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
        // Reap the monitor whenever it ends; the container's fate is reported by it.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let mut pid = 0;
        let mut pending = pending;
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<MonitorReport>(&line) {
                Ok(MonitorReport::Ready { pid: p }) => {
                    pid = p;
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

    fn on_exit(&self, id: &str, status: ExitStatus) {
        let auto = {
            let mut st = self.lock();
            let Some(e) = st.get_mut(id) else { return };
            let s = &mut e.rec.state;
            s.status = "exited".into();
            s.running = false;
            s.paused = false;
            s.pid = 0;
            s.exit_code = status.code;
            s.oom_killed = status.oom_killed;
            s.finished_at = status.finished_at.clone();
            if let Err(err) = self.persist(&e.rec) {
                tracing::error!("persist {id}: {err}");
            }
            e.watch.send_modify(|w| {
                w.exits += 1;
                w.exit_code = status.code;
                w.running = false;
            });
            e.rec.host_config.auto_remove && !e.starting
        };
        if auto {
            let _ = self.remove_now(id);
        }
    }

    /// Drop a stopped container's record and files.
    fn remove_now(&self, id: &str) -> Result<()> {
        let entry = self.lock().remove(id);
        let dir = self.cdir(id);
        // Record first: a crash after this point leaves only a directory without a
        // record, which the next start deletes.
        let _ = std::fs::remove_file(dir.join("config.v2.json"));
        let r = std::fs::remove_dir_all(&dir).ctx("remove", &dir);
        if let Some(e) = entry {
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
        let (id, running, rx) = {
            let st = self.lock();
            let id = resolve_in(&st, key)?;
            let e = &st[&id];
            if e.starting {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"{}\": container is starting",
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
        if running {
            self.signal(&id, libc::SIGKILL)?;
            wait_for(rx, |w| !w.running, std::time::Duration::from_secs(30)).await;
        }
        if self.lock().get(&id).is_none() {
            return Ok(()); // auto-removed meanwhile
        }
        self.remove_now(&id)
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
        Ok(())
    }

    /// `POST /containers/{id}/kill`.
    pub fn kill(&self, key: &str, signal: Option<&str>) -> Result<()> {
        let sig = match signal {
            Some(s) if !s.is_empty() => parse_signal(s)
                .ok_or_else(|| Error::InvalidParameter(format!("Invalid signal: {s}")))?,
            _ => libc::SIGKILL,
        };
        let id = self.resolve(key)?;
        if !self.lock().get(&id).is_some_and(|e| e.rec.state.running) {
            return Err(Error::Conflict(format!(
                "Cannot kill container: {key}: Container {id} is not running"
            )));
        }
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
            let st = self.lock();
            let id = resolve_in(&st, key)?;
            let e = &st[&id];
            if !e.rec.state.running {
                return Ok(false);
            }
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
            .filter(|r| all || limit.is_some() || r.state.running || filters.contains_key("status"))
            .filter(|r| container::matches(r, filters, &ancestors))
            .collect();
        recs.sort_by(|a, b| b.created.cmp(&a.created));
        if let Some(n) = limit {
            recs.truncate(n);
        }
        Ok(recs
            .into_iter()
            .map(|r| container::summary(r, now))
            .collect())
    }

    /// Counts for `/info`: (total, running, paused, stopped).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let st = self.lock();
        let running = st.values().filter(|e| e.rec.state.running).count();
        let paused = st.values().filter(|e| e.rec.state.paused).count();
        (st.len(), running, paused, st.len() - running)
    }

    /// Containers (id, running) created from an image, for `rmi`'s checks.
    pub fn image_users(&self, image_id: &str) -> Vec<(String, bool)> {
        self.lock()
            .values()
            .filter(|e| e.rec.image == image_id)
            .map(|e| (e.rec.id.clone(), e.rec.state.running))
            .collect()
    }

    /// Log entries selected by `opts`, and whether to keep following.
    pub fn logs_snapshot(
        &self,
        key: &str,
        opts: &LogOptions,
    ) -> Result<(Vec<LogEntry>, u64, bool, String)> {
        let rec = self.inspect(key)?;
        let text = std::fs::read(&rec.log_path).unwrap_or_default();
        let len = text.len() as u64;
        let entries = crate::logs::select(
            crate::logs::parse_entries(&String::from_utf8_lossy(&text)),
            opts,
        );
        Ok((entries, len, rec.state.running, rec.id))
    }

    /// New complete log entries after byte `offset`; returns the new offset and
    /// whether the container still runs.
    pub fn logs_since(&self, id: &str, offset: u64) -> Result<(Vec<LogEntry>, u64, bool)> {
        let rec = self.inspect(id)?;
        let text = std::fs::read(&rec.log_path).unwrap_or_default();
        let tail = &text[(offset as usize).min(text.len())..];
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

fn resolve_in(st: &HashMap<String, Entry>, key: &str) -> Result<String> {
    if key.is_empty() {
        return Err(no_such(key));
    }
    if st.contains_key(key) {
        return Ok(key.to_string());
    }
    let slash = format!("/{}", key.trim_start_matches('/'));
    if let Some(e) = st.values().find(|e| e.rec.name == slash) {
        return Ok(e.rec.id.clone());
    }
    let found: Vec<&String> = st.keys().filter(|id| id.starts_with(key)).collect();
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
