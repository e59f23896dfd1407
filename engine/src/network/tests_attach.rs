//! What `create`, `connect`, `disconnect` and `release_container` decide, on
//! the recording kernel ([`kernel::Recorder`]): no root, no kernel objects.
//! The same operations on the real kernel are in `tests.rs` (root).

use super::kernel::{NetCall, Recorder, Veth};
use super::*;

/// A manager on a temporary directory and the recording kernel.
fn manager() -> (tempfile::TempDir, NetConfig, Networks, Arc<Recorder>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = NetConfig {
        bridge_name: "dhunit0".into(),
        default_subnet: "10.213.0.0/24".parse().unwrap(),
        chain_prefix: "DH-UNIT".into(),
        pools: vec![PoolSpec {
            base: "10.214.0.0/16".parse().unwrap(),
            size: 24,
        }],
        user_bridge_prefix: "du-".into(),
        host_resolv_conf: PathBuf::from("/nonexistent"),
        dns_upstreams: Some(vec![]),
        ..NetConfig::default()
    };
    let kernel = Arc::new(Recorder::default());
    let nets = Networks::open(dir.path(), cfg.clone())
        .unwrap()
        .with_kernel(kernel.clone());
    (dir, cfg, nets, kernel)
}

fn with_subnet(subnet: &str) -> CreateOptions {
    CreateOptions {
        subnet: Some(subnet.into()),
        ..Default::default()
    }
}

/// Create the test networks named: `front` on 10.50.0.0/24, `back` on
/// 10.51.0.0/24.
async fn make(nets: &Networks, names: &[&str]) {
    for name in names {
        let subnet = match *name {
            "front" => "10.50.0.0/24",
            "back" => "10.51.0.0/24",
            other => panic!("no subnet for a test network {other}"),
        };
        nets.create(name, with_subnet(subnet)).await.unwrap();
    }
}

fn attach(network: &str, container: &str, pid: u32) -> ConnectRequest {
    ConnectRequest {
        network: network.into(),
        container_id: container.into(),
        container_name: format!("/{container}"),
        pid,
        ..Default::default()
    }
}

fn bridge_of(nets: &Networks, network: &str) -> String {
    nets.find(network).unwrap().bridge
}

#[tokio::test]
async fn connect_leases_an_address_makes_a_veth_and_records_the_endpoint() {
    let (dir, cfg, nets, kernel) = manager();
    make(&nets, &["front", "back"]).await;
    let (front, back) = (bridge_of(&nets, "front"), bridge_of(&nets, "back"));
    kernel.clear_calls();

    let first = nets.connect(attach("front", "c1", 100)).await.unwrap();
    assert_eq!(first.ip, Ipv4Addr::new(10, 50, 0, 2));
    assert_eq!(first.ifname, "eth0");
    let second = nets.connect(attach("back", "c1", 100)).await.unwrap();
    assert_eq!(second.ip, Ipv4Addr::new(10, 51, 0, 2));
    assert_eq!(second.ifname, "eth1");

    let calls = kernel.calls();
    let [NetCall::AddVeth(v1), NetCall::ConfigureInside { pid: 100, cfg: in1 }, NetCall::AddVeth(v2), NetCall::ConfigureInside { pid: 100, cfg: in2 }] =
        &calls[..]
    else {
        panic!("the bridges were made by create; connect only attaches: {calls:?}");
    };
    assert_eq!(
        (v1.bridge.as_str(), v1.pid, v1.mac),
        (front.as_str(), 100, [0x02, 0x42, 10, 50, 0, 2])
    );
    assert_eq!(
        (v2.bridge.as_str(), v2.host.as_str()),
        (back.as_str(), second.host_veth.as_str())
    );
    assert_eq!(v1.host, first.host_veth);
    assert_eq!(
        (in1.peer.as_str(), in1.ip, in1.prefix_len),
        (v1.peer.as_str(), first.ip, 24)
    );
    // The first network carries the default route, the second does not.
    assert_eq!(in1.default_route, Some(Ipv4Addr::new(10, 50, 0, 1)));
    assert_eq!(in2.default_route, None);
    assert_eq!(kernel.inside(100), ["eth0", "eth1"]);

    // What a restarted daemon reads back.
    drop(nets);
    let again = Networks::open(dir.path(), cfg).unwrap();
    let eps = again.endpoints("c1").unwrap();
    assert_eq!(eps, vec![first, second]);
}

