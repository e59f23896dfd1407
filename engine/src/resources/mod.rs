//! Docker's resource options of a container (`docker run --memory --cpus ...`):
//! read from the Engine API's `HostConfig`, checked the way dockerd checks them,
//! and turned into cgroup `Limits`.
//!
//! dockerd checks resources in `verifyPlatformContainerResources` against what
//! the host's cgroups offer (its `sysinfo`): an option the kernel lacks is
//! *discarded with a warning* (returned to the client in the create response),
//! a value out of range is an *error*, in Docker's own words, before anything is
//! created. After the check, create fills defaults (`adaptContainerSettings`:
//! swap twice the memory), and `update` merges the new values over the old ones
//! (`UpdateContainer`), refusing mixes of `--cpus` with `--cpu-quota`/`--cpu-period`.
//!
//! Everything here is pure except `SysInfo::detect`, which looks at cgroupfs.

use crate::cgroups::{Cgroups, Controller, Layout, Limits};
use crate::error::ErrorKind;
use serde_json::{Map, Value};
use std::path::Path;

/// dockerd's `linuxMinMemory`: not a kernel limit, a floor for a working container.
pub const MIN_MEMORY: i64 = 6_291_456;

/// The CFS period `--cpus` uses, in microseconds.
pub const DEFAULT_CPU_PERIOD: i64 = 100_000;

/// Why a set of resources was refused; the text is Docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// A bad value (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// An update that conflicts with what the container already has (HTTP 409).
    #[error("{0}")]
    Conflict(String),
}

impl ResourceError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ResourceError::Invalid(_) => ErrorKind::InvalidParameter,
            ResourceError::Conflict(_) => ErrorKind::Conflict,
        }
    }
}

impl From<ResourceError> for crate::Error {
    fn from(e: ResourceError) -> Self {
        match e {
            ResourceError::Invalid(m) => crate::Error::InvalidParameter(m),
            ResourceError::Conflict(m) => crate::Error::Conflict(m),
        }
    }
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, ResourceError> {
    Err(ResourceError::Invalid(msg.into()))
}

/// The resource fields of a `HostConfig`, with the Engine API's meaning: zero
/// (or an empty string, or `None`) is "not set".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// `Memory`: bytes.
    pub memory: i64,
    /// `MemorySwap`: memory plus swap in bytes; -1 unlimited swap.
    pub memory_swap: i64,
    /// `MemoryReservation`: soft limit in bytes.
    pub memory_reservation: i64,
    /// `KernelMemory` (deprecated; API 1.42 and later ignore it).
    pub kernel_memory: i64,
    /// `MemorySwappiness`: 0-100; -1 (or null) leaves the kernel's default.
    pub memory_swappiness: Option<i64>,
    /// `OomKillDisable`.
    pub oom_kill_disable: Option<bool>,
    /// `CpuShares`: relative weight (1024 is the default).
    pub cpu_shares: i64,
    /// `CpuQuota`: microseconds per period; -1 removes the quota.
    pub cpu_quota: i64,
    /// `CpuPeriod`: microseconds.
    pub cpu_period: i64,
    /// `NanoCpus`: CPUs in billionths (`--cpus 1.5` is 1500000000).
    pub nano_cpus: i64,
    /// `CpusetCpus`: e.g. "0-2,4".
    pub cpuset_cpus: String,
    /// `CpusetMems`.
    pub cpuset_mems: String,
    /// `PidsLimit`: `None` for no limit (create) or no change (update).
    pub pids_limit: Option<i64>,
    /// `BlkioWeight`: 10-1000.
    pub blkio_weight: u16,
}

/// How a JSON value of the wrong type is reported: Go's decoder's words.
fn type_error(key: &str, v: &Value, go_type: &str) -> ResourceError {
    let what = match v {
        Value::Bool(_) => "bool".to_string(),
        Value::Number(n) => format!("number {n}"),
        Value::String(_) => "string".to_string(),
        Value::Array(_) => "array".to_string(),
        Value::Object(_) => "object".to_string(),
        Value::Null => "null".to_string(),
    };
    ResourceError::Invalid(format!(
        "json: cannot unmarshal {what} into Go struct field HostConfig.{key} of type {go_type}"
    ))
}

