//! Dockhand removes only what it created. Each test first makes objects of
//! somebody else's on the machine (a bridge a network adopts, iptables chains
//! and rules named like ours, an nftables table, a cgroup beside ours, a route)
//! and checks that they survive every removal path: the API through both CLIs,
//! prune, the daemon's shutdown, a crash and restart, and `scripts/net-cleanup`.
//! The test removes its foreign objects itself at the end, also on failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use dockhand_tests::{docker_cli, Daemon};

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sh_ok(cmd: &str) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn exists(link: &str) -> bool {
    Path::new("/sys/class/net").join(link).exists()
}

fn addrs(link: &str) -> Vec<String> {
    sh(&format!("ip -4 -o addr show dev {link}"))
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect()
}

/// Runs the shell `undo` when dropped: the test's foreign objects go whatever
/// happened.
struct Undo(String);

impl Drop for Undo {
    fn drop(&mut self) {
        let _ = Command::new("sh").arg("-c").arg(&self.0).output();
    }
}

/// The daemon's index: its default bridge is 10.250.N.0/24 and its pool
/// 10.(100+N).0.0/16.
fn net_index(d: &Daemon) -> u8 {
    let subnet = d
        .cli(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Subnet}}",
            "bridge",
        ])
        .ok();
    subnet
        .strip_prefix("10.250.")
        .and_then(|r| r.split('.').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected default subnet {subnet}"))
}

