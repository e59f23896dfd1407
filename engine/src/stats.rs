//! Live statistics of a container, as `GET /containers/{id}/stats` returns them,
//! and the OOM-kill check behind `State.OOMKilled`.
//!
//! The kernel keeps the counters per cgroup: CPU time (`cpuacct.usage` on v1,
//! `cpu.stat` on v2), memory (`memory.usage_in_bytes` / `memory.current` and
//! `memory.stat`), processes (`pids.current`), block I/O, and how often the
//! OOM killer struck (`memory.oom_control` / `memory.events`). dockerd samples
//! them once a second together with the machine's CPU time from `/proc/stat`;
//! each frame carries the previous sample (`precpu_stats`, `preread`) so that a
//! client computes CPU % as the container's CPU time over the machine's in the
//! same interval, times the online CPUs. The JSON here is moby's
//! `types.StatsJSON` field for field, including which zero fields it omits.

use crate::cgroups::{AnyCgroupManager, CgroupError, CgroupManager, Controller};
use crate::error::{IoContext, IoError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Anything that can go wrong while sampling.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Io(#[from] IoError),
    /// A counter file held something the kernel does not write.
    #[error("unexpected content in {path}: {content:?}")]
    Parse { path: PathBuf, content: String },
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_zero32(v: &u32) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// Nanoseconds of CPU time.
    pub total_usage: u64,
    /// Per CPU (v1 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percpu_usage: Option<Vec<u64>>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottlingData {
    pub periods: u64,
    pub throttled_periods: u64,
    /// Nanoseconds.
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    pub cpu_usage: CpuUsage,
    /// The machine's CPU time in nanoseconds (all CPUs, all states).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub system_cpu_usage: u64,
    #[serde(default, skip_serializing_if = "is_zero32")]
    pub online_cpus: u32,
    pub throttling_data: ThrottlingData,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_usage: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failcnt: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioStatEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// Go marshals a nil slice as `null`, an empty one as `[]`: `None` is null.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_serviced_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_queue_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_service_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_wait_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_merged_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub sectors_recursive: Option<Vec<BlkioStatEntry>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0 when unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// Windows only; always `{}` on Linux.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageStats {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// Go's zero `time.Time`, what `preread` says before there is a previous sample.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One frame of `/containers/{id}/stats` (moby's `types.StatsJSON`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerStats {
    pub read: String,
    pub preread: String,
    pub pids_stats: PidsStats,
    pub blkio_stats: BlkioStats,
    pub num_procs: u32,
    pub storage_stats: StorageStats,
    pub cpu_stats: CpuStats,
    pub precpu_stats: CpuStats,
    pub memory_stats: MemoryStats,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, NetworkStats>,
}

impl ContainerStats {
    /// What dockerd answers for a container that is not running: zeros, with
    /// the name (leading `/`) and id.
    pub fn stopped(id: &str, name: &str) -> ContainerStats {
        ContainerStats {
            read: ZERO_TIME.into(),
            preread: ZERO_TIME.into(),
            pids_stats: PidsStats::default(),
            blkio_stats: BlkioStats::default(),
            num_procs: 0,
            storage_stats: StorageStats {},
            cpu_stats: CpuStats::default(),
            precpu_stats: CpuStats::default(),
            memory_stats: MemoryStats::default(),
            name: name.into(),
            id: id.into(),
            networks: BTreeMap::new(),
        }
    }
}

/// What one cgroup's counters say, before the machine-wide parts are added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupStats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
}

/// The `memory.stat` keys dockerd reports on v1 (containerd's `MemoryStat`).
const V1_MEMORY_KEYS: [&str; 32] = [
    "cache",
    "rss",
    "rss_huge",
    "mapped_file",
    "dirty",
    "writeback",
    "pgpgin",
    "pgpgout",
    "pgfault",
    "pgmajfault",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "hierarchical_memory_limit",
    "hierarchical_memsw_limit",
    "total_cache",
    "total_rss",
    "total_rss_huge",
    "total_mapped_file",
    "total_dirty",
    "total_writeback",
    "total_pgpgin",
    "total_pgpgout",
    "total_pgfault",
    "total_pgmajfault",
    "total_inactive_anon",
    "total_active_anon",
    "total_inactive_file",
    "total_active_file",
    "total_unevictable",
];

