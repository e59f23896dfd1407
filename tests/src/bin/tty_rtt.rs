//! Benchmark helper for `scripts/bench`: the round trip of one keystroke through
//! an attached TTY (type a byte into `attach`, see its echo come back), measured
//! under a real pseudo-terminal. Prints the median and the 99th percentile.
//!
//! Usage: tty_rtt CLI HOST_URI CONTAINER [N]
//! where CLI is our binary or the docker CLI; HOST_URI is passed as DOCKER_HOST.

use dockhand_tests::pty::Pty;
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: tty_rtt CLI HOST_URI CONTAINER [N]");
        std::process::exit(2);
    }
    let n: usize = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(200);
    let mut cmd = Command::new(&args[1]);
    cmd.env("DOCKER_HOST", &args[2]).arg("attach").arg(&args[3]);
    let mut pty = Pty::spawn(cmd, 24, 80);
    let t = Duration::from_secs(10);
    pty.send(b"\r");
    if let Err(seen) = pty.expect("# ", t) {
        eprintln!("no prompt from the attached shell: {seen:?}");
        std::process::exit(1);
    }
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        // Alternate two letters so every echo is told apart from the previous one.
        let key = if i % 2 == 0 { "a" } else { "b" };
        let t0 = Instant::now();
        pty.send(key.as_bytes());
        if pty.expect(key, t).is_err() {
            eprintln!("keystroke {i} was not echoed");
            std::process::exit(1);
        }
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        // Keep the line short: erase what was typed now and then (ctrl-u).
        if i % 50 == 49 {
            pty.send(b"\x15");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    pty.send(b"\x15\x10\x11");
    let _ = pty.wait(Duration::from_secs(5));
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[times.len() / 2];
    let p99 = times[((times.len() as f64 * 0.99).ceil() as usize)
        .saturating_sub(1)
        .min(times.len() - 1)];
    println!("median {median:.2} ms   p99 {p99:.2} ms   (n={n})");
}
