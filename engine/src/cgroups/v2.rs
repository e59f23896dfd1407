//! The backend for unified (cgroup2-only) hosts: one tree, the container at
//! `<root>/<prefix>/<daemon>/<id>`. A controller is usable in a cgroup only if its
//! parent lists it in `cgroup.subtree_control`, so each ancestor we create
//! enables the controllers we need, as far as its own parent offers them.
//! Processes live only in the leaf ("no internal processes" rule).

use super::common::{
    check_name, create_path, freeze_kill_thaw, mkdir, read, read_opt, read_parsed, read_pids,
    rmdir_if_empty, rmdir_leaf, wait_until, write, CgroupManager,
};
use super::error::CgroupError;
use super::layout::Controller;
use super::limits::{
    io_to_blkio_weight, keyed, v2_controller, v2_max, v2_plan, weight_to_shares, Limits,
};
use super::Inner;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The controllers a container cgroup wants delegated.
const WANTED: [&str; 5] = ["cpu", "cpuset", "io", "memory", "pids"];

/// A container's cgroup on a unified host.
#[derive(Debug, Clone)]
pub struct V2Manager {
    cg: Arc<Inner>,
    daemon: String,
    id: String,
}

/// Whether the cgroup2 directory reports itself frozen (`cgroup.events`).
pub(crate) fn frozen(dir: &Path) -> Result<bool, CgroupError> {
    let events = dir.join("cgroup.events");
    let text = read(&events)?;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("frozen ") {
            return Ok(v.trim() == "1");
        }
    }
    Err(CgroupError::Parse {
        path: events,
        content: text,
    })
}

/// Write `cgroup.freeze` and wait (bounded) until `cgroup.events` agrees.
pub(crate) fn set_frozen(dir: &Path, want: bool, timeout: Duration) -> Result<(), CgroupError> {
    let freeze = dir.join("cgroup.freeze");
    write(&freeze, if want { "1" } else { "0" })?;
    if wait_until(timeout, || Ok(frozen(dir)? == want))? {
        return Ok(());
    }
    if want {
        let _ = write(&freeze, "0");
    }
    Err(CgroupError::FreezeTimeout {
        path: dir.to_path_buf(),
        want: if want { "frozen" } else { "thawed" },
        waited: timeout,
    })
}

/// The controllers of `WANTED` that `dir` offers but has not yet delegated.
pub(crate) fn controllers_to_enable(offered: &str, enabled: &str) -> Vec<&'static str> {
    let offered: Vec<&str> = offered.split_whitespace().collect();
    let enabled: Vec<&str> = enabled
        .split_whitespace()
        .map(|c| c.trim_start_matches('+'))
        .collect();
    WANTED
        .into_iter()
        .filter(|c| offered.contains(c) && !enabled.contains(c))
        .collect()
}

/// Delegate the wanted controllers from `dir` to its children. Best effort: a
/// controller the kernel refuses (e.g. the daemon's own cgroup holds processes)
/// only makes the limits that need it fail later, with a clear error.
fn enable_controllers(dir: &Path) -> Result<(), CgroupError> {
    let offered = read_opt(&dir.join("cgroup.controllers"))?.unwrap_or_default();
    let subtree = dir.join("cgroup.subtree_control");
    let enabled = read_opt(&subtree)?.unwrap_or_default();
    let missing = controllers_to_enable(&offered, &enabled);
    if missing.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
    if write(&subtree, &all.join(" ")).is_ok() {
        return Ok(());
    }
    // The kernel rejects the whole write if one controller fails: go one by one.
    for c in missing {
        if let Err(e) = write(&subtree, &format!("+{c}")) {
            tracing::debug!("cannot enable cgroup controller {c}: {e}");
        }
    }
    Ok(())
}

impl V2Manager {
    pub(crate) fn new(cg: Arc<Inner>, daemon: &str, id: &str) -> Result<Self, CgroupError> {
        check_name(daemon)?;
        if !id.is_empty() {
            check_name(id)?;
        }
        Ok(V2Manager {
            cg,
            daemon: daemon.to_string(),
            id: id.to_string(),
        })
    }

    fn root(&self) -> &Path {
        // `Cgroups` only builds a V2Manager when the unified tree exists.
        self.cg.unified.as_deref().unwrap_or(&self.cg.root)
    }

    fn leaf(&self) -> PathBuf {
        let daemon = self.root().join(&self.cg.prefix).join(&self.daemon);
        if self.id.is_empty() {
            daemon
        } else {
            daemon.join(&self.id)
        }
    }
}