/// The `memory.stat` keys dockerd reports on v2.
const V2_MEMORY_KEYS: [&str; 31] = [
    "anon",
    "file",
    "kernel_stack",
    "slab",
    "sock",
    "shmem",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "anon_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "pgfault",
    "pgmajfault",
    "workingset_refault",
    "workingset_activate",
    "workingset_nodereclaim",
    "pgrefill",
    "pgscan",
    "pgsteal",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "thp_fault_alloc",
    "thp_collapse_alloc",
];

/// USER_HZ: the unit of `cpuacct.stat` and `/proc/stat`.
const CLOCK_TICKS: u64 = 100;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A flat `key value` file into a map (unparsable lines are skipped).
pub fn parse_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// The fixed key set dockerd reports, zero where the kernel has no such line.
fn pick(all: &BTreeMap<String, u64>, keys: &[&str]) -> BTreeMap<String, u64> {
    keys.iter()
        .map(|k| (k.to_string(), all.get(*k).copied().unwrap_or(0)))
        .collect()
}

/// v1 `blkio.*_recursive`: `MAJ:MIN Op value` lines; the `Total` line is skipped.
pub fn parse_blkio_v1(text: &str) -> Vec<BlkioStatEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, value] = f.as_slice() else {
                return None;
            };
            let (maj, min) = dev.split_once(':')?;
            Some(BlkioStatEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// v2 `io.stat`: `MAJ:MIN rbytes=.. wbytes=.. ...`, reported as a read and a
/// write entry per device (the only blkio field dockerd fills on v2).
pub fn parse_io_stat_v2(text: &str) -> Vec<BlkioStatEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some((maj, min)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) else {
            continue;
        };
        let kv: BTreeMap<&str, u64> = it
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((k, v.parse().ok()?))
            })
            .collect();
        for (op, key) in [("read", "rbytes"), ("write", "wbytes")] {
            out.push(BlkioStatEntry {
                major,
                minor,
                op: op.into(),
                value: kv.get(key).copied().unwrap_or(0),
            });
        }
    }
    out
}

/// `/proc/stat`: the machine's CPU time in nanoseconds (user through softirq
/// of the `cpu` line, as dockerd adds it up) and the number of `cpuN` lines.
pub fn parse_proc_stat(text: &str) -> Option<(u64, u32)> {
    let mut system = None;
    let mut online = 0u32;
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some(name) = f.next() else { continue };
        if name == "cpu" {
            let ticks: Vec<u64> = f.take(7).filter_map(|v| v.parse().ok()).collect();
            if ticks.len() < 7 {
                return None;
            }
            system = Some(ticks.iter().sum::<u64>() * NANOS_PER_SEC / CLOCK_TICKS);
        } else if name.len() > 3 && name.starts_with("cpu") {
            online += 1;
        }
    }
    Some((system?, online))
}

/// `/proc/<pid>/net/dev` of the container's network namespace: every
/// interface but loopback.
pub fn parse_net_dev(text: &str) -> BTreeMap<String, NetworkStats> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            NetworkStats {
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            },
        );
    }
    out
}

/// `MemTotal` of `/proc/meminfo` in bytes.
pub fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn read_opt(path: &Path) -> Result<Option<String>, StatsError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IoError::new("read", path, e).into()),
    }
}

fn read_u64(path: &Path) -> Result<u64, StatsError> {
    let Some(text) = read_opt(path)? else {
        return Ok(0);
    };
    match text.trim() {
        "max" => Ok(0),
        t => t.parse().map_err(|_| StatsError::Parse {
            path: path.to_path_buf(),
            content: text.clone(),
        }),
    }
}

