//! `rm`: removing a container, its directory, cgroup and (with `-v`) its
//! anonymous volumes.

use super::*;

impl Daemon {
    /// Drop a stopped container's record and files.
    /// With `volumes`, the container's anonymous volumes go too (`rm -v`, `--rm`).
    pub(super) fn remove_now(&self, id: &str, volumes: bool) -> Result<()> {
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

    pub(super) async fn remove_inner(
        &self,
        key: &str,
        force: bool,
        volumes: bool,
        any: bool,
    ) -> Result<()> {
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
}