#[tokio::test]
async fn a_failed_inside_configuration_takes_the_veth_back_and_records_nothing() {
    let (_dir, _cfg, nets, kernel) = manager();
    make(&nets, &["front"]).await;
    kernel.clear_calls();
    kernel.fail("configure_inside");

    nets.connect(attach("front", "c1", 100))
        .await
        .expect_err("the inside could not be configured");

    let calls = kernel.calls();
    let [NetCall::AddVeth(Veth { host, .. }), NetCall::ConfigureInside { .. }, NetCall::DeleteOurs { name }] =
        &calls[..]
    else {
        panic!("{calls:?}");
    };
    assert_eq!(host, name);
    assert!(!kernel.links().contains_key(host), "{:?}", kernel.links());
    assert!(kernel.inside(100).is_empty());
    assert!(nets.endpoints("c1").unwrap().is_empty());
    assert!(nets.snapshot().unwrap().endpoints.is_empty());
}

#[tokio::test]
async fn a_bridge_deleted_behind_our_back_is_made_again_before_the_veth() {
    let (_dir, _cfg, nets, kernel) = manager();
    make(&nets, &["front"]).await;
    let bridge = bridge_of(&nets, "front");
    kernel.vanish(&bridge);
    kernel.clear_calls();

    nets.connect(attach("front", "c1", 100)).await.unwrap();

    let ops: Vec<&str> = kernel
        .calls()
        .iter()
        .map(|c| match c {
            NetCall::Realize { .. } => "realize",
            NetCall::AddVeth(_) => "add_veth",
            NetCall::ConfigureInside { .. } => "configure_inside",
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ops, ["realize", "add_veth", "configure_inside"]);
    assert!(kernel.links()[&bridge].ours);
}

#[tokio::test]
async fn a_failed_realize_leaves_no_network_and_no_rules() {
    let (_dir, _cfg, nets, kernel) = manager();
    kernel.fail("realize");

    nets.create("front", with_subnet("10.50.0.0/24"))
        .await
        .expect_err("the bridge could not be made");

    let calls = kernel.calls();
    assert!(
        matches!(&calls[..], [NetCall::Realize { bridge: a }, NetCall::Unrealize { bridge: b }] if a == b),
        "{calls:?}"
    );
    assert!(nets.find("front").is_err());
    assert!(kernel.rules().is_empty(), "{:?}", kernel.rules());
}

#[tokio::test]
async fn an_adopted_bridge_stays_when_its_network_goes() {
    let (_dir, _cfg, nets, kernel) = manager();
    kernel.foreign_link("br-class");
    let mut opts = with_subnet("10.50.0.0/24");
    opts.options
        .insert("com.docker.network.bridge.name".into(), "br-class".into());
    nets.create("class", opts).await.unwrap();
    let rec = nets.find("class").unwrap();
    assert_eq!(rec.bridge, "br-class");
    assert!(rec.gateway_added, "our gateway address is remembered");

    nets.connect(attach("class", "c1", 100)).await.unwrap();
    nets.release_container("c1").await.unwrap();
    nets.remove("class").await.unwrap();

    assert!(kernel.calls().contains(&NetCall::Unrealize {
        bridge: "br-class".into()
    }));
    let links = kernel.links();
    assert_eq!(links.keys().collect::<Vec<_>>(), ["br-class"]);
    assert!(!links["br-class"].ours);
    assert!(kernel.rules().is_empty(), "{:?}", kernel.rules());
}

#[tokio::test]
async fn disconnect_takes_the_ports_on_that_address_and_its_veth_only() {
    let (_dir, _cfg, nets, kernel) = manager();
    make(&nets, &["front", "back"]).await;
    let a = nets.connect(attach("front", "c1", 100)).await.unwrap();
    let b = nets.connect(attach("back", "c1", 100)).await.unwrap();
    // A port published on each address, as `publish` records them.
    let mut state = nets.snapshot().unwrap();
    for (ep, port) in [(&a, 8080), (&b, 8081)] {
        state.ports.push(PortRecord {
            container_id: "c1".into(),
            host_ip: String::new(),
            host_port: port,
            container_ip: ep.ip,
            container_port: 80,
            proto: "tcp".into(),
            bridge: ep.bridge.clone(),
        });
    }
    nets.commit(state).unwrap();
    let tag = firewall::port_tag("c1");
    kernel.add_port_rules(&tag, 2);
    kernel.clear_calls();

    assert!(nets.disconnect("front", "c1").await.unwrap());

    assert_eq!(
        kernel.calls(),
        [
            NetCall::RemovePorts {
                container_ips: vec![a.ip]
            },
            NetCall::DeleteOurs {
                name: a.host_veth.clone()
            },
        ]
    );
    assert_eq!(kernel.inside(100), ["eth1"]);
    assert_eq!(kernel.rules()[&tag], 1);
    let state = nets.snapshot().unwrap();
    assert_eq!(
        state.ports.iter().map(|p| p.host_port).collect::<Vec<_>>(),
        [8081]
    );
    assert_eq!(nets.endpoints("c1").unwrap(), vec![b.clone()]);
    assert!(
        !nets.disconnect("front", "c1").await.unwrap(),
        "not connected any more"
    );

    kernel.clear_calls();
    nets.release_container("c1").await.unwrap();
    assert_eq!(
        kernel.calls(),
        [
            NetCall::RemoveTag { tag: tag.clone() },
            NetCall::DeleteOurs { name: b.host_veth },
        ]
    );
    assert!(!kernel.rules().contains_key(&tag));
    assert!(kernel.inside(100).is_empty());
    let state = nets.snapshot().unwrap();
    assert!(state.ports.is_empty() && state.endpoints.is_empty());
}

#[tokio::test]
async fn release_of_a_container_without_ports_scans_no_rules_and_frees_its_address() {
    let (_dir, _cfg, nets, kernel) = manager();
    make(&nets, &["front"]).await;
    let c1 = nets.connect(attach("front", "c1", 100)).await.unwrap();
    let c2 = nets.connect(attach("front", "c2", 200)).await.unwrap();
    assert_eq!(
        (c1.ip, c2.ip),
        ("10.50.0.2".parse().unwrap(), "10.50.0.3".parse().unwrap())
    );
    kernel.clear_calls();

    nets.release_container("c1").await.unwrap();
    assert_eq!(
        kernel.calls(),
        [NetCall::DeleteOurs {
            name: c1.host_veth.clone()
        }]
    );
    // Idempotent: nothing left to do.
    kernel.clear_calls();
    nets.release_container("c1").await.unwrap();
    assert!(kernel.calls().is_empty(), "{:?}", kernel.calls());

    let c3 = nets.connect(attach("front", "c3", 300)).await.unwrap();
    assert_eq!(c3.ip, c1.ip, "the freed address is leased again");
}

#[tokio::test]
async fn refused_connects_touch_no_kernel_object() {
    let (_dir, _cfg, nets, kernel) = manager();
    make(&nets, &["front"]).await;
    nets.connect(attach("front", "c1", 100)).await.unwrap();
    let taken = Ipv4Addr::new(10, 50, 0, 2);
    kernel.clear_calls();

    let twice = nets.connect(attach("front", "c1", 100)).await;
    assert!(matches!(twice, Err(Error::Conflict(_))), "{twice:?}");
    let mut same_ip = attach("front", "c2", 200);
    same_ip.ip = Some(taken);
    let r = nets.connect(same_ip).await;
    assert!(
        matches!(&r, Err(Error::Conflict(m)) if m == "Address already in use"),
        "{r:?}"
    );
    let mut outside = attach("front", "c2", 200);
    outside.ip = Some(Ipv4Addr::new(10, 99, 0, 5));
    let r = nets.connect(outside).await;
    assert!(matches!(r, Err(Error::InvalidParameter(_))), "{r:?}");
    let mut on_default = attach(BRIDGE, "c2", 200);
    on_default.aliases = vec!["web".into()];
    let r = nets.connect(on_default).await;
    assert!(matches!(r, Err(Error::InvalidParameter(_))), "{r:?}");

    assert!(kernel.calls().is_empty(), "{:?}", kernel.calls());
    assert!(kernel.inside(200).is_empty());
    assert_eq!(nets.snapshot().unwrap().endpoints.len(), 1);
}
