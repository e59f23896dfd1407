use super::*;

fn cfg(subnet: &str, session_len: u8) -> PlaygroundNetworkConfig {
    PlaygroundNetworkConfig {
        subnet: subnet.parse().unwrap(),
        session_prefix_len: session_len,
        ..PlaygroundNetworkConfig::default()
    }
}

#[test]
fn egress_parses_and_serialises_in_lower_case() {
    for (s, e) in [
        ("none", Egress::None),
        ("registries", Egress::Registries),
        ("all", Egress::All),
    ] {
        assert_eq!(s.parse::<Egress>().unwrap(), e);
        assert_eq!(e.to_string(), s);
        assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{s}\""));
        assert_eq!(
            serde_json::from_str::<Egress>(&format!("\"{s}\"")).unwrap(),
            e
        );
    }
    assert!("All".parse::<Egress>().is_err());
}

#[test]
fn the_common_bridge_takes_the_first_half_and_sessions_carve_the_second() {
    let c = PlaygroundNetworkConfig::default();
    assert_eq!(common_subnet(&c).unwrap().to_string(), "10.199.0.0/17");
    assert_eq!(session_block(&c, 0).unwrap().to_string(), "10.199.128.0/26");
    assert_eq!(
        session_block(&c, 1).unwrap().to_string(),
        "10.199.128.64/26"
    );
    assert_eq!(
        session_block(&c, 511).unwrap().to_string(),
        "10.199.255.192/26"
    );
    assert_eq!(session_block(&c, 512), None);

    let small = cfg("10.220.4.0/23", 26);
    assert_eq!(common_subnet(&small).unwrap().to_string(), "10.220.4.0/24");
    let used = vec![
        session_block(&small, 0).unwrap(),
        session_block(&small, 2).unwrap(),
    ];
    let (i, n) = pick_session_block(&small, &used).unwrap();
    assert_eq!((i, n.to_string().as_str()), (1, "10.220.5.64/26"));
    let all: Vec<Ipv4Net> = (0..4).map(|i| session_block(&small, i).unwrap()).collect();
    assert_eq!(pick_session_block(&small, &all), None);
    assert_eq!(
        session_block(&cfg("10.220.4.0/23", 23), 0),
        None,
        "bigger than the half"
    );
}

#[test]
fn open_refuses_layouts_that_do_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    assert!(PlaygroundNetwork::open(dir.path(), cfg("10.220.4.0/23", 31)).is_err());
    let long = PlaygroundNetworkConfig {
        session_bridge_prefix: "averylongprefix".into(),
        ..PlaygroundNetworkConfig::default()
    };
    assert!(PlaygroundNetwork::open(dir.path(), long).is_err());
    assert!(PlaygroundNetwork::open(dir.path(), PlaygroundNetworkConfig::default()).is_ok());
}

#[test]
fn rules_follow_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PlaygroundNetwork::open(
        dir.path(),
        PlaygroundNetworkConfig {
            registries: vec!["10.0.0.1:5000".parse().unwrap()],
            chain_prefix: "PG".into(),
            ..PlaygroundNetworkConfig::default()
        },
    )
    .unwrap();
    let ip = Ipv4Addr::new(10, 199, 0, 2);
    assert!(pg.vhost_rules(ip, Egress::None, "t").is_empty());
    let reg = pg.vhost_rules(ip, Egress::Registries, "t");
    assert_eq!(
        reg,
        vec![(
            "PG-REG".to_string(),
            "-s 10.199.0.2/32 -p tcp -m conntrack --ctorigdst 10.0.0.1 --ctorigdstport 5000 -m comment --comment t -j ACCEPT".to_string()
        )]
    );
    let all = pg.vhost_rules(ip, Egress::All, "t");
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].0, "PG-EGRESS");
}
