//! Leak cycles (a shorter version of `scripts/bench-leaks`): after a warm-up,
//! many `run --rm` cycles (half of them publishing a port) and virtual host
//! create / run / remove cycles leave no more mounts, links, network
//! namespaces, cgroups, loop devices, firewall rules or daemon file
//! descriptors than before, and the daemon's memory within 10 %.
//! The counts are this daemon's own (see `holdings`).

use dockhand_tests::holdings::Holdings;
use dockhand_tests::Daemon;

#[test]
fn run_rm_and_virtual_host_cycles_leave_nothing_behind() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let run = |i: usize| {
        if i.is_multiple_of(2) {
            d.cli(&["run", "--rm", "busybox", "true"]).ok();
        } else {
            d.cli(&["run", "--rm", "-p", "80", "busybox", "true"]).ok();
        }
    };
    (0..10).for_each(run);
    let before = Holdings::settled(&d.scope());
    // `run --rm` returns once the container is gone with its link, ports and
    // rules, as docker's does: the network is released before the container
    // is seen stopped.
    for _ in 0..3 {
        d.cli(&["run", "--rm", "-p", "80", "busybox", "true"]).ok();
        let now = Holdings::take(&d.scope());
        let left: Vec<String> = before
            .growth(&now)
            .into_iter()
            .filter(|g| g.starts_with("links") || g.starts_with("iptables"))
            .collect();
        assert!(left.is_empty(), "right after run --rm -p: {left:?}");
    }
    // The counts see what a container holds: a running one with a published
    // port shows in each kind it uses (its mounts are in its own namespace).
    d.cli(&[
        "run",
        "-d",
        "--name",
        "leak-probe",
        "-p",
        "80",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let seen = before.growth(&Holdings::settled(&d.scope()));
    for kind in ["links", "network namespaces", "cgroups"] {
        assert!(
            seen.iter().any(|g| g.starts_with(kind)),
            "{kind} not seen: {seen:?}"
        );
    }
    assert!(
        seen.iter()
            .any(|g| g.starts_with("iptables") || g.starts_with("nftables")),
        "no firewall rule seen: {seen:?}"
    );
    d.cli(&["rm", "-f", "leak-probe"]).ok();
    (0..60).for_each(run);
    let after = Holdings::settled(&d.scope());
    let grown = before.growth(&after);
    assert!(grown.is_empty(), "after 60 run --rm: {grown:?}");

    let host = |i: usize| {
        let name = format!("leak{i}");
        d.cli(&["host", "create", &name]).ok();
        d.vhost_cli(&name, &["run", "--rm", "busybox", "true"]).ok();
        d.cli(&["host", "rm", "-f", &name]).ok();
    };
    (0..3).for_each(host);
    let before = Holdings::settled(&d.scope());
    // A live virtual host shows too: its disk, its namespaces, its cgroup.
    d.cli(&["host", "create", "leak-probe"]).ok();
    let seen = before.growth(&Holdings::settled(&d.scope()));
    for kind in [
        "mounts",
        "loop devices",
        "links",
        "network namespaces",
        "cgroups",
    ] {
        assert!(
            seen.iter().any(|g| g.starts_with(kind)),
            "{kind} not seen: {seen:?}"
        );
    }
    d.cli(&["host", "rm", "-f", "leak-probe"]).ok();
    (3..13).for_each(host);
    let after = Holdings::settled(&d.scope());
    let grown = before.growth(&after);
    assert!(grown.is_empty(), "after 10 virtual hosts: {grown:?}");
}
