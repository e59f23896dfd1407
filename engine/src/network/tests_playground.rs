//! Real-kernel tests (root) of the playground network. "Virtual hosts" are network
//! namespaces held by `unshare -n sleep` children; a "peer" namespace routed behind
//! the machine by a veth pair stands for the world outside. Every test has its own
//! bridge, session bridge prefix, chain prefix and subnets (never the defaults),
//! and a guard that removes all of it even when the test fails. Traffic goes only
//! to the machine and to namespaces made here, with bounded timeouts.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::playground::{Egress, PlaygroundNetwork, PlaygroundNetworkConfig};
use super::tests::{assert_no_trace, free_port, sh, tcp_ask, tcp_ask_from, tcp_server};
use super::tests_netns::{holder, sh_in};
use super::*;

static NEXT: AtomicU8 = AtomicU8::new(0);

/// Whether a shell command succeeds.
fn ok(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether a TCP connection to `addr` from the namespace of `pid` (None: the
/// machine) is accepted within `ms`.
fn reach(pid: Option<u32>, addr: SocketAddr, ms: u64) -> bool {
    let connect = move || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(ms)).map(|mut s| {
            let _ = s.write_all(b"x\n");
        })
    };
    match pid {
        Some(p) => netns::run(p, connect).is_ok(),
        None => connect().is_ok(),
    }
}

/// One ICMP echo from the namespace of `pid` (None: the machine), 1 s at most.
fn ping(pid: Option<u32>, ip: Ipv4Addr) -> bool {
    let cmd = format!("busybox ping -c 1 -W 1 {ip}");
    match pid {
        Some(p) => ok(&format!("nsenter -t {p} -n {cmd}")),
        None => ok(&cmd),
    }
}

/// A listener on the machine answering like `tcp_server`; returns its port.
fn machine_server() -> u16 {
    let l = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = l.local_addr().unwrap().port();
    super::tests::serve_lines(l);
    port
}

/// Delete every rule that jumps to a chain of `prefix` from elsewhere, then the
/// chains themselves (shell, so that it works whatever the code under test did).
fn purge_chains(prefix: &str) {
    let mut table = String::new();
    let mut chains: Vec<(String, String)> = Vec::new();
    let mut jumps: Vec<(String, String)> = Vec::new();
    for line in sh("iptables-save").lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
        } else if let Some(decl) = line.strip_prefix(':') {
            let name = decl.split_whitespace().next().unwrap_or("");
            if name.starts_with(prefix) {
                chains.push((table.clone(), name.to_string()));
            }
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let chain = rest.split_whitespace().next().unwrap_or("");
            if !chain.starts_with(prefix) && rest.contains(&format!("-j {prefix}")) {
                jumps.push((table.clone(), rest.to_string()));
            }
        }
    }
    for (t, rule) in jumps {
        sh(&format!("iptables -w -t {t} -D {rule}"));
    }
    for (t, c) in &chains {
        sh(&format!("iptables -w -t {t} -F {c} 2>/dev/null"));
    }
    for (t, c) in &chains {
        sh(&format!("iptables -w -t {t} -X {c} 2>/dev/null"));
    }
}

/// Everything one test made; Drop removes it whatever happened.
pub(super) struct PgEnv {
    pub(super) cfg: PlaygroundNetworkConfig,
    dir: tempfile::TempDir,
    pub(super) tag: String,
    x: u8,
    children: Vec<Child>,
    pub(super) extra_links: Vec<String>,
}

impl PgEnv {
    pub(super) fn new() -> PgEnv {
        let tag = random_hex(2);
        // Distinct within this process (a random start, then one step per test).
        static START: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
        let start = *START.get_or_init(|| rand::random::<u8>() % 120);
        let x = (u16::from(start) + u16::from(NEXT.fetch_add(1, Ordering::SeqCst))) % 120;
        let x = u8::try_from(x).unwrap_or(0);
        let cfg = PlaygroundNetworkConfig {
            bridge: format!("dpg{tag}"),
            subnet: format!("10.217.{}.0/23", 2 * x).parse().unwrap(),
            chain_prefix: format!("DHPG{tag}"),
            session_bridge_prefix: format!("dps{tag}-"),
            registries: Vec::new(),
            default_egress: Egress::None,
            session_prefix_len: 26,
        };
        PgEnv {
            cfg,
            dir: tempfile::tempdir().unwrap(),
            tag,
            x,
            children: Vec::new(),
            extra_links: Vec::new(),
        }
    }

