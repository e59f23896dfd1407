//! The browser playground in a real headless Chromium: `dockhand serve` on its own
//! data root and names, the UI bundle from `scripts/build-web`, and the scenarios
//! of `tests/e2e/playground.mjs` (Playwright): start a session, run a container,
//! open a published port through its link, a second tab, node2 pinging node1,
//! another session's isolation, a dropped terminal socket and a reload that
//! restore the screen without repeats; the layouts from a phone to a desktop,
//! presenter mode, keyboard-only use, copy and paste. Screenshots go to
//! `target/e2e-artifacts/`.
//!
//! `bench_playground` (ignored; `scripts/bench-playground` runs it) prints
//! click-to-prompt, keystroke echo and the server's memory with 50 and 200 sessions.

use dockhand_tests::serve::{browser_runner, json_str, Serve};
use std::time::{Duration, Instant};

/// Run `tests/e2e/playground.mjs` in `mode` against `serve`.
fn run_browser(
    serve: &Serve,
    node: &std::path::Path,
    chromium: &std::path::Path,
    mode: &str,
    limit: Duration,
) -> (String, bool) {
    dockhand_tests::serve::run_browser(serve, node, chromium, "playground.mjs", mode, limit)
}

#[test]
fn playground_in_a_real_browser() {
    dockhand_tests::require_root!();
    let Some((node, chromium)) = browser_runner() else {
        return;
    };
    let mut serve = Serve::start(&[]);
    let (out, ok) = run_browser(&serve, &node, &chromium, "e2e", Duration::from_secs(240));
    eprintln!("{out}");
    if !ok {
        let log = serve.log();
        let tail: Vec<&str> = log
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        panic!(
            "the browser scenarios failed (screenshots in target/e2e-artifacts)\nserver log:\n{}",
            tail.join("\n")
        );
    }
    assert!(out.contains("e2e: all"), "{out}");
    // The second session is still open: stopping the server removes its instance.
    serve.shutdown();
    assert_eq!(
        serve.vhost_records(),
        Vec::<String>::new(),
        "instances left after shutdown"
    );
    assert_eq!(
        serve.leftover_mounts(),
        Vec::<String>::new(),
        "mounts left after shutdown"
    );
    assert_eq!(serve.leftover_session_bridges(), Vec::<String>::new());
}

/// `serve --port-domain localhost`: port links are host names, and an app
/// with absolute paths works behind one (Chromium resolves *.localhost to
/// loopback by itself).
#[test]
fn host_name_port_links_in_a_real_browser() {
    dockhand_tests::require_root!();
    let Some((node, chromium)) = browser_runner() else {
        return;
    };
    let serve = Serve::start(&["--port-domain", "localhost"]);
    let (out, ok) = run_browser(&serve, &node, &chromium, "hosts", Duration::from_secs(120));
    eprintln!("{out}");
    assert!(ok && out.contains("hosts: all"), "{out}\n{}", serve.log());
}

/// The playground at every size: terminal columns at 390, 640, 1280 and 1920 px
/// (screenshots of each layout in target/e2e-artifacts), the instance list and the
/// panels reachable at each, presenter mode and high contrast, font size keys,
/// screen-reader mode, labels, a keyboard-only session, copy and multi-line paste.
#[test]
fn playground_at_every_size_in_a_real_browser() {
    dockhand_tests::require_root!();
    let Some((node, chromium)) = browser_runner() else {
        return;
    };
    let mut serve = Serve::start(&[]);
    let (out, ok) = run_browser(&serve, &node, &chromium, "sizes", Duration::from_secs(240));
    eprintln!("{out}");
    assert!(ok && out.contains("sizes: all"), "{out}\n{}", serve.log());
    serve.shutdown();
    assert_eq!(serve.vhost_records(), Vec::<String>::new());
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Open `n` sessions with one instance each through the API (returns how many
/// instances were made).
fn open_sessions(serve: &Serve, n: usize, with_instances: bool) -> (usize, Vec<f64>) {
    let mut made = 0;
    let mut times = vec![];
    for _ in 0..n {
        let (st, body) = serve.http("POST", "/api/sessions", None, "{}");
        assert_eq!(st, 201, "{body}");
        if with_instances {
            let (id, token) = (json_str(&body, "id"), json_str(&body, "token"));
            let t0 = Instant::now();
            let (st, body) = serve.http(
                "POST",
                &format!("/api/sessions/{id}/instances"),
                Some(&token),
                "",
            );
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
            if st != 201 {
                eprintln!("instance {made}: {st} {body}");
                break;
            }
            made += 1;
        }
    }
    (made, times)
}

#[test]
#[ignore = "a benchmark: scripts/bench-playground"]
fn bench_playground() {
    dockhand_tests::require_root!();
    let Some((node, chromium)) = browser_runner() else {
        return;
    };
    {
        let serve = Serve::start(&[]);
        let (out, ok) = run_browser(&serve, &node, &chromium, "bench", Duration::from_secs(300));
        println!("{}", out.trim_end());
        assert!(ok, "the browser benchmark failed");
    }
    let with_instances = std::env::var("BENCH_NO_INSTANCES").is_err();
    let serve = Serve::start(&["--max-sessions", "250", "--max-total-instances", "250"]);
    let idle = serve.rss_kib().unwrap_or(0);
    println!("server RSS with no session: {} MiB", idle / 1024);
    let (mut created, mut instances) = (0, 0);
    let mut all_times = vec![];
    for target in [50usize, 200] {
        let (made, mut times) = open_sessions(&serve, target - created, with_instances);
        all_times.append(&mut times);
        created = target;
        instances += made;
        std::thread::sleep(Duration::from_secs(2));
        let rss = serve.rss_kib().unwrap_or(0);
        let what = if with_instances {
            format!("{instances} instances with a shell each")
        } else {
            "no instances".to_string()
        };
        println!(
            "server RSS with {target} open sessions ({what}): {} MiB",
            rss / 1024
        );
    }
    if !all_times.is_empty() {
        println!(
            "instance creation through the API: median {:.0} ms",
            median(&mut all_times)
        );
    }
}
