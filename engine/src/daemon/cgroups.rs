//! The container's cgroup: finding, pausing and removing it, and the
//! daemon's cgroup prefix.

use super::*;

impl Daemon {
    pub(super) fn cgroup(&self, id: &str) -> Option<crate::cgroups::AnyCgroupManager> {
        self.cgroups
            .as_ref()
            .and_then(|cg| cg.for_container(&self.name, id).ok())
    }

    /// Create the container's cgroups; the `cgroup.procs` files its processes join.
    pub(super) fn cgroup_procs(&self, rec: &ContainerInspect) -> Result<Vec<PathBuf>> {
        use crate::cgroups::{CgroupManager, Controller};
        let id = rec.id.as_str();
        let Some(m) = self.cgroup(id) else {
            return Ok(vec![]);
        };
        m.create().map_err(Error::cgroup("create cgroup"))?;
        // Limits are in place before any process of the container runs.
        let res = crate::resources::Resources::from_host_config(&rec.host_config.extra)?;
        if let Err(e) = m.apply(&res.limits()) {
            let _ = m.remove();
            return Err(Error::cgroup("apply resource limits")(e));
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

    pub(super) fn remove_cgroup(&self, id: &str) {
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
    pub(super) fn thaw_if_paused(&self, id: &str) {
        use crate::cgroups::CgroupManager;
        let paused = self.lock().get(id).is_some_and(|e| e.rec.state.paused);
        if paused {
            if let Some(m) = self.cgroup(id) {
                let _ = m.thaw();
            }
        }
    }

    /// The controllers (v1 names) the daemon's cgroups can use for limits,
    /// `None` without cgroups: what [`crate::preflight::check`] asks for.
    pub fn cgroup_controllers(&self) -> Option<Vec<&'static str>> {
        self.cgroups.as_ref()?;
        let s = &self.sys;
        let have = [
            ("memory", s.memory_limit),
            ("cpu", s.cpu_cfs || s.cpu_shares),
            ("pids", s.pids_limit),
            ("cpuset", s.cpuset),
        ];
        Some(
            have.into_iter()
                .filter(|(_, ok)| *ok)
                .map(|(n, _)| n)
                .collect(),
        )
    }

    /// Docker's `info` warnings about limits the kernel cannot enforce.
    pub fn limit_warnings(&self) -> Vec<&'static str> {
        let s = &self.sys;
        [
            (s.memory_limit, "WARNING: No memory limit support"),
            (s.swap_limit, "WARNING: No swap limit support"),
            (s.cpu_cfs, "WARNING: No cpu cfs quota support"),
            (s.cpu_cfs, "WARNING: No cpu cfs period support"),
            (s.cpu_shares, "WARNING: No cpu shares support"),
            (s.cpuset, "WARNING: No cpuset support"),
            (s.pids_limit, "WARNING: No pids limit support"),
        ]
        .into_iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, w)| w)
        .collect()
    }

    /// The cgroup layout's version for `info`: "1" (legacy, hybrid) or "2".
    pub fn cgroup_version(&self) -> &'static str {
        self.cgroups.as_ref().map(|c| c.version()).unwrap_or("1")
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
