use super::*;
use serde_json::json;

const MIB: i64 = 1 << 20;

fn map(v: Value) -> Map<String, Value> {
    v.as_object().expect("object").clone()
}

fn create(v: Value, sys: &SysInfo) -> Result<(Resources, Vec<String>), ResourceError> {
    Resources::for_create(&map(v), sys)
}

fn err(v: Value) -> String {
    create(v, &SysInfo::everything(2))
        .expect_err("refused")
        .to_string()
}

#[test]
fn reads_docker_field_names_and_treats_zero_and_null_as_unset() {
    let r = Resources::from_host_config(&map(json!({
        "Memory": 33554432, "MemorySwap": -1, "MemoryReservation": 0,
        "MemorySwappiness": null, "OomKillDisable": false, "CpuShares": 512,
        "CpuQuota": 50000, "CpuPeriod": 100000, "NanoCpus": 0,
        "CpusetCpus": "0-1", "CpusetMems": "", "PidsLimit": null, "BlkioWeight": 300,
        "Privileged": true
    })))
    .expect("parse");
    assert_eq!(r.memory, 32 * MIB);
    assert_eq!(r.memory_swap, -1);
    assert_eq!(r.oom_kill_disable, Some(false));
    assert_eq!(r.pids_limit, None);
    assert_eq!(r.cpuset_cpus, "0-1");
    assert_eq!(r.blkio_weight, 300);
    assert_eq!(
        Resources::from_host_config(&Map::new()).expect("empty"),
        Resources::default()
    );
}

#[test]
fn wrong_json_types_are_refused_in_go_decoder_words() {
    let e = Resources::from_host_config(&map(json!({"Memory": "32m"}))).expect_err("string");
    assert_eq!(
        e.to_string(),
        "json: cannot unmarshal string into Go struct field HostConfig.Memory of type int64"
    );
    let e = Resources::from_host_config(&map(json!({"Memory": 1.5}))).expect_err("float");
    assert!(e.to_string().contains("number 1.5"), "{e}");
    assert!(Resources::from_host_config(&map(json!({"BlkioWeight": 70000}))).is_err());
}

#[test]
fn create_refuses_out_of_range_values_with_dockers_messages() {
    assert_eq!(
        err(json!({"Memory": 4 * MIB})),
        "Minimum memory limit allowed is 6MB"
    );
    assert_eq!(
        err(json!({"Memory": 32 * MIB, "MemorySwap": 16 * MIB})),
        "Minimum memoryswap limit should be larger than memory limit, see usage"
    );
    assert_eq!(
        err(json!({"MemorySwap": 64 * MIB})),
        "You should always set the Memory limit when using Memoryswap limit, see usage"
    );
    assert_eq!(
        err(json!({"MemorySwappiness": 101})),
        "Invalid value: 101, valid memory swappiness range is 0-100"
    );
    assert_eq!(
        err(json!({"MemoryReservation": MIB})),
        "Minimum memory reservation allowed is 6MB"
    );
    assert_eq!(
        err(json!({"Memory": 16 * MIB, "MemoryReservation": 32 * MIB})),
        "Minimum memory limit can not be less than memory reservation limit, see usage"
    );
    assert_eq!(
        err(json!({"KernelMemory": MIB})),
        "Minimum kernel memory limit allowed is 6MB"
    );
    assert_eq!(
        err(json!({"NanoCpus": 500_000_000, "CpuPeriod": 100000})),
        "Conflicting options: Nano CPUs and CPU Period cannot both be set"
    );
    assert_eq!(
        err(json!({"NanoCpus": 500_000_000, "CpuQuota": 50000})),
        "Conflicting options: Nano CPUs and CPU Quota cannot both be set"
    );
    assert_eq!(
        err(json!({"NanoCpus": 3_000_000_000_i64})),
        "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
    );
    assert_eq!(
        err(json!({"CpuQuota": 999})),
        "CPU cfs quota can not be less than 1ms (i.e. 1000)"
    );
    assert_eq!(
        err(json!({"CpuPeriod": 999})),
        "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
    );
    assert_eq!(
        err(json!({"CpusetCpus": "0-3"})),
        "Requested CPUs are not available - requested 0-3, available: 0-1"
    );
    assert_eq!(
        err(json!({"CpusetCpus": "1-0"})),
        "Invalid value 1-0 for cpuset cpus: invalid format: 1-0"
    );
    assert_eq!(
        err(json!({"CpusetMems": "1"})),
        "Requested memory nodes are not available - requested 1, available: 0"
    );
    assert_eq!(
        err(json!({"CpusetCpus": "9000"})),
        "Invalid value 9000 for cpuset cpus: value of out range, maximum is 8192"
    );
    assert_eq!(
        err(json!({"BlkioWeight": 5})),
        "Range of blkio weight is from 10 to 1000"
    );
    let e = create(json!({"Memory": 4 * MIB}), &SysInfo::everything(2)).expect_err("x");
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
}

