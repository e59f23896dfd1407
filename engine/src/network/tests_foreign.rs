//! Real-kernel tests (root): links that Dockhand did not create survive every
//! removal path of the network managers (network rm, prune, reconcile after a
//! crash, shutdown cleanup, playground detach and cleanup), and a network's
//! subnet may not overlap a route the host already has. Each test makes its
//! foreign objects first, under its own names, and removes them itself.

use super::tests::{sh, Env};
use super::tests_playground::PgEnv;
use super::*;

/// Whether the link exists.
fn exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// The IPv4 addresses (CIDR) on a link.
fn addrs(name: &str) -> Vec<String> {
    sh(&format!("ip -4 -o addr show dev {name}"))
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect()
}

/// The bridge a port is on.
fn master(port: &str) -> String {
    std::fs::read_link(format!("/sys/class/net/{port}/master"))
        .ok()
        .and_then(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

fn alias(name: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifalias"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_bridge_and_its_own_address_survive_rm_prune_and_shutdown() {
    crate::testing::require_root!();
    let mut env = Env::new();
    let x = env.x;
    let foreign = format!("dfb{}", env.tag);
    env.extra_links.push(foreign.clone());
    sh(&format!(
        "ip link add {foreign} type bridge && ip addr add 10.215.{x}.200/24 dev {foreign} && ip link set {foreign} up"
    ));
    let opts = |subnet: &str| CreateOptions {
        subnet: Some(subnet.into()),
        options: BTreeMap::from([(
            "com.docker.network.bridge.name".to_string(),
            foreign.clone(),
        )]),
        ..Default::default()
    };
    let subnet = format!("10.215.{x}.0/24");
    let ours = format!("10.215.{x}.1/24");
    let theirs = format!("10.215.{x}.200/24");
    let pid = env.container();
    let nets = env.open();

    // network rm, with a container attached and detached first.
    nets.create("adopt", opts(&subnet)).await.unwrap();
    assert_eq!(alias(&foreign), "", "an adopted bridge gets no mark");
    let got = addrs(&foreign);
    assert!(got.contains(&ours) && got.contains(&theirs), "{got:?}");
    let ep = nets
        .connect(super::tests::req("adopt", "c1", "c1", pid))
        .await
        .unwrap();
    assert_eq!(
        alias(&ep.host_veth),
        bridge::owner_mark(&env.cfg.chain_prefix)
    );
    nets.release_container("c1").await.unwrap();
    assert!(!exists(&ep.host_veth), "our veth goes");
    nets.remove("adopt").await.unwrap();
    assert!(
        exists(&foreign),
        "network rm deleted a bridge it did not create"
    );
    assert_eq!(
        addrs(&foreign),
        vec![theirs.clone()],
        "only our address goes"
    );

    // network prune.
    nets.create("adopt", opts(&subnet)).await.unwrap();
    assert_eq!(nets.prune().await.unwrap(), vec!["adopt".to_string()]);
    assert!(exists(&foreign), "prune deleted a bridge it did not create");
    assert_eq!(addrs(&foreign), vec![theirs.clone()]);

    // A bridge address that was there before the network is not ours to take.
    sh(&format!("ip addr add {ours} dev {foreign}"));
    nets.create("adopt", opts(&subnet)).await.unwrap();
    nets.remove("adopt").await.unwrap();
    assert!(addrs(&foreign).contains(&ours), "{:?}", addrs(&foreign));
    sh(&format!("ip addr del {ours} dev {foreign}"));

    // Shutdown cleanup, and a daemon crash then restart (reconcile).
    nets.create("adopt", opts(&subnet)).await.unwrap();
    drop(nets);
    let nets = env.open();
    nets.reconcile(&|_| false).await.unwrap();
    assert!(exists(&foreign));
    nets.shutdown_cleanup().await.unwrap();
    assert!(
        exists(&foreign),
        "shutdown cleanup deleted a bridge it did not create"
    );
    assert_eq!(addrs(&foreign), vec![theirs.clone()]);
    nets.reconcile(&|_| false).await.unwrap();
    nets.remove("adopt").await.unwrap();
    assert_eq!(addrs(&foreign), vec![theirs]);
    nets.shutdown_cleanup().await.unwrap();
    sh(&format!("ip link del {foreign}"));
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_bridge_may_be_an_existing_bridge_and_stays() {
    crate::testing::require_root!();
    let mut env = Env::new();
    let name = env.cfg.bridge_name.clone();
    sh(&format!("ip link add {name} type bridge"));
    env.extra_links.push(name.clone());
    let nets = env.open();
    nets.reconcile(&|_| false).await.unwrap();
    let gw = format!("{}/24", nets.host_gateway());
    assert!(addrs(&name).contains(&gw));
    nets.shutdown_cleanup().await.unwrap();
    assert!(exists(&name), "the adopted default bridge was deleted");
    assert!(
        addrs(&name).is_empty(),
        "our address stays: {:?}",
        addrs(&name)
    );
    sh(&format!("ip link del {name}"));
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_leaves_links_named_like_ours_that_we_did_not_make() {
    crate::testing::require_root!();
    let mut env = Env::new();
    let pid = env.container();
    let nets = env.open();
    nets.create("app", CreateOptions::default()).await.unwrap();
    let bridge = nets.find("app").unwrap().bridge;
    assert_eq!(alias(&bridge), bridge::owner_mark(&env.cfg.chain_prefix));
    nets.connect(super::tests::req("app", "c1", "c1", pid))
        .await
        .unwrap();
    // Somebody's bridge with our user-bridge prefix, and somebody's port on our
    // bridge; then one bridge of ours that no record explains (a crash).
    let lookalike = format!("{}ffff", env.cfg.user_bridge_prefix);
    let port = format!("vfp{}", env.tag);
    let stray = format!("{}eeee", env.cfg.user_bridge_prefix);
    for l in [&lookalike, &port, &stray] {
        env.extra_links.push(l.clone());
    }
    let mark = bridge::owner_mark(&env.cfg.chain_prefix);
    sh(&format!(
        "ip link add {lookalike} type bridge && \
         ip link add {port} type veth peer name {port}p && ip link set {port} master {bridge} && \
         ip link add {stray} type bridge && ip link set {stray} alias {mark}"
    ));
    drop(nets);
    let nets = env.open();
    let report = nets.reconcile(&|c| c == "c1").await.unwrap();
    assert_eq!(report.removed_links, 1, "{report:?}");
    assert!(!exists(&stray), "our stray bridge goes");
    assert!(
        exists(&lookalike) && exists(&port),
        "what is not ours stays"
    );
    // Shutdown cleanup deletes our bridge; the foreign port on it is freed,
    // not deleted.
    nets.shutdown_cleanup().await.unwrap();
    assert!(!exists(&bridge));
    assert!(exists(&port) && exists(&lookalike));
    sh(&format!("ip link del {port}; ip link del {lookalike}"));
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subnet_the_host_already_routes_is_refused_or_skipped() {
    crate::testing::require_root!();
    let mut env = Env::new();
    let x = env.x;
    // The pool is 10.214.x.0/24 in /26s; the host routes the first /26.
    let routed = format!("dfr{}", env.tag);
    env.extra_links.push(routed.clone());
    sh(&format!(
        "ip link add {routed} type veth peer name {routed}p && ip addr add 10.214.{x}.1/26 dev {routed} && \
         ip link set {routed}p up && ip link set {routed} up"
    ));
    assert!(
        sh("ip -4 route").contains(&format!("10.214.{x}.0/26 dev {routed}")),
        "the host's route is in place"
    );
    let nets = env.open();
    let err = nets
        .create(
            "routed",
            CreateOptions {
                subnet: Some(format!("10.214.{x}.0/25")),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "requested network overlaps with existing network"
    );
    assert_eq!(err.kind(), crate::error::ErrorKind::Conflict);
    assert!(nets.find("routed").is_err(), "nothing recorded");
    // Without --subnet, the routed block is passed over.
    nets.create("auto", CreateOptions::default()).await.unwrap();
    let got = nets.find("auto").unwrap().subnet.unwrap().to_string();
    assert_eq!(got, format!("10.214.{x}.64/26"));
    // A network adopting the bridge that carries the route may use its subnet.
    let br = format!("dfq{}", env.tag);
    env.extra_links.push(br.clone());
    sh(&format!(
        "ip link add {br} type bridge && ip addr add 10.216.{x}.9/24 dev {br} && ip link set {br} up"
    ));
    nets.create(
        "adopt",
        CreateOptions {
            subnet: Some(format!("10.216.{x}.0/24")),
            options: BTreeMap::from([("com.docker.network.bridge.name".to_string(), br.clone())]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    nets.remove("adopt").await.unwrap();
    nets.remove("auto").await.unwrap();
    nets.shutdown_cleanup().await.unwrap();
    sh(&format!("ip link del {routed}; ip link del {br}"));
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_leaves_what_it_did_not_make() {
    crate::testing::require_root!();
    let mut env = PgEnv::new();
    // The common bridge exists already; a session bridge name is taken by a
    // bridge of somebody else's; somebody's port sits on the common bridge.
    let common = env.cfg.bridge.clone();
    let taken = format!("{}0", env.cfg.session_bridge_prefix);
    let port = format!("pfp{}", env.tag);
    for l in [&common, &taken, &port] {
        env.extra_links.push(l.clone());
    }
    sh(&format!(
        "ip link add {common} type bridge && ip link add {taken} type bridge && \
         ip link add {port} type veth peer name {port}p && ip link set {port} master {common}"
    ));
    let (_, na) = env.vhost();
    let (_, nb) = env.vhost();
    let pg = env.open();
    let a = pg.attach("a", &na, None, Egress::None).await.unwrap();
    assert_eq!(master(&a.host_veth), common);
    let b = pg.attach("b", &nb, Some("s1"), Egress::None).await.unwrap();
    let b_bridge = master(&b.host_veth);
    assert!(
        b_bridge.starts_with(&env.cfg.session_bridge_prefix),
        "{b_bridge}"
    );
    assert_ne!(b_bridge, taken, "a taken session bridge name is skipped");
    pg.detach("b").await.unwrap();
    assert!(
        !exists(&b_bridge),
        "our session bridge goes with its last member"
    );
    assert!(exists(&taken));
    drop(pg);
    let pg = env.open();
    pg.reconcile(&|v| v == "a").await.unwrap();
    assert!(exists(&port) && exists(&taken), "reconcile leaves them");
    pg.shutdown_cleanup().await.unwrap();
    assert!(!exists(&a.host_veth), "our port goes");
    for l in [&common, &taken, &port] {
        assert!(exists(l), "{l} was deleted");
    }
    assert!(addrs(&common).is_empty(), "{:?}", addrs(&common));
    sh(&format!(
        "ip link del {port}; ip link del {taken}; ip link del {common}"
    ));
    env.assert_clean();
}

/// A link made in the request before its alias (the daemon was killed between
/// the two) carries only our group, and is still ours: a network whose bridge
/// it is takes it back with the alias, reconcile removes it when no record
/// explains it, and so does `scripts/net-cleanup`; a link of another group
/// stays through all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_killed_before_its_alias_is_known_by_its_group() {
    crate::testing::require_root!();
    let mut env = Env::new();
    let mark = bridge::owner_mark(&env.cfg.chain_prefix);
    let group = bridge::owner_group(&mark);
    let prefix = env.cfg.user_bridge_prefix.clone();
    let (half, kept, other) = (
        format!("{prefix}dddd"),
        format!("{prefix}bbbb"),
        format!("{prefix}cccc"),
    );
    for l in [&half, &kept, &other] {
        env.extra_links.push(l.clone());
    }
    sh(&format!(
        "ip link add {half} group {group} type bridge && ip link add {kept} group {group} type bridge \
         && ip link add {other} group 7 type bridge"
    ));
    assert_eq!(
        std::fs::read_to_string(format!("/sys/class/net/{half}/netdev_group"))
            .unwrap()
            .trim(),
        group.to_string()
    );
    let nets = env.open();
    let opts = CreateOptions {
        options: BTreeMap::from([("com.docker.network.bridge.name".to_string(), kept.clone())]),
        ..Default::default()
    };
    nets.create("app", opts).await.unwrap();
    assert_eq!(alias(&kept), mark, "ours again, with its alias");
    assert!(!nets.find("app").unwrap().gateway_added, "not adopted");

    let report = nets.reconcile(&|_| false).await.unwrap();
    assert_eq!(report.removed_links, 1, "{report:?}");
    assert!(!exists(&half) && exists(&other));
    nets.remove("app").await.unwrap();
    assert!(!exists(&kept), "it goes with its network");

    // For a daemon that is not running: the script computes the same group.
    sh(&format!("ip link add {half} group {group} type bridge"));
    drop(nets);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/net-cleanup");
    let out = std::process::Command::new(&script)
        .arg(&env.cfg.chain_prefix)
        .output()
        .expect("net-cleanup");
    assert!(out.status.success(), "{out:?}");
    assert!(!exists(&half), "net-cleanup removes it");
    assert!(exists(&other), "a link of another group stays");
    sh(&format!("ip link del {other}"));
    env.assert_clean();
}
