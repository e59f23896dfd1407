//! Hostile input over HTTP: random query strings and JSON bodies on the
//! Engine API's endpoints get answers below 500 (a clear 4xx with Docker's
//! `{"message": ...}` when refused) and never take the daemon down; oversized
//! heads and bodies are refused; slow clients (slowloris) and 500 concurrent
//! connections on one virtual host's socket leave another virtual host's
//! clients served, and the daemon's descriptors bounded by the socket's cap;
//! runaway `--format` templates end in an error, not a crash.
//!
//! The seed of the random inputs is printed; `DOCKHAND_HOSTILE_SEED=N`
//! replays it. Latencies under attack are figures: `scripts/bench-hostile`.

use dockhand_tests::registry::percent_encode as encode;
use dockhand_tests::rng::Rng;
use dockhand_tests::Daemon;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// One raw HTTP/1.1 exchange on a unix socket: (status, body). The
/// connection is closed by the server after the answer.
fn raw(socket: &Path, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = UnixStream::connect(socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = head.as_bytes().to_vec();
    req.extend_from_slice(body);
    // The server may answer and close before reading a refused body whole.
    let _ = s.write_all(&req);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn request(socket: &Path, method: &str, path: &str, body: Option<&[u8]>) -> (u16, String) {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n");
    if let Some(b) = body {
        head += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        );
    }
    head += "\r\n";
    raw(socket, &head, body.unwrap_or_default())
}

/// Values that break parsers: wrong types, extremes, escapes, traversal,
/// broken JSON, control characters, long strings.
fn hostile_values() -> Vec<String> {
    vec![
        String::new(),
        "0".into(),
        "-1".into(),
        "99999999999999999999999".into(),
        "1e309".into(),
        "NaN".into(),
        "true".into(),
        "null".into(),
        "../../../../etc/passwd".into(),
        "/".into(),
        "\0".into(),
        "{".into(),
        "[".into(),
        "{\"label\":[\"\0\"]}".into(),
        "{\"dangling\":{\"maybe\":true}}".into(),
        "{\"until\":[\"-99999999999\"]}".into(),
        "{\"status\":[\"nonsense\"],\"id\":5}".into(),
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".into(),
        "\u{202e}\u{feff}é".into(),
        "a".repeat(70_000),
        "busybox:latest@sha256:zz".into(),
        "localhost:1/x".into(),
        "SIGKILL".into(),
        "999".into(),
        "x".into(),
    ]
}

/// JSON values for body fields.
fn hostile_json(rng: &mut Rng) -> serde_json::Value {
    use serde_json::json;
    let deep = (0..200).fold(json!(1), |v, _| json!([v]));
    let choices = [
        json!(null),
        json!(-1),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1.5e300),
        json!(""),
        json!("../../.."),
        json!("\u{0}"),
        json!([]),
        json!({}),
        json!(["/:/host"]),
        json!({"a": {"b": {"c": []}}}),
        json!("x".repeat(100_000)),
        deep,
        json!(true),
    ];
    rng.pick(&choices).cloned().unwrap()
}

/// Replace one field (at any depth) of `v` with a hostile value, or drop it.
fn mutate(v: &mut serde_json::Value, rng: &mut Rng) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let k = rng.pick(&keys).unwrap().clone();
            match rng.below(4) {
                0 => {
                    m.remove(&k);
                }
                1 => mutate(m.get_mut(&k).unwrap(), rng),
                _ => {
                    m.insert(k, hostile_json(rng));
                }
            }
        }
        _ => *v = hostile_json(rng),
    }
}

