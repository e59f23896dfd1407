//! Virtual hosts: many isolated tenants in one engine. Each one is a `Host` (its
//! own containers, image names, networks and volumes) whose containers live inside
//! the namespaces of a hidden init container: a user namespace (root inside is an
//! unprivileged uid range outside), pid, mount, net, uts and ipc namespaces. Its
//! disk is an ext4 image mounted at `<data_root>/hosts/<name>`, so every byte it
//! writes (container layers, volumes, logs, records) counts against its cap, and
//! its cgroup `<prefix>/<name>` caps memory, CPU and pids of everything inside.
//!
//! Records are `<data_root>/vhosts/<name>.json`. A restarted daemon adopts the
//! virtual hosts whose init still runs and removes the rest.

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{read_json, write_json_atomic};
use crate::host::{Host, VirtualNs};
use serde::{Deserialize, Serialize};
use shared::vhost::{VhostCreateRequest, VhostInfo, VhostLimits};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// uid ranges: virtual host `slot` maps 0..65536 to `first + slot * 65536`, where
/// `first` is `UID_FIRST` plus a bucket of `MAX_SLOTS` ranges chosen by the data
/// root, so that daemons with different data roots (tests) do not share ranges.
pub const UID_FIRST: u32 = 0x1000_0000;
pub const UID_SIZE: u32 = 65536;
const MAX_SLOTS: u32 = 448;
const BUCKETS: u32 = 128;

/// Serves a host's Docker API on a unix socket (the server crate implements it).
pub trait ApiServer: Send + Sync {
    /// Bind `socket` (it must exist when this returns) and serve `host` on it.
    fn serve(&self, host: Arc<Host>, socket: &Path) -> Result<()>;
    /// Stop serving the host named `name` (idempotent).
    fn stop(&self, name: &str);
}

/// The daemon's defaults for new virtual hosts.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub limits: VhostLimits,
    /// Seconds; <= 0 for none.
    pub ttl: i64,
    pub idle_timeout: i64,
    pub egress: String,
}