/// A v1 limit that reads as "no limit" (or exceeds the machine) is reported as
/// the machine's memory, as dockerd does.
fn clamp_limit(limit: u64, machine_memory: u64) -> u64 {
    if machine_memory > 0 && limit > machine_memory {
        machine_memory
    } else {
        limit
    }
}

/// Read the counters of a container's cgroup. `machine_memory` (bytes) stands
/// in for an unlimited memory limit.
pub fn read_cgroup(m: &AnyCgroupManager, machine_memory: u64) -> Result<CgroupStats, StatsError> {
    match m {
        AnyCgroupManager::V1(_) => read_v1(m, machine_memory),
        AnyCgroupManager::V2(_) => read_v2(m, machine_memory),
    }
}

fn read_v1(m: &AnyCgroupManager, machine_memory: u64) -> Result<CgroupStats, StatsError> {
    let mut s = CgroupStats::default();
    if let Some(dir) = m.path(Controller::Cpuacct) {
        s.cpu.cpu_usage.total_usage = read_u64(&dir.join("cpuacct.usage"))?;
        if let Some(t) = read_opt(&dir.join("cpuacct.usage_percpu"))? {
            let per: Vec<u64> = t
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            s.cpu.cpu_usage.percpu_usage = Some(per);
        }
        if let Some(t) = read_opt(&dir.join("cpuacct.stat"))? {
            let kv = parse_keyed(&t);
            let ns = |k: &str| kv.get(k).copied().unwrap_or(0) * NANOS_PER_SEC / CLOCK_TICKS;
            s.cpu.cpu_usage.usage_in_usermode = ns("user");
            s.cpu.cpu_usage.usage_in_kernelmode = ns("system");
        }
    }
    if let Some(dir) = m.path(Controller::Cpu) {
        if let Some(t) = read_opt(&dir.join("cpu.stat"))? {
            let kv = parse_keyed(&t);
            let g = |k: &str| kv.get(k).copied().unwrap_or(0);
            s.cpu.throttling_data = ThrottlingData {
                periods: g("nr_periods"),
                throttled_periods: g("nr_throttled"),
                throttled_time: g("throttled_time"),
            };
        }
    }
    if let Some(dir) = m.path(Controller::Memory) {
        let stat = parse_keyed(&read_opt(&dir.join("memory.stat"))?.unwrap_or_default());
        s.memory = MemoryStats {
            usage: read_u64(&dir.join("memory.usage_in_bytes"))?,
            max_usage: read_u64(&dir.join("memory.max_usage_in_bytes"))?,
            stats: pick(&stat, &V1_MEMORY_KEYS),
            failcnt: read_u64(&dir.join("memory.failcnt"))?,
            limit: clamp_limit(
                read_u64(&dir.join("memory.limit_in_bytes"))?,
                machine_memory,
            ),
        };
    }
    if let Some(dir) = m.path(Controller::Pids) {
        s.pids = PidsStats {
            current: read_u64(&dir.join("pids.current"))?,
            limit: read_u64(&dir.join("pids.max"))?,
        };
    }
    // dockerd reads every recursive blkio file; those the kernel lacks (CFQ's
    // are gone) come out as empty lists.
    let blk = |file: &str| -> Result<Option<Vec<BlkioStatEntry>>, StatsError> {
        let Some(dir) = m.path(Controller::Blkio) else {
            return Ok(Some(Vec::new()));
        };
        Ok(Some(
            read_opt(&dir.join(file))?
                .map(|t| parse_blkio_v1(&t))
                .unwrap_or_default(),
        ))
    };
    s.blkio = BlkioStats {
        io_service_bytes_recursive: blk("blkio.throttle.io_service_bytes_recursive")?,
        io_serviced_recursive: blk("blkio.throttle.io_serviced_recursive")?,
        io_queue_recursive: blk("blkio.io_queued_recursive")?,
        io_service_time_recursive: blk("blkio.io_service_time_recursive")?,
        io_wait_time_recursive: blk("blkio.io_wait_time_recursive")?,
        io_merged_recursive: blk("blkio.io_merged_recursive")?,
        io_time_recursive: blk("blkio.time_recursive")?,
        sectors_recursive: blk("blkio.sectors_recursive")?,
    };
    Ok(s)
}

