//! Real-kernel tests (root) of a [`Networks`] whose host is another network
//! namespace: a "virtual host" held by an `unshare -n sleep` child. Inside it the
//! names are Docker's own (`docker0`, `DOCKER`, `br-`), and the tests check that
//! nothing of it appears in the machine's namespace. Killing the holders destroys
//! their namespaces with everything in them; the guard also removes anything a
//! broken build might have put on the machine under those names (only when the
//! machine did not have it before).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tests::{
    free_port, links_in, req, sh, tcp_ask, tcp_ask_from, tcp_server, udp_ask, udp_server,
};
use super::tests_dns::{dns_udp, fake_upstream_on};
use super::*;

/// A process in a new network namespace; returns it once the namespace exists.
pub(super) fn holder() -> Child {
    let child = Command::new("unshare")
        .args(["-n", "sleep", "600"])
        .stdin(Stdio::null())
        .spawn()
        .expect("unshare");
    let pid = child.id();
    let mine = std::fs::read_link("/proc/self/ns/net").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .ok()
        .as_ref()
        == Some(&mine)
    {
        assert!(
            Instant::now() < deadline,
            "unshare did not enter a namespace"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

/// Run a shell command inside the network namespace of `pid`.
pub(super) fn sh_in(pid: u32, cmd: &str) -> String {
    sh(&format!("nsenter -t {pid} -n sh -c '{cmd}'"))
}

/// The machine's state under Docker's names, to compare before and after.
#[derive(Debug, PartialEq)]
struct RootView {
    links: Vec<String>,
    docker_rules: Vec<String>,
}

fn root_view() -> RootView {
    let links = sh("ip -o link show")
        .lines()
        .filter_map(|l| {
            let name = l.split(':').nth(1)?.trim();
            let name = name.split('@').next()?;
            (name == "docker0" || name.starts_with("br-")).then(|| name.to_string())
        })
        .collect();
    let docker_rules = sh("iptables-save")
        .lines()
        .filter(|l| l.contains("DOCKER") && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    RootView {
        links,
        docker_rules,
    }
}

/// Holders of one test; Drop kills them, and undoes on the machine whatever of
/// Docker's names was not there before the test.
struct Guard {
    children: Vec<Child>,
    before: RootView,
    dir: tempfile::TempDir,
}

impl Guard {
    fn new() -> Guard {
        Guard {
            children: Vec::new(),
            before: root_view(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn holder(&mut self) -> u32 {
        let c = holder();
        let pid = c.id();
        self.children.push(c);
        pid
    }

    /// A virtual host: lo up, and a veth pair (no dummy driver on every kernel)
    /// with `addr/24` standing for its own non-loopback address.
    fn vhost(&mut self, addr: &str) -> u32 {
        let pid = self.holder();
        sh_in(
            pid,
            &format!(
                "ip link set lo up && ip link add vh0 type veth peer name vh1 && \
                 ip addr add {addr}/24 dev vh0 && ip link set vh1 up && ip link set vh0 up"
            ),
        );
        pid
    }

    fn state_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let now = root_view();
        for l in now.links.iter().filter(|l| !self.before.links.contains(l)) {
            sh(&format!("ip link del {l} 2>/dev/null"));
        }
        if now.docker_rules != self.before.docker_rules && self.before.docker_rules.is_empty() {
            // Only when the machine had no DOCKER chains at all: then they are ours.
            let _ = std::thread::spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(Firewall::new("DOCKER", NsHandle::own()).teardown())
            })
            .join();
        }
    }
}

/// A resolver inside the namespace of `pid` (on its 127.0.0.1) that answers every
/// A query with 192.0.2.77: reachable only by a forwarder in that namespace.
fn fake_upstream_in(pid: u32) -> SocketAddr {
    let sock = netns::run(pid, || UdpSocket::bind("127.0.0.1:0")).unwrap();
    fake_upstream_on(sock, Ipv4Addr::new(192, 0, 2, 77))
}

fn docker_cfg(vh: u32, upstreams: Vec<SocketAddr>) -> NetConfig {
    NetConfig {
        bridge_name: "docker0".into(),
        default_subnet: "172.17.0.0/16".parse().unwrap(),
        default_gateway: None,
        chain_prefix: "DOCKER".into(),
        pools: ipam::docker_default_pools(),
        user_bridge_prefix: "br-".into(),
        host_resolv_conf: PathBuf::from("/nonexistent"),
        dns_upstreams: Some(upstreams),
        netns: Some(netns::netns_path(vh)),
    }
}

fn tcp(port: u16, container_port: u16) -> PortBinding {
    PortBinding {
        host_ip: String::new(),
        host_port: port,
        container_port,
        proto: "tcp".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virtual_hosts_bridge_nat_ports_and_dns_live_in_its_namespace_only() {
    crate::testing::require_root!();
    let mut g = Guard::new();
    let vh = g.vhost("192.0.2.10");
    let (c1, c2) = (g.holder(), g.holder());
    let upstream = fake_upstream_in(vh);
    let nets = Networks::open(&g.state_dir("vh1"), docker_cfg(vh, vec![upstream])).unwrap();
    assert!(nets.netns().path().is_some());

    let t = Instant::now();
    nets.reconcile(&|_| true).await.unwrap();
    eprintln!("virtual host default bridge + NAT setup: {:?}", t.elapsed());
    let t = Instant::now();
    let ep = nets.connect(req(BRIDGE, "c1", "web", c1)).await.unwrap();
    eprintln!("connect in a virtual host: {:?}", t.elapsed());
    assert_eq!(ep.ip, Ipv4Addr::new(172, 17, 0, 2));
    assert_eq!(ep.gateway, Ipv4Addr::new(172, 17, 0, 1));
    assert!(links_in(c1).contains("eth0    inet 172.17.0.2/16"));

    tcp_server(c1, 80);
    // Not 53: the embedded DNS takes 127.0.0.11:53 in this container later.
    udp_server(c1, 5353);
    // A port free on the machine: if the proxy were there, it would answer.
    let hp = free_port();
    let uhp = free_port();
    let t = Instant::now();
    let got = nets
        .publish(
            "c1",
            ep.ip,
            &[
                tcp(hp, 80),
                tcp(0, 80),
                PortBinding {
                    proto: "udp".into(),
                    ..tcp(uhp, 5353)
                },
            ],
        )
        .await
        .unwrap();
    eprintln!("publish 3 ports in a virtual host: {:?}", t.elapsed());
    assert_eq!(got[0].host_port, hp);
    let dynamic = got[1].host_port;

    // Inside the virtual host: Docker's names, its bridge, veth, rules, sysctl.
    let inside_links = sh_in(vh, "ip -o link show");
    assert!(inside_links.contains("docker0"), "{inside_links}");
    assert!(inside_links.contains(&ep.host_veth), "{inside_links}");
    let inside_rules = sh_in(vh, "iptables-save");
    assert!(
        inside_rules.contains(&format!(
            "--dport {hp} -m comment --comment \"{}\" -j DNAT --to-destination 172.17.0.2:80",
            firewall::port_tag("c1")
        )),
        "{inside_rules}"
    );
    assert!(inside_rules.contains("-A FORWARD -j DOCKER-FORWARD"));
    assert!(inside_rules.contains("-A POSTROUTING -j DOCKER-POSTROUTING"));
    assert_eq!(sh_in(vh, "cat /proc/sys/net/ipv4/ip_forward").trim(), "1");
    // ... and none of it on the machine.
    assert_eq!(root_view(), g.before, "the machine is untouched");
    assert!(!sh("ip -o link show").contains(&ep.host_veth));
    assert!(!sh("iptables-save").contains(&firewall::port_tag("c1")));

    // Traffic inside the virtual host: 127.0.0.1 through the proxy (made in the
    // namespace: the container sees the gateway), its own address through DNAT.
    let reply = tcp_ask_from(vh, SocketAddr::from(([127, 0, 0, 1], hp))).unwrap();
    assert_eq!(reply, "172.17.0.1 hi");
    let reply = tcp_ask_from(vh, SocketAddr::from(([127, 0, 0, 1], dynamic))).unwrap();
    assert_eq!(reply, "172.17.0.1 hi");
    let reply = tcp_ask_from(vh, SocketAddr::from(([192, 0, 2, 10], hp))).unwrap();
    assert_eq!(reply, "192.0.2.10 hi");
    let reply = netns::run(vh, move || udp_ask(SocketAddr::from(([127, 0, 0, 1], uhp)))).unwrap();
    assert_eq!(reply, "172.17.0.1 ping");
    assert!(
        tcp_ask(SocketAddr::from(([127, 0, 0, 1], hp))).is_err(),
        "the machine's 127.0.0.1:{hp} has no proxy"
    );

    // A user network with the embedded DNS, forwarding from the virtual host.
    nets.create("app", CreateOptions::default()).await.unwrap();
    let app = nets.find("app").unwrap();
    assert!(app.bridge.starts_with("br-"));
    let e2 = nets.connect(req("app", "c2", "db", c2)).await.unwrap();
    let _ = nets.connect(req("app", "c1", "web", c1)).await.unwrap();
    nets.dns_start("c1", c1).await.unwrap();
    assert_eq!(dns_udp(c1, "db").unwrap(), (0, vec![e2.ip]));
    assert_eq!(
        dns_udp(c1, "elsewhere").unwrap(),
        (0, vec![Ipv4Addr::new(192, 0, 2, 77)]),
        "forwarded from inside the virtual host to its own resolver"
    );
    assert!(sh_in(vh, "ip -o link show").contains(&app.bridge));
    assert_eq!(root_view(), g.before);

    // Teardown: nothing left inside, nothing ever on the machine.
    nets.release_container("c1").await.unwrap();
    nets.release_container("c2").await.unwrap();
    nets.remove("app").await.unwrap();
    assert!(netns::run(vh, move || {
        std::net::TcpListener::bind(("127.0.0.1", hp)).map(|_| ())
    })
    .is_ok());
    nets.shutdown_cleanup().await.unwrap();
    let inside_links = sh_in(vh, "ip -o link show");
    assert!(
        !inside_links.contains("docker0")
            && !inside_links.contains("br-")
            && !inside_links.contains("veth"),
        "{inside_links}"
    );
    let inside_rules = sh_in(vh, "iptables-save");
    assert!(!inside_rules.contains("DOCKER"), "{inside_rules}");
    assert!(!links_in(c1).contains("eth0") && !links_in(c2).contains("eth"));
    assert_eq!(root_view(), g.before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_virtual_hosts_use_the_same_docker_names_side_by_side() {
    crate::testing::require_root!();
    let mut g = Guard::new();
    let (va, vb) = (g.vhost("192.0.2.21"), g.vhost("192.0.2.22"));
    let (ca, cb) = (g.holder(), g.holder());
    let na = Networks::open(&g.state_dir("a"), docker_cfg(va, vec![])).unwrap();
    let nb = Networks::open(&g.state_dir("b"), docker_cfg(vb, vec![])).unwrap();
    let ea = na.connect(req(BRIDGE, "ca", "a", ca)).await.unwrap();
    let eb = nb.connect(req(BRIDGE, "cb", "b", cb)).await.unwrap();
    assert_eq!(ea.ip, eb.ip, "same subnet, same first address, no conflict");
    tcp_server(ca, 80);
    tcp_server(cb, 80);
    na.publish("ca", ea.ip, &[tcp(8080, 80)]).await.unwrap();
    nb.publish("cb", eb.ip, &[tcp(8080, 80)]).await.unwrap();
    assert_eq!(
        tcp_ask_from(va, SocketAddr::from(([192, 0, 2, 21], 8080))).unwrap(),
        "192.0.2.21 hi"
    );
    assert_eq!(
        tcp_ask_from(vb, SocketAddr::from(([192, 0, 2, 22], 8080))).unwrap(),
        "192.0.2.22 hi"
    );

    // Tearing one down leaves the other whole.
    na.shutdown_cleanup().await.unwrap();
    assert!(!sh_in(va, "iptables-save").contains("DOCKER"));
    assert!(!sh_in(va, "ip -o link show").contains("docker0"));
    assert!(sh_in(vb, "iptables-save").contains("-j DOCKER-FORWARD"));
    assert_eq!(
        tcp_ask_from(vb, SocketAddr::from(([127, 0, 0, 1], 8080))).unwrap(),
        "172.17.0.1 hi"
    );
    // A reconcile of the survivor sweeps only its own namespace.
    let report = nb.reconcile(&|c| c == "cb").await.unwrap();
    assert_eq!(report.removed_links + report.removed_rules, 0, "{report:?}");
    nb.shutdown_cleanup().await.unwrap();
    assert!(!sh_in(vb, "iptables-save").contains("DOCKER"));
    assert_eq!(root_view(), g.before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_subnet_avoids_the_routes_of_the_virtual_host() {
    crate::testing::require_root!();
    let mut g = Guard::new();
    let vh = g.holder();
    sh_in(
        vh,
        "ip link add vh0 type veth peer name vh1 && ip link set vh1 up && \
         ip link set vh0 up && ip addr add 172.17.0.5/16 dev vh0 && \
         ip addr add 172.18.0.5/16 dev vh0",
    );
    let path = netns::netns_path(vh);
    let free = routes::free_default_subnet(Some(&path), "docker0")
        .await
        .unwrap();
    assert_eq!(free.unwrap().to_string(), "172.19.0.0/16");
    let vh2 = g.holder();
    let free = routes::free_default_subnet(Some(&netns::netns_path(vh2)), "docker0")
        .await
        .unwrap();
    assert_eq!(
        free.unwrap().to_string(),
        "172.17.0.0/16",
        "an empty namespace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_is_not_a_network_namespace_is_refused() {
    let g = Guard::new();
    let cfg = NetConfig {
        netns: Some(PathBuf::from("/proc/self/ns/uts")),
        ..NetConfig::default()
    };
    let err = Networks::open(&g.state_dir("x"), cfg).err().unwrap();
    assert!(err.to_string().contains("/proc/self/ns/uts"), "{err}");
}

/// `run_task` runs its future on a thread inside the namespace: what it sees
/// as its network namespace is the holder's, where it brings loopback up and
/// binds; the handle of the daemon's own namespace runs it on the machine's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_runs_inside_the_namespace_with_its_sockets() {
    crate::testing::require_root!();
    let mut h = holder();
    let pid = h.id();
    let ns = netns::NsHandle::open(&netns::netns_path(pid)).expect("open");
    let want = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let (seen, port) = ns
        .run_task("test-task", || async {
            netns::loopback_up().expect("loopback up");
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let seen = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
            (seen, l.local_addr().unwrap().port())
        })
        .await
        .expect("run_task");
    assert_eq!(seen, want);
    assert_ne!(port, 0, "the namespace's loopback took a listener");
    let own = netns::NsHandle::own()
        .run_task("test-own", || async {
            std::fs::read_link("/proc/thread-self/ns/net").unwrap()
        })
        .await
        .unwrap();
    assert_eq!(own, std::fs::read_link("/proc/self/ns/net").unwrap());
    let _ = h.kill();
    let _ = h.wait();
}
