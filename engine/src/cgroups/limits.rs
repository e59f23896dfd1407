//! Resource limits of one cgroup, and how each backend spells them in control
//! files.
//!
//! `Limits` is in the units of the OCI runtime spec (what runc and crun take):
//! bytes, CFS microseconds, v1 CPU shares, blkio weight. The v1 backend writes
//! them almost as they are; cgroup v2 renames and rescales some of them
//! (`cpu.weight` from shares, `memory.swap.max` as swap alone rather than
//! memory plus swap, `io.weight` from the blkio weight), with the formulas runc
//! and crun use so that a container gets the same share on every host.
//!
//! Planning is pure: `v1_plan` and `v2_plan` turn limits into an ordered list of
//! writes, tested on their own; the backends only carry them out.

use super::error::CgroupError;
use super::layout::Controller;

/// Limits of one cgroup. Each field is an `Option` so that `update` can change
/// one without touching the others: `None` leaves the kernel's value as it is.
/// `-1` means unlimited where a field can be unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Memory limit in bytes (`memory.limit_in_bytes` / `memory.max`).
    pub memory: Option<i64>,
    /// Memory plus swap in bytes, as Docker's `MemorySwap` counts it
    /// (`memory.memsw.limit_in_bytes`; v2 writes `memory.swap.max` = this - memory).
    pub memory_swap: Option<i64>,
    /// Soft limit in bytes (`memory.soft_limit_in_bytes` / `memory.low`).
    pub memory_reservation: Option<i64>,
    /// Kernel memory limit (v1 only, deprecated by the kernel).
    pub kernel_memory: Option<i64>,
    /// 0-100 (v1 only).
    pub memory_swappiness: Option<u64>,
    /// Disable the OOM killer (v1 only).
    pub oom_kill_disable: Option<bool>,
    /// Relative CPU weight in v1 shares, 2..=262144 (`cpu.shares` / `cpu.weight`).
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds per period; -1 for none.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// `--pids-limit`: zero or a negative value means unlimited (`max`), as
    /// Docker reads it.
    pub pids_max: Option<i64>,
    /// Block I/O weight, 10..=1000 (`blkio.weight` / `io.weight`).
    pub blkio_weight: Option<u16>,
}

/// One control-file write of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The controller the file belongs to (its v1 hierarchy; on v2 the
    /// controller the cgroup must have enabled).
    pub controller: Controller,
    /// Alternatives, best first: the first file that exists is written with its
    /// value (`blkio.weight` or, on BFQ-only kernels, `blkio.bfq.weight`).
    pub targets: Vec<(&'static str, String)>,
    /// True when the write only asks for the kernel's default (unlimited swap,
    /// OOM killer on), so a kernel without the file already does what it asks.
    pub optional: bool,
}

impl Write {
    fn one(controller: Controller, file: &'static str, value: impl ToString) -> Write {
        Write {
            controller,
            targets: vec![(file, value.to_string())],
            optional: false,
        }
    }

    fn optional(mut self, optional: bool) -> Write {
        self.optional = optional;
        self
    }

    /// The first target's file, for messages and tests.
    pub fn file(&self) -> &'static str {
        self.targets[0].0
    }

    /// The first target's value.
    pub fn value(&self) -> &str {
        &self.targets[0].1
    }
}

/// What v1 files read as "no limit": `PAGE_COUNTER_MAX` pages, rounded to a page.
pub(crate) const V1_UNLIMITED_FLOOR: u64 = 0x7FFF_FFFF_FFFF_F000;

