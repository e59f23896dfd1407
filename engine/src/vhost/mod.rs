//! Virtual hosts: many isolated tenants in one engine. Each one is a `Daemon` (its
//! own containers, image names, networks and volumes) whose containers live inside
//! the namespaces of a hidden init container: a user namespace (root inside is an
//! unprivileged uid range outside), pid, mount, net, uts and ipc namespaces. Its
//! disk is an ext4 image mounted at `<data_root>/daemons/<name>`, so every byte it
//! writes (container layers, volumes, logs, records) counts against its cap, and
//! its cgroup `<prefix>/<name>` caps memory, CPU and pids of everything inside.
//!
//! Records are `<data_root>/vhosts/<name>.json`. A restarted daemon adopts the
//! virtual hosts whose init still runs and removes the rest.

use crate::daemon::{Daemon, VirtualNs};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{read_json, write_json_atomic};
use crate::kernel::Kernel;
use serde::{Deserialize, Serialize};
use shared::sync::Locked;
use shared::vhost::{VhostCreateRequest, VhostInfo, VhostLimits};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// uid ranges: virtual host `slot` maps 0..65536 to `first + slot * 65536`, where
/// `first` is `UID_FIRST` plus a bucket of `MAX_SLOTS` ranges chosen by the data
/// root, so that daemons with different data roots (tests) do not share ranges.
/// Every id stays below 2^31: kernels before 6.6 read devpts' `gid=` as a
/// signed int and refuse larger ones.
pub const UID_FIRST: u32 = 0x1000_0000;
pub const UID_SIZE: u32 = 65536;
const MAX_SLOTS: u32 = 448;
const BUCKETS: u32 = 64;
/// The buckets of data roots made before ids were kept below 2^31; a data
/// root with virtual hosts from then keeps its ranges (`uid_first_of`).
const OLD_BUCKETS: u32 = 128;
/// Where a data root's first uid is kept, once chosen.
const UID_FIRST_FILE: &str = "uid-first";

/// Serves a virtual host's daemon (its Docker API) on a unix socket (the server crate implements it).
pub trait ApiServer: Send + Sync {
    /// Bind `socket` (it must exist when this returns) and serve `daemon` on it.
    fn serve(&self, daemon: Arc<Daemon>, socket: &Path) -> Result<()>;
    /// Stop serving the virtual host named `name` (idempotent).
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
    pub daemon: Arc<Daemon>,
}

impl Vhost {
    pub fn name(&self) -> String {
        self.rec.locked().name.clone()
    }

    /// Note a use (API call, shell input) for the idle timeout.
    pub fn touch(&self) {
        if let Some(v) = self.daemon.virtual_ns() {
            v.touch();
        }
    }

