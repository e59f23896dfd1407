//! What the machine's cgroups offer (dockerd's `sysinfo`), looked up in cgroupfs.

use super::*;

/// What the host's cgroups can limit (dockerd's `sysinfo.SysInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysInfo {
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub memory_reservation: bool,
    pub oom_kill_disable: bool,
    pub memory_swappiness: bool,
    pub kernel_memory: bool,
    pub pids_limit: bool,
    pub cpu_shares: bool,
    pub cpu_cfs: bool,
    pub cpuset: bool,
    pub blkio_weight: bool,
    /// The CPUs a cpuset may use, e.g. "0-3".
    pub cpus: String,
    /// The memory nodes a cpuset may use.
    pub mems: String,
    /// The CPUs this process may run on (Go's `runtime.NumCPU`).
    pub num_cpu: usize,
}

impl SysInfo {
    /// A host that offers everything, with `num_cpu` CPUs and one memory node.
    /// For tests and for callers that have no cgroups to ask.
    pub fn everything(num_cpu: usize) -> SysInfo {
        let cpus = if num_cpu > 1 {
            format!("0-{}", num_cpu - 1)
        } else {
            "0".to_string()
        };
        SysInfo {
            memory_limit: true,
            swap_limit: true,
            memory_reservation: true,
            oom_kill_disable: true,
            memory_swappiness: true,
            kernel_memory: true,
            pids_limit: true,
            cpu_shares: true,
            cpu_cfs: true,
            cpuset: true,
            blkio_weight: true,
            cpus,
            mems: "0".to_string(),
            num_cpu,
        }
    }

    /// A host without cgroups: every limit is discarded with a warning.
    pub fn nothing(num_cpu: usize) -> SysInfo {
        SysInfo {
            memory_limit: false,
            swap_limit: false,
            memory_reservation: false,
            oom_kill_disable: false,
            memory_swappiness: false,
            kernel_memory: false,
            pids_limit: false,
            cpu_shares: false,
            cpu_cfs: false,
            cpuset: false,
            blkio_weight: false,
            cpus: String::new(),
            mems: String::new(),
            num_cpu,
        }
    }

    /// Look at the host's cgroups the way dockerd's sysinfo does: on v1 the
    /// files of each hierarchy's root, on v2 the controllers the tree offers.
    pub fn detect(cgroups: Option<&Cgroups>) -> SysInfo {
        let num_cpu = online_cpus_of_process();
        let Some(cg) = cgroups else {
            return SysInfo::nothing(num_cpu);
        };
        match cg.layout() {
            Layout::Unified => detect_v2(cg, num_cpu),
            Layout::Legacy | Layout::Hybrid => detect_v1(cg, num_cpu),
        }
    }
}

/// The CPUs this process may run on, as Go's `runtime.NumCPU` counts them.
pub(super) fn online_cpus_of_process() -> usize {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count())
            .filter(|&i| set.is_set(i).unwrap_or(false))
            .count()
            .max(1),
        Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

pub(super) fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub(super) fn detect_v1(cg: &Cgroups, num_cpu: usize) -> SysInfo {
    let mount = |c: Controller| {
        cg.v1_hierarchies()
            .iter()
            .find(|h| h.controllers.contains(&c))
            .map(|h| h.mount.clone())
    };
    let has = |c: Controller, file: &str| mount(c).is_some_and(|m| m.join(file).exists());
    let cpuset = mount(Controller::Cpuset);
    SysInfo {
        memory_limit: mount(Controller::Memory).is_some(),
        swap_limit: has(Controller::Memory, "memory.memsw.limit_in_bytes"),
        memory_reservation: has(Controller::Memory, "memory.soft_limit_in_bytes"),
        oom_kill_disable: has(Controller::Memory, "memory.oom_control"),
        memory_swappiness: has(Controller::Memory, "memory.swappiness"),
        kernel_memory: has(Controller::Memory, "memory.kmem.limit_in_bytes"),
        pids_limit: mount(Controller::Pids).is_some(),
        cpu_shares: has(Controller::Cpu, "cpu.shares"),
        cpu_cfs: has(Controller::Cpu, "cpu.cfs_quota_us")
            && has(Controller::Cpu, "cpu.cfs_period_us"),
        cpuset: cpuset.is_some(),
        blkio_weight: has(Controller::Blkio, "blkio.weight")
            || has(Controller::Blkio, "blkio.bfq.weight"),
        cpus: cpuset
            .as_ref()
            .map(|m| read_trim(&m.join("cpuset.cpus")))
            .unwrap_or_default(),
        mems: cpuset
            .as_ref()
            .map(|m| read_trim(&m.join("cpuset.mems")))
            .unwrap_or_default(),
        num_cpu,
    }
}

pub(super) fn detect_v2(cg: &Cgroups, num_cpu: usize) -> SysInfo {
    let Some(root) = cg.unified_root() else {
        return SysInfo::nothing(num_cpu);
    };
    let offered = read_trim(&root.join("cgroup.controllers"));
    let has = |c: &str| offered.split_whitespace().any(|o| o == c);
    let memory = has("memory");
    let cpu = has("cpu");
    let cpuset = has("cpuset");
    SysInfo {
        memory_limit: memory,
        swap_limit: memory && v2_has_swap(root),
        memory_reservation: memory,
        oom_kill_disable: false,
        memory_swappiness: false,
        kernel_memory: false,
        pids_limit: has("pids"),
        cpu_shares: cpu,
        cpu_cfs: cpu,
        cpuset,
        blkio_weight: has("io"),
        cpus: if cpuset {
            read_trim(&root.join("cpuset.cpus.effective"))
        } else {
            String::new()
        },
        mems: if cpuset {
            read_trim(&root.join("cpuset.mems.effective"))
        } else {
            String::new()
        },
        num_cpu,
    }
}

/// Swap accounting shows as `memory.swap.max` in non-root cgroups with the
/// memory controller: look in ours (as dockerd does), then in any child of
/// the root (a service's cgroup, such as ours under systemd, may have no
/// memory controller while the root's children, where our containers go, do).
pub(super) fn v2_has_swap(root: &Path) -> bool {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    v2_has_swap_seen_from(root, &own)
}

/// [`v2_has_swap`] for a process whose `/proc/self/cgroup` reads `own`.
pub(super) fn v2_has_swap_seen_from(root: &Path, own: &str) -> bool {
    let own = own
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(|p| p.trim_start_matches('/')))
        .filter(|p| !p.is_empty());
    if own.is_some_and(|p| root.join(p).join("memory.swap.max").exists()) {
        return true;
    }
    std::fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.path().join("memory.swap.max").exists())
        })
        .unwrap_or(false)
}