#[test]
fn create_fills_dockers_defaults_and_maps_to_limits() {
    let (r, w) = create(
        json!({"Memory": 32 * MIB, "NanoCpus": 500_000_000, "PidsLimit": 20, "CpuShares": 512}),
        &SysInfo::everything(2),
    )
    .expect("ok");
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(r.memory_swap, 64 * MIB, "swap defaults to twice the memory");
    assert_eq!(r.oom_kill_disable, Some(false));
    let l = r.limits();
    assert_eq!(l.memory, Some(32 * MIB));
    assert_eq!(l.memory_swap, Some(64 * MIB));
    assert_eq!((l.cpu_quota, l.cpu_period), (Some(50_000), Some(100_000)));
    assert_eq!(l.cpu_shares, Some(512));
    assert_eq!(l.pids_max, Some(20));
    assert_eq!(l.cpuset_cpus, None);

    // Zero and negative pids limits mean no limit on create.
    let (r, _) = create(json!({"PidsLimit": -1}), &SysInfo::everything(2)).expect("ok");
    assert_eq!(r.pids_limit, None);

    let mut m = Map::new();
    r.write_to(&mut m);
    assert_eq!(m["PidsLimit"], Value::Null);
    assert_eq!(m["MemorySwappiness"], Value::Null);
    assert_eq!(m["OomKillDisable"], json!(false));
    assert!(!m.contains_key("KernelMemory"));
    assert_eq!(Resources::from_host_config(&m).expect("round trip"), r);
}

#[test]
fn what_the_host_lacks_is_discarded_with_dockers_warnings() {
    let mut sys = SysInfo::everything(2);
    sys.swap_limit = false;
    sys.blkio_weight = false;
    sys.kernel_memory = false;
    let (r, w) = create(
        json!({"Memory": 32 * MIB, "BlkioWeight": 300, "KernelMemory": 64 * MIB}),
        &sys,
    )
    .expect("ok");
    assert_eq!(
            w,
            [
                "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
                "Your kernel does not support kernel memory limit capabilities or the cgroup is not mounted. Limitation discarded.",
                "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.",
            ]
        );
    assert_eq!(
        r.memory_swap, -1,
        "swap ignored, and stays so after the defaults"
    );
    assert_eq!((r.blkio_weight, r.kernel_memory), (0, 0));

    let (r, w) = create(
        json!({"Memory": 32 * MIB, "OomKillDisable": true, "PidsLimit": 5, "CpuShares": 5}),
        &SysInfo::nothing(2),
    )
    .expect("ok");
    assert_eq!(w.len(), 4, "{w:?}");
    assert_eq!(
        r.limits(),
        Limits {
            oom_kill_disable: Some(false),
            memory_swap: Some(-1),
            ..Limits::default()
        }
    );

    let (_, w) = create(json!({"OomKillDisable": true}), &SysInfo::everything(1)).expect("ok");
    assert_eq!(w, ["OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources."]);
}

#[test]
fn update_merges_over_the_current_resources_and_refuses_conflicts() {
    let sys = SysInfo::everything(2);
    let (cur, _) = create(json!({"Memory": 32 * MIB, "NanoCpus": 500_000_000}), &sys).expect("ok");
    let (new, _) = Resources::for_update(
        &cur,
        &map(json!({"Memory": 48 * MIB, "PidsLimit": 0})),
        &sys,
    )
    .expect("update");
    assert_eq!((new.memory, new.memory_swap), (48 * MIB, 64 * MIB));
    assert_eq!(new.nano_cpus, 500_000_000);
    assert_eq!(
        new.limits().pids_max,
        Some(0),
        "0 lifts the limit on update"
    );

    let e = Resources::for_update(&cur, &map(json!({"Memory": 128 * MIB})), &sys)
        .expect_err("above swap");
    assert_eq!(e.to_string(), "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    let ok = Resources::for_update(
        &cur,
        &map(json!({"Memory": 128 * MIB, "MemorySwap": 256 * MIB})),
        &sys,
    )
    .expect("with swap");
    assert_eq!(ok.0.memory_swap, 256 * MIB);

    let e = Resources::for_update(&cur, &map(json!({"CpuQuota": 20000})), &sys)
        .expect_err("quota after cpus");
    assert_eq!(
        e.to_string(),
        "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
    );
    // Swap without memory is fine on update.
    assert!(Resources::for_update(&cur, &map(json!({"MemorySwap": 96 * MIB})), &sys).is_ok());
}

#[test]
fn cpuset_lists_parse_like_moby() {
    let s = parse_cpuset("0-2,4,3", 0).expect("ok");
    assert_eq!(s.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert!(parse_cpuset("", 0).expect("empty").is_empty());
    assert_eq!(parse_cpuset("a", 0).expect_err("bad"), "invalid format: a");
    assert!(cpuset_available("1", "0-1").expect("ok"));
    assert!(!cpuset_available("2", "0-1").expect("ok"));
}

#[test]
fn swap_accounting_is_seen_from_a_service_cgroup_without_the_memory_controller() {
    use super::sysinfo::v2_has_swap_seen_from;
    // A systemd machine: our service's cgroup has no memory controller (no
    // memory.* files); the root's children, where containers go, have it.
    let root = tempfile::tempdir().unwrap();
    let service = root.path().join("system.slice/dockhand.service");
    std::fs::create_dir_all(&service).unwrap();
    let own = "0::/system.slice/dockhand.service\n";
    assert!(
        !v2_has_swap_seen_from(root.path(), own),
        "no memory.swap.max anywhere"
    );
    std::fs::write(root.path().join("system.slice/memory.swap.max"), "max\n").unwrap();
    assert!(v2_has_swap_seen_from(root.path(), own));
    // Our own cgroup answers first, and the root's own line is no cgroup.
    let root2 = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root2.path().join("mine")).unwrap();
    std::fs::write(root2.path().join("mine/memory.swap.max"), "max\n").unwrap();
    assert!(v2_has_swap_seen_from(root2.path(), "0::/mine\n"));
    assert!(
        v2_has_swap_seen_from(root2.path(), "0::/\n"),
        "found among the children"
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(!v2_has_swap_seen_from(empty.path(), "0::/\n"));
}
