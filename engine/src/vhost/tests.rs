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
    // Checked at compile time below: 200 hosts per daemon, ids below 2^31
    // (devpts' gid= on kernels before 6.6), old ranges within u32.
    const { assert!(MAX_SLOTS >= 200) };
    const { assert!(UID_FIRST as u64 + (BUCKETS * MAX_SLOTS) as u64 * UID_SIZE as u64 <= 1 << 31) };
    const {
        assert!(
            UID_FIRST as u64 + (OLD_BUCKETS * MAX_SLOTS) as u64 * UID_SIZE as u64
                <= u32::MAX as u64
        )
    };
    assert_eq!(UID_FIRST % UID_SIZE, 0);
}

#[test]
fn uid_ranges_stay_below_2_31_and_old_data_roots_keep_theirs() {
    // A new data root: below 2^31, and kept.
    for i in 0..50 {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(format!("r{i}")).join("vhosts");
        std::fs::create_dir_all(&dir).unwrap();
        let first = uid_first_of(&root.path().join(format!("r{i}")), &dir, false).unwrap();
        assert!(
            first as u64 + (MAX_SLOTS * UID_SIZE) as u64 <= 1 << 31,
            "{first:#x}"
        );
        assert_eq!(first % UID_SIZE, 0);
        let kept = std::fs::read_to_string(dir.join(UID_FIRST_FILE)).unwrap();
        assert_eq!(kept, first.to_string());
        assert_eq!(
            uid_first_of(root.path(), &dir, true).unwrap(),
            first,
            "read back"
        );
    }
    // A data root whose virtual hosts of before live on: the old formula,
    // then kept; one whose records are of dead hosts only: the new one.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("vhosts");
    std::fs::create_dir_all(&dir).unwrap();
    let old = hashed_uid_first(root.path(), OLD_BUCKETS);
    assert_eq!(uid_first_of(root.path(), &dir, true).unwrap(), old);
    assert_eq!(
        uid_first_of(root.path(), &dir, false).unwrap(),
        old,
        "kept once chosen"
    );
    let root2 = tempfile::tempdir().unwrap();
    let dir2 = root2.path().join("vhosts");
    std::fs::create_dir_all(&dir2).unwrap();
    assert_eq!(
        uid_first_of(root2.path(), &dir2, false).unwrap(),
        hashed_uid_first(root2.path(), BUCKETS)
    );
}
