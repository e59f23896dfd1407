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