fn get_i64(m: &Map<String, Value>, key: &str) -> Result<Option<i64>, ResourceError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| type_error(key, v, "int64")),
    }
}

fn get_string(m: &Map<String, Value>, key: &str) -> Result<String, ResourceError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(type_error(key, v, "string")),
    }
}

fn get_bool(m: &Map<String, Value>, key: &str) -> Result<Option<bool>, ResourceError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(type_error(key, v, "bool")),
    }
}

fn get_u16(m: &Map<String, Value>, key: &str) -> Result<u16, ResourceError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| type_error(key, v, "uint16")),
    }
}

/// `"0-2,4"` into its members, as moby's `parseUintList` reads a cpuset:
/// `maximum` (when not zero) bounds the values to keep the set small.
pub fn parse_cpuset(val: &str, maximum: u64) -> Result<std::collections::BTreeSet<u64>, String> {
    let mut set = std::collections::BTreeSet::new();
    if val.is_empty() {
        return Ok(set);
    }
    let bad = || format!("invalid format: {val}");
    let out_of_range = || format!("value of out range, maximum is {maximum}");
    for part in val.split(',') {
        let (lo, hi) = match part.split_once('-') {
            None => {
                let v: u64 = part.parse().map_err(|_| bad())?;
                (v, v)
            }
            Some((a, b)) => {
                let lo: u64 = a.parse().map_err(|_| bad())?;
                let hi: u64 = b.parse().map_err(|_| bad())?;
                if hi < lo {
                    return Err(bad());
                }
                (lo, hi)
            }
        };
        if maximum != 0 && hi > maximum {
            return Err(out_of_range());
        }
        set.extend(lo..=hi);
    }
    Ok(set)
}

/// moby's `isCpusetListAvailable`: are all `requested` members in `available`?
fn cpuset_available(requested: &str, available: &str) -> Result<bool, String> {
    let avail = parse_cpuset(available, 0)?;
    // 8192 is Linux's usual CPU maximum; more if the host really has more.
    let max = avail.iter().copied().max().unwrap_or(0).max(8192);
    let req = parse_cpuset(requested, max)?;
    Ok(req.is_subset(&avail))
}

impl Resources {
    /// Read the resource fields of a `HostConfig` (its `extra` map). Absent and
    /// null fields are "not set"; a field of the wrong JSON type is refused as
    /// dockerd's JSON decoder refuses it.
    pub fn from_host_config(m: &Map<String, Value>) -> Result<Resources, ResourceError> {
        Ok(Resources {
            memory: get_i64(m, "Memory")?.unwrap_or(0),
            memory_swap: get_i64(m, "MemorySwap")?.unwrap_or(0),
            memory_reservation: get_i64(m, "MemoryReservation")?.unwrap_or(0),
            kernel_memory: get_i64(m, "KernelMemory")?.unwrap_or(0),
            memory_swappiness: get_i64(m, "MemorySwappiness")?,
            oom_kill_disable: get_bool(m, "OomKillDisable")?,
            cpu_shares: get_i64(m, "CpuShares")?.unwrap_or(0),
            cpu_quota: get_i64(m, "CpuQuota")?.unwrap_or(0),
            cpu_period: get_i64(m, "CpuPeriod")?.unwrap_or(0),
            nano_cpus: get_i64(m, "NanoCpus")?.unwrap_or(0),
            cpuset_cpus: get_string(m, "CpusetCpus")?,
            cpuset_mems: get_string(m, "CpusetMems")?,
            pids_limit: get_i64(m, "PidsLimit")?,
            blkio_weight: get_u16(m, "BlkioWeight")?,
        })
    }

