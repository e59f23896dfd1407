//! Tests of resource limits, OOM counting and stats: the files each backend
//! writes and reads, on temp-dir trees laid out like the kernel's. That the
//! machine's own kernel enforces them is `enforce_tests`.

use super::test_tree::{self, EmulatedTree};
use super::*;
use crate::stats::{self, OomWatch, StatsSampler};
use std::fs;
use std::sync::Arc;
use tempfile::TempDir;

const PREFIX: &str = "dockhand-lt";
pub(super) const MIB: i64 = 1 << 20;

fn tree(build: impl FnOnce(&Path)) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path());
    dir
}

fn manager(root: &Path) -> AnyCgroupManager {
    let m = Cgroups::with_ops(root, PREFIX, Arc::new(EmulatedTree { kill_file: true }))
        .expect("detect")
        .for_container("h1", "c1")
        .expect("manager");
    m.create().expect("create");
    m
}

fn read(p: impl AsRef<Path>) -> String {
    fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
        .trim()
        .to_string()
}

fn full_limits() -> Limits {
    Limits {
        memory: Some(32 * MIB),
        memory_swap: Some(64 * MIB),
        memory_reservation: Some(16 * MIB),
        kernel_memory: None,
        memory_swappiness: None,
        oom_kill_disable: None,
        cpu_shares: Some(512),
        cpu_quota: Some(50_000),
        cpu_period: Some(100_000),
        cpuset_cpus: Some("1".into()),
        cpuset_mems: Some("0".into()),
        pids_max: Some(20),
        blkio_weight: Some(300),
    }
}

#[test]
fn v1_apply_writes_each_limit_to_its_controller_and_reads_it_back() {
    let t = tree(test_tree::legacy);
    let m = manager(t.path());
    let l = Limits {
        kernel_memory: Some(64 * MIB),
        memory_swappiness: Some(10),
        oom_kill_disable: Some(true),
        ..full_limits()
    };
    m.apply(&l).expect("apply");
    let leaf = |h: &str| t.path().join(h).join(PREFIX).join("h1/c1");
    let mem = leaf("memory");
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "33554432");
    assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), "67108864");
    assert_eq!(read(mem.join("memory.soft_limit_in_bytes")), "16777216");
    assert_eq!(read(mem.join("memory.kmem.limit_in_bytes")), "67108864");
    assert_eq!(read(mem.join("memory.swappiness")), "10");
    assert_eq!(read(mem.join("memory.oom_control")), "1");
    let cpu = leaf("cpu,cpuacct");
    assert_eq!(read(cpu.join("cpu.shares")), "512");
    assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(leaf("cpuset").join("cpuset.cpus")), "1");
    assert_eq!(read(leaf("cpuset").join("cpuset.mems")), "0");
    assert_eq!(read(leaf("pids").join("pids.max")), "20");
    assert_eq!(read(leaf("blkio").join("blkio.weight")), "300");

    // The emulated oom_control holds what was written, not the kernel's table.
    fs::write(
        mem.join("memory.oom_control"),
        "oom_kill_disable 1\nunder_oom 0\noom_kill 0\n",
    )
    .expect("write");
    assert_eq!(m.read_limits().expect("read back"), l);

    // Idempotent; and an empty Limits touches nothing.
    m.apply(&l).expect("apply again");
    m.apply(&Limits::default()).expect("apply nothing");
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "33554432");
}

#[test]
fn v1_unlimited_values_are_written_as_the_kernel_takes_them() {
    let t = tree(test_tree::hybrid);
    let m = manager(t.path());
    m.apply(&full_limits()).expect("apply");
    m.apply(&Limits {
        memory: Some(-1),
        cpu_quota: Some(-1),
        pids_max: Some(0),
        ..Limits::default()
    })
    .expect("lift");
    let mem = t.path().join("memory").join(PREFIX).join("h1/c1");
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "-1");
    assert_eq!(
        read(mem.join("memory.memsw.limit_in_bytes")),
        "-1",
        "unlimited memory with swap unsaid lifts swap too"
    );
    let cpu = t.path().join("cpu").join(PREFIX).join("h1/c1");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "-1");
    let pids = t.path().join("pids").join(PREFIX).join("h1/c1");
    assert_eq!(read(pids.join("pids.max")), "max");
}

