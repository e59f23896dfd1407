//! Removing virtual hosts: one, what a failed create left, the expired, all.

use super::*;
use shared::sync::Locked;

impl Manager {
    /// Destroy a virtual host and everything it owned. Idempotent: removing one
    /// that does not exist (any more) succeeds.
    /// Runs to its end in a task of its own, like `create`.
    pub async fn remove(self: &Arc<Self>, name: &str) -> Result<()> {
        let me = self.clone();
        let name = name.to_string();
        tokio::spawn(async move { me.remove_now(&name).await })
            .await
            .map_err(Error::task("removing a virtual host"))?
    }

    pub(super) async fn remove_now(&self, name: &str) -> Result<()> {
        if !valid_name(name) {
            return Err(Error::NotFound(format!("No such virtual host: {name}")));
        }
        let t0 = std::time::Instant::now();
        let v = self.hosts.locked().remove(name);
        self.api.stop(name);
        let session = v.as_ref().map(|v| v.rec.locked().session.clone());
        if let Some(v) = v {
            // Containers first (records, networks), the init last.
            let sandbox = v.daemon.sandbox_record().map(|r| r.id);
            for id in v.daemon.all_ids() {
                if Some(&id) != sandbox.as_ref() {
                    let _ = v.daemon.remove_with_volumes(&id, true, true).await;
                }
            }
            tracing::debug!("vhost {name}: containers removed at {:?}", t0.elapsed());
            let _ = v.daemon.remove_sandbox().await;
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
    pub(super) async fn destroy_remains(&self, name: &str) {
        self.api.stop(name);
        if let Some(pg) = &self.playground {
            if let Err(e) = pg.detach(name).await {
                tracing::warn!("detaching virtual host {name}: {e}");
            }
        }
        tracing::debug!("vhost {name}: playground link removed");
        if let Some(cg) = &self.cgroups {
            for _ in 0..200 {
                match cg.remove_daemon_tree(name) {
                    Ok(()) => break,
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }
        tracing::debug!("vhost {name}: cgroups removed");
        let dir = self.daemon_dir(name);
        // Its image index is on its disk: release the content only it held
        // from the shared store before the disk goes (mounting the disk again
        // if it is not, as after a reboot).
        let img = self.image_path(name);
        if !self.kernel.is_mounted(&dir) && img.exists() {
            if let Err(e) = self.mount_disk(&img, &dir).await {
                tracing::warn!("mounting the disk of virtual host {name}: {e}");
            }
        }
        if self.kernel.is_mounted(&dir) {
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
            if !self.kernel.is_mounted(&dir) {
                break;
            }
            if self.kernel.unmount(&dir, i == 199).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = std::fs::remove_dir(&dir);
        let _ = std::fs::remove_file(self.image_path(name));
        let _ = std::fs::remove_file(self.record_path(name));
    }

    /// Expire hosts past their TTL or idle timeout, and drop those whose init died.
    pub(super) async fn expire(self: &Arc<Self>) {
        let now = now_unix();
        let all: Vec<Arc<Vhost>> = self.hosts.locked().values().cloned().collect();
        for v in all {
            let (name, created, ttl, idle) = {
                let r = v.rec.locked();
                (r.name.clone(), r.created_unix, r.ttl, r.idle_timeout)
            };
            let last = v.last_active();
            let dead = !v.daemon.sandbox_record().is_some_and(|r| r.state.running);
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
        let names: Vec<String> = self.hosts.locked().keys().cloned().collect();
        for n in names {
            let _ = self.remove(&n).await;
        }
    }
}