    /// Store the fields back into a `HostConfig` map under Docker's names, as
    /// `inspect` shows them (`PidsLimit`, `MemorySwappiness` null when unset;
    /// `KernelMemory` only when set, as API 1.42+ omits it).
    pub fn write_to(&self, m: &mut Map<String, Value>) {
        let opt = |v: Option<i64>| v.map_or(Value::Null, Value::from);
        m.insert("Memory".into(), self.memory.into());
        m.insert("MemorySwap".into(), self.memory_swap.into());
        m.insert("MemoryReservation".into(), self.memory_reservation.into());
        if self.kernel_memory != 0 {
            m.insert("KernelMemory".into(), self.kernel_memory.into());
        } else {
            m.remove("KernelMemory");
        }
        m.insert("MemorySwappiness".into(), opt(self.memory_swappiness));
        m.insert(
            "OomKillDisable".into(),
            self.oom_kill_disable.map_or(Value::Null, Value::from),
        );
        m.insert("CpuShares".into(), self.cpu_shares.into());
        m.insert("CpuQuota".into(), self.cpu_quota.into());
        m.insert("CpuPeriod".into(), self.cpu_period.into());
        m.insert("NanoCpus".into(), self.nano_cpus.into());
        m.insert("CpusetCpus".into(), self.cpuset_cpus.clone().into());
        m.insert("CpusetMems".into(), self.cpuset_mems.clone().into());
        m.insert("PidsLimit".into(), opt(self.pids_limit));
        m.insert("BlkioWeight".into(), self.blkio_weight.into());
    }

    /// Check and adjust the fields against the host, as dockerd's
    /// `verifyPlatformContainerResources` does: what the host cannot do is
    /// discarded with a warning; what is out of range is an error. `update`
    /// is true for `docker update` (swap without memory is then allowed).
    pub fn validate(&mut self, sys: &SysInfo, update: bool) -> Result<Vec<String>, ResourceError> {
        let mut w: Vec<String> = Vec::new();
        let r = self;
        if r.memory_swappiness == Some(-1) {
            r.memory_swappiness = None;
        }

        // memory
        if r.memory != 0 && r.memory < MIN_MEMORY {
            return invalid("Minimum memory limit allowed is 6MB");
        }
        if r.memory > 0 && !sys.memory_limit {
            w.push("Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.".into());
            r.memory = 0;
            r.memory_swap = -1;
        }
        if r.memory > 0 && r.memory_swap != -1 && !sys.swap_limit {
            w.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.".into());
            r.memory_swap = -1;
        }
        if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
            return invalid(
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            );
        }
        if r.memory == 0 && r.memory_swap > 0 && !update {
            return invalid(
                "You should always set the Memory limit when using Memoryswap limit, see usage",
            );
        }
        if r.memory_swappiness.is_some() && !sys.memory_swappiness {
            w.push("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.".into());
            r.memory_swappiness = None;
        }
        if let Some(s) = r.memory_swappiness {
            if !(0..=100).contains(&s) {
                return invalid(format!(
                    "Invalid value: {s}, valid memory swappiness range is 0-100"
                ));
            }
        }
        if r.memory_reservation > 0 && !sys.memory_reservation {
            w.push("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.".into());
            r.memory_reservation = 0;
        }
        if r.memory_reservation > 0 && r.memory_reservation < MIN_MEMORY {
            return invalid("Minimum memory reservation allowed is 6MB");
        }
        if r.memory > 0 && r.memory_reservation > 0 && r.memory < r.memory_reservation {
            return invalid(
                "Minimum memory limit can not be less than memory reservation limit, see usage",
            );
        }
        if r.kernel_memory > 0 {
            if !sys.kernel_memory {
                w.push("Your kernel does not support kernel memory limit capabilities or the cgroup is not mounted. Limitation discarded.".into());
                r.kernel_memory = 0;
            }
            if r.kernel_memory > 0 && r.kernel_memory < MIN_MEMORY {
                return invalid("Minimum kernel memory limit allowed is 6MB");
            }
        }
        if r.oom_kill_disable.is_some() && !sys.oom_kill_disable {
            // No point warning someone who asked for the OOM killer to stay on.
            if r.oom_kill_disable == Some(true) {
                w.push(
                    "Your kernel does not support OomKillDisable. OomKillDisable discarded.".into(),
                );
            }
            r.oom_kill_disable = None;
        }
        if r.oom_kill_disable == Some(true) && r.memory == 0 {
            w.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.".into());
        }
        if r.pids_limit.is_some() && !sys.pids_limit {
            if r.pids_limit.is_some_and(|p| p > 0) {
                w.push("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.".into());
            }
            r.pids_limit = None;
        }

