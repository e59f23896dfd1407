//! The container record store: records on disk and in memory, loading and
//! reconciling them at open, lookups by ID, name or prefix, list, rename.

use super::*;

impl Daemon {
    pub(super) fn persist(&self, e: &Entry) -> Result<()> {
        let rec = Record {
            inspect: e.rec.clone(),
            manual_stop: e.manual_stop,
            vhost_pid: e.vhost_pid,
        };
        write_json_atomic(&self.cdir(&e.rec.id).join("config.v2.json"), &rec)?;
        Ok(())
    }

    /// Read every record; drop directories a crash left without one; reconcile.
    pub(super) fn load(self: &Arc<Self>) -> Result<()> {
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
                vhost_pid,
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
            moved_paths(&mut rec, &self.dir);
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
            e.vhost_pid = vhost_pid;
            self.lock().insert(e.rec.id.clone(), e);
        }
        if let Some(cg) = &self.cgroups {
            // Cgroups of containers that are gone (a crash between exit and cleanup).
            let st = self.lock();
            // Only our own: other daemons (virtual hosts') clean up theirs.
            let keep = |daemon: &str, id: &str| {
                daemon != self.name || st.get(id).is_some_and(|e| e.rec.state.running)
            };
            if let Err(e) = cg.cleanup_orphans(&keep) {
                tracing::warn!("cleaning up orphaned cgroups: {e}");
            }
        }
        for id in running {
            let daemon = self.clone();
            tokio::spawn(async move { daemon.reattach(id).await });
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
            let daemon = self.clone();
            tokio::spawn(async move {
                if let Err(e) = daemon.start(&id).await {
                    tracing::warn!("restart policy: starting {id}: {e}");
                }
            });
        }
        Ok(())
    }

    /// After a daemon restart: watch a container's monitor again, or record the
    /// exit that happened while nobody watched.
    pub(super) async fn reattach(self: Arc<Self>, id: String) {
        let socket = self.socket_path(&id);
        match connect_monitor(&socket, &AttachRequest::default()).await {
            Ok(stream) => {
                // Probing starts over, as after a start.
                self.start_health(&id);
                self.watch_exit(id, stream).await
            }
            Err(_) => {
                let status = self.read_exit(&id);
                self.on_exit(&id, status);
            }
        }
    }

    /// The exit the monitor recorded; without one the monitor itself was
    /// killed, and its container with it (SIGKILL on the parent's death):
    /// 137, as containerd reports the task of a shim that died.
    pub(super) fn read_exit(&self, id: &str) -> ExitStatus {
        read_json(&self.cdir(id).join("exit.json"))
            .ok()
            .flatten()
            .unwrap_or(ExitStatus {
                code: 128 + i64::from(libc::SIGKILL),
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
            rec.state.pid = st.get(&rec.id).map(|e| e.vhost_pid).unwrap_or(0);
        }
        Ok(rec)
    }

    /// As `inspect`, with `State.Pid` the machine's pid (for our own use).
    pub(super) fn inspect_raw(&self, key: &str) -> Result<ContainerInspect> {
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

    /// Every container ID, the hidden init of a virtual host included.
    pub fn all_ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
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

    /// `DELETE /containers/{parent}/{alias}?link=1`: forget the legacy link
    /// `alias` of `parent`, as moby's `rmLink` does. The linked container stays.
    pub fn remove_link(&self, name: &str) -> Result<()> {
        let bare = name.trim_start_matches('/');
        let Some((parent, alias)) = bare.rsplit_once('/') else {
            // A container's own name is its default link name.
            self.resolve(bare)?;
            return Err(Error::Internal(
                "Conflict, cannot remove the default link name of the container".into(),
            ));
        };
        let mut st = self.lock();
        let id = resolve_in(&st, parent).map_err(|_| no_such(bare))?;
        let e = st.get_mut(&id).ok_or_else(|| no_such(bare))?;
        let Some(links) = e
            .rec
            .host_config
            .extra
            .get_mut("Links")
            .and_then(|l| l.as_array_mut())
        else {
            return Err(no_such(bare));
        };
        let before = links.len();
        links.retain(|l| {
            let spec = l.as_str().unwrap_or_default();
            let a = spec.split_once(':').map_or(spec, |(_, a)| a);
            a.rsplit('/').next() != Some(alias)
        });
        if links.len() == before {
            return Err(no_such(bare));
        }
        self.persist(e)
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
        // `before`/`since`: created before or after the named container.
        let created_of = |key: &str| -> Result<i64> {
            let id = resolve_in(&st, key)?;
            Ok(crate::filters::created_nanos(&st[&id].rec.created))
        };
        let mut window = (i64::MIN, i64::MAX);
        for v in filters.get("since").into_iter().flatten() {
            window.0 = window.0.max(created_of(v)?);
        }
        for v in filters.get("before").into_iter().flatten() {
            window.1 = window.1.min(created_of(v)?);
        }
        let mut recs: Vec<&ContainerInspect> = st
            .values()
            .map(|e| &e.rec)
            .filter(|r| !hidden(r))
            .filter(|r| all || limit.is_some() || r.state.running || filters.contains_key("status"))
            .filter(|r| container::matches(r, filters, &ancestors))
            .filter(|r| {
                // Parsed only when a before/since filter asks.
                window == (i64::MIN, i64::MAX) || {
                    let t = crate::filters::created_nanos(&r.created);
                    t > window.0 && t < window.1
                }
            })
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
}