#[test]
fn v1_plan_orders_memory_and_swap_so_the_kernel_never_sees_memory_above_swap() {
    let files = |plan: Vec<Write>| plan.iter().map(Write::file).collect::<Vec<_>>();
    let grow = Limits {
        memory: Some(128 * MIB),
        memory_swap: Some(256 * MIB),
        ..Limits::default()
    };
    // Now 32m: raising swap first keeps memory <= memsw at every step.
    assert_eq!(
        files(v1_plan(&grow, Some(32 << 20))),
        ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    );
    let shrink = Limits {
        memory: Some(16 * MIB),
        memory_swap: Some(20 * MIB),
        ..Limits::default()
    };
    assert_eq!(
        files(v1_plan(&shrink, Some(32 << 20))),
        ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    );
    // A fresh cgroup (unlimited now): memory first.
    assert_eq!(
        files(v1_plan(&grow, Some(9_223_372_036_854_771_712))),
        ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    );
}

#[test]
fn v1_without_swap_accounting_refuses_a_swap_limit_but_not_unlimited_swap() {
    let t = tree(|r| {
        test_tree::legacy(r);
        fs::remove_file(r.join("memory/memory.memsw.limit_in_bytes")).expect("rm");
    });
    let m = manager(t.path());
    let err = m
        .apply(&Limits {
            memory: Some(32 * MIB),
            memory_swap: Some(64 * MIB),
            ..Limits::default()
        })
        .expect_err("no memsw");
    assert!(
        matches!(&err, CgroupError::MissingFile(p) if p.ends_with("memory.memsw.limit_in_bytes")),
        "{err}"
    );
    m.apply(&Limits {
        memory: Some(32 * MIB),
        memory_swap: Some(-1),
        ..Limits::default()
    })
    .expect("unlimited swap is the default anyway");
    assert_eq!(m.read_limits().expect("read").memory_swap, None);
}

#[test]
fn v1_blkio_weight_falls_back_to_bfq() {
    let t = tree(|r| {
        test_tree::legacy(r);
        fs::remove_file(r.join("blkio/blkio.weight")).expect("rm");
        fs::write(r.join("blkio/blkio.bfq.weight"), "default 100\n").expect("write");
    });
    let m = manager(t.path());
    m.apply(&Limits {
        blkio_weight: Some(300),
        ..Limits::default()
    })
    .expect("apply");
    let leaf = t.path().join("blkio").join(PREFIX).join("h1/c1");
    assert_eq!(read(leaf.join("blkio.bfq.weight")), "300");
    assert!(!leaf.join("blkio.weight").exists());
}

#[test]
fn v2_apply_converts_to_cgroup2_files_and_reads_back() {
    let t = tree(|r| test_tree::unified(r, "cpu cpuset io memory pids"));
    fs::write(
        t.path().join("cgroup.subtree_control"),
        "+cpu +cpuset +io +memory +pids",
    )
    .expect("write");
    let m = manager(t.path());
    let l = Limits {
        cpu_shares: Some(1024),
        ..full_limits()
    };
    m.apply(&l).expect("apply");
    let leaf = t.path().join(PREFIX).join("h1/c1");
    assert_eq!(read(leaf.join("memory.max")), "33554432");
    assert_eq!(
        read(leaf.join("memory.swap.max")),
        "33554432",
        "swap alone: 64m - 32m"
    );
    assert_eq!(read(leaf.join("memory.low")), "16777216");
    assert_eq!(read(leaf.join("cpu.weight")), "39", "1024 shares");
    assert_eq!(read(leaf.join("cpu.max")), "50000 100000");
    assert_eq!(read(leaf.join("cpuset.cpus")), "1");
    assert_eq!(read(leaf.join("pids.max")), "20");
    assert_eq!(
        read(leaf.join("io.weight")),
        blkio_to_io_weight(300).to_string()
    );

    let back = m.read_limits().expect("read back");
    assert_eq!(back.memory, Some(32 * MIB));
    assert_eq!(back.memory_swap, Some(64 * MIB));
    assert_eq!(back.cpu_quota, Some(50_000));
    assert_eq!(back.cpu_period, Some(100_000));
    assert_eq!(back.pids_max, Some(20));
    assert_eq!(back.blkio_weight, Some(300));
    assert_eq!(
        back.cpu_shares.map(shares_to_weight),
        Some(39),
        "shares come back as a value with the same weight"
    );

    m.apply(&Limits {
        memory: Some(-1),
        cpu_quota: Some(-1),
        cpu_period: Some(100_000),
        ..Limits::default()
    })
    .expect("lift");
    assert_eq!(read(leaf.join("memory.max")), "max");
    assert_eq!(read(leaf.join("memory.swap.max")), "max");
    assert_eq!(read(leaf.join("cpu.max")), "max 100000");
}