#[test]
fn random_query_strings_and_bodies_are_answered_below_500() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["run", "--name", "target", "busybox", "true"]).ok();
    let sock = d.socket.clone();
    let (mut rng, _) = Rng::from_env("DOCKHAND_HOSTILE_SEED");
    let values = hostile_values();
    // (method, path, query keys) of endpoints that only read or act on the
    // daemon's own objects (no pulls: no traffic leaves the machine).
    let queries: &[(&str, &str, &[&str])] = &[
        (
            "GET",
            "/containers/json",
            &["all", "limit", "size", "filters"],
        ),
        ("GET", "/images/json", &["all", "filters", "digests"]),
        ("GET", "/networks", &["filters"]),
        ("GET", "/volumes", &["filters"]),
        // `until` is set below, so that a valid query ends.
        ("GET", "/events", &["since", "filters"]),
        (
            "GET",
            "/containers/target/logs",
            &["stdout", "tail", "since", "timestamps"],
        ),
        ("GET", "/containers/target/json", &["size"]),
        ("GET", "/containers/target/archive", &["path"]),
        ("GET", "/containers/target/top", &["ps_args"]),
        ("GET", "/images/busybox/json", &[]),
        ("GET", "/images/get", &["names"]),
        ("GET", "/system/df", &["type"]),
        ("POST", "/containers/target/kill", &["signal"]),
        ("POST", "/containers/target/wait", &["condition"]),
        ("POST", "/containers/target/rename", &["name"]),
        ("POST", "/containers/target/resize", &["h", "w"]),
        ("POST", "/images/busybox/tag", &["repo", "tag"]),
        ("POST", "/containers/prune", &["filters"]),
        ("POST", "/networks/prune", &["filters"]),
        ("POST", "/commit", &["container", "repo", "tag", "changes"]),
        ("DELETE", "/containers/nosuch", &["force", "v"]),
        ("DELETE", "/images/nosuch", &["force", "noprune"]),
    ];
    let bodies: Vec<(&str, serde_json::Value)> = vec![
        (
            "/containers/create",
            serde_json::json!({"Image": "busybox", "Cmd": ["true"], "Env": ["A=1"],
                "HostConfig": {"Memory": 0, "PortBindings": {"80/tcp": [{"HostPort": ""}]},
                    "Binds": [], "RestartPolicy": {"Name": "no"}, "NanoCpus": 0},
                "ExposedPorts": {"80/tcp": {}}, "Labels": {"a": "b"}}),
        ),
        (
            "/networks/create",
            serde_json::json!({"Name": "hn", "Driver": "bridge",
                "IPAM": {"Config": [{"Subnet": "10.99.0.0/24"}]}, "Options": {}}),
        ),
        (
            "/volumes/create",
            serde_json::json!({"Name": "hv", "Driver": "local", "Labels": {}}),
        ),
        (
            "/containers/target/exec",
            serde_json::json!({"Cmd": ["true"], "AttachStdout": true, "Env": [], "User": ""}),
        ),
        (
            "/containers/target/update",
            serde_json::json!({"Memory": 0, "CpuShares": 2, "RestartPolicy": {"Name": "no"}}),
        ),
    ];
    let mut fives = vec![];
    let mut answered = 0;
    for i in 0..400 {
        let (status, body, what) = if i % 2 == 0 {
            let (method, path, keys) = queries[rng.below(queries.len() as u64) as usize];
            let mut q = vec![];
            for _ in 0..=rng.below(3) {
                let key = match rng.pick(keys) {
                    Some(k) if rng.below(4) > 0 => k.to_string(),
                    _ => rng.pick(&values).unwrap().clone(),
                };
                q.push(format!(
                    "{}={}",
                    encode(&key),
                    encode(rng.pick(&values).unwrap())
                ));
            }
            let target = format!("/v1.47{path}?{}", q.join("&"));
            let (s, b) = if path == "/events" {
                // A stream: bounded by `until` so that a valid query ends.
                request(&sock, method, &format!("{target}&until=1"), None)
            } else {
                request(&sock, method, &target, None)
            };
            (s, b, format!("{method} {target:.300}"))
        } else {
            let (path, valid) = rng.pick(&bodies).unwrap();
            let mut v = valid.clone();
            for _ in 0..=rng.below(3) {
                mutate(&mut v, &mut rng);
            }
            let mut text = serde_json::to_vec(&v).unwrap();
            if rng.below(6) == 0 {
                // Truncated or with bytes that are not UTF-8.
                let cut = rng.below(text.len() as u64) as usize;
                text.truncate(cut);
                if rng.below(2) == 0 {
                    text.extend_from_slice(b"\xff\xfe");
                }
            }
            let target = format!("/v1.47{path}");
            let (s, b) = request(&sock, "POST", &target, Some(&text));
            let shown = String::from_utf8_lossy(&text);
            (s, b, format!("POST {target} {shown:.300}"))
        };
        assert!(status != 0, "no answer to {what}");
        if status >= 500 {
            fives.push(format!("{status} {what}: {body:.300}"));
        } else if status == 414 || status == 431 {
            // Refused by the HTTP layer before any handler (as Go's server
            // refuses an oversized head).
        } else if status >= 400 {
            let v: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{what}: {status} body is not JSON ({e}): {body:.300}"));
            assert!(
                v["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{what}: {status} without a message: {body:.300}"
            );
        }
        answered += 1;
    }
    assert!(fives.is_empty(), "answered with 5xx:\n{}", fives.join("\n"));
    assert_eq!(answered, 400);
    // The daemon is whole: it answers and runs containers.
    assert_eq!(request(&sock, "GET", "/_ping", None), (200, "OK".into()));
    assert_eq!(
        d.cli(&["run", "--rm", "busybox", "echo", "still here"])
            .ok(),
        "still here"
    );
}