fn read_v2(m: &AnyCgroupManager, machine_memory: u64) -> Result<CgroupStats, StatsError> {
    let mut s = CgroupStats::default();
    let Some(dir) = m.path(Controller::Memory) else {
        return Ok(s);
    };
    if let Some(t) = read_opt(&dir.join("cpu.stat"))? {
        let kv = parse_keyed(&t);
        let g = |k: &str| kv.get(k).copied().unwrap_or(0);
        s.cpu.cpu_usage = CpuUsage {
            total_usage: g("usage_usec") * 1000,
            percpu_usage: None,
            usage_in_kernelmode: g("system_usec") * 1000,
            usage_in_usermode: g("user_usec") * 1000,
        };
        s.cpu.throttling_data = ThrottlingData {
            periods: g("nr_periods"),
            throttled_periods: g("nr_throttled"),
            throttled_time: g("throttled_usec") * 1000,
        };
    }
    if dir.join("memory.current").exists() {
        let stat = parse_keyed(&read_opt(&dir.join("memory.stat"))?.unwrap_or_default());
        let events = parse_keyed(&read_opt(&dir.join("memory.events"))?.unwrap_or_default());
        let max = read_opt(&dir.join("memory.max"))?.unwrap_or_default();
        let limit = match max.trim() {
            "max" | "" => u64::MAX,
            t => t.parse().unwrap_or(u64::MAX),
        };
        s.memory = MemoryStats {
            usage: read_u64(&dir.join("memory.current"))?,
            max_usage: 0,
            stats: pick(&stat, &V2_MEMORY_KEYS),
            failcnt: events.get("oom").copied().unwrap_or(0),
            limit: clamp_limit(limit, machine_memory),
        };
    }
    if dir.join("pids.current").exists() {
        s.pids = PidsStats {
            current: read_u64(&dir.join("pids.current"))?,
            limit: read_u64(&dir.join("pids.max"))?,
        };
    }
    s.blkio.io_service_bytes_recursive = Some(
        read_opt(&dir.join("io.stat"))?
            .map(|t| parse_io_stat_v2(&t))
            .unwrap_or_default(),
    );
    Ok(s)
}