#[test]
fn v2_refuses_what_cgroup2_cannot_express_and_missing_controllers() {
    assert!(matches!(
        v2_plan(&Limits {
            kernel_memory: Some(64 * MIB),
            ..Limits::default()
        }),
        Err(CgroupError::Unsupported(_))
    ));
    assert!(matches!(
        v2_plan(&Limits {
            oom_kill_disable: Some(true),
            ..Limits::default()
        }),
        Err(CgroupError::Unsupported(_))
    ));
    assert!(v2_plan(&Limits {
        oom_kill_disable: Some(false),
        ..Limits::default()
    })
    .expect("OOM killer on is the default")
    .is_empty());
    assert!(matches!(
        v2_swap(None, Some(64 * MIB)),
        Err(CgroupError::InvalidLimits(_))
    ));
    assert_eq!(
        v2_swap(Some(32 * MIB), Some(32 * MIB)).expect("no swap"),
        Some(0)
    );

    let t = tree(|r| test_tree::unified(r, "cpu pids"));
    fs::write(t.path().join("cgroup.subtree_control"), "+cpu +pids").expect("write");
    let m = manager(t.path());
    let err = m
        .apply(&Limits {
            memory: Some(32 * MIB),
            ..Limits::default()
        })
        .expect_err("no memory controller");
    assert!(
        matches!(err, CgroupError::MissingController("memory")),
        "{err}"
    );
}

#[test]
fn weight_conversions_follow_crun_and_runc() {
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(512), 20);
    assert_eq!(shares_to_weight(262_144), 10_000);
    for w in [1, 20, 39, 5000, 10_000] {
        assert_eq!(shares_to_weight(weight_to_shares(w)), w);
    }
    assert_eq!(blkio_to_io_weight(10), 1);
    assert_eq!(blkio_to_io_weight(1000), 10_000);
    assert_eq!(blkio_to_io_weight(500), 4950);
}