impl Default for Defaults {
    /// Sized so that 200 idle hosts fit on a 2-core, 24 GB machine: caps are
    /// ceilings, not reservations; an idle host uses a few MB.
    fn default() -> Self {
        Defaults {
            limits: VhostLimits {
                memory: Some(1 << 30),
                nano_cpus: Some(1_000_000_000),
                pids_limit: Some(1024),
                disk: Some(2 << 30),
            },
            ttl: 4 * 3600,
            idle_timeout: 3600,
            egress: "registries".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    name: String,
    hostname: String,
    slot: u32,
    created: String,
    created_unix: i64,
    ttl: i64,
    idle_timeout: i64,
    limits: VhostLimits,
    session: String,
    egress: String,
    sandbox: String,
    ip: String,
    labels: BTreeMap<String, String>,
}

/// One virtual host.
pub struct Vhost {
    rec: Mutex<Record>,
    pub host: Arc<Host>,
}

impl Vhost {
    pub fn name(&self) -> String {
        self.rec
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .name
            .clone()
    }

    /// Note a use (API call, shell input) for the idle timeout.
    pub fn touch(&self) {
        if let Some(v) = self.host.virtual_ns() {
            v.touch();
        }
    }

    fn last_active(&self) -> i64 {
        self.host
            .virtual_ns()
            .map(|v| v.last_active.load(Ordering::Relaxed))
            .unwrap_or(0)
    }
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Creates, lists, expires and destroys virtual hosts.
pub struct Manager {
    data_root: PathBuf,
    /// The machine side of virtual hosts' `eth0`, egress policy and sessions.
    playground: Option<crate::network::Playground>,
    /// Give virtual hosts their own bridge, NAT and DNS (off: `--no-networking`).
    networking: bool,
    exe: PathBuf,
    pub defaults: Defaults,
    cgroups: Option<crate::cgroups::Cgroups>,
    api: Box<dyn ApiServer>,
    hosts: Mutex<BTreeMap<String, Arc<Vhost>>>,
    /// Names being created or destroyed.
    busy: Mutex<std::collections::BTreeSet<String>>,
}

fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    (2..=40).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        && n != "default"
}

/// Run a tool to its end without holding a runtime thread.
async fn run(cmd: &str, args: &[&str]) -> Result<()> {
    let out = tokio::process::Command::new(cmd)
        .args(args)
        .output()
        .await
        .map_err(|e| Error::Internal(format!("{cmd}: {e}")))?;
    if !out.status.success() {
        return Err(Error::Internal(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Mount a host's disk image `img` at `dir` (made if missing).
async fn mount_disk(img: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).ctx("create dir", dir)?;
    run(
        "mount",
        &[
            "-o",
            "loop,nodev",
            &img.display().to_string(),
            &dir.display().to_string(),
        ],
    )
    .await
}

fn is_mounted(path: &Path) -> bool {
    let p = path.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(p.as_str()))
}

/// Tag the machine's preloaded images into virtual host `v` (those it was not
/// offered yet); true if it took some. A failure is logged, not fatal.
fn offer_preloaded(v: &Vhost) -> bool {
    match v.host.images.apply_preloaded() {
        Ok(tagged) if !tagged.is_empty() => {
            tracing::info!(
                "virtual host {}: preloaded images {}",
                v.name(),
                tagged.join(", ")
            );
            true
        }
        Ok(_) => false,
        Err(e) => {
            tracing::warn!("virtual host {}: preloaded images: {e}", v.name());
            false
        }
    }
}

fn process_alive(pid: i64) -> bool {
    // SAFETY: kill with signal 0 only checks.
    pid > 0 && unsafe { libc::kill(pid as i32, 0) } == 0
}

impl Manager {
    /// Open the manager, adopting virtual hosts whose init still runs and
    /// removing what is left of the others. Must run inside a tokio runtime.
    pub async fn open(
        data_root: &Path,
        exe: PathBuf,
        defaults: Defaults,
        playground: Option<crate::network::PlaygroundConfig>,
        api: Box<dyn ApiServer>,
    ) -> Result<Arc<Manager>> {
        let dir = data_root.join("vhosts");
        std::fs::create_dir_all(&dir).ctx("create dir", &dir)?;
        let prefix_cg = crate::host::open_cgroups(data_root);
        let networking = playground.is_some();
        let playground = match playground {
            Some(cfg) => Some(crate::network::Playground::open(
                &data_root.join("playground"),
                cfg,
            )?),
            None => None,
        };
        let m = Arc::new(Manager {
            playground,
            networking,
            data_root: data_root.to_path_buf(),
            exe,
            defaults,
            cgroups: prefix_cg,
            api,
            hosts: Mutex::new(BTreeMap::new()),
            busy: Mutex::new(Default::default()),
        });
        let mut names = vec![];
        for ent in std::fs::read_dir(&dir).ctx("read dir", &dir)?.flatten() {
            let p = ent.path();
            if p.extension().is_some_and(|e| e == "json") {
                if let Some(stem) = p.file_stem() {
                    names.push(stem.to_string_lossy().to_string());
                }
            }
        }
        for name in names {
            if let Err(e) = m.adopt(&name).await {
                tracing::warn!("virtual host {name} is gone ({e}); removing what is left");
                m.destroy_remains(&name).await;
            }
        }
        if let Some(pg) = &m.playground {
            let known: Vec<String> = m.hosts.lock().unwrap().keys().cloned().collect();
            if let Err(e) = pg.reconcile(&|n| known.iter().any(|k| k == n)).await {
                tracing::warn!("playground network: {e}");
            }
        }
        // Cgroups of virtual hosts without a record (a crash during create).
        if let Some(cg) = &m.cgroups {
            let known: Vec<String> = m.hosts.lock().unwrap().keys().cloned().collect();
            for h in cg.hosts().unwrap_or_default() {
                if h != "default" && !known.contains(&h) && valid_name(&h) {
                    let _ = cg.remove_host_tree(&h);
                }
            }
        }
        let weak = Arc::downgrade(&m);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(m) = weak.upgrade() else { break };
                m.expire().await;
            }
        });
        Ok(m)
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.data_root.join("vhosts").join(format!("{name}.json"))
    }

    fn image_path(&self, name: &str) -> PathBuf {
        self.data_root.join("vhosts").join(format!("{name}.img"))
    }

    fn host_dir(&self, name: &str) -> PathBuf {
        self.data_root.join("hosts").join(name)
    }

    async fn adopt(self: &Arc<Self>, name: &str) -> Result<()> {
        let rec: Record = read_json(&self.record_path(name))?
            .ok_or_else(|| Error::Internal("no record".into()))?;
        let dir = self.host_dir(name);
        if !is_mounted(&dir) {
            return Err(Error::Internal("its disk is not mounted".into()));
        }
        let sb: serde_json::Value = read_json(
            &dir.join("containers")
                .join(&rec.sandbox)
                .join("config.v2.json"),
        )?
        .ok_or_else(|| Error::Internal("no init record".into()))?;
        let pid = sb["State"]["Pid"].as_i64().unwrap_or(0);
        if !process_alive(pid) || sb["State"]["Running"] != true {
            return Err(Error::Internal("its init is not running".into()));
        }
        let virt = self.virtual_ns(&rec, pid as i32);
        let host = Host::open_virtual(
            &self.data_root,
            name,
            self.exe.clone(),
            self.cgroups.clone(),
            virt.clone(),
        )?;
        self.give_networks(&host, pid as i32).await?;
        self.api.serve(host.clone(), &virt.socket)?;
        self.chown_socket(&virt.socket, virt.uid_base);
        let v = Arc::new(Vhost {
            rec: Mutex::new(rec),
            host,
        });
        self.hosts
            .lock()
            .unwrap()
            .insert(name.to_string(), v.clone());
        // Images preloaded while the daemon was down (`--preload` at start).
        offer_preloaded(&v);
        Ok(())
    }

    fn uid_first(&self) -> u32 {
        use sha2::Digest;
        let h = sha2::Sha256::digest(self.data_root.as_os_str().as_encoded_bytes());
        let bucket = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) % BUCKETS;
        UID_FIRST + bucket * MAX_SLOTS * UID_SIZE
    }