/// Plan the writes for a v1 (legacy or hybrid) host. `current_memory` is the
/// cgroup's `memory.limit_in_bytes` now (`None` when unknown); it decides the
/// order of the memory and memory+swap writes, because the kernel refuses any
/// moment where memory would exceed memory+swap (runc's `setMemoryAndSwap`).
pub fn v1_plan(l: &Limits, current_memory: Option<u64>) -> Vec<Write> {
    use Controller::*;
    let mut plan = Vec::new();

    // Unlimited memory with swap left unsaid means unlimited swap as well.
    let swap = match (l.memory, l.memory_swap) {
        (Some(-1), None) => Some(-1),
        (_, s) => s,
    };
    let mem_w = l
        .memory
        .map(|m| Write::one(Memory, "memory.limit_in_bytes", m));
    let swap_w =
        swap.map(|s| Write::one(Memory, "memory.memsw.limit_in_bytes", s).optional(s == -1));
    match (mem_w, swap_w) {
        (Some(m), Some(s)) => {
            let new_swap = swap.unwrap_or(-1);
            let swap_first = new_swap == -1
                || current_memory.is_some_and(|cur| i64::try_from(cur).is_ok_and(|c| c < new_swap));
            if swap_first {
                plan.extend([s, m]);
            } else {
                plan.extend([m, s]);
            }
        }
        (m, s) => plan.extend(m.into_iter().chain(s)),
    }
    if let Some(r) = l.memory_reservation {
        plan.push(Write::one(Memory, "memory.soft_limit_in_bytes", r));
    }
    if let Some(k) = l.kernel_memory {
        plan.push(Write::one(Memory, "memory.kmem.limit_in_bytes", k));
    }
    if let Some(s) = l.memory_swappiness {
        plan.push(Write::one(Memory, "memory.swappiness", s));
    }
    if let Some(d) = l.oom_kill_disable {
        plan.push(Write::one(Memory, "memory.oom_control", u8::from(d)).optional(!d));
    }
    if let Some(s) = l.cpu_shares {
        plan.push(Write::one(Cpu, "cpu.shares", s));
    }
    // Period before quota; the backend retries the other way round when the
    // kernel rejects the intermediate pair.
    if let Some(p) = l.cpu_period {
        plan.push(Write::one(Cpu, "cpu.cfs_period_us", p));
    }
    if let Some(q) = l.cpu_quota {
        plan.push(Write::one(
            Cpu,
            "cpu.cfs_quota_us",
            if q <= 0 { -1 } else { q },
        ));
    }
    if let Some(c) = &l.cpuset_cpus {
        plan.push(Write::one(Cpuset, "cpuset.cpus", c));
    }
    if let Some(m) = &l.cpuset_mems {
        plan.push(Write::one(Cpuset, "cpuset.mems", m));
    }
    if let Some(p) = l.pids_max {
        plan.push(Write::one(Pids, "pids.max", pids_max_value(p)));
    }
    if let Some(w) = l.blkio_weight {
        plan.push(Write {
            controller: Blkio,
            targets: vec![
                ("blkio.weight", w.to_string()),
                ("blkio.bfq.weight", w.to_string()),
            ],
            optional: false,
        });
    }
    plan
}

/// crun's (and the OCI v2 mapping's) conversion of v1 CPU shares (2..262144)
/// to a v2 `cpu.weight` (1..10000): 1024 shares become 39.
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// The inverse of `shares_to_weight`, as close as integer division allows.
pub fn weight_to_shares(weight: u64) -> u64 {
    let weight = weight.clamp(1, 10_000);
    2 + ((weight - 1) * 262_142).div_ceil(9999)
}

/// runc's conversion of a blkio weight (10..1000) to `io.weight` (1..10000).
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// The inverse of `blkio_to_io_weight`.
pub fn io_to_blkio_weight(weight: u64) -> u16 {
    let w = weight.clamp(1, 10_000);
    // At most 1000, so the cast cannot truncate.
    (10 + ((w - 1) * 990).div_ceil(9999)) as u16
}

