//! Benchmark of virtual hosts (issue 7), run by `scripts/bench-vhost` against a
//! daemon of its own:
//! 1. create-to-prompt: `host create` then `host exec -it HOST sh -l` on a real
//!    pseudo-terminal until the prompt shows, N times; median and spread.
//! 2. memory and kernel objects per idle host (each with a shell and one running
//!    `sleep` container): MemAvailable drop, processes, mounts, cgroups, links.
//! 3. how many such hosts the machine holds with every host still answering
//!    `docker ps` within a second (stops at MAX or at the first slow answer).
//!
//! Usage: vhost_bench CLI HOST_URI [N] [MAX]

use dockhand_tests::pty::Pty;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn cli(bin: &str, uri: &str, args: &[&str]) -> std::process::Output {
    Command::new(bin)
        .arg("-H")
        .arg(uri)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cli")
}

fn ok(bin: &str, uri: &str, args: &[&str]) -> String {
    let o = cli(bin, uri, args);
    if !o.status.success() {
        eprintln!(
            "{args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        );
        std::process::exit(1);
    }
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn mem_available_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn count_lines(path: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .count()
}

fn processes() -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                .count()
        })
        .unwrap_or(0)
}

fn links() -> usize {
    std::fs::read_dir("/sys/class/net")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn netns_count() -> usize {
    let mut seen = std::collections::BTreeSet::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(l) = std::fs::read_link(e.path().join("ns/net")) {
            seen.insert(l);
        }
    }
    seen.len()
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.1), at(0.9))
}