#[test]
fn oversized_heads_and_bodies_are_refused() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let big_header = format!(
        "GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    assert_eq!(raw(&d.socket, &big_header, b"").0, 431);
    let many = format!(
        "GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n{}\r\n",
        (0..500)
            .map(|i| format!("X-{i}: y\r\n"))
            .collect::<String>()
    );
    assert_eq!(raw(&d.socket, &many, b"").0, 431);
    // 64 MiB of JSON where a create body is a few kilobytes.
    let mut body = br#"{"Image":"busybox","Labels":{"a":""#.to_vec();
    body.extend(std::iter::repeat_n(b'x', 64 << 20));
    body.extend_from_slice(br#""}}"#);
    let (status, text) = request(&d.socket, "POST", "/v1.47/containers/create", Some(&body));
    assert_eq!(status, 413, "{text:.300}");
    assert!(text.contains("message"), "{text:.300}");
    assert_eq!(d.cli(&["ps", "-aq"]).ok(), "", "nothing was created");
    assert_eq!(request(&d.socket, "GET", "/_ping", None).0, 200);
}

/// Open descriptors of a process.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|r| r.count())
        .unwrap_or(0)
}

#[test]
fn slow_and_many_clients_of_one_virtual_host_leave_others_served() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["host", "create", "noisy"]).ok();
    d.cli(&["host", "create", "quiet"]).ok();
    let noisy = d
        .cli(&["host", "inspect", "-f", "{{.Socket}}", "noisy"])
        .ok();
    let pid = d.scope().pid;
    let before = fds(pid);
    // 500 connections from one tenant, each sending a head a byte at a time
    // and never finishing it (slowloris).
    let mut slow = vec![];
    for _ in 0..500 {
        let s = UnixStream::connect(&noisy);
        let Ok(mut s) = s else { break };
        s.set_nonblocking(true).unwrap();
        let _ = s.write_all(b"GET /containers/json HTTP/1.1\r\nHost: d\r\nX-Slow: ");
        slow.push(s);
    }
    assert!(slow.len() >= 128, "only {} connections opened", slow.len());
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        for s in &mut slow {
            let _ = s.write_all(b"a");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The daemon holds at most the socket's cap of them.
    let held = fds(pid).saturating_sub(before);
    assert!(held <= 128 + 16, "the daemon holds {held} more descriptors");
    // Another tenant and the machine are served all along.
    for _ in 0..10 {
        d.vhost_cli("quiet", &["ps"]).ok();
        d.cli(&["ps"]).ok();
    }
    // The noisy tenant is served again once its connections close.
    drop(slow);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = d.vhost_cli("noisy", &["ps"]);
        if r.code() == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "noisy: {}", r.stderr());
        std::thread::sleep(Duration::from_millis(100));
    }
    // 500 concurrent real requests on the machine's socket are all answered.
    let sock = d.socket.clone();
    let threads: Vec<_> = (0..500)
        .map(|_| {
            let sock = sock.clone();
            std::thread::spawn(move || request(&sock, "GET", "/v1.47/containers/json", None).0)
        })
        .collect();
    let codes: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(codes.iter().all(|&c| c == 200), "{codes:?}");
}

#[test]
fn runaway_format_templates_end_in_an_error() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["create", "--name", "fmt", "busybox"]).ok();
    let deep = "{{if 1}}".repeat(3000) + &"{{end}}".repeat(3000);
    for t in [
        r#"{{define "a"}}{{template "a"}}{{end}}{{template "a"}}"#,
        &deep,
        r#"{{printf "%0999999999d" 1}}"#,
        r#"{{printf (print "%0" "99999" "d") 1}}"#,
        "{{",
        "{{.Nope}}",
        "{{range}}",
    ] {
        let r = d.cli(&["ps", "-a", "--format", t]);
        assert_eq!(r.code(), 1, "{t:.60}: {} {}", r.stdout(), r.stderr());
        let err = r.stderr();
        assert!(err.contains("template"), "{t:.60}: {err}");
        assert!(!err.contains("panicked"), "{t:.60}: {err}");
    }
    assert_eq!(d.cli(&["ps", "-a", "--format", "{{.Names}}"]).ok(), "fmt");
}
