//! Real-kernel tests (root). "Containers" are network namespaces held by
//! `unshare -n sleep` children; every test has its own bridge names, subnets and
//! chain prefix, and a guard that removes all of it even when the test fails.
//! Traffic goes only to loopback, the host's own address, and namespaces made here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use super::*;

static NEXT_SUBNET: AtomicU8 = AtomicU8::new(0);

pub(super) fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything one test made; Drop removes it whatever happened.
pub(super) struct Env {
    pub(super) tag: String,
    pub(super) cfg: NetConfig,
    dir: tempfile::TempDir,
    pub(super) x: u8,
    children: Vec<Child>,
    pub(super) extra_links: Vec<String>,
}

impl Env {
    pub(super) fn new() -> Env {
        let tag = random_hex(2);
        let x = NEXT_SUBNET
            .fetch_add(1, Ordering::SeqCst)
            .wrapping_mul(7)
            .wrapping_add(rand::random::<u8>() % 32);
        let cfg = NetConfig {
            bridge_name: format!("dht{tag}"),
            default_subnet: format!("10.213.{x}.0/24").parse().unwrap(),
            default_gateway: None,
            chain_prefix: format!("DH-T{tag}"),
            pools: vec![PoolSpec {
                base: format!("10.214.{x}.0/24").parse().unwrap(),
                size: 26,
            }],
            user_bridge_prefix: format!("du{tag}"),
            host_resolv_conf: PathBuf::from("/nonexistent"),
            dns_upstreams: Some(vec![]),
            netns: None,
        };
        Env {
            tag,
            cfg,
            dir: tempfile::tempdir().unwrap(),
            x,
            children: Vec::new(),
            extra_links: Vec::new(),
        }
    }

    pub(super) fn open(&self) -> Networks {
        Networks::open(self.dir.path(), self.cfg.clone()).unwrap()
    }

    /// A new "container": a process in a new network namespace. Returns its pid.
    pub(super) fn container(&mut self) -> u32 {
        let child = super::tests_netns::holder();
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Nothing of ours in iptables or among the links.
    pub(super) fn assert_clean(&self) {
        assert_no_trace(
            &self.cfg.chain_prefix,
            &[&self.cfg.bridge_name, &self.cfg.user_bridge_prefix],
        );
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for l in &self.extra_links {
            sh(&format!("ip link del {l} 2>/dev/null"));
        }
        let links = sh("ip -o link show");
        for line in links.lines() {
            let name = line.split(':').nth(1).unwrap_or("").trim();
            let name = name.split('@').next().unwrap_or("");
            if name == self.cfg.bridge_name || name.starts_with(&self.cfg.user_bridge_prefix) {
                sh(&format!("ip link del {name} 2>/dev/null"));
            }
        }
        let p = &self.cfg.chain_prefix;
        for (table, chain) in [
            ("nat", "PREROUTING"),
            ("nat", "OUTPUT"),
            ("nat", "POSTROUTING"),
            ("filter", "FORWARD"),
        ] {
            for line in sh(&format!("iptables -t {table} -S {chain}")).lines() {
                if line.contains(p.as_str()) {
                    let rule = line.replacen("-A ", "-D ", 1);
                    sh(&format!("iptables -w -t {table} {rule}"));
                }
            }
        }
        for (table, suffixes) in [
            ("nat", vec!["", "-POSTROUTING"]),
            ("filter", vec!["-FORWARD", "-ISOLATION-1", "-ISOLATION-2"]),
        ] {
            for s in &suffixes {
                sh(&format!("iptables -w -t {table} -F {p}{s} 2>/dev/null"));
            }
            for s in &suffixes {
                sh(&format!("iptables -w -t {table} -X {p}{s} 2>/dev/null"));
            }
        }
        let _ = &self.tag;
    }
}

/// No rule mentions `chain_prefix` and no link name contains any of `names`.
pub(super) fn assert_no_trace(chain_prefix: &str, names: &[&str]) {
    let rules = sh("iptables-save");
    assert!(
        !rules.contains(chain_prefix),
        "rules left: {}",
        rules
            .lines()
            .filter(|l| l.contains(chain_prefix))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let links = sh("ip -o link show");
    for n in names {
        assert!(!links.contains(n), "{links}");
    }
}

pub(super) fn req(network: &str, cid: &str, name: &str, pid: u32) -> ConnectRequest {
    ConnectRequest {
        network: network.into(),
        container_id: cid.into(),
        container_name: format!("/{name}"),
        pid,
        ..Default::default()
    }
}

/// A TCP server in the namespace of `pid` on `port`: answers each connection with
/// "<peer ip> <first line>\n".
pub(super) fn tcp_server(pid: u32, port: u16) {
    let l = netns::run(pid, move || TcpListener::bind(("0.0.0.0", port))).unwrap();
    serve_lines(l);
}

/// Answer each connection to `l`, on a thread, with "<peer ip> <first line>\n"
/// (the request is read first: closing with unread data sends a reset).
pub(super) fn serve_lines(l: TcpListener) {
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let peer = s
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            let mut line = String::new();
            let _ = BufReader::new(&s).read_line(&mut line);
            let _ = writeln!(s, "{peer} {}", line.trim());
        }
    });
}