/// runc's `ConvertMemorySwapToCgroupV2Value`: v1 counts memory plus swap, v2
/// limits swap alone. `Ok(None)` leaves `memory.swap.max` alone, `Some(-1)` is
/// `max`.
pub fn v2_swap(memory: Option<i64>, memory_swap: Option<i64>) -> Result<Option<i64>, CgroupError> {
    let (memory, swap) = (memory.unwrap_or(0), memory_swap.unwrap_or(0));
    if memory == -1 && swap == 0 {
        return Ok(Some(-1));
    }
    if swap == -1 {
        return Ok(Some(-1));
    }
    if swap == 0 {
        return Ok(None);
    }
    if memory == 0 || memory == -1 {
        return Err(CgroupError::InvalidLimits(
            "unable to set swap limit without memory limit".into(),
        ));
    }
    if memory < 0 {
        return Err(CgroupError::InvalidLimits(format!(
            "invalid memory value: {memory}"
        )));
    }
    if swap < memory {
        return Err(CgroupError::InvalidLimits(
            "memory+swap limit should be >= memory limit".into(),
        ));
    }
    Ok(Some(swap - memory))
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// Plan the writes for a unified (cgroup2) host. Limits v2 cannot express
/// (kernel memory, swappiness, disabling the OOM killer) are an error here;
/// `resources::validate` has already discarded them with Docker's warning.
pub fn v2_plan(l: &Limits) -> Result<Vec<Write>, CgroupError> {
    use Controller::*;
    let mut plan = Vec::new();
    if l.kernel_memory.is_some_and(|k| k != 0) {
        return Err(CgroupError::Unsupported("a kernel memory limit"));
    }
    if l.memory_swappiness.is_some() {
        return Err(CgroupError::Unsupported("memory swappiness"));
    }
    if l.oom_kill_disable == Some(true) {
        return Err(CgroupError::Unsupported("disabling the OOM killer"));
    }
    let swap = v2_swap(l.memory, l.memory_swap)?;
    if let Some(m) = l.memory {
        plan.push(Write::one(Memory, "memory.max", max_or(m)));
    }
    if let Some(s) = swap {
        plan.push(Write::one(Memory, "memory.swap.max", max_or(s)).optional(s == -1));
    }
    if let Some(r) = l.memory_reservation {
        plan.push(Write::one(Memory, "memory.low", max_or(r)));
    }
    if let Some(s) = l.cpu_shares {
        plan.push(Write::one(Cpu, "cpu.weight", shares_to_weight(s)));
    }
    if l.cpu_quota.is_some() || l.cpu_period.is_some() {
        let mut max = match l.cpu_quota {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".to_string(),
        };
        if let Some(p) = l.cpu_period {
            max = format!("{max} {p}");
        }
        plan.push(Write::one(Cpu, "cpu.max", max));
    }
    if let Some(c) = &l.cpuset_cpus {
        plan.push(Write::one(Cpuset, "cpuset.cpus", c));
    }
    if let Some(m) = &l.cpuset_mems {
        plan.push(Write::one(Cpuset, "cpuset.mems", m));
    }
    if let Some(p) = l.pids_max {
        plan.push(Write::one(Pids, "pids.max", pids_max_value(p)));
    }
    if let Some(w) = l.blkio_weight {
        // BFQ takes the v1 range as it is; the generic io.weight is rescaled.
        plan.push(Write {
            controller: Blkio,
            targets: vec![
                ("io.bfq.weight", w.to_string()),
                ("io.weight", blkio_to_io_weight(w).to_string()),
            ],
            optional: false,
        });
    }
    Ok(plan)
}

/// The controller's name in `cgroup.controllers`.
pub(crate) fn v2_controller(c: Controller) -> &'static str {
    match c {
        Controller::Cpu | Controller::Cpuacct => "cpu",
        Controller::Blkio => "io",
        other => other.v1_name(),
    }
}

/// The text a `pids.max` file takes for a limit (the same on v1 and v2).
pub(crate) fn pids_max_value(limit: i64) -> String {
    if limit <= 0 {
        "max".to_string()
    } else {
        limit.to_string()
    }
}

/// A v1 byte counter, `-1` when it reads as unlimited.
pub(crate) fn v1_bytes(text: &str) -> Option<i64> {
    let v: u64 = text.trim().parse().ok()?;
    if v >= V1_UNLIMITED_FLOOR {
        Some(-1)
    } else {
        i64::try_from(v).ok()
    }
}

/// A v2 value that may be `max`, `-1` for `max`.
pub(crate) fn v2_max(text: &str) -> Option<i64> {
    match text.trim() {
        "max" => Some(-1),
        t => t.parse().ok(),
    }
}

/// The value of `key` in a flat-keyed file (`memory.stat`, `cpu.stat`,
/// `memory.events`, `memory.oom_control`): one `key value` pair a line.
pub(crate) fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}