    fn last_active(&self) -> i64 {
        self.daemon
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
    /// The first uid of this data root's ranges ([`uid_first_of`]).
    uid_first: std::sync::atomic::AtomicU32,
    /// The machine side of virtual hosts' `eth0`, egress policy and sessions.
    playground: Option<crate::network::PlaygroundNetwork>,
    /// Give virtual hosts their own bridge, NAT and DNS (off: `--no-networking`).
    networking: bool,
    exe: PathBuf,
    pub defaults: Defaults,
    cgroups: Option<crate::cgroups::Cgroups>,
    api: Box<dyn ApiServer>,
    /// Disks, mounts and processes ([`crate::kernel`]).
    kernel: Arc<dyn Kernel>,
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

/// Tag the machine's preloaded images into virtual host `v` (those it was not
/// offered yet); true if it took some. A failure is logged, not fatal.
fn offer_preloaded(v: &Vhost) -> bool {
    match v.daemon.images.apply_preloaded() {
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

/// The first uid kept in `vhosts/uid-first`, if one was chosen.
fn kept_uid_first(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join(UID_FIRST_FILE))
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
}

/// The first uid the data root's hash picks among `buckets`.
fn hashed_uid_first(data_root: &Path, buckets: u32) -> u32 {
    use sha2::Digest;
    let h = sha2::Sha256::digest(data_root.as_os_str().as_encoded_bytes());
    let hash = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    UID_FIRST + hash % buckets * MAX_SLOTS * UID_SIZE
}

/// The first uid of a data root's ranges: as kept in `vhosts/uid-first`;
/// else chosen by the data root's hash among [`BUCKETS`] (all ids below
/// 2^31), or among the [`OLD_BUCKETS`] of before when virtual hosts of then
/// live on (`live_hosts`: their files are owned by those ids); then kept.
fn uid_first_of(data_root: &Path, dir: &Path, live_hosts: bool) -> Result<u32> {
    if let Some(n) = kept_uid_first(dir) {
        return Ok(n);
    }
    let buckets = if live_hosts { OLD_BUCKETS } else { BUCKETS };
    let first = hashed_uid_first(data_root, buckets);
    crate::fsutil::write_atomic(&dir.join(UID_FIRST_FILE), first.to_string().as_bytes())?;
    Ok(first)
}

impl Manager {
    /// Open the manager, adopting virtual hosts whose init still runs and
    /// removing what is left of the others. Must run inside a tokio runtime.
    pub async fn open(
        data_root: &Path,
        exe: PathBuf,
        defaults: Defaults,
        playground: Option<crate::network::PlaygroundNetworkConfig>,
        api: Box<dyn ApiServer>,
    ) -> Result<Arc<Manager>> {
        let cgroups = crate::daemon::open_cgroups(data_root);
        let kernel = Arc::new(crate::kernel::Machine);
        Self::open_on(data_root, exe, defaults, playground, api, kernel, cgroups).await
    }

    /// [`Manager::open`] on the given kernel and cgroups (tests: a recording
    /// double and none).
    pub(crate) async fn open_on(
        data_root: &Path,
        exe: PathBuf,
        defaults: Defaults,
        playground: Option<crate::network::PlaygroundNetworkConfig>,
        api: Box<dyn ApiServer>,
        kernel: Arc<dyn Kernel>,
        cgroups: Option<crate::cgroups::Cgroups>,
    ) -> Result<Arc<Manager>> {
        let dir = data_root.join("vhosts");
        std::fs::create_dir_all(&dir).ctx("create dir", &dir)?;
        let networking = playground.is_some();
        let playground = match playground {
            Some(cfg) => Some(crate::network::PlaygroundNetwork::open(
                &data_root.join("playground"),
                cfg,
            )?),
            None => None,
        };
        let m = Arc::new(Manager {
            playground,
            networking,
            // Until adoption tells whether virtual hosts of before live on:
            // their ranges, if records of then are on disk.
            uid_first: std::sync::atomic::AtomicU32::new(kept_uid_first(&dir).unwrap_or_else(
                || {
                    let records = std::fs::read_dir(&dir)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .any(|e| e.path().extension().is_some_and(|x| x == "json"));
                    hashed_uid_first(data_root, if records { OLD_BUCKETS } else { BUCKETS })
                },
            )),
            data_root: data_root.to_path_buf(),
            exe,
            defaults,
            cgroups,
            api,
            kernel,
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
        let live = !m.hosts.locked().is_empty();
        let first = uid_first_of(data_root, &dir, live)?;
        m.uid_first.store(first, Ordering::SeqCst);
        if first as u64 + (MAX_SLOTS * UID_SIZE) as u64 > 1 << 31 {
            tracing::warn!(
                "virtual hosts' ids lie above 2^31 (kept for the virtual hosts of before): \
                 kernels before 6.6 refuse /dev/pts for them; remove {}uid-first once \
                 no virtual host is left to choose ranges below 2^31",
                dir.display().to_string() + "/"
            );
        }
        if let Some(pg) = &m.playground {
            let known: Vec<String> = m.hosts.locked().keys().cloned().collect();
            if let Err(e) = pg.reconcile(&|n| known.iter().any(|k| k == n)).await {
                tracing::warn!("playground network: {e}");
            }
        }
        // Cgroups of virtual hosts without a record (a crash during create).
        if let Some(cg) = &m.cgroups {
            let known: Vec<String> = m.hosts.locked().keys().cloned().collect();
            for h in cg.daemons().unwrap_or_default() {
                if h != "default" && !known.contains(&h) && valid_name(&h) {
                    let _ = cg.remove_daemon_tree(&h);
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

    fn daemon_dir(&self, name: &str) -> PathBuf {
        crate::daemon::dir_in(&self.data_root, name)
    }

    /// Mount a virtual host's disk `img` at `dir` (made if missing).
    async fn mount_disk(&self, img: &Path, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).ctx("create dir", dir)?;
        self.kernel.mount_disk(img, dir).await
    }

    async fn adopt(self: &Arc<Self>, name: &str) -> Result<()> {
        let rec: Record = read_json(&self.record_path(name))?
            .ok_or_else(|| Error::Internal("no record".into()))?;
        let dir = self.daemon_dir(name);
        if !self.kernel.is_mounted(&dir) {
            return Err(Error::Internal("its disk is not mounted".into()));
        }
        let sb: serde_json::Value = read_json(
            &dir.join("containers")
                .join(&rec.sandbox)
                .join("config.v2.json"),
        )?
        .ok_or_else(|| Error::Internal("no init record".into()))?;
        let pid = sb["State"]["Pid"].as_i64().unwrap_or(0);
        if !self.kernel.process_alive(pid) || sb["State"]["Running"] != true {
            return Err(Error::Internal("its init is not running".into()));
        }
        let virt = self.virtual_ns(&rec, pid as i32);
        let daemon = Daemon::open_virtual(
            &self.data_root,
            name,
            self.exe.clone(),
            self.cgroups.clone(),
            virt.clone(),
        )?;
        self.give_networks(&daemon, pid as i32).await?;
        self.api.serve(daemon.clone(), &virt.socket)?;
        self.chown_socket(&virt.socket, virt.uid_base);
        let v = Arc::new(Vhost {
            rec: Mutex::new(rec),
            daemon,
        });
        self.hosts.locked().insert(name.to_string(), v.clone());
        // Images preloaded while the daemon was down (`--preload` at start).
        offer_preloaded(&v);
        Ok(())
    }

    fn uid_first(&self) -> u32 {
        self.uid_first.load(Ordering::SeqCst)
    }

    fn virtual_ns(&self, rec: &Record, init_pid: i32) -> Arc<VirtualNs> {
        Arc::new(VirtualNs {
            uid_base: self.uid_first() + rec.slot * UID_SIZE,
            size: UID_SIZE,
            hostname: rec.hostname.clone(),
            base_layer: self.data_root.join("vhost-base").join("rootfs"),
            socket: self.daemon_dir(&rec.name).join("run").join("docker.sock"),
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
            .locked()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("No such virtual host: {name}")))
    }

    pub fn list(&self) -> Vec<VhostInfo> {
        let all: Vec<Arc<Vhost>> = self.hosts.locked().values().cloned().collect();
        all.iter().map(|v| self.info(v)).collect()
    }

    pub fn inspect(&self, name: &str) -> Result<VhostInfo> {
        Ok(self.info(&*self.get(name)?))
    }

    fn info(&self, v: &Vhost) -> VhostInfo {
        let rec = v.rec.locked().clone();
        let alive = v.daemon.sandbox_record().is_some_and(|r| r.state.running);
        let virt = v.daemon.virtual_ns();
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
            containers: v.daemon.counts().0,
            labels: rec.labels.clone(),
        }
    }
}

mod create;
mod remove;

#[cfg(test)]
mod tests;
