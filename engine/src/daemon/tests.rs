use super::*;

#[test]
fn restart_decisions_follow_the_policy() {
    assert!(should_restart("always", 0, 0, false, 5));
    assert!(
        !should_restart("always", 0, 0, true, 0),
        "a manual stop suspends it"
    );
    assert!(should_restart("unless-stopped", 0, 1, false, 0));
    assert!(should_restart("on-failure", 2, 1, false, 1));
    assert!(
        !should_restart("on-failure", 2, 1, false, 2),
        "retry count reached"
    );
    assert!(
        !should_restart("on-failure", 0, 0, false, 0),
        "exit 0 is no failure"
    );
    assert!(!should_restart("no", 0, 1, false, 0));
}

#[test]
fn host_config_checks_use_mobys_texts() {
    let mut hc = shared::api::HostConfig::default();
    hc.restart_policy.name = "sometimes".into();
    assert!(validate_host_config(&hc)
        .unwrap_err()
        .contains("unknown policy 'sometimes'"));
    hc.restart_policy.name = "always".into();
    hc.restart_policy.maximum_retry_count = 3;
    assert!(validate_host_config(&hc)
        .unwrap_err()
        .contains("can only be used with 'on-failure'"));
    hc.restart_policy.name = "on-failure".into();
    validate_host_config(&hc).unwrap();
    hc.auto_remove = true;
    assert!(validate_host_config(&hc).is_err());
    let mut hc = shared::api::HostConfig::default();
    hc.extra.insert(
        "LogConfig".into(),
        serde_json::json!({"Type": "json-file", "Config": {"max-size": "10x"}}),
    );
    assert!(validate_host_config(&hc).unwrap_err().contains("max-size"));
    assert_eq!(parse_size("10k"), Some(10240));
    assert_eq!(parse_size("1.5m"), Some(1572864));
}

#[test]
fn signals_parse_by_name_and_number() {
    assert_eq!(parse_signal("KILL"), Some(9));
    assert_eq!(parse_signal("sigterm"), Some(15));
    assert_eq!(parse_signal("SIGUSR1"), Some(libc::SIGUSR1));
    assert_eq!(parse_signal("2"), Some(2));
    assert_eq!(parse_signal("NOPE"), None);
    assert_eq!(parse_signal("0"), None);
}

#[test]
fn resolv_conf_drops_loopback_resolvers() {
    let got = container_resolv_conf("search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\n");
    assert_eq!(got, "search lan\nnameserver 10.0.0.1\n");
    assert!(container_resolv_conf("nameserver 127.0.0.1\n").contains("8.8.8.8"));
}

#[test]
fn an_old_data_root_moves_to_daemons_and_keeps_a_link() {
    let root = tempfile::tempdir().unwrap();
    let old = root.path().join("hosts/default/containers/abc");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(root.path().join("hosts/default/images.json"), "{}").unwrap();

    migrate_data_root(root.path()).unwrap();
    let new = dir_in(root.path(), "default");
    assert_eq!(new, root.path().join("daemons/default"));
    assert!(new.join("containers/abc").is_dir());
    assert_eq!(
        std::fs::read_to_string(new.join("images.json")).unwrap(),
        "{}"
    );
    let link = std::fs::read_link(root.path().join("hosts")).unwrap();
    assert_eq!(link, Path::new("daemons"));
    assert!(
        old.is_dir(),
        "the old path still resolves for older processes"
    );

    // A second start changes nothing.
    migrate_data_root(root.path()).unwrap();
    assert!(new.join("containers/abc").is_dir());
    assert_eq!(std::fs::read_link(root.path().join("hosts")).unwrap(), link);
}

#[test]
fn a_new_data_root_gets_no_old_name() {
    let root = tempfile::tempdir().unwrap();
    migrate_data_root(root.path()).unwrap();
    assert!(std::fs::symlink_metadata(root.path().join("hosts")).is_err());
    assert!(!root.path().join("daemons").exists());
}

#[test]
fn records_of_before_the_move_point_at_daemons() {
    let dir = Path::new("/var/lib/dockhand/daemons/default");
    let mut rec = ContainerInspect {
        log_path: "/var/lib/dockhand/hosts/default/containers/c/c-json.log".into(),
        hosts_path: "/var/lib/dockhand/hosts/default/containers/c/hosts".into(),
        hostname_path: "/var/lib/dockhand/daemons/default/containers/c/hostname".into(),
        resolv_conf_path: "/elsewhere/hosts/default/containers/c/resolv.conf".into(),
        ..Default::default()
    };
    moved_paths(&mut rec, dir);
    assert_eq!(
        rec.log_path,
        "/var/lib/dockhand/daemons/default/containers/c/c-json.log"
    );
    assert_eq!(
        rec.hosts_path,
        "/var/lib/dockhand/daemons/default/containers/c/hosts"
    );
    assert_eq!(
        rec.hostname_path, "/var/lib/dockhand/daemons/default/containers/c/hostname",
        "already moved"
    );
    assert_eq!(
        rec.resolv_conf_path, "/elsewhere/hosts/default/containers/c/resolv.conf",
        "another data root's path is left alone"
    );
}

#[test]
fn a_record_of_an_earlier_version_keeps_the_virtual_hosts_pid() {
    let mut rec = serde_json::to_value(ContainerInspect::default()).unwrap();
    rec["HostPid"] = 42.into();
    rec["HasBeenManuallyStopped"] = true.into();
    let old: Record = serde_json::from_value(rec).unwrap();
    assert_eq!((old.vhost_pid, old.manual_stop), (42, true));
    let now = serde_json::to_value(&old).unwrap();
    assert_eq!(now["VhostPid"], 42);
    assert!(now.get("HostPid").is_none());
    let back: Record = serde_json::from_value(now).unwrap();
    assert_eq!(back.vhost_pid, 42);
}