    fn virtual_ns(&self, rec: &Record, init_pid: i32) -> Arc<VirtualNs> {
        Arc::new(VirtualNs {
            uid_base: self.uid_first() + rec.slot * UID_SIZE,
            size: UID_SIZE,
            hostname: rec.hostname.clone(),
            base_layer: self.data_root.join("vhost-base").join("rootfs"),
            socket: self.host_dir(&rec.name).join("run").join("docker.sock"),
            init_pid: std::sync::atomic::AtomicI32::new(init_pid),
            last_active: AtomicI64::new(now_unix()),
        })
    }

    /// The API socket belongs to the virtual host's root (as docker.sock does
    /// to the machine's).
    fn chown_socket(&self, socket: &Path, uid_base: u32) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660));
        let _ = std::os::unix::fs::chown(socket, Some(uid_base), Some(uid_base));
    }

    /// The virtual host named `name`.
    pub fn get(&self, name: &str) -> Result<Arc<Vhost>> {
        self.hosts
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("No such virtual host: {name}")))
    }

    pub fn list(&self) -> Vec<VhostInfo> {
        let all: Vec<Arc<Vhost>> = self.hosts.lock().unwrap().values().cloned().collect();
        all.iter().map(|v| self.info(v)).collect()
    }

    pub fn inspect(&self, name: &str) -> Result<VhostInfo> {
        Ok(self.info(&*self.get(name)?))
    }

    fn info(&self, v: &Vhost) -> VhostInfo {
        let rec = v.rec.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let alive = v.host.sandbox_record().is_some_and(|r| r.state.running);
        let virt = v.host.virtual_ns();
        VhostInfo {
            name: rec.name.clone(),
            hostname: rec.hostname.clone(),
            created: rec.created.clone(),
            expires_at: if rec.ttl > 0 {
                rfc3339(rec.created_unix + rec.ttl)
            } else {
                String::new()
            },
            idle_timeout: rec.idle_timeout.max(0),
            last_active: rfc3339(v.last_active()),
            limits: rec.limits.clone(),
            session: rec.session.clone(),
            egress: rec.egress.clone(),
            ip_address: rec.ip.clone(),
            socket: virt
                .map(|x| x.socket.display().to_string())
                .unwrap_or_default(),
            uid_base: virt.map(|x| x.uid_base).unwrap_or(0),
            state: if alive { "running" } else { "dead" }.into(),
            containers: v.host.counts().0,
            labels: rec.labels.clone(),
        }
    }

    fn free_slot(&self) -> Result<u32> {
        let used: std::collections::BTreeSet<u32> = self
            .hosts
            .lock()
            .unwrap()
            .values()
            .map(|v| v.rec.lock().unwrap_or_else(|p| p.into_inner()).slot)
            .collect();
        // Slots of records being created are reserved through their record file.
        let mut taken = used;
        if let Ok(rd) = std::fs::read_dir(self.data_root.join("vhosts")) {
            for e in rd.flatten() {
                if e.path().extension().is_none_or(|x| x != "json") {
                    continue;
                }
                if let Ok(Some(r)) = read_json::<Record>(&e.path()) {
                    taken.insert(r.slot);
                }
            }
        }
        (0..MAX_SLOTS)
            .find(|s| !taken.contains(s))
            .ok_or_else(|| Error::Conflict("no free uid range for another virtual host".into()))
    }

    /// The read-only root of every virtual host: busybox, `/etc` and the
    /// directories a Linux machine has. Built once per data root.
    fn ensure_base(&self) -> Result<PathBuf> {
        let dir = self.data_root.join("vhost-base");
        let root = dir.join("rootfs");
        if root.join(".complete").exists() {
            return Ok(root);
        }
        let bin = crate::image::busybox::find_host_busybox()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let bytes = std::fs::read(&bin).ctx("read", &bin)?;
        let applets =
            crate::image::busybox::applets(&bin).map_err(|e| Error::Internal(e.to_string()))?;
        let tar = crate::image::busybox::build_layer_tar(&bytes, &applets, 0)
            .map_err(|e| Error::Internal(format!("build the base layer: {e}")))?;
        let tmp = dir.join(format!("tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).ctx("create dir", &tmp)?;
        let mut ar = tar::Archive::new(&tar[..]);
        ar.set_preserve_permissions(true);
        ar.set_preserve_ownerships(true);
        ar.unpack(&tmp)
            .map_err(|e| Error::Internal(format!("unpack the base layer: {e}")))?;
        // bash, when the machine has a static build (Debian's bash-static).
        if let Some(bash) = static_bash() {
            let dst = tmp.join("bin/bash");
            std::fs::copy(&bash, &dst).ctx("copy", &bash)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755))
                .ctx("chmod", &dst)?;
        }
        for (d, mode) in [
            ("usr/local/bin", 0o755),
            ("var/run", 0o755),
            ("run", 0o755),
            ("var/lib", 0o755),
            ("mnt", 0o755),
            ("opt", 0o755),
        ] {
            let p = tmp.join(d);
            std::fs::create_dir_all(&p).ctx("create dir", &p)?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode));
        }
        std::fs::write(
            tmp.join("etc/profile"),
            "export PS1='[\\h] (local) \\u \\w\\n\\$ '\nalias ll='ls -l'\n",
        )
        .ctx("write", tmp.join("etc/profile"))?;
        std::fs::write(tmp.join(".complete"), b"").ctx("write", tmp.join(".complete"))?;
        let _ = std::fs::remove_dir_all(&root);
        std::fs::rename(&tmp, &root).ctx("rename", &root)?;
        Ok(root)
    }

    /// Create and start a virtual host. On failure nothing of it is left.
    /// Runs to its end in a task of its own: a caller that stops waiting (a
    /// closed HTTP connection) does not leave a half-made host.
    pub async fn create(self: &Arc<Self>, req: VhostCreateRequest) -> Result<VhostInfo> {
        let me = self.clone();
        tokio::spawn(async move { me.create_now(req).await })
            .await
            .map_err(|e| Error::Internal(format!("creating a virtual host: {e}")))?
    }

    async fn create_now(self: &Arc<Self>, req: VhostCreateRequest) -> Result<VhostInfo> {
        let name = if req.name.is_empty() {
            format!("vh-{}", &hex::encode(rand::random::<[u8; 4]>()))
        } else {
            req.name.clone()
        };
        if !valid_name(&name) {
            return Err(Error::InvalidParameter(format!(
                "invalid virtual host name {name:?}: 2 to 40 of [a-zA-Z0-9_.-], starting with a letter or digit"
            )));
        }
        let hostname = if req.hostname.is_empty() {
            name.clone()
        } else {
            req.hostname.clone()
        };
        if !valid_name(&hostname) {
            return Err(Error::InvalidParameter(format!(
                "invalid hostname {hostname:?}"
            )));
        }
        let egress = if req.egress.is_empty() {
            self.defaults.egress.clone()
        } else {
            req.egress.clone()
        };
        if !["none", "registries", "all"].contains(&egress.as_str()) {
            return Err(Error::InvalidParameter(format!(
                "invalid egress policy {egress:?}: none, registries or all"
            )));
        }
        let d = &self.defaults.limits;
        let limits = VhostLimits {
            memory: req.limits.memory.or(d.memory),
            nano_cpus: req.limits.nano_cpus.or(d.nano_cpus),
            pids_limit: req.limits.pids_limit.or(d.pids_limit),
            disk: req.limits.disk.or(d.disk),
        };
        let disk = limits.disk.unwrap_or(2 << 30);
        if disk < 16 << 20 {
            return Err(Error::InvalidParameter(
                "the disk must be at least 16MB".into(),
            ));
        }
        if limits.memory.is_some_and(|m| m < 6 << 20) {
            return Err(Error::InvalidParameter(
                "Minimum memory limit allowed is 6MB".into(),
            ));
        }
        {
            let hosts = self.hosts.lock().unwrap();
            let mut busy = self.busy.lock().unwrap();
            if hosts.contains_key(&name) || busy.contains(&name) || self.record_path(&name).exists()
            {
                return Err(Error::Conflict(format!(
                    "a virtual host named {name} already exists"
                )));
            }
            busy.insert(name.clone());
        }
        let pick = |v: i64, default: i64| match v {
            0 => default,
            n => n,
        };
        let now = now_unix();
        let rec = Record {
            name: name.clone(),
            hostname,
            slot: 0,
            created: rfc3339(now),
            created_unix: now,
            ttl: pick(req.ttl, self.defaults.ttl),
            idle_timeout: pick(req.idle_timeout, self.defaults.idle_timeout),
            limits,
            session: req.session.clone(),
            egress,
            sandbox: String::new(),
            ip: String::new(),
            labels: req.labels.clone(),
        };
        let result = self.create_inner(rec, disk).await;
        self.busy.lock().unwrap().remove(&name);
        match result {
            Ok(v) => Ok(self.info(&v)),
            Err(e) => {
                self.destroy_remains(&name).await;
                Err(e)
            }
        }
    }

    async fn create_inner(self: &Arc<Self>, mut rec: Record, disk: i64) -> Result<Arc<Vhost>> {
        let name = rec.name.clone();
        let t0 = std::time::Instant::now();
        let step = {
            let name = name.clone();
            move |what: &str| tracing::debug!("vhost {name}: {what} at {:?}", t0.elapsed())
        };
        let base = self.ensure_base()?;
        step("base ready");
        rec.slot = self.free_slot()?;
        step("slot found");
        // The record first: it reserves the slot and lets a restart clean up.
        write_json_atomic(&self.record_path(&name), &rec)?;
        let img = self.image_path(&name);
        let dir = self.host_dir(&name);
        step("record written");
        make_disk(&img, disk as u64).await?;
        step("disk made");
        mount_disk(&img, &dir).await?;
        let _ = std::fs::remove_dir_all(dir.join("lost+found"));
        step("mounted");
        let virt = self.virtual_ns(&rec, 0);
        let _ = base;
        let run_dir = dir.join("run");
        std::fs::create_dir_all(&run_dir).ctx("create dir", &run_dir)?;
        let id = Some(virt.uid_base);
        std::os::unix::fs::chown(&run_dir, id, id).ctx("chown", &run_dir)?;
        // The host's caps, above all its containers' cgroups.
        if let Some(cg) = &self.cgroups {
            use crate::cgroups::CgroupManager;
            let m = cg
                .for_host(&name)
                .map_err(|e| Error::Internal(format!("cgroup: {e}")))?;
            m.create()
                .map_err(|e| Error::Internal(format!("create cgroup: {e}")))?;
            let limits = crate::cgroups::Limits {
                memory: rec.limits.memory,
                memory_swap: rec.limits.memory,
                pids_max: rec.limits.pids_limit,
                cpu_quota: rec.limits.nano_cpus.map(|n| n * 100_000 / 1_000_000_000),
                cpu_period: rec.limits.nano_cpus.map(|_| 100_000),
                ..Default::default()
            };
            m.apply(&limits)
                .map_err(|e| Error::Internal(format!("apply the host's limits: {e}")))?;
        }
        let host = Host::open_virtual(
            &self.data_root,
            &name,
            self.exe.clone(),
            self.cgroups.clone(),
            virt.clone(),
        )?;
        self.api.serve(host.clone(), &virt.socket)?;
        self.chown_socket(&virt.socket, virt.uid_base);
        step("host opened");
        let env = vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            "HOME=/root".to_string(),
            "DOCKER_HOST=unix:///var/run/docker.sock".to_string(),
            "ENV=/etc/profile".to_string(),
        ];
        let hosts_extra = format!("127.0.1.1\t{}\n", rec.hostname);
        let sid = host.create_sandbox(env, &hosts_extra)?;
        rec.sandbox = sid.clone();
        write_json_atomic(&self.record_path(&name), &rec)?;
        let pid = host.start_sandbox(&sid).await?;
        virt.init_pid.store(pid, Ordering::SeqCst);
        step("sandbox started");
        if let Some(pg) = &self.playground {
            let egress: crate::network::Egress = rec
                .egress
                .parse()
                .map_err(|e: String| Error::InvalidParameter(e))?;
            let netns = PathBuf::from(format!("/proc/{pid}/ns/net"));
            let session = (!rec.session.is_empty()).then_some(rec.session.as_str());
            let link = pg.attach(&name, &netns, session, egress).await?;
            rec.ip = link.ip.to_string();
            write_json_atomic(&self.record_path(&name), &rec)?;
        }
        step("playground attached");
        self.give_networks(&host, pid).await?;
        step("networks ready");
        let v = Arc::new(Vhost {
            rec: Mutex::new(rec),
            host,
        });
        let session = v.rec.lock().unwrap().session.clone();
        self.hosts.lock().unwrap().insert(name, v.clone());
        // Once it is known: a preload from now on offers its images here too.
        offer_preloaded(&v);
        if !session.is_empty() {
            self.write_session_hosts(&session);
        }
        Ok(v)
    }

    /// After a preload: offer the new names to every virtual host
    /// (`ImageStore::apply_preloaded`). Returns how many hosts took some.
    pub fn apply_preloaded(&self) -> usize {
        let all: Vec<Arc<Vhost>> = self.hosts.lock().unwrap().values().cloned().collect();
        all.iter().filter(|v| offer_preloaded(v)).count()
    }

    /// The virtual host's own default bridge, NAT and DNS, inside its network
    /// namespace, with Docker's names (`docker0`, `DOCKER`).
    async fn give_networks(&self, host: &Arc<Host>, init_pid: i32) -> Result<()> {
        if !self.networking {
            return Ok(());
        }
        let cfg = crate::network::NetConfig {
            netns: Some(PathBuf::from(format!("/proc/{init_pid}/ns/net"))),
            bridge_name: "docker0".into(),
            chain_prefix: "DOCKER".into(),
            user_bridge_prefix: "br-".into(),
            ..Default::default()
        };
        let nets = crate::network::Networks::open(&host.dir().join("network"), cfg)?;
        host.set_networks(nets)?;
        host.reconcile_networks().await?;
        Ok(())
    }

    /// `/etc/hosts` of every member of a session network: each other by hostname.
    fn write_session_hosts(&self, session: &str) {
        let Some(pg) = &self.playground else { return };
        let hosts = self.hosts.lock().unwrap().clone();
        let mut lines = String::new();
        for (name, ip) in pg.hosts_entries(session) {
            if let Some(v) = hosts.get(&name) {
                let hostname = v.rec.lock().unwrap().hostname.clone();
                lines.push_str(&format!("{ip}\t{hostname}\n"));
            }
        }
        for v in hosts.values() {
            let (s, hostname) = {
                let r = v.rec.lock().unwrap();
                (r.session.clone(), r.hostname.clone())
            };
            if s != session {
                continue;
            }
            if let Some(rec) = v.host.sandbox_record() {
                let text = format!("{}127.0.1.1\t{hostname}\n{lines}", crate::host::HOSTS_BASE);
                // In place: the file is bind-mounted into the running host.
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&rec.hosts_path)
                {
                    use std::io::Write;
                    let _ = f.write_all(text.as_bytes());
                }
            }
        }
    }

    /// Destroy a virtual host and everything it owned. Idempotent: removing one
    /// that does not exist (any more) succeeds.
    /// Runs to its end in a task of its own, like `create`.
    pub async fn remove(self: &Arc<Self>, name: &str) -> Result<()> {
        let me = self.clone();
        let name = name.to_string();
        tokio::spawn(async move { me.remove_now(&name).await })
            .await
            .map_err(|e| Error::Internal(format!("removing a virtual host: {e}")))?
    }

    async fn remove_now(&self, name: &str) -> Result<()> {
        if !valid_name(name) {
            return Err(Error::NotFound(format!("No such virtual host: {name}")));
        }
        let t0 = std::time::Instant::now();
        let v = self.hosts.lock().unwrap().remove(name);
        self.api.stop(name);
        let session = v.as_ref().map(|v| v.rec.lock().unwrap().session.clone());
        if let Some(v) = v {
            // Containers first (records, networks), the init last.
            let sandbox = v.host.sandbox_record().map(|r| r.id);
            for id in v.host.all_ids() {
                if Some(&id) != sandbox.as_ref() {
                    let _ = v.host.remove_with_volumes(&id, true, true).await;
                }
            }
            tracing::debug!("vhost {name}: containers removed at {:?}", t0.elapsed());
            let _ = v.host.remove_sandbox().await;
            tracing::debug!("vhost {name}: init removed at {:?}", t0.elapsed());
        }
        self.destroy_remains(name).await;
        tracing::debug!("vhost {name}: removed at {:?}", t0.elapsed());
        if let Some(s) = session.filter(|s| !s.is_empty()) {
            self.write_session_hosts(&s);
        }
        Ok(())
    }

    /// Remove whatever exists of a virtual host: processes (by its cgroup), its
    /// disk, its record.
    async fn destroy_remains(&self, name: &str) {
        self.api.stop(name);
        if let Some(pg) = &self.playground {
            if let Err(e) = pg.detach(name).await {
                tracing::warn!("detaching virtual host {name}: {e}");
            }
        }
        tracing::debug!("vhost {name}: playground link removed");
        if let Some(cg) = &self.cgroups {
            for _ in 0..200 {
                match cg.remove_host_tree(name) {
                    Ok(()) => break,
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }
        tracing::debug!("vhost {name}: cgroups removed");
        let dir = self.host_dir(name);
        // Its image index is on its disk: release the content only it held
        // from the shared store before the disk goes (mounting the disk again
        // if it is not, as after a reboot).
        let img = self.image_path(name);
        if !is_mounted(&dir) && img.exists() {
            if let Err(e) = mount_disk(&img, &dir).await {
                tracing::warn!("mounting the disk of virtual host {name}: {e}");
            }
        }
        if is_mounted(&dir) {
            let released = crate::image::ImageStore::open(&self.data_root, name)
                .and_then(|images| images.release_all());
            if let Err(e) = released {
                tracing::warn!("releasing the images of virtual host {name}: {e}");
            }
        }
        // Monitors of containers that were running hold nothing on the disk,
        // but a shell's cwd might: retry, then detach lazily.
        // The API socket bound on it keeps it busy until its listener is dropped,
        // which the aborted server task does within milliseconds.
        for i in 0..200 {
            if !is_mounted(&dir) {
                break;
            }
            let flags = if i == 199 { libc::MNT_DETACH } else { 0 };
            let c = std::ffi::CString::new(dir.display().to_string()).unwrap_or_default();
            // SAFETY: umount2 with a valid C string.
            if unsafe { libc::umount2(c.as_ptr(), flags) } == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = std::fs::remove_dir(&dir);
        let _ = std::fs::remove_file(self.image_path(name));
        let _ = std::fs::remove_file(self.record_path(name));
    }

    /// Expire hosts past their TTL or idle timeout, and drop those whose init died.
    async fn expire(self: &Arc<Self>) {
        let now = now_unix();
        let all: Vec<Arc<Vhost>> = self.hosts.lock().unwrap().values().cloned().collect();
        for v in all {
            let (name, created, ttl, idle) = {
                let r = v.rec.lock().unwrap_or_else(|p| p.into_inner());
                (r.name.clone(), r.created_unix, r.ttl, r.idle_timeout)
            };
            let last = v.last_active();
            let dead = !v.host.sandbox_record().is_some_and(|r| r.state.running);
            let expired = (ttl > 0 && now >= created + ttl) || (idle > 0 && now >= last + idle);
            if dead || expired {
                tracing::info!(
                    "removing virtual host {name}: {}",
                    if dead { "its init ended" } else { "expired" }
                );
                let _ = self.remove(&name).await;
            }
        }
    }

    /// Remove every virtual host (tests, and `dockhand host rm --all`).
    pub async fn remove_all(self: &Arc<Self>) {
        let names: Vec<String> = self.hosts.lock().unwrap().keys().cloned().collect();
        for n in names {
            let _ = self.remove(&n).await;
        }
    }
}

/// A sparse file of `size` bytes with an ext4 filesystem on it, no reserved
/// blocks (the whole cap is usable) and no journal (a virtual host is ephemeral).
async fn make_disk(img: &Path, size: u64) -> Result<()> {
    let f = std::fs::File::create(img).ctx("create", img)?;
    f.set_len(size).ctx("truncate", img)?;
    drop(f);
    run(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-m",
            "0",
            "-O",
            "^has_journal,^resize_inode",
            "-E",
            "lazy_itable_init=1,nodiscard",
            &img.display().to_string(),
        ],
    )
    .await
}

/// A statically linked bash on the machine (Debian's `bash-static`), which
/// can run in a virtual host's busybox root.
fn static_bash() -> Option<PathBuf> {
    ["/bin/bash-static", "/usr/bin/bash-static"]
        .iter()
        .map(PathBuf::from)
        .find(|p| {
            std::fs::read(p)
                .ok()
                .and_then(|b| crate::image::busybox::elf_is_static(&b))
                == Some(true)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker_rules_and_keep_default_reserved() {
        assert!(valid_name("node1"));
        assert!(valid_name("a.b-c_d"));
        assert!(!valid_name("x"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("default"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(&"a".repeat(41)));
    }

    #[test]
    fn defaults_fit_two_hundred_hosts_on_a_classroom_machine() {
        let d = Defaults::default();
        // Caps are ceilings; what must fit is the disk actually reserved by
        // sparse images (nothing) and idle memory, measured in the benchmark.
        assert!(d.limits.memory.unwrap() <= 2 << 30);
        assert!(d.limits.pids_limit.unwrap() <= 4096);
        // Checked at compile time below: 200 hosts per daemon, ranges within u32.
        const { assert!(MAX_SLOTS >= 200) };
        const {
            assert!(
                UID_FIRST as u64 + (BUCKETS * MAX_SLOTS) as u64 * UID_SIZE as u64
                    <= u32::MAX as u64
            )
        };
        assert_eq!(UID_FIRST % UID_SIZE, 0);
    }
}