        // cpu
        if r.nano_cpus > 0 && r.cpu_period > 0 {
            return invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set");
        }
        if r.nano_cpus > 0 && r.cpu_quota > 0 {
            return invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
        }
        if r.nano_cpus > 0 && !sys.cpu_cfs {
            return invalid("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted");
        }
        let n = sys.num_cpu;
        if r.nano_cpus < 0 || r.nano_cpus > (n as i64).saturating_mul(1_000_000_000) {
            return invalid(format!(
                "Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"
            ));
        }
        if r.cpu_shares < 0 {
            // dockerd lets this through to fail at start; refuse it up front.
            return invalid("shares: invalid argument");
        }
        if r.cpu_shares > 0 && !sys.cpu_shares {
            w.push("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.".into());
            r.cpu_shares = 0;
        }
        if (r.cpu_period != 0 || r.cpu_quota != 0) && !sys.cpu_cfs {
            w.push(
                "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded."
                    .into(),
            );
            r.cpu_period = 0;
            r.cpu_quota = 0;
        }
        if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
            return invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
        }
        if r.cpu_quota > 0 && r.cpu_quota < 1000 {
            return invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)");
        }

        // cpuset
        if (!r.cpuset_cpus.is_empty() || !r.cpuset_mems.is_empty()) && !sys.cpuset {
            w.push("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.".into());
            r.cpuset_cpus.clear();
            r.cpuset_mems.clear();
        }
        match cpuset_available(&r.cpuset_cpus, &sys.cpus) {
            Err(e) => {
                return invalid(format!(
                    "Invalid value {} for cpuset cpus: {e}",
                    r.cpuset_cpus
                ))
            }
            Ok(false) => {
                return invalid(format!(
                    "Requested CPUs are not available - requested {}, available: {}",
                    r.cpuset_cpus, sys.cpus
                ))
            }
            Ok(true) => {}
        }
        match cpuset_available(&r.cpuset_mems, &sys.mems) {
            Err(e) => {
                return invalid(format!(
                    "Invalid value {} for cpuset mems: {e}",
                    r.cpuset_mems
                ))
            }
            Ok(false) => {
                return invalid(format!(
                    "Requested memory nodes are not available - requested {}, available: {}",
                    r.cpuset_mems, sys.mems
                ))
            }
            Ok(true) => {}
        }

        // blkio
        if r.blkio_weight > 0 && !sys.blkio_weight {
            w.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".into());
            r.blkio_weight = 0;
        }
        if r.blkio_weight > 0 && !(10..=1000).contains(&r.blkio_weight) {
            return invalid("Range of blkio weight is from 10 to 1000");
        }
        Ok(w)
    }

    /// The defaults create fills in after the check (`adaptContainerSettings`):
    /// swap twice the memory, the OOM killer explicitly on.
    pub fn adapt_for_create(&mut self) {
        if self.memory > 0 && self.memory_swap == 0 {
            self.memory_swap = self.memory * 2;
        }
        if self.oom_kill_disable.is_none() {
            self.oom_kill_disable = Some(false);
        }
    }

    /// `POST /containers/create`: read, check and complete the resources of a
    /// `HostConfig`. Returns them with the warnings for the create response.
    /// API 1.42 and later ignore `KernelMemory`: such callers zero it first.
    pub fn for_create(
        host_config: &Map<String, Value>,
        sys: &SysInfo,
    ) -> Result<(Resources, Vec<String>), ResourceError> {
        let mut r = Resources::from_host_config(host_config)?;
        // Zero and negative mean "unlimited": no limit at all on create.
        if r.pids_limit.is_some_and(|p| p <= 0) {
            r.pids_limit = None;
        }
        let warnings = r.validate(sys, false)?;
        r.adapt_for_create();
        Ok((r, warnings))
    }

    /// `POST /containers/{id}/update`: check the update's fields on their own,
    /// then merge them over the container's current resources. Apply
    /// `merged.limits()` to the running container's cgroup and store `merged`.
    pub fn for_update(
        current: &Resources,
        update: &Map<String, Value>,
        sys: &SysInfo,
    ) -> Result<(Resources, Vec<String>), ResourceError> {
        let mut u = Resources::from_host_config(update)?;
        // Zero and negative lift the limit ("max").
        if u.pids_limit.is_some_and(|p| p <= 0) {
            u.pids_limit = Some(0);
        }
        let warnings = u.validate(sys, true)?;
        Ok((current.merge_update(&u)?, warnings))
    }

    /// dockerd's `UpdateContainer`: the set fields of `new` over `self`,
    /// refusing to mix `--cpus` with a quota or period the other side set.
    pub fn merge_update(&self, new: &Resources) -> Result<Resources, ResourceError> {
        let conflict = |m: &str| Err(ResourceError::Conflict(m.to_string()));
        if new.nano_cpus > 0 && self.cpu_period > 0 {
            return conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set");
        }
        if new.nano_cpus > 0 && self.cpu_quota > 0 {
            return conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set");
        }
        if new.cpu_period > 0 && self.nano_cpus > 0 {
            return conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set");
        }
        if new.cpu_quota > 0 && self.nano_cpus > 0 {
            return conflict(
                "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
            );
        }
        let mut r = self.clone();
        if new.blkio_weight != 0 {
            r.blkio_weight = new.blkio_weight;
        }
        if new.cpu_shares != 0 {
            r.cpu_shares = new.cpu_shares;
        }
        if new.nano_cpus != 0 {
            r.nano_cpus = new.nano_cpus;
        }
        if new.cpu_period != 0 {
            r.cpu_period = new.cpu_period;
        }
        if new.cpu_quota != 0 {
            r.cpu_quota = new.cpu_quota;
        }
        if !new.cpuset_cpus.is_empty() {
            r.cpuset_cpus.clone_from(&new.cpuset_cpus);
        }
        if !new.cpuset_mems.is_empty() {
            r.cpuset_mems.clone_from(&new.cpuset_mems);
        }
        if new.memory != 0 {
            // A memory limit above the swap limit set before needs a new swap limit.
            if new.memory > self.memory_swap && new.memory_swap == 0 {
                return conflict("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
            }
            r.memory = new.memory;
        }
        if new.memory_swap != 0 {
            r.memory_swap = new.memory_swap;
        }
        if new.memory_reservation != 0 {
            r.memory_reservation = new.memory_reservation;
        }
        if new.kernel_memory != 0 {
            r.kernel_memory = new.kernel_memory;
        }
        if new.pids_limit.is_some() {
            r.pids_limit = new.pids_limit;
        }
        Ok(r)
    }

    /// The cgroup limits these resources ask for (dockerd's OCI spec
    /// generation): unset fields stay `None`, so applying them to a running
    /// container changes only what is set. `--cpus` becomes a quota per 100 ms.
    pub fn limits(&self) -> Limits {
        let pos = |v: i64| (v > 0).then_some(v);
        let mut l = Limits {
            memory: pos(self.memory),
            memory_swap: match self.memory_swap {
                0 => None,
                s if s < 0 => Some(-1),
                s => Some(s),
            },
            memory_reservation: pos(self.memory_reservation),
            kernel_memory: pos(self.kernel_memory),
            memory_swappiness: self.memory_swappiness.and_then(|s| u64::try_from(s).ok()),
            oom_kill_disable: self.oom_kill_disable,
            cpu_shares: pos(self.cpu_shares).map(|s| s as u64),
            cpu_quota: None,
            cpu_period: None,
            cpuset_cpus: (!self.cpuset_cpus.is_empty()).then(|| self.cpuset_cpus.clone()),
            cpuset_mems: (!self.cpuset_mems.is_empty()).then(|| self.cpuset_mems.clone()),
            pids_max: self.pids_limit,
            blkio_weight: (self.blkio_weight > 0).then_some(self.blkio_weight),
        };
        if self.nano_cpus > 0 {
            l.cpu_period = Some(DEFAULT_CPU_PERIOD as u64);
            l.cpu_quota = Some(self.nano_cpus * DEFAULT_CPU_PERIOD / 1_000_000_000);
        }
        if self.cpu_period != 0 {
            l.cpu_period = Some(self.cpu_period as u64);
        }
        if self.cpu_quota != 0 {
            l.cpu_quota = Some(self.cpu_quota);
        }
        l
    }
}

mod sysinfo;

pub use sysinfo::SysInfo;

#[cfg(test)]
mod tests;
