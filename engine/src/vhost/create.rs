//! Creating a virtual host: its slot, the shared base, its disk, its hidden
//! init, its networks and its preloaded images.

use super::*;
use shared::sync::Locked;

impl Manager {
    pub(super) fn free_slot(&self) -> Result<u32> {
        let used: std::collections::BTreeSet<u32> = self
            .hosts
            .locked()
            .values()
            .map(|v| v.rec.locked().slot)
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
    pub(super) fn ensure_base(&self) -> Result<PathBuf> {
        let dir = self.data_root.join("vhost-base");
        let root = dir.join("rootfs");
        if root.join(".complete").exists() {
            return Ok(root);
        }
        // The first hosts of a new data root are often asked for at once
        // (a class starting): one builds, the others wait and use it.
        static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = BUILDING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if root.join(".complete").exists() {
            return Ok(root);
        }
        let bin = crate::image::busybox::find_host_busybox()?;
        let bytes = std::fs::read(&bin).ctx("read", &bin)?;
        let applets = crate::image::busybox::applets(&bin)?;
        let tar =
            crate::image::busybox::build_layer_tar(&bytes, &applets, 0).map_err(|source| {
                crate::image::ImageError::MakeLayer {
                    what: "virtual host base",
                    source,
                }
            })?;
        let tmp = dir.join(format!("tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).ctx("create dir", &tmp)?;
        let mut ar = tar::Archive::new(&tar[..]);
        ar.set_preserve_permissions(true);
        ar.set_preserve_ownerships(true);
        ar.unpack(&tmp).ctx("unpack the base layer into", &tmp)?;
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
            .map_err(Error::task("creating a virtual host"))?
    }

    pub(super) async fn create_now(self: &Arc<Self>, req: VhostCreateRequest) -> Result<VhostInfo> {
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
            let hosts = self.hosts.locked();
            let mut busy = self.busy.locked();
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
        self.busy.locked().remove(&name);
        match result {
            Ok(v) => Ok(self.info(&v)),
            Err(e) => {
                self.destroy_remains(&name).await;
                Err(e)
            }
        }
    }

    pub(super) async fn create_inner(
        self: &Arc<Self>,
        mut rec: Record,
        disk: i64,
    ) -> Result<Arc<Vhost>> {
        let name = rec.name.clone();
        let t0 = std::time::Instant::now();
        let step = {
            let name = name.clone();
            move |what: &str| tracing::debug!("vhost {name}: {what} at {:?}", t0.elapsed())
        };
        let base = if self.data_root.join("vhost-base/rootfs/.complete").exists() {
            self.ensure_base()?
        } else {
            // Built (or waited for) off the runtime's threads.
            let me = self.clone();
            tokio::task::spawn_blocking(move || me.ensure_base())
                .await
                .map_err(|e| Error::Internal(format!("building the host base: {e}")))??
        };
        step("base ready");
        rec.slot = self.free_slot()?;
        step("slot found");
        // The record first: it reserves the slot and lets a restart clean up.
        write_json_atomic(&self.record_path(&name), &rec)?;
        let img = self.image_path(&name);
        let dir = self.daemon_dir(&name);
        step("record written");
        self.kernel.make_disk(&img, disk as u64).await?;
        step("disk made");
        self.mount_disk(&img, &dir).await?;
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
            let m = cg.for_daemon(&name).map_err(Error::cgroup("cgroup"))?;
            m.create().map_err(Error::cgroup("create cgroup"))?;
            let limits = crate::cgroups::Limits {
                memory: rec.limits.memory,
                memory_swap: rec.limits.memory,
                pids_max: rec.limits.pids_limit,
                cpu_quota: rec.limits.nano_cpus.map(|n| n * 100_000 / 1_000_000_000),
                cpu_period: rec.limits.nano_cpus.map(|_| 100_000),
                ..Default::default()
            };
            m.apply(&limits)
                .map_err(Error::cgroup("apply the virtual host's limits"))?;
        }
        let daemon = Daemon::open_virtual(
            &self.data_root,
            &name,
            self.exe.clone(),
            self.cgroups.clone(),
            virt.clone(),
        )?;
        self.api.serve(daemon.clone(), &virt.socket)?;
        self.chown_socket(&virt.socket, virt.uid_base);
        step("daemon opened");
        let env = vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            "HOME=/root".to_string(),
            "DOCKER_HOST=unix:///var/run/docker.sock".to_string(),
            "ENV=/etc/profile".to_string(),
        ];
        let hosts_extra = format!("127.0.1.1\t{}\n", rec.hostname);
        let sid = daemon.create_sandbox(env, &hosts_extra)?;
        rec.sandbox = sid.clone();
        write_json_atomic(&self.record_path(&name), &rec)?;
        let pid = daemon.start_sandbox(&sid).await?;
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
        self.give_networks(&daemon, pid).await?;
        step("networks ready");
        let v = Arc::new(Vhost {
            rec: Mutex::new(rec),
            daemon,
        });
        let session = v.rec.locked().session.clone();
        self.hosts.locked().insert(name, v.clone());
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
        let all: Vec<Arc<Vhost>> = self.hosts.locked().values().cloned().collect();
        all.iter().filter(|v| offer_preloaded(v)).count()
    }

    /// The virtual host's own default bridge, NAT and DNS, inside its network
    /// namespace, with Docker's names (`docker0`, `DOCKER`).
    pub(super) async fn give_networks(&self, daemon: &Arc<Daemon>, init_pid: i32) -> Result<()> {
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
        let nets = crate::network::Networks::open(&daemon.dir().join("network"), cfg)?;
        daemon.set_networks(nets)?;
        daemon.reconcile_networks().await?;
        Ok(())
    }

    /// `/etc/hosts` of every member of a session network: each other by hostname.
    pub(super) fn write_session_hosts(&self, session: &str) {
        let Some(pg) = &self.playground else { return };
        let hosts = self.hosts.locked().clone();
        let mut lines = String::new();
        for (name, ip) in pg.hosts_entries(session) {
            if let Some(v) = hosts.get(&name) {
                let hostname = v.rec.locked().hostname.clone();
                lines.push_str(&format!("{ip}\t{hostname}\n"));
            }
        }
        for v in hosts.values() {
            let (s, hostname) = {
                let r = v.rec.locked();
                (r.session.clone(), r.hostname.clone())
            };
            if s != session {
                continue;
            }
            if let Some(rec) = v.daemon.sandbox_record() {
                let text = format!(
                    "{}127.0.1.1\t{hostname}\n{lines}",
                    crate::daemon::HOSTS_BASE
                );
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
}

/// A statically linked bash on the machine (Debian's `bash-static`), which
/// can run in a virtual host's busybox root.
pub(super) fn static_bash() -> Option<PathBuf> {
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
