use super::*;

#[test]
fn names_follow_docker_rules_and_keep_default_reserved() {
    assert!(valid_name("node1"));
    assert!(valid_name("a.b-c_d"));
    assert!(!valid_name("x"));
    assert!(!valid_name("-x"));
    assert!(!valid_name("default"));
    assert!(!valid_name("a/b"));
    assert!(!valid_name(&"a".repeat(41)));
}

#[test]
fn defaults_fit_two_hundred_hosts_on_a_classroom_machine() {
    let d = Defaults::default();
    // Caps are ceilings; what must fit is the disk actually reserved by
    // sparse images (nothing) and idle memory, measured in the benchmark.
    assert!(d.limits.memory.unwrap() <= 2 << 30);
    assert!(d.limits.pids_limit.unwrap() <= 4096);
    // Checked at compile time below: 200 hosts per daemon, ranges within u32.
    const { assert!(MAX_SLOTS >= 200) };
    const {
        assert!(
            UID_FIRST as u64 + (BUCKETS * MAX_SLOTS) as u64 * UID_SIZE as u64 <= u32::MAX as u64
        )
    };
    assert_eq!(UID_FIRST % UID_SIZE, 0);
}