/// A shell in the host: the time until its prompt shows.
fn prompt_time(bin: &str, uri: &str, host: &str) -> Duration {
    let t0 = Instant::now();
    let mut cmd = Command::new(bin);
    cmd.arg("-H")
        .arg(uri)
        .args(["host", "exec", "-it", host, "--", "sh", "-l"]);
    let mut pty = Pty::spawn(cmd, 24, 80);
    if let Err(seen) = pty.expect("# ", Duration::from_secs(10)) {
        eprintln!("no prompt in {host}: {seen:?}");
        std::process::exit(1);
    }
    let took = t0.elapsed();
    pty.send(b"exit\r");
    let _ = pty.wait(Duration::from_secs(5));
    took
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: vhost_bench CLI HOST_URI [N] [MAX]");
        std::process::exit(2);
    }
    let (bin, uri) = (args[1].as_str(), args[2].as_str());
    let n: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(20);
    let max: usize = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(250);

    // 1. Create to prompt.
    let mut total = vec![];
    let mut create = vec![];
    for i in 0..n {
        let name = format!("bench-p{i}");
        let t0 = Instant::now();
        ok(bin, uri, &["host", "create", &name]);
        let c = t0.elapsed();
        let p = prompt_time(bin, uri, &name);
        create.push(c.as_secs_f64() * 1000.0);
        total.push((c + p).as_secs_f64() * 1000.0);
        ok(bin, uri, &["host", "rm", &name]);
    }
    let (m, lo, hi) = median(create);
    println!(
        "host create (API to running init):   median {m:.1} ms (p10 {lo:.1}, p90 {hi:.1}), N={n}"
    );
    let (m, lo, hi) = median(total);
    println!(
        "create + shell prompt (PTY):          median {m:.1} ms (p10 {lo:.1}, p90 {hi:.1}), N={n}"
    );

    // The price of the user namespace and idmapped layers on a container start:
    // the same `run --rm` on the machine and inside a virtual host.
    ok(bin, uri, &["host", "create", "bench-run"]);
    let sock = ok(
        bin,
        uri,
        &["host", "inspect", "-f", "{{.Socket}}", "bench-run"],
    );
    let vuri = format!("unix://{sock}");
    for (label, u) in [
        ("on the machine", uri),
        ("in a virtual host", vuri.as_str()),
    ] {
        for net in ["none", "bridge"] {
            let args = ["run", "--rm", "--net", net, "busybox", "true"];
            ok(bin, u, &args);
            let mut t = vec![];
            for _ in 0..n {
                let t0 = Instant::now();
                ok(bin, u, &args);
                t.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
            let (m, lo, hi) = median(t);
            println!("run --rm --net {net} busybox true {label}: median {m:.1} ms (p10 {lo:.1}, p90 {hi:.1})");
        }
    }
    ok(bin, uri, &["host", "rm", "bench-run"]);

    // 2 and 3. Idle hosts with a shell and a sleep container each.
    let before = (
        mem_available_kib(),
        processes(),
        count_lines("/proc/self/mountinfo"),
        links(),
        netns_count(),
    );
    let mut shells = vec![];
    let mut held = 0;
    let mut worst_ps = Duration::ZERO;
    let sample = |k: usize| -> Vec<usize> {
        // Check a spread of hosts, always including the newest and the first.
        let mut v: Vec<usize> = (0..k).step_by((k / 10).max(1)).collect();
        v.push(k - 1);
        v
    };
    for i in 0..max {
        let name = format!("bench-h{i}");
        if !cli(bin, uri, &["host", "create", &name]).status.success() {
            println!("host {i}: create refused; stopping");
            break;
        }
        let sock = ok(bin, uri, &["host", "inspect", "-f", "{{.Socket}}", &name]);
        let vuri = format!("unix://{sock}");
        ok(bin, &vuri, &["run", "-d", "busybox", "sleep", "100000"]);
        let mut cmd = Command::new(bin);
        cmd.arg("-H")
            .arg(uri)
            .args(["host", "exec", "-it", &name, "--", "sh", "-l"]);
        let mut pty = Pty::spawn(cmd, 24, 80);
        if pty.expect("# ", Duration::from_secs(10)).is_err() {
            println!("host {i}: no shell prompt; stopping");
            break;
        }
        shells.push(pty);
        held = i + 1;
        if held % 25 == 0 || held == max {
            let mut slow = None;
            for k in sample(held) {
                let sock = ok(
                    bin,
                    uri,
                    &[
                        "host",
                        "inspect",
                        "-f",
                        "{{.Socket}}",
                        &format!("bench-h{k}"),
                    ],
                );
                let t0 = Instant::now();
                ok(bin, &format!("unix://{sock}"), &["ps"]);
                let took = t0.elapsed();
                worst_ps = worst_ps.max(took);
                if took > Duration::from_secs(1) {
                    slow = Some((k, took));
                }
            }
            let now = mem_available_kib();
            println!(
                "{held} idle hosts: MemAvailable down {} MiB ({} KiB per host), slowest docker ps {:.0} ms",
                (before.0.saturating_sub(now)) / 1024,
                (before.0.saturating_sub(now)) / held as u64,
                worst_ps.as_secs_f64() * 1000.0
            );
            if let Some((k, took)) = slow {
                println!("host bench-h{k} took {took:?} to answer docker ps; stopping");
                break;
            }
        }
    }
    let after = (
        mem_available_kib(),
        processes(),
        count_lines("/proc/self/mountinfo"),
        links(),
        netns_count(),
    );
    let per = |a: usize, b: usize| (b.saturating_sub(a)) as f64 / held.max(1) as f64;
    println!("held {held} idle hosts (each: a shell and a sleep container), every sampled host answering docker ps within 1 s (slowest {:.0} ms)", worst_ps.as_secs_f64() * 1000.0);
    println!(
        "per idle host: {:.1} MiB of memory, {:.1} processes, {:.1} mounts in the machine's namespace, {:.1} network links on the machine, {:.1} network namespaces",
        (before.0.saturating_sub(after.0)) as f64 / 1024.0 / held.max(1) as f64,
        per(before.1, after.1),
        per(before.2, after.2),
        per(before.3, after.3),
        per(before.4, after.4),
    );
    drop(shells);
    let t0 = Instant::now();
    ok(bin, uri, &["host", "rm", "--all"]);
    println!(
        "removed {held} hosts in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}