/// A UDP server in the namespace of `pid`: echoes "<peer ip> <payload>".
pub(super) fn udp_server(pid: u32, port: u16) {
    let sock = netns::run(pid, move || UdpSocket::bind(("0.0.0.0", port))).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let reply = format!("{} {}", from.ip(), String::from_utf8_lossy(&buf[..n]));
            let _ = sock.send_to(reply.as_bytes(), from);
        }
    });
}

/// Connect to `addr`, send "hi", return the reply line (the peer address seen).
pub(super) fn tcp_ask(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(1500))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(b"hi\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.trim().to_string())
}

pub(super) fn tcp_ask_from(pid: u32, addr: SocketAddr) -> std::io::Result<String> {
    netns::run(pid, move || tcp_ask(addr))
}

pub(super) fn udp_ask(addr: SocketAddr) -> std::io::Result<String> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    s.set_read_timeout(Some(Duration::from_millis(700)))?;
    let mut buf = [0u8; 1500];
    for _ in 0..4 {
        s.send_to(b"ping", addr)?;
        if let Ok(n) = s.recv(&mut buf) {
            return Ok(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    Err(std::io::Error::other("no UDP reply"))
}

pub(super) fn free_port() -> u16 {
    TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The host's first global IPv4 address outside our test bridges, if any.
fn host_addr() -> Option<Ipv4Addr> {
    sh("ip -4 -o addr show scope global")
        .lines()
        .filter(|l| !l.contains(" dh") && !l.contains(" du"))
        .filter_map(|l| l.split_whitespace().nth(3)?.split('/').next()?.parse().ok())
        .next()
}

pub(super) fn links_in(pid: u32) -> String {
    sh(&format!("nsenter -t {pid} -n ip -o addr show"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_on_one_bridge_talk_and_release_removes_everything() {
    crate::testing::require_root!();
    let mut env = Env::new();
    let nets = env.open();
    nets.reconcile(&|_| true).await.unwrap();
    let (pa, pb) = (env.container(), env.container());
    let a = nets
        .connect(req(BRIDGE, "aaaa1111", "a", pa))
        .await
        .unwrap();
    let b = nets
        .connect(req("bridge", "bbbb2222", "b", pb))
        .await
        .unwrap();
    let x = env.x;
    assert_eq!(a.ip, Ipv4Addr::new(10, 213, x, 2));
    assert_eq!(b.ip, Ipv4Addr::new(10, 213, x, 3));
    assert_eq!(a.gateway, Ipv4Addr::new(10, 213, x, 1));
    assert_eq!(a.mac, format!("02:42:0a:d5:{x:02x}:02"));
    assert_eq!(a.ifname, "eth0");
    assert!(
        links_in(pa).contains(&format!("eth0    inet 10.213.{x}.2/24")),
        "{}",
        links_in(pa)
    );
    assert!(
        sh(&format!("nsenter -t {pa} -n ip route")).contains(&format!("default via 10.213.{x}.1"))
    );
    // A second connect to the same network is refused, as moby refuses it.
    let again = nets
        .connect(req(BRIDGE, "aaaa1111", "a", pa))
        .await
        .unwrap_err();
    assert_eq!(
        again.to_string(),
        "endpoint with name a already exists in network bridge"
    );
    assert_eq!(nets.endpoints("aaaa1111").unwrap().len(), 1);

    tcp_server(pb, 80);
    let reply = tcp_ask_from(pa, SocketAddr::from((b.ip, 80))).unwrap();
    assert_eq!(reply, format!("{} hi", a.ip));

    let inspect = nets.inspect(BRIDGE).unwrap();
    assert_eq!(
        inspect["Containers"]["aaaa1111"]["IPv4Address"],
        format!("{}/24", a.ip)
    );
    assert_eq!(
        inspect["Options"]["com.docker.network.bridge.name"],
        env.cfg.bridge_name.as_str()
    );
    let ns = nets.network_settings("aaaa1111", "bridge", &[]).unwrap();
    assert_eq!(ns["IPAddress"], a.ip.to_string());
    assert_eq!(ns["Networks"]["bridge"]["MacAddress"], a.mac);

    nets.release_container("aaaa1111").await.unwrap();
    nets.release_container("aaaa1111").await.unwrap();
    assert!(!sh("ip -o link show").contains(&a.host_veth));
    assert!(nets.endpoints("aaaa1111").unwrap().is_empty());
    assert!(!links_in(pa).contains("eth0"));
    // A new container gets the freed address back.
    let pc = env.container();
    let c = nets
        .connect(req(BRIDGE, "cccc3333", "c", pc))
        .await
        .unwrap();
    assert_eq!(c.ip, a.ip);
    assert!(nets.disconnect(BRIDGE, "bbbb2222").await.unwrap());
    assert!(!nets.disconnect(BRIDGE, "bbbb2222").await.unwrap());
    assert!(!sh("ip -o link show").contains(&b.host_veth));

    nets.shutdown_cleanup().await.unwrap();
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_ports_reach_the_container_from_loopback_and_host_address() {
    crate::testing::require_root!();
    let mut env = Env::new();
    let nets = env.open();
    let p = env.container();
    let ep = nets.connect(req(BRIDGE, "pub1", "web", p)).await.unwrap();
    tcp_server(p, 80);
    tcp_server(p, 81);
    udp_server(p, 53);
    let hp = free_port();
    let uhp = free_port();
    let got = nets
        .publish(
            "pub1",
            ep.ip,
            &[
                PortBinding {
                    host_ip: String::new(),
                    host_port: hp,
                    container_port: 80,
                    proto: "tcp".into(),
                },
                PortBinding {
                    host_ip: String::new(),
                    host_port: 0,
                    container_port: 81,
                    proto: "tcp".into(),
                },
                PortBinding {
                    host_ip: String::new(),
                    host_port: uhp,
                    container_port: 53,
                    proto: "udp".into(),
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(got[0].host_port, hp);
    let dynamic = got[1].host_port;
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let r: Vec<u16> = range
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        dynamic >= r[0] && dynamic <= r[1],
        "{dynamic} not in {range}"
    );

    // 127.0.0.1 goes through the userland proxy: the container sees the gateway.
    let reply = tcp_ask(SocketAddr::from(([127, 0, 0, 1], hp))).unwrap();
    assert_eq!(reply, format!("{} hi", ep.gateway));
    let reply = tcp_ask(SocketAddr::from(([127, 0, 0, 1], dynamic))).unwrap();
    assert!(reply.ends_with(" hi"), "{reply}");
    let reply = udp_ask(SocketAddr::from(([127, 0, 0, 1], uhp))).unwrap();
    assert_eq!(reply, format!("{} ping", ep.gateway));
    // The host's own address goes through DNAT: the container sees that address.
    if let Some(h) = host_addr() {
        let reply = tcp_ask(SocketAddr::from((h, hp))).unwrap();
        assert_eq!(reply, format!("{h} hi"));
        let reply = udp_ask(SocketAddr::from((h, uhp))).unwrap();
        assert_eq!(reply, format!("{h} ping"));
    }
    let nat = sh(&format!("iptables -t nat -L {} -n", env.cfg.chain_prefix));
    assert!(
        nat.contains(&format!("tcp dpt:{hp}")) && nat.contains(&format!("to:{}:80", ep.ip)),
        "{nat}"
    );
    let post = sh("iptables -t nat -S");
    assert!(
        post.contains(&format!(
            "-s 10.213.{}.0/24 ! -o {} ",
            env.x, env.cfg.bridge_name
        )),
        "{post}"
    );
    let ns = nets
        .network_settings("pub1", "bridge", &["80/tcp".into()])
        .unwrap();
    assert_eq!(ns["Ports"]["80/tcp"][0]["HostPort"], hp.to_string());
    assert_eq!(ns["Ports"]["53/udp"][0]["HostIp"], "0.0.0.0");

    nets.unpublish("pub1").await.unwrap();
    assert!(tcp_ask(SocketAddr::from(([127, 0, 0, 1], hp))).is_err());
    assert!(!sh("iptables-save -t nat").contains(&format!("--dport {hp}")));
    assert!(nets.ports("pub1").unwrap().is_empty());
    nets.shutdown_cleanup().await.unwrap();
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_conflicts_are_refused_and_leave_nothing_behind() {
    crate::testing::require_root!();
    let mut env = Env::new();
    let nets = env.open();
    let (p1, p2) = (env.container(), env.container());
    let e1 = nets.connect(req(BRIDGE, "one", "one", p1)).await.unwrap();
    let e2 = nets.connect(req(BRIDGE, "two", "two", p2)).await.unwrap();
    let hp = free_port();
    let bind = |port, cport| PortBinding {
        host_ip: String::new(),
        host_port: port,
        container_port: cport,
        proto: "tcp".into(),
    };
    nets.publish("one", e1.ip, &[bind(hp, 80)]).await.unwrap();

    let other = free_port();
    let err = nets
        .publish("two", e2.ip, &[bind(other, 80), bind(hp, 80)])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Bind for 0.0.0.0:{hp} failed: port is already allocated")
    );
    // The first binding of the failed call was rolled back.
    assert!(TcpListener::bind(("0.0.0.0", other)).is_ok());
    assert!(nets.ports("two").unwrap().is_empty());
    assert!(!sh("iptables-save").contains(&firewall::port_tag("two")));

    // A port held by another process: docker's userland proxy error.
    let holder = TcpListener::bind("0.0.0.0:0").unwrap();
    let held = holder.local_addr().unwrap().port();
    let err = nets
        .publish("two", e2.ip, &[bind(held, 80)])
        .await
        .unwrap_err();
    assert!(
        err.to_string().ends_with(&format!(
            "Error starting userland proxy: listen tcp4 0.0.0.0:{held}: bind: address already in use"
        )),
        "{err}"
    );
    assert!(!sh("iptables-save").contains(&format!("--dport {held}")));
    assert!(nets.ports("two").unwrap().is_empty());

    nets.release_container("one").await.unwrap();
    nets.release_container("two").await.unwrap();
    assert!(
        TcpListener::bind(("0.0.0.0", hp)).is_ok(),
        "release frees the port"
    );
    nets.shutdown_cleanup().await.unwrap();
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networks_are_isolated_and_internal_networks_cannot_reach_out() {
    crate::testing::require_root!();
    let mut env = Env::new();
    let nets = env.open();
    nets.create("n1", CreateOptions::default()).await.unwrap();
    nets.create("n2", CreateOptions::default()).await.unwrap();
    nets.create(
        "sealed",
        CreateOptions {
            internal: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (pa, pb, pc, pd, pe) = (
        env.container(),
        env.container(),
        env.container(),
        env.container(),
        env.container(),
    );
    let _a = nets.connect(req("n1", "ca", "a", pa)).await.unwrap();
    let b = nets.connect(req("n1", "cb", "b", pb)).await.unwrap();
    let _c = nets.connect(req("n2", "cc", "c", pc)).await.unwrap();
    let d = nets.connect(req("sealed", "cd", "d", pd)).await.unwrap();
    let _e = nets.connect(req(BRIDGE, "ce", "e", pe)).await.unwrap();
    assert!(
        !sh(&format!("nsenter -t {pd} -n ip route")).contains("default"),
        "internal: no default route"
    );

    tcp_server(pb, 80);
    let target = SocketAddr::from((b.ip, 80));
    assert!(tcp_ask_from(pa, target).is_ok(), "same network");
    assert!(tcp_ask_from(pc, target).is_err(), "other user network");
    assert!(tcp_ask_from(pe, target).is_err(), "default bridge");

    // An "outside" namespace joined to the host by a plain veth pair.
    let po = env.container();
    let (ho, hi) = (format!("dho{}", env.tag), format!("dhi{}", env.tag));
    env.extra_links.push(ho.clone());
    let x = env.x;
    sh(&format!(
        "ip link add {ho} type veth peer name {hi} && ip link set {hi} netns {po} && \
         ip addr add 10.215.{x}.1/30 dev {ho} && ip link set {ho} up && \
         nsenter -t {po} -n sh -c 'ip addr add 10.215.{x}.2/30 dev {hi} && ip link set {hi} up && ip link set lo up'"
    ));
    tcp_server(po, 7000);
    let outside = SocketAddr::from(([10, 215, x, 2], 7000));
    let reply = tcp_ask_from(pa, outside).unwrap();
    assert_eq!(
        reply,
        format!("10.215.{x}.1 hi"),
        "masqueraded on the way out"
    );
    assert!(tcp_ask_from(pd, outside).is_err(), "no route out");
    sh(&format!(
        "nsenter -t {pd} -n ip route add default via {}",
        d.gateway
    ));
    assert!(
        tcp_ask_from(pd, outside).is_err(),
        "even with a route, forwarding drops it"
    );

    let err = nets.remove("n1").await.unwrap_err();
    let id = nets.find("n1").unwrap().id;
    assert_eq!(
        err.to_string(),
        format!("error while removing network: network n1 id {id} has active endpoints")
    );
    nets.release_container("ca").await.unwrap();
    nets.release_container("cb").await.unwrap();
    let bridge = nets.find("n1").unwrap().bridge;
    nets.remove("n1").await.unwrap();
    assert!(!sh("ip -o link show").contains(&bridge));
    assert!(!sh("iptables-save").contains(&firewall::net_tag(&id)));
    nets.shutdown_cleanup().await.unwrap();
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_create_validates_like_docker() {
    crate::testing::require_root!();
    let env = Env::new();
    let nets = env.open();
    let x = env.x;
    let id = nets
        .create(
            "learning",
            CreateOptions {
                subnet: Some(format!("10.216.{x}.0/24")),
                gateway: Some(format!("10.216.{x}.254")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let v = nets.inspect("learning").unwrap();
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["IPAM"]["Config"][0]["Gateway"], format!("10.216.{x}.254"));
    assert_eq!(nets.inspect(&id[..6]).unwrap()["Name"], "learning");
    let e = |r: Result<String>| r.unwrap_err().to_string();
    assert_eq!(
        e(nets.create("learning", CreateOptions::default()).await),
        "network with name learning already exists"
    );
    assert_eq!(
        e(nets
            .create(
                "x",
                CreateOptions {
                    subnet: Some(format!("10.216.{x}.128/25")),
                    ..Default::default()
                }
            )
            .await),
        "Pool overlaps with other one on this address space"
    );
    assert_eq!(
        e(nets
            .create(
                "x",
                CreateOptions {
                    subnet: Some("10.1.1.1".into()),
                    ..Default::default()
                }
            )
            .await),
        "invalid CIDR address: 10.1.1.1"
    );
    let auto = nets.create("auto", CreateOptions::default()).await.unwrap();
    assert_eq!(
        nets.find(&auto).unwrap().subnet.unwrap().to_string(),
        format!("10.214.{x}.0/26")
    );
    assert_eq!(
        nets.remove(BRIDGE).await.unwrap_err().to_string(),
        "bridge is a pre-defined network and cannot be removed"
    );
    let names: Vec<String> = nets
        .list()
        .unwrap()
        .iter()
        .map(|n| n["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["auto", "bridge", "host", "learning", "none"]);
    let mut pruned = nets.prune().await.unwrap();
    pruned.sort();
    assert_eq!(pruned, vec!["auto", "learning"]);
    // Records survive a reopen.
    let again = env.open();
    assert_eq!(again.find(HOST).unwrap().id, nets.find(HOST).unwrap().id);
    nets.shutdown_cleanup().await.unwrap();
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_removes_leftovers_of_a_crashed_daemon() {
    crate::testing::require_root!();
    let mut env = Env::new();
    let (pa, pb) = (env.container(), env.container());
    let hp_a = free_port();
    let hp_b = free_port();
    let (a, b, bridge);
    {
        let nets = env.open();
        nets.create("app", CreateOptions::default()).await.unwrap();
        bridge = nets.find("app").unwrap().bridge;
        a = nets.connect(req("app", "live-a", "a", pa)).await.unwrap();
        b = nets.connect(req("app", "dead-b", "b", pb)).await.unwrap();
        let bind = |p| PortBinding {
            host_ip: String::new(),
            host_port: p,
            container_port: 80,
            proto: "tcp".into(),
        };
        nets.publish("live-a", a.ip, &[bind(hp_a)]).await.unwrap();
        nets.publish("dead-b", b.ip, &[bind(hp_b)]).await.unwrap();
        // The daemon dies: its tasks go, the kernel state stays.
    }
    // A veth a crash left on the bridge, with no record (but our mark), and
    // one somebody else put there (no mark): only ours goes.
    let stray = format!("vst{}", env.tag);
    let foreign = format!("vfo{}", env.tag);
    env.extra_links.push(stray.clone());
    env.extra_links.push(foreign.clone());
    let mark = bridge::owner_mark(&env.cfg.chain_prefix);
    sh(&format!(
        "ip link add {stray} type veth peer name {stray}p && ip link set {stray} master {bridge} \
         && ip link set {stray} alias {mark} \
         && ip link add {foreign} type veth peer name {foreign}p && ip link set {foreign} master {bridge}"
    ));
    assert!(sh("ip -o link show").contains(&b.host_veth));

    tcp_server(pa, 80);
    let nets = env.open();
    let report = nets.reconcile(&|c| c == "live-a").await.unwrap();
    assert_eq!(report.removed_endpoints, 1);
    assert_eq!(report.removed_links, 1, "{report:?}");
    assert_eq!(report.restarted_proxies, 1);
    let links = sh("ip -o link show");
    assert!(!links.contains(&b.host_veth) && !links.contains(&stray));
    assert!(links.contains(&a.host_veth));
    assert!(
        links.contains(&foreign),
        "a port we did not make stays: {links}"
    );
    sh(&format!("ip link del {foreign}"));
    assert!(nets.endpoints("dead-b").unwrap().is_empty());
    let rules = sh("iptables-save");
    assert!(
        !rules.contains(&firewall::port_tag("dead-b")),
        "dead container's rules removed"
    );
    assert!(rules.contains(&firewall::port_tag("live-a")));
    assert!(
        tcp_ask(SocketAddr::from(([127, 0, 0, 1], hp_a))).is_ok(),
        "proxy restarted"
    );
    assert!(TcpListener::bind(("0.0.0.0", hp_b)).is_ok());

    nets.shutdown_cleanup().await.unwrap();
    env.assert_clean();
}