#[test]
fn oom_kills_count_from_oom_control_on_v1_and_memory_events_on_v2() {
    let t = tree(test_tree::legacy);
    let m = manager(t.path());
    let file = t
        .path()
        .join("memory")
        .join(PREFIX)
        .join("h1/c1/memory.oom_control");
    assert_eq!(m.oom_kills().expect("read"), Some(0));
    let watch = OomWatch::start(&m);
    assert!(!watch.oom_killed(&m).expect("read"));
    fs::write(&file, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n").expect("write");
    assert_eq!(m.oom_kills().expect("read"), Some(2));
    assert!(watch.oom_killed(&m).expect("read"));

    let t = tree(|r| test_tree::unified(r, "memory"));
    fs::write(t.path().join("cgroup.subtree_control"), "+memory").expect("write");
    let m = manager(t.path());
    let watch = OomWatch::start(&m);
    fs::write(
        t.path().join(PREFIX).join("h1/c1/memory.events"),
        "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n",
    )
    .expect("write");
    assert!(watch.oom_killed(&m).expect("read"));
}

/// A fake `/proc` for the sampler.
fn fake_proc(dir: &Path, user_ticks: u64, pid: i32) {
    fs::create_dir_all(dir.join(pid.to_string()).join("net")).expect("mkdir");
    fs::write(
        dir.join("stat"),
        format!("cpu  {user_ticks} 0 100 1000 0 0 0 0 0 0\ncpu0 1 0 0 0 0 0 0 0 0 0\ncpu1 1 0 0 0 0 0 0 0 0 0\nintr 1\n"),
    )
    .expect("write");
    fs::write(
        dir.join("meminfo"),
        "MemTotal:        1024 kB\nMemFree: 1 kB\n",
    )
    .expect("write");
    fs::write(
        dir.join(pid.to_string()).join("net/dev"),
        "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    1500      10    1    2    0     0          0         0      700       5    3    4    0     0       0          0\n",
    )
    .expect("write");
}

#[test]
fn v1_stats_read_the_counters_dockerd_reports() {
    let t = tree(test_tree::legacy);
    let m = manager(t.path());
    let leaf = |h: &str| t.path().join(h).join(PREFIX).join("h1/c1");
    let cpu = leaf("cpu,cpuacct");
    fs::write(cpu.join("cpuacct.usage"), "3000000000\n").expect("w");
    fs::write(cpu.join("cpuacct.usage_percpu"), "1000000000 2000000000 \n").expect("w");
    fs::write(cpu.join("cpuacct.stat"), "user 200\nsystem 100\n").expect("w");
    fs::write(
        cpu.join("cpu.stat"),
        "nr_periods 10\nnr_throttled 4\nthrottled_time 5000\n",
    )
    .expect("w");
    let mem = leaf("memory");
    fs::write(mem.join("memory.usage_in_bytes"), "10485760\n").expect("w");
    fs::write(mem.join("memory.max_usage_in_bytes"), "20971520\n").expect("w");
    fs::write(mem.join("memory.failcnt"), "3\n").expect("w");
    fs::write(
        mem.join("memory.stat"),
        "cache 4096\nrss 8192\ntotal_inactive_file 1048576\nswap 0\nworkingset_refault_file 7\n",
    )
    .expect("w");
    fs::write(leaf("pids").join("pids.current"), "4\n").expect("w");
    fs::write(
        leaf("blkio").join("blkio.throttle.io_service_bytes_recursive"),
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n",
    )
    .expect("w");
    m.apply(&Limits {
        memory: Some(32 * MIB),
        pids_max: Some(20),
        ..Limits::default()
    })
    .expect("apply");

    let procdir = tempfile::tempdir().expect("tempdir");
    fake_proc(procdir.path(), 1000, 42);
    let mut s = StatsSampler::with_proc(m.clone(), "abc", "/web", Some(42), procdir.path());
    let first = s.sample().expect("sample");
    assert_eq!(first.preread, stats::ZERO_TIME);
    assert_eq!(first.precpu_stats, stats::CpuStats::default());
    let c = &first.cpu_stats;
    assert_eq!(c.cpu_usage.total_usage, 3_000_000_000);
    assert_eq!(
        c.cpu_usage.percpu_usage,
        Some(vec![1_000_000_000, 2_000_000_000])
    );
    assert_eq!(c.cpu_usage.usage_in_usermode, 2_000_000_000);
    assert_eq!(c.cpu_usage.usage_in_kernelmode, 1_000_000_000);
    assert_eq!(c.throttling_data.throttled_periods, 4);
    // (1000 + 100 + 1000) ticks of 10 ms.
    assert_eq!(c.system_cpu_usage, 21_000_000_000);
    assert_eq!(c.online_cpus, 2);
    let mm = &first.memory_stats;
    assert_eq!(
        (mm.usage, mm.max_usage, mm.failcnt),
        (10 << 20, 20 << 20, 3)
    );
    assert_eq!(
        mm.limit,
        1024 * 1024,
        "a limit above the machine's memory is the machine's"
    );
    assert_eq!(mm.stats.len(), 32, "dockerd's fixed v1 key set");
    assert_eq!(mm.stats["total_inactive_file"], 1 << 20);
    assert!(!mm.stats.contains_key("workingset_refault_file"));
    assert_eq!(stats::memory_usage(mm), 9 << 20);
    assert_eq!((first.pids_stats.current, first.pids_stats.limit), (4, 20));
    let io = first
        .blkio_stats
        .io_service_bytes_recursive
        .as_ref()
        .expect("list");
    assert_eq!(io.len(), 3, "Total lines without a device are skipped");
    assert_eq!((io[0].op.as_str(), io[0].value), ("Read", 4096));
    assert_eq!(first.networks.keys().collect::<Vec<_>>(), ["eth0"]);
    assert_eq!(first.networks["eth0"].rx_bytes, 1500);
    assert_eq!(first.networks["eth0"].tx_dropped, 4);

    // The second frame carries the first as its previous sample.
    fs::write(cpu.join("cpuacct.usage"), "3500000000\n").expect("w");
    fake_proc(procdir.path(), 1100, 42);
    let second = s.sample().expect("sample");
    assert_eq!(second.preread, first.read);
    assert_eq!(second.precpu_stats, first.cpu_stats);
    // 0.5 s of CPU in 1 s of machine time on 2 CPUs.
    let pct = stats::cpu_percent(&second);
    assert!((pct - 100.0).abs() < 1e-9, "{pct}");

    let json = serde_json::to_value(&second).expect("json");
    let keys: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "read",
            "preread",
            "pids_stats",
            "blkio_stats",
            "num_procs",
            "storage_stats",
            "cpu_stats",
            "precpu_stats",
            "memory_stats",
            "name",
            "id",
            "networks"
        ]
    );
    assert_eq!(json["name"], "/web");
    assert_eq!(json["storage_stats"], serde_json::json!({}));
    assert_eq!(
        json["blkio_stats"]["io_queue_recursive"],
        serde_json::json!([])
    );
}