fn net_cleanup(tag: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/net-cleanup");
    let out = Command::new(script)
        .args([format!("DH-T{tag}"), format!("DH-P{tag}")])
        .output()
        .expect("net-cleanup");
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn an_adopted_bridge_survives_every_removal_path() {
    dockhand_tests::require_root!();
    let mut d = Daemon::start();
    let n = net_index(&d);
    let tag = d.net_tag();
    let foreign = format!("dhf{tag}");
    let theirs = format!("10.{}.200.254/24", 100 + u16::from(n));
    let ours = format!("10.{}.200.1/24", 100 + u16::from(n));
    let subnet = format!("10.{}.200.0/24", 100 + u16::from(n));
    let _undo = Undo(format!("ip link del {foreign}"));
    sh_ok(&format!(
        "ip link add {foreign} type bridge && ip addr add {theirs} dev {foreign} && ip link set {foreign} up"
    ));
    let opt = format!("com.docker.network.bridge.name={foreign}");
    let create = |d: &Daemon| {
        d.cli(&["network", "create", "-o", &opt, "--subnet", &subnet, "x2"])
            .ok();
        assert_eq!(addrs(&foreign), vec![theirs.clone(), ours.clone()]);
    };
    let check = |path: &str| {
        assert!(
            exists(&foreign),
            "{path} deleted a bridge dockhand did not create"
        );
        assert_eq!(addrs(&foreign), vec![theirs.clone()], "after {path}");
    };

    // The API through our CLI, with a container on the network first.
    create(&d);
    let out = d
        .cli(&[
            "run",
            "--rm",
            "--network",
            "x2",
            "busybox",
            "ip",
            "-4",
            "-o",
            "addr",
            "show",
            "eth0",
        ])
        .ok();
    assert!(
        out.contains(&format!("10.{}.200.2/24", 100 + u16::from(n))),
        "{out}"
    );
    d.cli(&["network", "rm", "x2"]).ok();
    check("network rm");

    // The real docker CLI.
    if docker_cli().is_some() {
        create(&d);
        d.docker(&["network", "rm", "x2"]).ok();
        check("docker network rm");
    } else {
        dockhand_tests::say_skipped("(one step) the real docker CLI is not installed");
    }

    // Prune, and system prune.
    create(&d);
    assert!(d.cli(&["network", "prune", "-f"]).ok().contains("x2"));
    check("network prune");
    create(&d);
    d.cli(&["system", "prune", "-f"]).ok();
    check("system prune");

    // A crash, then a restart that reconciles.
    create(&d);
    d.restart();
    assert!(exists(&foreign));
    assert_eq!(addrs(&foreign), vec![theirs.clone(), ours.clone()]);
    d.cli(&["network", "rm", "x2"]).ok();
    check("network rm after a restart");

    // The daemon's shutdown, then the cleanup script.
    create(&d);
    d.terminate();
    assert!(
        exists(&foreign),
        "shutdown deleted a bridge dockhand did not create"
    );
    net_cleanup(&tag);
    assert!(
        exists(&foreign),
        "net-cleanup deleted a bridge dockhand did not create"
    );
    // net-cleanup did remove what the daemon made: its default bridge.
    assert!(
        !exists(&format!("dhb{tag}")),
        "net-cleanup left our own bridge"
    );
    d.restart();
    d.cli(&["network", "rm", "x2"]).ok();
    check("network rm after net-cleanup");
}

#[test]
fn an_existing_bridge_named_as_the_default_bridge_is_used_and_kept() {
    dockhand_tests::require_root!();
    let mut d = Daemon::start();
    let tag = d.net_tag();
    let bridge = format!("dhb{tag}");
    d.terminate();
    net_cleanup(&tag);
    assert!(!exists(&bridge));
    let _undo = Undo(format!("ip link del {bridge}"));
    sh_ok(&format!("ip link add {bridge} type bridge"));
    d.restart();
    let out = d
        .cli(&["run", "--rm", "busybox", "ip", "-4", "-o", "route"])
        .ok();
    assert!(out.contains("default via 10.250."), "{out}");
    d.terminate();
    net_cleanup(&tag);
    assert!(exists(&bridge), "the adopted default bridge was deleted");
}

#[test]
fn firewall_objects_named_like_ours_survive_cleanup() {
    dockhand_tests::require_root!();
    let mut d = Daemon::start();
    let tag = d.net_tag();
    let p = format!("DH-T{tag}");
    // A chain that merely starts with our prefix, a jump to it, a rule in a
    // built-in chain that names our prefix in a comment, and an nftables table
    // named like our guard.
    let table = format!("DH_P{tag}_guard_other");
    let _undo = Undo(format!(
        "iptables -w -D FORWARD -j {p}-USER; iptables -w -F {p}-USER; iptables -w -X {p}-USER; \
         iptables -w -t nat -D POSTROUTING -s 198.51.100.77/32 -m comment --comment {p}-note -j RETURN; \
         nft delete table bridge {table}"
    ));
    sh_ok(&format!(
        "iptables -w -N {p}-USER && iptables -w -A {p}-USER -j RETURN && iptables -w -A FORWARD -j {p}-USER && \
         iptables -w -t nat -A POSTROUTING -s 198.51.100.77/32 -m comment --comment {p}-note -j RETURN && \
         nft add table bridge {table}"
    ));
    d.cli(&["network", "create", "fw1"]).ok();
    d.cli(&["run", "--rm", "-p", "80", "busybox", "true"]).ok();
    d.cli(&["network", "rm", "fw1"]).ok();
    // A restart reconciles the rules: only tagged rules in our chains may go.
    d.restart();
    let before = sh("iptables-save");
    assert!(
        before.contains(&format!(":{p} ")),
        "our chain exists: {before}"
    );
    for want in [
        format!("-A FORWARD -j {p}-USER"),
        format!("--comment {p}-note"),
    ] {
        assert!(before.contains(&want), "{want} is gone after a restart");
    }
    d.terminate();
    net_cleanup(&tag);
    let after = sh("iptables-save");
    assert!(
        !after.contains(&format!(":{p} ")),
        "net-cleanup removes our chains"
    );
    assert!(!after.contains(&format!(":{p}-FORWARD ")));
    for want in [
        format!(":{p}-USER "),
        format!("-A {p}-USER -j RETURN"),
        format!("-A FORWARD -j {p}-USER"),
        format!("--comment {p}-note -j RETURN"),
    ] {
        assert!(after.contains(&want), "{want} is gone:\n{after}");
    }
    assert!(sh("nft list tables").contains(&table));
}

/// The first cgroup hierarchy root (v1: the pids controller; v2: the root).
fn cgroup_root() -> PathBuf {
    let v1 = Path::new("/sys/fs/cgroup/pids");
    if v1.is_dir() {
        v1.to_path_buf()
    } else {
        PathBuf::from("/sys/fs/cgroup")
    }
}

#[test]
fn cgroups_beside_ours_survive_the_daemon() {
    dockhand_tests::require_root!();
    let mut d = Daemon::start();
    let prefix = std::fs::read_to_string(d.root.join("cgroup-prefix")).expect("prefix");
    let prefix = prefix.trim();
    // Named like ours, and a plain one, each with a child.
    let lookalike = cgroup_root().join(format!("{prefix}-x"));
    let other = cgroup_root().join(format!("foreign-{}", d.net_tag()));
    let _undo = Undo(format!(
        "rmdir {0}/c {0} {1}/c {1}",
        lookalike.display(),
        other.display()
    ));
    for c in [&lookalike, &other] {
        std::fs::create_dir_all(c.join("c")).expect("foreign cgroup");
    }
    d.cli(&["run", "--rm", "-m", "64m", "busybox", "true"]).ok();
    d.cli(&["run", "-d", "--name", "sleeper", "busybox", "sleep", "30"])
        .ok();
    d.restart();
    d.cli(&["rm", "-f", "sleeper"]).ok();
    d.cli(&["system", "prune", "-af"]).ok();
    d.terminate();
    d.restart();
    for c in [&lookalike, &other] {
        assert!(c.join("c").is_dir(), "{} was removed", c.display());
    }
}

#[test]
fn a_subnet_the_machine_routes_is_refused_like_docker() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let n = 100 + u16::from(net_index(&d));
    let link = format!("dhr{}", d.net_tag());
    let _undo = Undo(format!("ip link del {link}"));
    sh_ok(&format!(
        "ip link add {link} type veth peer name {link}p && ip addr add 10.{n}.0.1/24 dev {link} && \
         ip link set {link}p up && ip link set {link} up"
    ));
    let subnet = format!("10.{n}.0.0/16");
    let r = d.cli(&["network", "create", "--subnet", &subnet, "routed"]);
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert_eq!(
        r.stderr().trim(),
        "Error response from daemon: requested network overlaps with existing network"
    );
    if docker_cli().is_some() {
        let r = d.docker(&["network", "create", "--subnet", &subnet, "routed"]);
        assert_eq!(r.code(), 1);
        assert!(
            r.stderr()
                .contains("requested network overlaps with existing network"),
            "{}",
            r.stderr()
        );
    }
    assert!(!d.cli(&["network", "ls"]).ok().contains("routed"));
    // Without --subnet the routed block is passed over.
    d.cli(&["network", "create", "auto"]).ok();
    let got = d
        .cli(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Subnet}}",
            "auto",
        ])
        .ok();
    assert_eq!(got, format!("10.{n}.1.0/24"));
}
