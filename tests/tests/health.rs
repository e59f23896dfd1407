//! Health checks end to end: the probe runs in the container, `State.Health`,
//! `ps` and its `health` filter, and the `health_status` events.

use dockhand_tests::Daemon;
use std::time::{Duration, Instant};

/// Poll `inspect -f TEMPLATE` until it prints `want` (bounded).
fn wait_inspect(d: &Daemon, name: &str, template: &str, want: &str, limit: Duration) -> String {
    let end = Instant::now() + limit;
    loop {
        let got = d.cli(&["inspect", "-f", template, name]).ok();
        if got == want || Instant::now() > end {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET /events?since=0&until=now` for container `ok`: the events kept.
fn events_until_now(d: &Daemon) -> String {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let mut curl = std::process::Command::new("curl");
    curl.args(["-s", "--unix-socket"])
        .arg(d.host_uri().trim_start_matches("unix://"))
        .arg(format!(
            "http://localhost/v1.47/events?since=0&until={until}&filters=%7B%22container%22%3A%5B%22ok%22%5D%7D"
        ));
    dockhand_tests::run_command(curl, None, Duration::from_secs(30)).stdout()
}

#[test]
fn a_passing_check_makes_the_container_healthy() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // The daemon keeps events for `since` once they have been asked for.
    events_until_now(&d);
    d.cli(&[
        "run",
        "-d",
        "--name",
        "ok",
        "--health-cmd",
        "echo probed; test -e /tmp/ready",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sh",
        "-c",
        "sleep 1; touch /tmp/ready; sleep 100",
    ])
    .ok();
    // Before the first probe it is starting, and says so in ps.
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.State.Health.Status}}", "ok"])
            .ok(),
        "starting"
    );
    assert!(d
        .cli(&["ps", "--format", "{{.Status}}"])
        .ok()
        .ends_with("(health: starting)"));
    // Failures before /tmp/ready exists, then healthy.
    assert_eq!(
        wait_inspect(
            &d,
            "ok",
            "{{.State.Health.Status}}",
            "healthy",
            Duration::from_secs(10)
        ),
        "healthy"
    );
    let log = d
        .cli(&[
            "inspect",
            "-f",
            "{{range .State.Health.Log}}{{.ExitCode}}:{{.Output}}|{{end}}",
            "ok",
        ])
        .ok();
    assert!(log.contains("0:probed\n|"), "{log}");
    assert!(
        log.split('|').filter(|e| !e.is_empty()).count() <= 5,
        "{log}"
    );
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.State.Health.FailingStreak}}", "ok"])
            .ok(),
        "0"
    );
    assert!(d
        .cli(&["ps", "--format", "{{.Status}}"])
        .ok()
        .ends_with("(healthy)"));
    assert_eq!(
        d.cli(&["ps", "-q", "--filter", "health=healthy"])
            .ok()
            .len(),
        12
    );
    assert_eq!(
        d.cli(&["ps", "-q", "--filter", "health=unhealthy"]).ok(),
        ""
    );
    assert_eq!(d.cli(&["ps", "-q", "--filter", "health=none"]).ok(), "");
    let r = d.cli(&["ps", "--filter", "health=sick"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr()
            .contains("Unrecognised filter value for health: sick"),
        "{}",
        r.stderr()
    );
    // The status change came as an event.
    let ev = events_until_now(&d);
    assert!(ev.contains(r#""Action":"health_status: healthy""#), "{ev}");
    // Probes leave no exec records behind once the container stopped.
    d.cli(&["kill", "ok"]).ok();
    assert_eq!(
        wait_inspect(
            &d,
            "ok",
            "{{json .ExecIDs}}",
            "null",
            Duration::from_secs(5)
        ),
        "null"
    );
    d.cli(&["rm", "-f", "ok"]).ok();
}

#[test]
fn failing_probes_make_it_unhealthy_after_the_retries() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&[
        "run",
        "-d",
        "--name",
        "bad",
        "--health-cmd",
        "echo nope; exit 1",
        "--health-interval",
        "200ms",
        "--health-retries",
        "3",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    assert_eq!(
        wait_inspect(
            &d,
            "bad",
            "{{.State.Health.Status}}",
            "unhealthy",
            Duration::from_secs(10)
        ),
        "unhealthy"
    );
    let streak: i64 = d
        .cli(&["inspect", "-f", "{{.State.Health.FailingStreak}}", "bad"])
        .ok()
        .parse()
        .unwrap();
    assert!(streak >= 3, "{streak}");
    assert!(d
        .cli(&["ps", "--format", "{{.Status}}"])
        .ok()
        .ends_with("(unhealthy)"));
    // A probe over its timeout fails with moby's message.
    d.cli(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 5",
        "--health-interval",
        "200ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    assert_eq!(
        wait_inspect(
            &d,
            "slow",
            "{{.State.Health.Status}}",
            "unhealthy",
            Duration::from_secs(10)
        ),
        "unhealthy"
    );
    let out = d
        .cli(&[
            "inspect",
            "-f",
            "{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}",
            "slow",
        ])
        .ok();
    assert!(
        out.contains("-1 Health check exceeded timeout (300ms)"),
        "{out}"
    );
    // A probe past its timeout is killed, as moby kills it: they do not pile
    // up (one every 500 ms, each would live 5 s).
    std::thread::sleep(Duration::from_millis(1500));
    let ps = d.cli(&["exec", "slow", "ps", "-o", "pid,args"]).ok();
    let probes = ps.lines().filter(|l| l.contains("sleep 5")).count();
    assert!(probes <= 1, "probes left running:\n{ps}");
    // Within the start period failures do not count: still starting.
    d.cli(&[
        "run",
        "-d",
        "--name",
        "early",
        "--health-cmd",
        "exit 1",
        "--health-interval",
        "200ms",
        "--health-start-period",
        "1m",
        "--health-start-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        d.cli(&[
            "inspect",
            "-f",
            "{{.State.Health.Status}} {{.State.Health.FailingStreak}}",
            "early"
        ])
        .ok(),
        "starting 0"
    );
    let n: usize = d
        .cli(&["inspect", "-f", "{{len .State.Health.Log}}", "early"])
        .ok()
        .parse()
        .unwrap();
    assert!(n >= 2, "probes ran during the start period: {n}");
    for c in ["bad", "slow", "early"] {
        d.cli(&["rm", "-f", c]).ok();
    }
}

#[test]
fn no_healthcheck_and_none_disable_an_images_check() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let ctx = dockhand_tests::build_context(&[(
        "Dockerfile",
        "FROM busybox\nHEALTHCHECK --interval=200ms --retries=1 CMD exit 1\nCMD [\"sleep\", \"100\"]\n",
    )]);
    d.cli(&[
        "build",
        "-q",
        "-t",
        "checked",
        &ctx.path().display().to_string(),
    ])
    .ok();
    // The image's check runs...
    d.cli(&["run", "-d", "--name", "img", "checked"]).ok();
    assert_eq!(
        wait_inspect(
            &d,
            "img",
            "{{.State.Health.Status}}",
            "unhealthy",
            Duration::from_secs(10)
        ),
        "unhealthy"
    );
    // ...unless disabled: no Health at all, and ps filters it as none.
    d.cli(&["run", "-d", "--name", "off", "--no-healthcheck", "checked"])
        .ok();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        d.cli(&["inspect", "-f", "{{json .State.Health}}", "off"])
            .ok(),
        "null"
    );
    assert_eq!(
        d.cli(&["ps", "--filter", "health=none", "--format", "{{.Names}}"])
            .ok(),
        "off"
    );
    // A restart starts over from "starting".
    d.cli(&["restart", "-t", "0", "img"]).ok();
    let s = d
        .cli(&["inspect", "-f", "{{.State.Health.Status}}", "img"])
        .ok();
    assert!(s == "starting" || s == "unhealthy", "{s}");
    for c in ["img", "off"] {
        d.cli(&["rm", "-f", c]).ok();
    }
}
