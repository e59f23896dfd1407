//! The backend for legacy and hybrid hosts: the container's cgroup exists once
//! per v1 hierarchy (`<mount>/<prefix>/<daemon>/<id>`), and on hybrid hosts also in
//! the controller-less cgroup2 tree, as runc does, so that tools reading the
//! unified tree (systemd) see the container as a unit of its own.

use super::common::{
    check_name, create_path, freeze_kill_thaw, is_einval, mkdir, read, read_opt, read_parsed,
    read_pids, rmdir_if_empty, rmdir_leaf, wait_until, write, CgroupManager,
};
use super::error::CgroupError;
use super::layout::{Controller, V1Hierarchy};
use super::limits::{keyed, v1_bytes, v1_plan, v2_max, Limits, Write};
use super::v2;
use super::Inner;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A container's cgroup on a legacy or hybrid host.
#[derive(Debug, Clone)]
pub struct V1Manager {
    cg: Arc<Inner>,
    daemon: String,
    id: String,
}

impl V1Manager {
    pub(crate) fn new(cg: Arc<Inner>, daemon: &str, id: &str) -> Result<Self, CgroupError> {
        check_name(daemon)?;
        if !id.is_empty() {
            check_name(id)?;
        }
        Ok(V1Manager {
            cg,
            daemon: daemon.to_string(),
            id: id.to_string(),
        })
    }

    fn hierarchy(&self, c: Controller) -> Option<&V1Hierarchy> {
        self.cg.v1.iter().find(|h| h.controllers.contains(&c))
    }

    /// `<root>/<prefix>/<daemon>/<id>`
    fn leaf(&self, root: &Path) -> PathBuf {
        let daemon = root.join(&self.cg.prefix).join(&self.daemon);
        if self.id.is_empty() {
            daemon
        } else {
            daemon.join(&self.id)
        }
    }

    /// The roots of every tree the container has a cgroup in.
    fn roots(&self) -> impl Iterator<Item = &Path> {
        self.cg
            .v1
            .iter()
            .map(|h| h.mount.as_path())
            .chain(self.cg.unified.as_deref())
    }

    fn freezer_leaf(&self) -> Option<PathBuf> {
        self.hierarchy(Controller::Freezer)
            .map(|h| self.leaf(&h.mount))
    }

    fn unified_leaf(&self) -> Option<PathBuf> {
        self.cg.unified.as_deref().map(|u| self.leaf(u))
    }

    fn set_v1_frozen(&self, leaf: &Path, frozen: bool) -> Result<(), CgroupError> {
        let state = leaf.join("freezer.state");
        let want = if frozen { "FROZEN" } else { "THAWED" };
        // Freezing can stall in FREEZING while tasks are in uninterruptible
        // sleep; writing FROZEN again nudges the kernel to retry (runc does
        // the same). Thawing is immediate but checking it costs nothing.
        let settled = wait_until(self.cg.freeze_timeout, || {
            write(&state, want)?;
            Ok(read(&state)?.trim() == want)
        })?;
        if settled {
            return Ok(());
        }
        if frozen {
            // Do not leave a half-frozen container behind.
            let _ = write(&state, "THAWED");
        }
        Err(CgroupError::FreezeTimeout {
            path: leaf.to_path_buf(),
            want: if frozen { "frozen" } else { "thawed" },
            waited: self.cg.freeze_timeout,
        })
    }

    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        if let Some(leaf) = self.freezer_leaf() {
            return self.set_v1_frozen(&leaf, frozen);
        }
        // A hybrid host without the v1 freezer still has the core cgroup2
        // freezer in its unified tree.
        match self.unified_leaf() {
            Some(leaf) => v2::set_frozen(&leaf, frozen, self.cg.freeze_timeout),
            None => Err(CgroupError::MissingController("freezer")),
        }
    }
}

/// A new cpuset cgroup starts with empty `cpuset.cpus` and `cpuset.mems`, and
/// no task may join it until both are set: inherit the parent's.
fn fill_cpuset(parent: &Path, dir: &Path) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.join(file);
        let current = read_opt(&own)?.unwrap_or_default();
        if !current.trim().is_empty() {
            continue;
        }
        let inherited = read(&parent.join(file))?;
        write(&own, inherited.trim())?;
    }
    Ok(())
}

impl V1Manager {
    /// Carry out one write of a plan in the controller's hierarchy.
    fn write_planned(&self, w: &Write) -> Result<(), CgroupError> {
        let Some(dir) = self.path(w.controller) else {
            if w.optional {
                return Ok(());
            }
            return Err(CgroupError::MissingController(w.controller.v1_name()));
        };
        for (file, value) in &w.targets {
            let path = dir.join(file);
            if path.exists() {
                return write(&path, value);
            }
        }
        if w.optional {
            return Ok(());
        }
        Err(CgroupError::MissingFile(dir.join(w.file())))
    }
}

impl CgroupManager for V1Manager {
    fn create(&self) -> Result<(), CgroupError> {
        let is_cpuset = |root: &Path| {
            self.hierarchy(Controller::Cpuset)
                .is_some_and(|h| h.mount == root)
        };
        create_path(|| {
            for root in self.roots() {
                let mut parent = root.to_path_buf();
                for name in [&self.cg.prefix, &self.daemon, &self.id] {
                    if name.is_empty() {
                        continue;
                    }
                    let dir = parent.join(name);
                    mkdir(self.cg.ops.as_ref(), &dir)?;
                    if is_cpuset(root) {
                        fill_cpuset(&parent, &dir)?;
                    }
                    parent = dir;
                }
            }
            Ok(())
        })
    }

    fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        for root in self.roots() {
            write(&self.leaf(root).join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn freeze(&self) -> Result<(), CgroupError> {
        self.set_frozen(true)
    }

    fn thaw(&self) -> Result<(), CgroupError> {
        self.set_frozen(false)
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        if let Some(leaf) = self.freezer_leaf() {
            return Ok(read(&leaf.join("freezer.state"))?.trim() == "FROZEN");
        }
        match self.unified_leaf() {
            Some(leaf) => v2::frozen(&leaf),
            None => Err(CgroupError::MissingController("freezer")),
        }
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        // Every hierarchy should list the same processes; take the union so a
        // process that joined only some of them is not missed by kill_all.
        let mut all = Vec::new();
        for root in self.roots() {
            all.extend(read_pids(&self.leaf(root).join("cgroup.procs"))?);
        }
        all.sort_unstable();
        all.dedup();
        Ok(all)
    }

    fn kill_all(&self) -> Result<(), CgroupError> {
        freeze_kill_thaw(self)
    }

    fn remove(&self) -> Result<(), CgroupError> {
        let ops = self.cg.ops.as_ref();
        let mut first_err = None;
        for root in self.roots() {
            if let Err(e) = rmdir_leaf(ops, &self.leaf(root)) {
                first_err.get_or_insert(e);
            }
        }
        for root in self.roots() {
            let prefix = root.join(&self.cg.prefix);
            let parents = [prefix.join(&self.daemon), prefix];
            for dir in parents {
                if let Err(e) = rmdir_if_empty(ops, &dir) {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn apply(&self, limits: &Limits) -> Result<(), CgroupError> {
        let current = match self.path(Controller::Memory) {
            Some(dir) => read_parsed(&dir.join("memory.limit_in_bytes"), |t| {
                t.trim().parse::<u64>().ok()
            })
            .unwrap_or(None),
            None => None,
        };
        let plan = v1_plan(limits, current);
        let mut i = 0;
        while i < plan.len() {
            let w = &plan[i];
            let quota = plan
                .get(i + 1)
                .filter(|q| w.file() == "cpu.cfs_period_us" && q.file() == "cpu.cfs_quota_us");
            if let Some(q) = quota {
                // A new period can be invalid against the old quota (and the
                // other way round); runc retries in the other order.
                match self.write_planned(w) {
                    Ok(()) => self.write_planned(q)?,
                    Err(e) if is_einval(&e) => {
                        self.write_planned(q)?;
                        self.write_planned(w)?;
                    }
                    Err(e) => return Err(e),
                }
                i += 2;
                continue;
            }
            self.write_planned(w)?;
            i += 1;
        }
        Ok(())
    }

    fn read_limits(&self) -> Result<Limits, CgroupError> {
        use Controller::*;
        let file = |c: Controller, f: &str| self.path(c).map(|d| d.join(f));
        let get = |c: Controller, f: &str, parse: &dyn Fn(&str) -> Option<i64>| match file(c, f) {
            Some(p) => read_parsed(&p, parse),
            None => Ok(None),
        };
        let get_str = |c: Controller, f: &str| match file(c, f) {
            Some(p) => Ok::<_, CgroupError>(read_opt(&p)?.map(|t| t.trim().to_string())),
            None => Ok(None),
        };
        let int = |t: &str| t.trim().parse::<i64>().ok();
        let bytes = |t: &str| v1_bytes(t);
        let max = |t: &str| v2_max(t);
        let weight = |t: &str| {
            // `blkio.bfq.weight` reads "default 100".
            t.split_whitespace()
                .last()
                .and_then(|w| w.parse::<i64>().ok())
        };
        let blkio = match get(Blkio, "blkio.weight", &weight)? {
            Some(w) => Some(w),
            None => get(Blkio, "blkio.bfq.weight", &weight)?,
        };
        let oom = match file(Memory, "memory.oom_control") {
            Some(p) => read_opt(&p)?.and_then(|t| keyed(&t, "oom_kill_disable")),
            None => None,
        };
        Ok(Limits {
            memory: get(Memory, "memory.limit_in_bytes", &bytes)?,
            memory_swap: get(Memory, "memory.memsw.limit_in_bytes", &bytes)?,
            memory_reservation: get(Memory, "memory.soft_limit_in_bytes", &bytes)?,
            kernel_memory: get(Memory, "memory.kmem.limit_in_bytes", &bytes)?,
            memory_swappiness: get(Memory, "memory.swappiness", &int)?.map(|v| v as u64),
            oom_kill_disable: oom.map(|v| v == 1),
            cpu_shares: get(Cpu, "cpu.shares", &int)?.map(|v| v as u64),
            cpu_quota: get(Cpu, "cpu.cfs_quota_us", &int)?,
            cpu_period: get(Cpu, "cpu.cfs_period_us", &int)?.map(|v| v as u64),
            cpuset_cpus: get_str(Cpuset, "cpuset.cpus")?,
            cpuset_mems: get_str(Cpuset, "cpuset.mems")?,
            pids_max: get(Pids, "pids.max", &max)?,
            blkio_weight: blkio.and_then(|w| u16::try_from(w).ok()),
        })
    }

    fn oom_kills(&self) -> Result<Option<u64>, CgroupError> {
        let Some(dir) = self.path(Controller::Memory) else {
            return Ok(None);
        };
        Ok(read_opt(&dir.join("memory.oom_control"))?.and_then(|t| keyed(&t, "oom_kill")))
    }

    fn path(&self, controller: Controller) -> Option<PathBuf> {
        self.hierarchy(controller).map(|h| self.leaf(&h.mount))
    }
}