    pub(super) fn open(&self) -> PlaygroundNetwork {
        PlaygroundNetwork::open(self.dir.path(), self.cfg.clone()).unwrap()
    }

    /// A virtual host's namespace; returns (pid, its nsfs path).
    pub(super) fn vhost(&mut self) -> (u32, std::path::PathBuf) {
        let c = holder();
        let pid = c.id();
        self.children.push(c);
        (pid, netns::netns_path(pid))
    }

    /// A namespace behind the machine: 10.218.x.2/30, the machine 10.218.x.1/30.
    fn peer(&mut self) -> (u32, Ipv4Addr) {
        let (pid, _) = self.vhost();
        let (out, inn) = (format!("dpo{}", self.tag), format!("dpi{}", self.tag));
        self.extra_links.push(out.clone());
        let x = self.x;
        assert!(ok(&format!(
            "ip link add {out} type veth peer name {inn} && ip link set {inn} netns {pid} && \
             ip addr add 10.218.{x}.1/30 dev {out} && ip link set {out} up && \
             nsenter -t {pid} -n sh -c 'ip addr add 10.218.{x}.2/30 dev {inn} && \
             ip link set {inn} up && ip link set lo up'"
        )));
        (pid, Ipv4Addr::new(10, 218, x, 2))
    }

    /// Nothing of ours on the machine: links, rules, chains, the port guard.
    pub(super) fn assert_clean(&self) {
        assert_no_trace(
            &self.cfg.chain_prefix,
            &[&self.cfg.bridge, &self.cfg.session_bridge_prefix],
        );
        let tables = sh("nft list tables");
        assert!(
            !tables.contains(&self.guard_table()),
            "the guard table is left: {tables}"
        );
    }

    /// The nftables table a playground of this config makes.
    fn guard_table(&self) -> String {
        super::playground::guard_table_name(&self.cfg.chain_prefix)
    }
}

impl Drop for PgEnv {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for l in &self.extra_links {
            sh(&format!("ip link del {l} 2>/dev/null"));
        }
        let links = sh("ip -o link show");
        let names: Vec<String> = links
            .lines()
            .filter_map(|l| {
                let n = l.split(':').nth(1)?.trim();
                Some(n.split('@').next()?.to_string())
            })
            .collect();
        for n in &names {
            if *n == self.cfg.bridge || n.starts_with(&self.cfg.session_bridge_prefix) {
                sh(&format!("ip link del {n} 2>/dev/null"));
            }
        }
        purge_chains(&self.cfg.chain_prefix);
        sh(&format!(
            "nft delete table bridge {} 2>/dev/null",
            self.guard_table()
        ));
    }
}