impl CgroupManager for V2Manager {
    fn create(&self) -> Result<(), CgroupError> {
        create_path(|| {
            let mut parent = self.root().to_path_buf();
            for name in [&self.cg.prefix, &self.daemon, &self.id] {
                if name.is_empty() {
                    continue;
                }
                enable_controllers(&parent)?;
                let dir = parent.join(name);
                mkdir(self.cg.ops.as_ref(), &dir)?;
                parent = dir;
            }
            Ok(())
        })
    }

    fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        write(&self.leaf().join("cgroup.procs"), &pid.to_string())
    }

    fn freeze(&self) -> Result<(), CgroupError> {
        set_frozen(&self.leaf(), true, self.cg.freeze_timeout)
    }

    fn thaw(&self) -> Result<(), CgroupError> {
        set_frozen(&self.leaf(), false, self.cg.freeze_timeout)
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        frozen(&self.leaf())
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        read_pids(&self.leaf().join("cgroup.procs"))
    }

    fn kill_all(&self) -> Result<(), CgroupError> {
        let leaf = self.leaf();
        let kill_file = leaf.join("cgroup.kill");
        if kill_file.exists() {
            // Linux 5.14+: the kernel kills every process, forks included.
            return write(&kill_file, "1");
        }
        freeze_kill_thaw(self)
    }

    fn remove(&self) -> Result<(), CgroupError> {
        let ops = self.cg.ops.as_ref();
        let prefix = self.root().join(&self.cg.prefix);
        rmdir_leaf(ops, &self.leaf())?;
        rmdir_if_empty(ops, &prefix.join(&self.daemon))?;
        rmdir_if_empty(ops, &prefix)
    }

    fn apply(&self, limits: &Limits) -> Result<(), CgroupError> {
        let plan = v2_plan(limits)?;
        if plan.is_empty() {
            return Ok(());
        }
        let leaf = self.leaf();
        let available = read_opt(&leaf.join("cgroup.controllers"))?.unwrap_or_default();
        for w in &plan {
            let name = v2_controller(w.controller);
            if !available.split_whitespace().any(|c| c == name) {
                if w.optional {
                    continue;
                }
                return Err(CgroupError::MissingController(name));
            }
            match w.targets.iter().find(|(f, _)| leaf.join(f).exists()) {
                Some((file, value)) => write(&leaf.join(file), value)?,
                None if w.optional => {}
                None => return Err(CgroupError::MissingFile(leaf.join(w.file()))),
            }
        }
        Ok(())
    }

    fn read_limits(&self) -> Result<Limits, CgroupError> {
        let leaf = self.leaf();
        let get = |f: &str| read_parsed(&leaf.join(f), v2_max);
        let get_str =
            |f: &str| Ok::<_, CgroupError>(read_opt(&leaf.join(f))?.map(|t| t.trim().to_string()));
        let memory = get("memory.max")?;
        // v2 limits swap alone; Limits counts memory plus swap, as v1 does.
        let memory_swap = match (memory, get("memory.swap.max")?) {
            (_, None) => None,
            (Some(-1), Some(_)) | (_, Some(-1)) => Some(-1),
            (Some(m), Some(s)) => Some(m.saturating_add(s)),
            (None, Some(s)) => Some(s),
        };
        let (cpu_quota, cpu_period) = match read_opt(&leaf.join("cpu.max"))? {
            Some(t) => {
                let mut it = t.split_whitespace();
                let quota = it.next().and_then(v2_max);
                let period = it.next().and_then(|p| p.parse::<u64>().ok());
                (quota, period)
            }
            None => (None, None),
        };
        let weight = |t: &str| {
            // "default 100" (and per-device lines after it).
            t.lines()
                .next()
                .and_then(|l| l.split_whitespace().last())
                .and_then(|w| w.parse::<u64>().ok())
        };
        let blkio_weight = match read_parsed(&leaf.join("io.bfq.weight"), weight)? {
            Some(w) => u16::try_from(w).ok(),
            None => read_parsed(&leaf.join("io.weight"), weight)?.map(io_to_blkio_weight),
        };
        Ok(Limits {
            memory,
            memory_swap,
            memory_reservation: get("memory.low")?,
            kernel_memory: None,
            memory_swappiness: None,
            oom_kill_disable: None,
            cpu_shares: read_parsed(&leaf.join("cpu.weight"), |t| t.trim().parse::<u64>().ok())?
                .map(weight_to_shares),
            cpu_quota,
            cpu_period,
            cpuset_cpus: get_str("cpuset.cpus")?,
            cpuset_mems: get_str("cpuset.mems")?,
            pids_max: get("pids.max")?,
            blkio_weight,
        })
    }

    fn oom_kills(&self) -> Result<Option<u64>, CgroupError> {
        Ok(read_opt(&self.leaf().join("memory.events"))?.and_then(|t| keyed(&t, "oom_kill")))
    }

    fn path(&self, _controller: Controller) -> Option<PathBuf> {
        Some(self.leaf())
    }
}