#[test]
fn v2_stats_read_cpu_stat_memory_current_and_io_stat() {
    let t = tree(|r| test_tree::unified(r, "cpu io memory pids"));
    fs::write(
        t.path().join("cgroup.subtree_control"),
        "+cpu +io +memory +pids",
    )
    .expect("write");
    let m = manager(t.path());
    let leaf = t.path().join(PREFIX).join("h1/c1");
    fs::write(
        leaf.join("cpu.stat"),
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\nnr_throttled 2\nthrottled_usec 30\n",
    )
    .expect("w");
    fs::write(leaf.join("memory.current"), "8388608\n").expect("w");
    fs::write(leaf.join("memory.max"), "16777216\n").expect("w");
    fs::write(
        leaf.join("memory.stat"),
        "anon 4096\nfile 8192\ninactive_file 4096\n",
    )
    .expect("w");
    fs::write(
        leaf.join("memory.events"),
        "low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\n",
    )
    .expect("w");
    fs::write(leaf.join("pids.current"), "3\n").expect("w");
    fs::write(
        leaf.join("io.stat"),
        "8:16 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n",
    )
    .expect("w");

    let s = stats::read_cgroup(&m, 1 << 30).expect("read");
    assert_eq!(s.cpu.cpu_usage.total_usage, 1_500_000);
    assert_eq!(s.cpu.cpu_usage.usage_in_usermode, 1_000_000);
    assert_eq!(s.cpu.cpu_usage.percpu_usage, None);
    assert_eq!(s.cpu.throttling_data.throttled_time, 30_000);
    assert_eq!(
        (s.memory.usage, s.memory.limit, s.memory.failcnt),
        (8 << 20, 16 << 20, 2)
    );
    assert_eq!(s.memory.stats.len(), 31, "dockerd's fixed v2 key set");
    assert_eq!(stats::memory_usage(&s.memory), (8 << 20) - 4096);
    assert_eq!(
        (s.pids.current, s.pids.limit),
        (3, 0),
        "max reads as no limit"
    );
    let io = s.blkio.io_service_bytes_recursive.expect("list");
    assert_eq!(io.len(), 2);
    assert_eq!(
        (io[1].major, io[1].minor, io[1].op.as_str(), io[1].value),
        (8, 16, "write", 2048)
    );
    assert_eq!(
        s.blkio.io_serviced_recursive, None,
        "null on v2, as dockerd sends it"
    );

    fs::write(leaf.join("memory.max"), "max\n").expect("w");
    let s = stats::read_cgroup(&m, 1 << 30).expect("read");
    assert_eq!(
        s.memory.limit,
        1 << 30,
        "unlimited shows the machine's memory"
    );
}