fn eth0_of(pid: u32) -> String {
    sh_in(pid, "ip -o -4 addr show dev eth0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vhosts_without_a_session_are_isolated_but_the_machine_reaches_each() {
    crate::testing::require_root!();
    let mut env = PgEnv::new();
    let pg = env.open();
    let ((pa, na), (pb, nb)) = (env.vhost(), env.vhost());
    let t = Instant::now();
    let a = pg.attach("a", &na, None, Egress::None).await.unwrap();
    eprintln!(
        "playground attach (first, with bridge and chains): {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let b = pg.attach("b", &nb, None, Egress::All).await.unwrap();
    eprintln!("playground attach: {:?}", t.elapsed());
    let common = format!("10.217.{}", 2 * env.x);
    assert_eq!(a.gateway.to_string(), format!("{common}.1"));
    assert_eq!(
        (a.ip.to_string(), a.prefix_len),
        (format!("{common}.2"), 24)
    );
    assert_eq!(b.ip.to_string(), format!("{common}.3"));
    assert_eq!(a.session, None);
    assert!(
        eth0_of(pa).contains(&format!("inet {}/24", a.ip)),
        "{}",
        eth0_of(pa)
    );
    assert!(sh_in(pa, "ip route").contains(&format!("default via {}", a.gateway)));
    assert!(sh_in(pa, "ip -o link show lo").contains("UP"));
    for l in [&a.host_veth, &b.host_veth] {
        let d = sh(&format!("ip -d link show dev {l}"));
        assert!(d.contains(&format!("master {}", env.cfg.bridge)), "{d}");
        assert!(d.contains("isolated on"), "{d}");
    }

    tcp_server(pa, 80);
    tcp_server(pb, 80);
    // The machine reaches both, whatever their egress policy.
    assert_eq!(
        tcp_ask(SocketAddr::from((a.ip, 80))).unwrap(),
        format!("{} hi", a.gateway)
    );
    assert!(tcp_ask(SocketAddr::from((b.ip, 80))).is_ok());
    assert!(ping(None, a.ip) && ping(None, b.ip));
    // They do not reach each other: not bridged (isolated ports), not routed.
    assert!(!reach(Some(pa), SocketAddr::from((b.ip, 80)), 400));
    assert!(
        !reach(Some(pb), SocketAddr::from((a.ip, 80)), 400),
        "not even with egress all"
    );
    assert!(!ping(Some(pa), b.ip));

    // Detach: link, eth0 and rules go; twice is fine.
    pg.detach("b").await.unwrap();
    pg.detach("b").await.unwrap();
    assert!(!sh("ip -o link show").contains(&b.host_veth));
    assert!(!sh_in(pb, "ip -o link show").contains("eth0"));
    assert!(!sh("iptables-save").contains(&b.host_veth));
    assert!(pg.link("b").is_none() && pg.link("a").is_some());
    assert!(
        tcp_ask(SocketAddr::from((a.ip, 80))).is_ok(),
        "a is untouched"
    );

    pg.shutdown_cleanup().await.unwrap();
    assert!(!sh_in(pa, "ip -o link show").contains("eth0"));
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vhosts_of_one_session_reach_each_other_and_only_each_other() {
    crate::testing::require_root!();
    let mut env = PgEnv::new();
    let pg = env.open();
    let ((pa, na), (pb, nb), (pc, nc), (pd, nd)) =
        (env.vhost(), env.vhost(), env.vhost(), env.vhost());
    let a = pg
        .attach("node1", &na, Some("s1"), Egress::None)
        .await
        .unwrap();
    let t = Instant::now();
    let b = pg
        .attach("node2", &nb, Some("s1"), Egress::None)
        .await
        .unwrap();
    eprintln!(
        "playground attach to an existing session: {:?}",
        t.elapsed()
    );
    let c = pg.attach("lone", &nc, None, Egress::All).await.unwrap();
    let d = pg
        .attach("other", &nd, Some("s2"), Egress::All)
        .await
        .unwrap();
    let sessions = format!("10.217.{}", 2 * env.x + 1);
    assert_eq!(a.gateway.to_string(), format!("{sessions}.1"));
    assert_eq!(
        (a.ip.to_string(), a.prefix_len),
        (format!("{sessions}.2"), 26)
    );
    assert_eq!(b.ip.to_string(), format!("{sessions}.3"));
    assert_eq!(d.gateway.to_string(), format!("{sessions}.65"));
    assert_eq!(a.session.as_deref(), Some("s1"));
    let s1_bridge = format!("{}0", env.cfg.session_bridge_prefix);
    let d_bridge = format!("{}1", env.cfg.session_bridge_prefix);
    let detail = sh(&format!("ip -d link show dev {}", a.host_veth));
    assert!(detail.contains(&format!("master {s1_bridge}")) && detail.contains("isolated off"));
    assert_eq!(
        pg.hosts_entries("s1"),
        vec![("node1".to_string(), a.ip), ("node2".to_string(), b.ip)]
    );
    assert!(pg.hosts_entries("nope").is_empty());

    for p in [pa, pb, pc, pd] {
        tcp_server(p, 80);
    }
    assert_eq!(
        tcp_ask_from(pa, SocketAddr::from((b.ip, 80))).unwrap(),
        format!("{} hi", a.ip),
        "same session: straight across the bridge"
    );
    assert!(tcp_ask_from(pb, SocketAddr::from((a.ip, 80))).is_ok());
    assert!(ping(Some(pa), b.ip) && ping(Some(pb), a.ip));
    // Not across sessions, nor to or from the common bridge, whatever the policy.
    assert!(!reach(Some(pa), SocketAddr::from((c.ip, 80)), 400));
    assert!(!reach(Some(pc), SocketAddr::from((a.ip, 80)), 400));
    assert!(!reach(Some(pd), SocketAddr::from((a.ip, 80)), 400));
    assert!(!reach(Some(pa), SocketAddr::from((d.ip, 80)), 400));
    assert!(reach(None, SocketAddr::from((d.ip, 80)), 2000));

    // The session bridge goes with its last member.
    pg.detach("node1").await.unwrap();
    assert!(sh("ip -o link show").contains(&s1_bridge));
    assert_eq!(pg.hosts_entries("s1"), vec![("node2".to_string(), b.ip)]);
    pg.detach("node2").await.unwrap();
    assert!(!sh("ip -o link show").contains(&format!("{s1_bridge}:")));
    assert!(!sh("iptables-save").contains(&format!("dh-pg:br:{s1_bridge}\"")));
    assert!(sh("ip -o link show").contains(&d_bridge));
    // A new session takes the freed block again.
    let (_, ne) = env.vhost();
    let e = pg
        .attach("late", &ne, Some("s3"), Egress::None)
        .await
        .unwrap();
    assert_eq!(e.gateway, a.gateway);

    pg.shutdown_cleanup().await.unwrap();
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_none_registries_and_all_are_enforced_on_the_machine() {
    crate::testing::require_root!();
    let mut env = PgEnv::new();
    let (peer, peer_ip) = env.peer();
    tcp_server(peer, 5000);
    tcp_server(peer, 7000);
    let registry = SocketAddr::from((peer_ip, 5000));
    let elsewhere = SocketAddr::from((peer_ip, 7000));
    // Two services of the machine: one is a registry, one is not.
    let local_registry = machine_server();
    let local_other = machine_server();
    let gw: Ipv4Addr = format!("10.217.{}.1", 2 * env.x).parse().unwrap();
    // Two ports the machine publishes by DNAT (as its own containers' ports look
    // to a vhost), forwarded to the peer: one of them is a registry.
    let (dnat_reg, dnat_other) = (free_port(), free_port());
    let dnat = format!("{}-TDNAT", env.cfg.chain_prefix);
    assert!(ok(&format!(
        "iptables -w -t nat -N {dnat} && iptables -w -t nat -A PREROUTING -j {dnat} && \
         iptables -w -t nat -A {dnat} -d {gw}/32 -p tcp --dport {dnat_reg} \
           -j DNAT --to-destination {peer_ip}:5000 && \
         iptables -w -t nat -A {dnat} -d {gw}/32 -p tcp --dport {dnat_other} \
           -j DNAT --to-destination {peer_ip}:7000"
    )));
    env.cfg.registries = vec![
        SocketAddrV4::new(peer_ip, 5000),
        SocketAddrV4::new(gw, local_registry),
        SocketAddrV4::new(gw, dnat_reg),
    ];
    let pg = env.open();
    let ((pn, nn), (pr, nr), (pa, na)) = (env.vhost(), env.vhost(), env.vhost());
    let none = pg.attach("none", &nn, None, Egress::None).await.unwrap();
    let reg = pg
        .attach("reg", &nr, None, Egress::Registries)
        .await
        .unwrap();
    let all = pg.attach("all", &na, None, Egress::All).await.unwrap();
    let machine_reg = SocketAddr::from((gw, local_registry));
    let machine_other = SocketAddr::from((gw, local_other));
    let published_reg = SocketAddr::from((gw, dnat_reg));
    let published_other = SocketAddr::from((gw, dnat_other));

    // none: nothing leaves.
    for to in [
        registry,
        elsewhere,
        machine_reg,
        machine_other,
        published_reg,
        published_other,
    ] {
        assert!(!reach(Some(pn), to, 400), "none reached {to}");
    }
    // registries: only the registries, on the peer and on the machine.
    assert_eq!(
        tcp_ask_from(pr, registry).unwrap(),
        "10.218.".to_string() + &format!("{}.1 hi", env.x),
        "masqueraded to the outside"
    );
    assert!(tcp_ask_from(pr, machine_reg).is_ok());
    assert!(!reach(Some(pr), elsewhere, 400));
    assert!(!reach(Some(pr), machine_other, 400));
    assert!(
        tcp_ask_from(pr, published_reg).is_ok(),
        "a DNAT-ed registry"
    );
    assert!(!reach(Some(pr), published_other, 400));
    // all: anywhere outside, but the machine itself only for registries.
    assert!(tcp_ask_from(pa, registry).is_ok());
    assert_eq!(
        tcp_ask_from(pa, elsewhere).unwrap(),
        format!("10.218.{}.1 hi", env.x)
    );
    assert!(tcp_ask_from(pa, machine_reg).is_ok());
    assert!(!reach(Some(pa), machine_other, 400));
    assert!(tcp_ask_from(pa, published_reg).is_ok());
    assert!(
        !reach(Some(pa), published_other, 400),
        "the machine's published ports are the machine's, even DNAT-ed"
    );
    // The machine reaches all of them (the server proxying to published ports).
    for (p, l) in [(pn, &none), (pr, &reg), (pa, &all)] {
        tcp_server(p, 8080);
        assert_eq!(
            tcp_ask(SocketAddr::from((l.ip, 8080))).unwrap(),
            format!("{gw} hi")
        );
    }
    // Re-attaching with another policy replaces the rules.
    let all2 = pg.attach("none", &nn, None, Egress::All).await.unwrap();
    assert_eq!(all2.ip, none.ip);
    assert!(tcp_ask_from(pn, elsewhere).is_ok());
    let rules = sh("iptables-save");
    assert!(!rules.contains(&none.host_veth), "old rules gone");

    pg.shutdown_cleanup().await.unwrap();
    purge_chains(&dnat);
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_removes_dead_vhosts_and_what_no_record_explains() {
    crate::testing::require_root!();
    let mut env = PgEnv::new();
    let ((pa, na), (pb, nb)) = (env.vhost(), env.vhost());
    let (a, b);
    {
        let pg = env.open();
        a = pg.attach("a", &na, Some("s"), Egress::All).await.unwrap();
        b = pg.attach("b", &nb, None, Egress::All).await.unwrap();
        // The daemon dies; the kernel state stays.
    }
    let s_bridge = format!("{}0", env.cfg.session_bridge_prefix);
    // Leftovers no record explains: a veth on our bridge, a rule, a session bridge.
    let stray = format!("dpx{}", env.tag);
    env.extra_links.push(stray.clone());
    // (Ours: they carry our mark; links without it are left, see tests_foreign.)
    let mark = super::bridge::owner_mark(&env.cfg.chain_prefix);
    assert!(ok(&format!(
        "ip link add {stray} type veth peer name {stray}p && ip link set {stray} master {} && \
         ip link set {stray} alias {mark}",
        env.cfg.bridge
    )));
    let stray_bridge = format!("{}3", env.cfg.session_bridge_prefix);
    assert!(ok(&format!(
        "ip link add {stray_bridge} type bridge && ip link set {stray_bridge} alias {mark}"
    )));
    assert!(ok(&format!(
        "iptables -w -A {}-EGRESS -s 10.217.{}.99/32 -m comment --comment dh-pg:vh:pgvdead -j ACCEPT",
        env.cfg.chain_prefix,
        2 * env.x
    )));
    tcp_server(pb, 80);
    // Software that inserted its own first FORWARD rule meanwhile.
    let foreign = format!("{}-TFOREIGN", env.cfg.chain_prefix);
    assert!(ok(&format!(
        "iptables -w -N {foreign} && iptables -w -I FORWARD 1 -j {foreign}"
    )));
    let position = |chain: &str| {
        sh("iptables -S FORWARD")
            .lines()
            .position(|l| l == format!("-A FORWARD -j {chain}"))
    };
    let ours = format!("{}-FWD", env.cfg.chain_prefix);
    assert!(position(&foreign) < position(&ours));

    let pg = env.open();
    assert!(pg.link("a").is_some(), "records survive a restart");
    let report = pg.reconcile(&|v| v == "b").await.unwrap();
    assert_eq!(report.removed_vhosts, 1, "{report:?}");
    assert_eq!(report.removed_links, 1, "{report:?}");
    assert_eq!(report.removed_bridges, 1, "{report:?}");
    assert_eq!(report.removed_rules, 1, "{report:?}");
    assert!(
        position(&ours) < position(&foreign),
        "our jump is first again"
    );
    purge_chains(&foreign);
    let links = sh("ip -o link show");
    assert!(
        !links.contains(&a.host_veth) && !links.contains(&stray),
        "{links}"
    );
    assert!(!links.contains(&format!("{s_bridge}:")) && !links.contains(&stray_bridge));
    assert!(!sh_in(pa, "ip -o link show").contains("eth0"));
    assert!(pg.link("a").is_none() && pg.hosts_entries("s").is_empty());
    let rules = sh("iptables-save");
    assert!(!rules.contains("pgvdead") && !rules.contains(&a.host_veth));
    assert!(rules.contains(&b.host_veth), "the live one keeps its rules");
    assert!(tcp_ask(SocketAddr::from((b.ip, 80))).is_ok());
    // A second reconcile has nothing left to do.
    let again = pg.reconcile(&|v| v == "b").await.unwrap();
    assert_eq!(again, Default::default());
    // A vhost whose namespace died is gone too (its veth went with it). Nothing
    // of this test may hold that namespace (a listener made in it would).
    let (pc, nc) = env.vhost();
    let c = pg.attach("c", &nc, None, Egress::None).await.unwrap();
    if let Some(child) = env.children.iter_mut().find(|ch| ch.id() == pc) {
        let _ = child.kill();
        let _ = child.wait();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while sh("ip -o link show").contains(&c.host_veth) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let report = pg.reconcile(&|_| true).await.unwrap();
    assert_eq!(report.removed_vhosts, 1, "{report:?}");
    assert!(pg.link("c").is_none() && pg.link("b").is_some());

    pg.shutdown_cleanup().await.unwrap();
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attaches_get_distinct_addresses_and_a_freed_one_is_reused() {
    crate::testing::require_root!();
    let mut env = PgEnv::new();
    env.cfg.registries = vec![SocketAddrV4::new(Ipv4Addr::new(10, 218, env.x, 2), 5000)];
    let pg = env.open();
    let (_, first) = env.vhost();
    pg.attach("v0", &first, None, Egress::All).await.unwrap();
    let mut times = Vec::new();
    let mut ips = Vec::new();
    for i in 1..8 {
        let (_, n) = env.vhost();
        let t = Instant::now();
        let l = pg
            .attach(&format!("v{i}"), &n, None, Egress::All)
            .await
            .unwrap();
        times.push(t.elapsed());
        ips.push(l.ip);
    }
    eprintln!("playground attach times (netlink, one iptables-restore, fsync'd state): {times:?}");
    let base = u32::from(Ipv4Addr::new(10, 217, 2 * env.x, 3));
    let want: Vec<Ipv4Addr> = (0..7).map(|i| Ipv4Addr::from(base + i)).collect();
    assert_eq!(ips, want);
    let t = Instant::now();
    pg.detach("v3").await.unwrap();
    eprintln!("playground detach: {:?}", t.elapsed());
    let (_, n) = env.vhost();
    let again = pg.attach("v8", &n, None, Egress::None).await.unwrap();
    assert_eq!(again.ip, ips[2], "the lowest free address");
    pg.shutdown_cleanup().await.unwrap();
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vhost_cannot_take_a_neighbours_address_and_its_policy() {
    crate::testing::require_root!();
    let mut env = PgEnv::new();
    let (peer, peer_ip) = env.peer();
    tcp_server(peer, 7000);
    let elsewhere = SocketAddr::from((peer_ip, 7000));
    let pg = env.open();
    let ((pn, nn), (pa, na)) = (env.vhost(), env.vhost());
    let none = pg.attach("none", &nn, None, Egress::None).await.unwrap();
    let all = pg.attach("all", &na, None, Egress::All).await.unwrap();
    assert!(tcp_ask_from(pa, elsewhere).is_ok());
    assert!(!reach(Some(pn), elsewhere, 400));
    // "all" falls silent (its rules stay), and root in "none" takes its
    // address: the replies would come to "none", but its packets do not pass.
    assert!(ok(&format!("nsenter -t {pa} -n ip link set eth0 down")));
    let take = |ip: Ipv4Addr| {
        format!(
            "nsenter -t {pn} -n sh -c 'ip addr flush dev eth0 && \
             ip addr add {ip}/{} dev eth0 && ip route replace default via {}'",
            none.prefix_len, none.gateway
        )
    };
    assert!(ok(&take(all.ip)));
    assert!(
        !reach(Some(pn), elsewhere, 600),
        "a neighbour's address brought its egress policy"
    );
    // Its own address back: its port carries its traffic again (the machine
    // reaches a service in it).
    assert!(ok(&take(none.ip)));
    tcp_server(pn, 8080);
    assert_eq!(
        tcp_ask(SocketAddr::from((none.ip, 8080))).unwrap(),
        format!("{} hi", none.gateway)
    );
    pg.shutdown_cleanup().await.unwrap();
    env.assert_clean();
}
