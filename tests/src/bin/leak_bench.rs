//! Leak cycles at scale (issue 18), run by `scripts/bench-leaks` against a
//! daemon of its own: RUNS `run --rm` cycles (every other one publishing a
//! port), then HOSTS virtual host create / run / remove cycles; the machine's
//! counts (mounts, links, network namespaces, cgroups, loop devices, firewall
//! rules, the daemon's open files) and the daemon's memory after the first 50
//! cycles of each and at the end, side by side. Exit status 1 when anything
//! grew (memory: by more than 10 %).
//!
//! Usage: leak_bench CLI HOST_URI DAEMON_PID DATA_ROOT CHAIN_PREFIXES [RUNS] [HOSTS]
//! (CHAIN_PREFIXES: the daemon's chain prefixes, comma-separated)

use dockhand_tests::holdings::{Holdings, Scope};
use std::process::{Command, Stdio};
use std::time::Instant;

fn ok(bin: &str, uri: &str, args: &[&str]) {
    let o = Command::new(bin)
        .arg("-H")
        .arg(uri)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cli");
    if !o.status.success() {
        eprintln!(
            "{args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        );
        std::process::exit(2);
    }
}

/// Runs `cycle` `n` times; the counts after the first `warm` and at the end.
fn phase(
    what: &str,
    n: usize,
    warm: usize,
    take: &dyn Fn() -> Holdings,
    cycle: &dyn Fn(usize),
) -> bool {
    let started = Instant::now();
    let mut first = None;
    for i in 0..n {
        cycle(i);
        if i + 1 == warm.min(n) {
            first = Some(take());
        }
    }
    let last = take();
    let first = first.unwrap_or_else(|| last.clone());
    let per = started.elapsed().as_secs_f64() * 1000.0 / n.max(1) as f64;
    println!("\n{what}: {n} cycles, {per:.0} ms each");
    println!("| | after {} | after {n} |", warm.min(n));
    println!("|---|---|---|");
    for ((name, a), (_, b)) in first.counts.iter().zip(&last.counts) {
        println!("| {name} | {a} | {b} |");
    }
    println!(
        "| daemon memory (KiB) | {} | {} |",
        first.rss_kib, last.rss_kib
    );
    let grown = first.growth(&last);
    for g in &grown {
        println!("GREW {g}");
    }
    grown.is_empty()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!(
            "usage: leak_bench CLI HOST_URI DAEMON_PID DATA_ROOT CHAIN_PREFIXES [RUNS] [HOSTS]"
        );
        std::process::exit(2);
    }
    let (bin, uri) = (args[1].as_str(), args[2].as_str());
    let scope = Scope {
        pid: args[3].parse().expect("pid"),
        root: args[4].clone().into(),
        chain_prefixes: args[5].split(',').map(str::to_string).collect(),
    };
    let runs: usize = args.get(6).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let hosts: usize = args.get(7).and_then(|a| a.parse().ok()).unwrap_or(200);
    let take = || Holdings::settled(&scope);
    let run_ok = phase("run --rm", runs, 50, &take, &|i| {
        if i.is_multiple_of(2) {
            ok(bin, uri, &["run", "--rm", "busybox", "true"]);
        } else {
            ok(bin, uri, &["run", "--rm", "-p", "80", "busybox", "true"]);
        }
    });
    let host_ok = phase("virtual hosts", hosts, 50, &take, &|i| {
        let name = format!("leak{i}");
        ok(bin, uri, &["host", "create", &name]);
        let sock = Command::new(bin)
            .args(["-H", uri, "host", "inspect", "-f", "{{.Socket}}", &name])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        ok(
            bin,
            &format!("unix://{sock}"),
            &["run", "--rm", "busybox", "true"],
        );
        ok(bin, uri, &["host", "rm", "-f", &name]);
    });
    if !(run_ok && host_ok) {
        std::process::exit(1);
    }
}
