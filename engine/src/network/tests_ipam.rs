//! Real-kernel tests (root) of what a network's IPAM configuration and an
//! endpoint's settings ask for: IPv6 networks, IP ranges and auxiliary
//! addresses, link-local addresses and links on user networks. Same harness as
//! `tests.rs`: own bridges, subnets and chains per test, removed on drop.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use super::tests::{links_in, req, sh, Env};
use super::tests_dns::dns_udp;
use super::*;

fn err<T: std::fmt::Debug>(r: Result<T>) -> String {
    r.unwrap_err().to_string()
}

/// One TCP exchange over IPv6 from the namespace of `from` to `to`: the
/// server, in the namespace of `server`, answers with the peer address it saw.
fn v6_exchange(server: u32, from: u32, to: Ipv6Addr) -> std::io::Result<String> {
    let l = netns::run(server, || TcpListener::bind("[::]:0"))?;
    let port = l.local_addr()?.port();
    std::thread::spawn(move || {
        if let Ok((mut s, peer)) = l.accept() {
            let mut line = String::new();
            let _ = BufReader::new(&s).read_line(&mut line);
            let _ = writeln!(s, "{}", peer.ip());
        }
    });
    netns::run(from, move || {
        let addr = SocketAddr::from((to, port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.write_all(b"hi\n")?;
        let mut out = String::new();
        BufReader::new(&s).read_line(&mut out)?;
        Ok(out.trim().to_string())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_networks_give_addresses_routes_and_reach() {
    crate::testing::require_root!();
    let mut env = Env::new();
    let nets = env.open();
    let x = env.x;
    let subnet6 = format!("2001:db8:{x:x}::/64");
    let e = |r| err::<String>(r);
    // Without EnableIPv6 the pool is kept (moby up to 28 keeps it) and
    // shown, but no address of it is handed out or asked for.
    nets.create(
        "no6",
        CreateOptions {
            subnet6: Some(format!("2001:db8:{x:x}:1::/64")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let v = nets.inspect("no6").unwrap();
    assert_eq!(v["EnableIPv6"], false);
    assert_eq!(
        v["IPAM"]["Config"][1]["Subnet"],
        format!("2001:db8:{x:x}:1::/64")
    );
    let p0 = env.container();
    let plain = nets.connect(req("no6", "no6-a", "n", p0)).await.unwrap();
    assert_eq!(plain.ip6, None);
    assert!(!links_in(p0).contains("inet6 2001:db8"), "{}", links_in(p0));
    assert!(err(nets
        .connect(ConnectRequest {
            ip6: Some(format!("2001:db8:{x:x}:1::5").parse().unwrap()),
            ..req("no6", "no6-b", "m", p0)
        })
        .await)
    .starts_with("user specified IPv6 address requires a network with IPv6 enabled"));
    nets.release_container("no6-a").await.unwrap();
    nets.remove("no6").await.unwrap();
    // Refusals leave nothing behind.
    assert_eq!(
        e(nets
            .create(
                "bad6",
                CreateOptions {
                    ipv6: true,
                    subnet6: Some(subnet6.clone()),
                    gateway6: Some(format!("2001:db9:{x:x}::1")),
                    ..Default::default()
                }
            )
            .await),
        format!("no matching subnet for gateway 2001:db9:{x:x}::1")
    );
    assert!(nets.find("bad6").is_err());
    let id = nets
        .create(
            "six",
            CreateOptions {
                ipv6: true,
                subnet6: Some(subnet6.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        e(nets
            .create(
                "six-again",
                CreateOptions {
                    ipv6: true,
                    subnet6: Some(format!("2001:db8:{x:x}::/96")),
                    ..Default::default()
                }
            )
            .await),
        "Pool overlaps with other one on this address space"
    );
    let v = nets.inspect(&id).unwrap();
    assert_eq!(v["EnableIPv6"], true);
    assert_eq!(v["IPAM"]["Config"][1]["Subnet"], subnet6.as_str());
    assert_eq!(
        v["IPAM"]["Config"][1]["Gateway"],
        format!("2001:db8:{x:x}::1")
    );
    let bridge = nets.find("six").unwrap().bridge;
    assert!(
        sh(&format!("ip -6 -o addr show dev {bridge}")).contains(&format!("2001:db8:{x:x}::1/64")),
        "{}",
        sh(&format!("ip -6 -o addr show dev {bridge}"))
    );

    let (pa, pb) = (env.container(), env.container());
    let a = nets.connect(req("six", "six-a", "a", pa)).await.unwrap();
    let fixed: Ipv6Addr = format!("2001:db8:{x:x}::f00d").parse().unwrap();
    let b = nets
        .connect(ConnectRequest {
            ip6: Some(fixed),
            ..req("six", "six-b", "b", pb)
        })
        .await
        .unwrap();
    assert_eq!(a.ip6, Some(format!("2001:db8:{x:x}::2").parse().unwrap()));
    assert_eq!(b.ip6, Some(fixed));
    assert!(
        links_in(pa).contains(&format!("inet6 2001:db8:{x:x}::2/64")),
        "{}",
        links_in(pa)
    );
    assert!(sh(&format!("nsenter -t {pa} -n ip -6 route"))
        .contains(&format!("default via 2001:db8:{x:x}::1")));
    assert_eq!(
        v6_exchange(pb, pa, fixed).unwrap(),
        a.ip6.unwrap().to_string()
    );

    let ns = nets.network_settings("six-b", "six", &[]).unwrap();
    let n = &ns["Networks"]["six"];
    assert_eq!(n["IPAMConfig"]["IPv6Address"], fixed.to_string());
    assert_eq!(n["GlobalIPv6Address"], fixed.to_string());
    assert_eq!(n["GlobalIPv6PrefixLen"], 64);
    assert_eq!(n["IPv6Gateway"], format!("2001:db8:{x:x}::1"));
    assert_eq!(
        nets.inspect("six").unwrap()["Containers"]["six-a"]["IPv6Address"],
        format!("2001:db8:{x:x}::2/64")
    );

    // Bad addresses are refused before anything is made.
    let pc = env.container();
    assert_eq!(
        err(nets
            .connect(ConnectRequest {
                ip6: Some(fixed),
                ..req("six", "six-c", "c", pc)
            })
            .await),
        "Address already in use"
    );
    assert_eq!(
        err(nets
            .connect(ConnectRequest {
                ip6: Some("2001:db9::5".parse().unwrap()),
                ..req("six", "six-c", "c", pc)
            })
            .await),
        "Invalid address 2001:db9::5: It does not belong to any of this network's subnets"
    );
    assert!(err(nets
        .connect(ConnectRequest {
            ip6: Some(fixed),
            ..req(BRIDGE, "six-c", "c", pc)
        })
        .await)
    .starts_with("user specified IPv6 address requires a network with IPv6 enabled"));
    assert!(nets.endpoints("six-c").unwrap().is_empty());
    assert!(!links_in(pc).contains("eth0"), "{}", links_in(pc));

    for c in ["six-a", "six-b"] {
        nets.release_container(c).await.unwrap();
    }
    nets.remove("six").await.unwrap();
    assert!(!sh("ip -o link show").contains(&bridge));
    nets.shutdown_cleanup().await.unwrap();
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_ranges_and_auxiliary_addresses_shape_the_leases() {
    crate::testing::require_root!();
    let mut env = Env::new();
    let nets = env.open();
    let x = env.x;
    let opts = |range: &str, aux: &str| CreateOptions {
        subnet: Some(format!("10.217.{x}.0/24")),
        gateway: Some(format!("10.217.{x}.254")),
        ip_range: Some(range.to_string()),
        aux_addresses: BTreeMap::from([("a".to_string(), aux.to_string())]),
        ..Default::default()
    };
    assert_eq!(
        err(nets
            .create(
                "r",
                opts(&format!("10.218.{x}.0/30"), &format!("10.217.{x}.5"))
            )
            .await),
        format!(
            "invalid pool request: ip-range 10.218.{x}.0/30 is not within subnet 10.217.{x}.0/24"
        )
    );
    assert_eq!(
        err(nets
            .create("r", opts(&format!("10.217.{x}.128/30"), "10.9.9.9"))
            .await),
        "no matching subnet for aux-address 10.9.9.9"
    );
    assert!(nets.find("r").is_err());
    nets.create(
        "r",
        opts(&format!("10.217.{x}.128/30"), &format!("10.217.{x}.129")),
    )
    .await
    .unwrap();
    let v = nets.inspect("r").unwrap();
    assert_eq!(
        v["IPAM"]["Config"][0],
        serde_json::json!({
            "Subnet": format!("10.217.{x}.0/24"),
            "IPRange": format!("10.217.{x}.128/30"),
            "Gateway": format!("10.217.{x}.254"),
            "AuxiliaryAddresses": {"a": format!("10.217.{x}.129")},
        })
    );
    assert!(v["IPAM"]["Options"].is_null());
    let mut got = vec![];
    for i in 0..3 {
        let pid = env.container();
        let ep = nets
            .connect(req("r", &format!("r-{i}"), &format!("r{i}"), pid))
            .await
            .unwrap();
        got.push(ep.ip);
    }
    let ip = |last: u8| Ipv4Addr::new(10, 217, x, last);
    assert_eq!(
        got,
        vec![ip(128), ip(130), ip(131)],
        "the aux address .129 is skipped"
    );
    let pid = env.container();
    assert!(err(nets.connect(req("r", "r-full", "full", pid)).await)
        .starts_with("no available IPv4 addresses on this network's address pools: r"));
    // A fixed address may lie outside the range, not on a reserved one.
    assert_eq!(
        err(nets
            .connect(ConnectRequest {
                ip: Some(ip(129)),
                ..req("r", "r-full", "full", pid)
            })
            .await),
        "Address already in use"
    );
    let outside = nets
        .connect(ConnectRequest {
            ip: Some(ip(7)),
            ..req("r", "r-full", "full", pid)
        })
        .await
        .unwrap();
    assert_eq!(outside.ip, ip(7));
    for i in 0..3 {
        nets.release_container(&format!("r-{i}")).await.unwrap();
    }
    nets.release_container("r-full").await.unwrap();
    nets.shutdown_cleanup().await.unwrap();
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_local_addresses_links_and_driver_options_of_an_endpoint() {
    crate::testing::require_root!();
    let mut env = Env::new();
    let nets = env.open();
    nets.reconcile(&|_| true).await.unwrap();
    nets.create("linked", CreateOptions::default())
        .await
        .unwrap();
    let (pa, pb) = (env.container(), env.container());
    let ll: IpAddr = "169.254.8.8".parse().unwrap();
    assert_eq!(
        err(nets
            .connect(ConnectRequest {
                link_local_ips: vec!["10.1.2.3".parse().unwrap()],
                ..req(BRIDGE, "ll-a", "a", pa)
            })
            .await),
        "invalid link-local IP address: 10.1.2.3"
    );
    assert!(err(nets
        .connect(ConnectRequest {
            links: vec!["up:bar".into()],
            ..req(BRIDGE, "ll-a", "a", pa)
        })
        .await)
    .starts_with("links in endpoint settings are supported only on user defined networks"));
    nets.connect(ConnectRequest {
        link_local_ips: vec![ll],
        driver_opts: BTreeMap::from([("com.example.opt".to_string(), "on".to_string())]),
        ..req(BRIDGE, "ll-a", "a", pa)
    })
    .await
    .unwrap();
    assert!(
        links_in(pa).contains("inet 169.254.8.8/16"),
        "{}",
        links_in(pa)
    );
    let n = &nets.network_settings("ll-a", "bridge", &[]).unwrap()["Networks"]["bridge"];
    assert_eq!(
        n["IPAMConfig"]["LinkLocalIPs"],
        serde_json::json!(["169.254.8.8"])
    );
    assert_eq!(n["DriverOpts"]["com.example.opt"], "on");

    // The link names a container that joins later; its alias resolves for the
    // linking container only.
    let a = nets
        .connect(ConnectRequest {
            links: vec!["upstream:bar".into()],
            ..req("linked", "ll-a", "a", pa)
        })
        .await
        .unwrap();
    nets.dns_start("ll-a", pa).await.unwrap();
    // Not a local name yet: forwarded, and the test's resolver has no
    // upstream, so SERVFAIL.
    assert_eq!(
        dns_udp(pa, "bar").unwrap(),
        (2, vec![]),
        "before upstream joins"
    );
    let b = nets
        .connect(req("linked", "ll-b", "upstream", pb))
        .await
        .unwrap();
    nets.dns_start("ll-b", pb).await.unwrap();
    assert_eq!(dns_udp(pa, "bar").unwrap(), (0, vec![b.ip]));
    assert_eq!(
        dns_udp(pb, "bar").unwrap(),
        (2, vec![]),
        "the link is a's alone"
    );
    assert_eq!(dns_udp(pb, "a").unwrap(), (0, vec![a.ip]));
    assert_eq!(
        nets.network_settings("ll-a", "bridge", &[]).unwrap()["Networks"]["linked"]["Links"],
        serde_json::json!(["upstream:bar"])
    );
    for c in ["ll-a", "ll-b"] {
        nets.release_container(c).await.unwrap();
    }
    nets.shutdown_cleanup().await.unwrap();
    env.assert_clean();
}
