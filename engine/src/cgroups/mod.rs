//! Control groups for containers, on every layout a Linux host may have.
//!
//! A cgroup groups processes so the kernel can account, limit, freeze and kill
//! them together. Each container gets one, nested under one per daemon (the
//! machine's `default` or a virtual host's) and one per data root:
//! `<prefix>/<daemon>/<container-id>`, where the prefix (say `dockhand-1a2b3c4d`)
//! keeps two Dockhand processes on one machine apart and lets one find what it
//! left behind after a crash.
//!
//! Hosts mount cgroups three ways (see `layout`); one `CgroupManager` trait has a
//! backend for v1 hierarchies (legacy and hybrid hosts) and one for the unified
//! cgroup2 tree, and `AnyCgroupManager` dispatches between them, as youki's
//! libcgroups does. Everything here is plain file I/O on cgroupfs, so the logic
//! is tested against temp-dir trees laid out like the kernel's, and the real
//! kernel is tested on whatever layout the machine has.

mod common;
#[cfg(test)]
mod enforce_tests;
mod error;
#[cfg(test)]
mod kernel_tests;
mod layout;
#[cfg(test)]
mod limit_tests;
mod limits;
#[cfg(test)]
pub(crate) mod test_tree;
#[cfg(test)]
mod tests;
mod v1;
mod v2;

pub use common::{AnyCgroupManager, CgroupManager};
pub use error::CgroupError;
pub use layout::{Controller, Layout, V1Hierarchy};
pub use limits::{
    blkio_to_io_weight, shares_to_weight, v1_plan, v2_plan, v2_swap, weight_to_shares, Limits,
    Write,
};
pub use v1::V1Manager;
pub use v2::V2Manager;

use common::{check_name, child_cgroups, remove_tree, thaw_and_kill_tree, KernelTree, TreeOps};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where cgroupfs is mounted on a normal host.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// How long freeze and thaw wait for the kernel to settle by default.
const DEFAULT_FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// What every manager of one daemon shares.
#[derive(Debug, Clone)]
pub(crate) struct Inner {
    root: PathBuf,
    prefix: String,
    layout: Layout,
    v1: Vec<V1Hierarchy>,
    unified: Option<PathBuf>,
    freeze_timeout: Duration,
    ops: Arc<dyn TreeOps>,
}

/// The daemon's view of the host's cgroups: its layout, and the per-daemon
/// prefix under which all container cgroups live. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Cgroups {
    inner: Arc<Inner>,
}

impl Cgroups {
    /// Detect the layout under `fs_root` (normally `DEFAULT_ROOT`). Nothing is
    /// created until a container's cgroup is.
    pub fn new(fs_root: &Path, prefix: &str) -> Result<Self, CgroupError> {
        Self::with_ops(fs_root, prefix, Arc::new(KernelTree))
    }

    pub(crate) fn with_ops(
        fs_root: &Path,
        prefix: &str,
        ops: Arc<dyn TreeOps>,
    ) -> Result<Self, CgroupError> {
        check_name(prefix)?;
        let found = layout::detect(fs_root)?;
        Ok(Cgroups {
            inner: Arc::new(Inner {
                root: fs_root.to_path_buf(),
                prefix: prefix.to_string(),
                layout: found.layout,
                v1: found.v1,
                unified: found.unified,
                freeze_timeout: DEFAULT_FREEZE_TIMEOUT,
                ops,
            }),
        })
    }