/// Go's `time.RFC3339Nano` in UTC: fractional seconds without trailing zeros.
pub fn go_time(t: chrono::DateTime<chrono::Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// Samples one container's stats, a frame at a time, each carrying the
/// previous one's CPU figures (dockerd's collector). Call `sample` once a
/// second for `docker stats`; for `stream=false` take two samples a second
/// apart and answer the second, as dockerd does (unless `one-shot`).
#[derive(Debug)]
pub struct StatsSampler {
    cgroup: AnyCgroupManager,
    id: String,
    name: String,
    pid: Option<i32>,
    proc_root: PathBuf,
    machine_memory: u64,
    previous: Option<(String, CpuStats)>,
}

impl StatsSampler {
    /// `name` as the API shows it (with the leading `/`); `pid` is any process
    /// in the container's network namespace, for `networks` (none: omitted).
    pub fn new(cgroup: AnyCgroupManager, id: &str, name: &str, pid: Option<i32>) -> StatsSampler {
        Self::with_proc(cgroup, id, name, pid, Path::new("/proc"))
    }

    /// As `new`, reading `/proc` files under `proc_root` (for tests).
    pub fn with_proc(
        cgroup: AnyCgroupManager,
        id: &str,
        name: &str,
        pid: Option<i32>,
        proc_root: &Path,
    ) -> StatsSampler {
        let machine_memory = std::fs::read_to_string(proc_root.join("meminfo"))
            .ok()
            .and_then(|t| parse_meminfo_total(&t))
            .unwrap_or(0);
        StatsSampler {
            cgroup,
            id: id.to_string(),
            name: name.to_string(),
            pid,
            proc_root: proc_root.to_path_buf(),
            machine_memory,
            previous: None,
        }
    }

    /// Read the counters now and build a frame.
    pub fn sample(&mut self) -> Result<ContainerStats, StatsError> {
        let now = go_time(chrono::Utc::now());
        let stat_path = self.proc_root.join("stat");
        let stat = std::fs::read_to_string(&stat_path).ctx("read", &stat_path)?;
        let (system, online) = parse_proc_stat(&stat).ok_or_else(|| StatsError::Parse {
            path: stat_path.clone(),
            content: stat.lines().next().unwrap_or_default().to_string(),
        })?;
        let cg = read_cgroup(&self.cgroup, self.machine_memory)?;
        let mut cpu = cg.cpu;
        cpu.system_cpu_usage = system;
        cpu.online_cpus = online;
        let networks = match self.pid {
            Some(pid) => {
                let p = self.proc_root.join(pid.to_string()).join("net/dev");
                read_opt(&p)?.map(|t| parse_net_dev(&t)).unwrap_or_default()
            }
            None => BTreeMap::new(),
        };
        let (preread, precpu) = self
            .previous
            .take()
            .unwrap_or_else(|| (ZERO_TIME.to_string(), CpuStats::default()));
        self.previous = Some((now.clone(), cpu.clone()));
        Ok(ContainerStats {
            read: now,
            preread,
            pids_stats: cg.pids,
            blkio_stats: cg.blkio,
            num_procs: 0,
            storage_stats: StorageStats {},
            cpu_stats: cpu,
            precpu_stats: precpu,
            memory_stats: cg.memory,
            name: self.name.clone(),
            id: self.id.clone(),
            networks,
        })
    }
}

/// The docker CLI's CPU % of a frame: the container's share of the machine's
/// CPU time since the previous frame, times the online CPUs.
pub fn cpu_percent(s: &ContainerStats) -> f64 {
    let cpu_delta =
        s.cpu_stats.cpu_usage.total_usage as f64 - s.precpu_stats.cpu_usage.total_usage as f64;
    let system_delta = s.cpu_stats.system_cpu_usage as f64 - s.precpu_stats.system_cpu_usage as f64;
    let mut online = f64::from(s.cpu_stats.online_cpus);
    if online == 0.0 {
        online = s
            .cpu_stats
            .cpu_usage
            .percpu_usage
            .as_ref()
            .map_or(0.0, |p| p.len() as f64);
    }
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    }
}

/// The docker CLI's MEM USAGE: usage minus the inactive page cache
/// (`total_inactive_file` on v1, `inactive_file` on v2).
pub fn memory_usage(m: &MemoryStats) -> u64 {
    let inactive = m
        .stats
        .get("total_inactive_file")
        .or_else(|| m.stats.get("inactive_file"))
        .copied()
        .unwrap_or(0);
    if inactive < m.usage {
        m.usage - inactive
    } else {
        m.usage
    }
}

/// Tells whether the OOM killer struck a container since it started: the
/// cgroup's `oom_kill` counter against its value at start. Check before the
/// cgroup is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OomWatch {
    baseline: u64,
}

impl OomWatch {
    /// Record the counter now (zero for a counter the kernel does not keep).
    pub fn start(cgroup: &impl CgroupManager) -> OomWatch {
        OomWatch {
            baseline: cgroup.oom_kills().ok().flatten().unwrap_or(0),
        }
    }

    /// A fresh cgroup's baseline: zero.
    pub fn from_zero() -> OomWatch {
        OomWatch { baseline: 0 }
    }

    /// True when the counter went up since `start`.
    pub fn oom_killed(&self, cgroup: &impl CgroupManager) -> Result<bool, CgroupError> {
        Ok(cgroup.oom_kills()?.is_some_and(|n| n > self.baseline))
    }
}