    /// Bound how long `freeze`/`thaw` wait for the kernel (default 5 s).
    pub fn with_freeze_timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.inner).freeze_timeout = timeout;
        self
    }

    /// "1" or "2", as `docker info` shows it (hybrid hosts report "1").
    pub fn version(&self) -> &'static str {
        self.inner.layout.version()
    }

    pub fn layout(&self) -> Layout {
        self.inner.layout
    }

    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The v1 hierarchies in use (empty on unified hosts).
    pub fn v1_hierarchies(&self) -> &[V1Hierarchy] {
        &self.inner.v1
    }

    /// The cgroup2 tree: the root on unified hosts, `<root>/unified` on hybrid ones.
    pub fn unified_root(&self) -> Option<&Path> {
        self.inner.unified.as_deref()
    }

    /// The cgroup of container `id` of `daemon`. Both must be plain names.
    pub fn for_container(&self, daemon: &str, id: &str) -> Result<AnyCgroupManager, CgroupError> {
        let inner = Arc::clone(&self.inner);
        Ok(match self.inner.layout {
            Layout::Unified => AnyCgroupManager::V2(V2Manager::new(inner, daemon, id)?),
            Layout::Legacy | Layout::Hybrid => {
                AnyCgroupManager::V1(V1Manager::new(inner, daemon, id)?)
            }
        })
    }

    /// The cgroup of a whole host, `<prefix>/<daemon>`: a virtual host's caps,
    /// above the cgroups of its containers.
    pub fn for_daemon(&self, daemon: &str) -> Result<AnyCgroupManager, CgroupError> {
        self.for_container(daemon, "")
    }

    /// Every daemon that has a cgroup under the prefix.
    pub fn daemons(&self) -> Result<Vec<String>, CgroupError> {
        let mut found = Vec::new();
        for root in self.roots() {
            found.extend(child_cgroups(&root.join(&self.inner.prefix))?);
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// Every tree root a container cgroup can exist under.
    fn roots(&self) -> Vec<PathBuf> {
        let inner = &self.inner;
        inner
            .v1
            .iter()
            .map(|h| h.mount.clone())
            .chain(inner.unified.clone())
            .collect()
    }

    /// Every `(daemon, id)` that has a cgroup under the prefix in any hierarchy.
    pub fn containers(&self) -> Result<Vec<(String, String)>, CgroupError> {
        let mut found = Vec::new();
        for root in self.roots() {
            let prefix = root.join(&self.inner.prefix);
            for daemon in child_cgroups(&prefix)? {
                for id in child_cgroups(&prefix.join(&daemon))? {
                    found.push((daemon.clone(), id));
                }
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// Kill and remove every container cgroup under the prefix that `keep`
    /// does not claim, e.g. at daemon start for containers no record knows
    /// (the daemon crashed between creating a cgroup and saving the record).
    /// Returns what was removed.
    pub fn cleanup_orphans(
        &self,
        keep: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Vec<(String, String)>, CgroupError> {
        let mut removed = Vec::new();
        for (daemon, id) in self.containers()? {
            if keep(&daemon, &id) {
                continue;
            }
            let cg = self.for_container(&daemon, &id)?;
            if let Err(e) = cg.kill_all() {
                tracing::warn!("orphan cgroup {daemon}/{id}: {e}");
            }
            cg.remove()?;
            removed.push((daemon, id));
        }
        Ok(removed)
    }

    /// Kill everything in a daemon's cgroup tree and remove it (a destroyed
    /// virtual host).
    pub fn remove_daemon_tree(&self, daemon: &str) -> Result<(), CgroupError> {
        check_name(daemon)?;
        let dirs: Vec<PathBuf> = self
            .roots()
            .into_iter()
            .map(|root| root.join(&self.inner.prefix).join(daemon))
            .collect();
        let mut first_err = None;
        for d in &dirs {
            if let Err(e) = thaw_and_kill_tree(d) {
                first_err.get_or_insert(e);
            }
        }
        for d in &dirs {
            if let Err(e) = remove_tree(self.inner.ops.as_ref(), d) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Tear down everything under the prefix in every hierarchy, killing what
    /// still runs there. For daemon shutdown of virtual hosts and for tests.
    pub fn remove_all(&self) -> Result<(), CgroupError> {
        let mut first_err = None;
        let tops: Vec<PathBuf> = self
            .roots()
            .into_iter()
            .map(|root| root.join(&self.inner.prefix))
            .collect();
        for top in &tops {
            if let Err(e) = thaw_and_kill_tree(top) {
                first_err.get_or_insert(e);
            }
        }
        for top in &tops {
            if let Err(e) = remove_tree(self.inner.ops.as_ref(), top) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}
