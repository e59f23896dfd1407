//! Exec and attach streams over raw HTTP, where a CLI would hide what goes
//! wrong: output that reaches the client with the `101` response (a client such
//! as docker-py, which reads the response through a buffer and the stream from
//! the bare socket, loses it), the stream's framing (the start request's `Tty`
//! decides it, as in moby), attaching to stopped containers (logs, and streams
//! that wait for the next start), detach keys, and exec users.

use dockhand_tests::Daemon;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// Send a request; `upgrade` adds docker's hijack headers.
fn send(d: &Daemon, method: &str, path: &str, body: &str, upgrade: bool) -> UnixStream {
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let hijack = if upgrade {
        "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    } else {
        "Connection: close\r\n"
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: docker\r\n{hijack}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    s
}

/// Read up to the end of the response head; returns it and what came after it
/// in the same reads.
fn read_head(s: &mut UnixStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = s.read(&mut buf).expect("read the response head");
        assert!(n > 0, "connection closed in the head: {got:?}");
        got.extend_from_slice(&buf[..n]);
        if let Some(p) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = got.split_off(p + 4);
            return (String::from_utf8_lossy(&got).into_owned(), rest);
        }
    }
}

fn read_to_end(s: &mut UnixStream, mut got: Vec<u8>) -> Vec<u8> {
    s.read_to_end(&mut got).expect("read the stream to its end");
    got
}

/// A plain API call: status and JSON body (`Null` when empty).
fn call(d: &Daemon, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let mut s = send(d, method, path, body, false);
    let (head, rest) = read_head(&mut s);
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = read_to_end(&mut s, rest);
    let text = String::from_utf8_lossy(&body);
    // Chunked or not, the JSON is the one line between the chunk sizes.
    let json = text
        .lines()
        .find(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Docker's frames: (stream, payload) pairs, payloads of a stream joined.
fn frames(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out: Vec<(u8, Vec<u8>)> = vec![];
    while !b.is_empty() {
        assert!(b.len() >= 8, "a torn frame header: {b:?}");
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        assert!(
            matches!(b[0], 1 | 2) && b[1..4] == [0, 0, 0] && b.len() >= 8 + n,
            "not a frame: {b:?}"
        );
        match out.last_mut() {
            Some((s, data)) if *s == b[0] => data.extend_from_slice(&b[8..8 + n]),
            _ => out.push((b[0], b[8..8 + n].to_vec())),
        }
        b = &b[8 + n..];
    }
    out
}

fn exec_create(d: &Daemon, container: &str, body: &str) -> String {
    let (status, v) = call(d, "POST", &format!("/containers/{container}/exec"), body);
    assert_eq!(status, 201, "{v}");
    v["Id"].as_str().unwrap().to_string()
}

fn running(d: &Daemon) -> String {
    d.cli(&["run", "-d", "busybox", "sleep", "1000"]).ok()
}

#[test]
fn exec_output_comes_after_the_client_has_read_the_response() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let c = running(&d);
    for i in 0..20 {
        let tty = i % 2 == 0;
        let id = exec_create(
            &d,
            &c,
            &format!(
                r#"{{"AttachStdout":true,"AttachStderr":true,"Tty":{tty},"Cmd":["echo","hello"]}}"#
            ),
        );
        let mut s = send(
            &d,
            "POST",
            &format!("/exec/{id}/start"),
            &format!(r#"{{"Detach":false,"Tty":{tty}}}"#),
            true,
        );
        // A client busy elsewhere for a moment before it reads the response,
        // then reading it in one go (as a buffered reader does).
        std::thread::sleep(Duration::from_millis(100));
        let (head, extra) = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            extra.is_empty(),
            "output arrived with the response head (tty {tty}, run {i}): {extra:?}"
        );
        let body = read_to_end(&mut s, extra);
        if tty {
            assert_eq!(body, b"hello\r\n", "run {i}");
        } else {
            assert_eq!(frames(&body), vec![(1, b"hello\n".to_vec())], "run {i}");
        }
    }
}

#[test]
fn the_start_requests_tty_decides_raw_or_multiplexed() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let c = running(&d);
    // A TTY exec started without `Tty` (docker-py's default): frames on stdout.
    let id = exec_create(
        &d,
        &c,
        r#"{"AttachStdout":true,"AttachStderr":true,"Tty":true,"Cmd":["printf","yay"]}"#,
    );
    let mut s = send(
        &d,
        "POST",
        &format!("/exec/{id}/start"),
        r#"{"Tty":false}"#,
        true,
    );
    let (head, extra) = read_head(&mut s);
    assert!(
        head.contains("application/vnd.docker.multiplexed-stream"),
        "{head}"
    );
    let body = read_to_end(&mut s, extra);
    assert_eq!(frames(&body), vec![(1, b"yay".to_vec())]);
    // And with `Tty`: raw bytes.
    let id = exec_create(
        &d,
        &c,
        r#"{"AttachStdout":true,"AttachStderr":true,"Tty":true,"Cmd":["printf","yay"]}"#,
    );
    let mut s = send(
        &d,
        "POST",
        &format!("/exec/{id}/start"),
        r#"{"Tty":true}"#,
        true,
    );
    let (head, extra) = read_head(&mut s);
    assert!(head.contains("application/vnd.docker.raw-stream"), "{head}");
    assert_eq!(read_to_end(&mut s, extra), b"yay");
}

#[test]
fn attach_with_logs_to_a_stopped_container_replays_them() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let c = d
        .cli(&["run", "-d", "busybox", "sh", "-c", "echo out; echo err >&2"])
        .ok();
    d.cli(&["wait", &c]).ok();
    let mut s = send(
        &d,
        "POST",
        &format!("/containers/{c}/attach?logs=1&stream=0&stdout=1&stderr=1"),
        "",
        true,
    );
    let (head, extra) = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let body = read_to_end(&mut s, extra);
    assert_eq!(
        frames(&body),
        vec![(1, b"out\n".to_vec()), (2, b"err\n".to_vec())]
    );
    // Only the streams asked for.
    let mut s = send(
        &d,
        "POST",
        &format!("/containers/{c}/attach?logs=1&stream=0&stderr=1"),
        "",
        true,
    );
    let (_, extra) = read_head(&mut s);
    assert_eq!(
        frames(&read_to_end(&mut s, extra)),
        vec![(2, b"err\n".to_vec())]
    );
}

#[test]
fn a_stream_attach_to_a_stopped_container_waits_for_its_next_start() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    for tty in [false, true] {
        let mut args = vec!["create"];
        if tty {
            args.push("-t");
        }
        args.extend(["busybox", "echo", "first"]);
        let c = d.cli(&args).ok();
        // Attached before the first start, then again once it has exited (as
        // `docker start -a` does): each start's first output arrives.
        for round in 0..2 {
            let mut s = send(
                &d,
                "POST",
                &format!("/containers/{c}/attach?stream=1&stdout=1&stderr=1"),
                "",
                true,
            );
            let (head, extra) = read_head(&mut s);
            assert!(
                head.starts_with("HTTP/1.1 101"),
                "tty {tty}, round {round}: {head}"
            );
            d.cli(&["start", &c]).ok();
            let body = read_to_end(&mut s, extra);
            if tty {
                assert_eq!(body, b"first\r\n", "round {round}");
            } else {
                assert_eq!(
                    frames(&body),
                    vec![(1, b"first\n".to_vec())],
                    "round {round}"
                );
            }
            d.cli(&["wait", &c]).ok();
        }
    }
    // Our CLI's `run -t` sees its first output every time.
    for _ in 0..10 {
        let out = d.cli(&["run", "--rm", "-t", "busybox", "echo", "first"]);
        assert_eq!(out.ok(), "first");
    }
}

#[test]
fn detach_keys_of_an_exec_end_the_stream_and_leave_it_running() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let c = running(&d);
    // docker-py spells the field `detachKeys`; Go reads any case.
    let id = exec_create(
        &d,
        &c,
        r#"{"AttachStdin":true,"AttachStdout":true,"Tty":true,"detachKeys":"ctrl-x","Cmd":["cat"]}"#,
    );
    let mut s = send(
        &d,
        "POST",
        &format!("/exec/{id}/start"),
        r#"{"Tty":true}"#,
        true,
    );
    let (head, extra) = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(extra.is_empty(), "{extra:?}");
    s.write_all(&[24]).unwrap();
    let rest = read_to_end(&mut s, vec![]);
    assert_eq!(rest, b"", "ctrl-x detaches, it does not reach cat");
    let (_, v) = call(&d, "GET", &format!("/exec/{id}/json"), "");
    assert_eq!(v["Running"], true, "{v}");
    assert_eq!(v["DetachKeys"], "ctrl-x", "{v}");
    // A container attach takes them from the query.
    let t = d.cli(&["run", "-d", "-i", "-t", "busybox", "cat"]).ok();
    let mut s = send(
        &d,
        "POST",
        &format!("/containers/{t}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-x"),
        "",
        true,
    );
    let (_, extra) = read_head(&mut s);
    s.write_all(b"a\x18").unwrap();
    let out = read_to_end(&mut s, extra);
    assert!(!out.contains(&24), "ctrl-x was not passed on: {out:?}");
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.State.Running}}", &t]).ok(),
        "true"
    );
    // A bad spec is refused as moby refuses it.
    let (status, v) = call(
        &d,
        "POST",
        &format!("/containers/{c}/exec"),
        r#"{"AttachStdout":true,"DetachKeys":"ctrl-1","Cmd":["true"]}"#,
    );
    assert_eq!(status, 500, "{v}");
    assert_eq!(v["message"], "Invalid escape keys (ctrl-1) provided");
}

#[test]
fn an_exec_user_missing_from_the_container_fails_the_create() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let c = running(&d);
    let (status, v) = call(
        &d,
        "POST",
        &format!("/containers/{c}/exec"),
        r#"{"AttachStdout":true,"User":"postgres","Cmd":["whoami"]}"#,
    );
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["message"],
        "unable to find user postgres: no matching entries in passwd file"
    );
    // Names the container knows, and bare ids, still work.
    for (user, want) in [("nobody", "nobody"), ("1234", "1234")] {
        let id = exec_create(
            &d,
            &c,
            &format!(r#"{{"AttachStdout":true,"User":"{user}","Cmd":["id","-un"]}}"#),
        );
        let mut s = send(&d, "POST", &format!("/exec/{id}/start"), "{}", true);
        let (_, extra) = read_head(&mut s);
        assert_eq!(
            frames(&read_to_end(&mut s, extra)),
            vec![(1, format!("{want}\n").into_bytes())]
        );
    }
}

/// The payloads of a WebSocket's messages up to its close (the server's frames
/// are unmasked); each with its opcode.
fn ws_messages(s: &mut UnixStream, mut got: Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut out = vec![];
    let mut buf = [0u8; 4096];
    loop {
        // A whole frame in `got`?
        if got.len() >= 2 {
            let op = got[0] & 0x0f;
            let (len, at) = match got[1] & 0x7f {
                126 if got.len() >= 4 => (u16::from_be_bytes([got[2], got[3]]) as usize, 4),
                126 | 127 => (usize::MAX, 0),
                n => (n as usize, 2),
            };
            if len != usize::MAX && got.len() >= at + len {
                let payload = got[at..at + len].to_vec();
                got.drain(..at + len);
                if op == 8 {
                    return out;
                }
                out.push((op, payload));
                continue;
            }
        }
        let n = s.read(&mut buf).expect("read a WebSocket frame");
        if n == 0 {
            return out;
        }
        got.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn attach_over_a_websocket_carries_logs_and_output_as_binary_messages() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let c = d
        .cli(&[
            "create",
            "busybox",
            "sh",
            "-c",
            "echo hi there; echo err >&2",
        ])
        .ok();
    let open = |query: &str| {
        let mut s = UnixStream::connect(&d.socket).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        write!(
            s,
            "GET /containers/{c}/attach/ws?{query} HTTP/1.1\r\nHost: docker\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let (head, extra) = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        (s, extra)
    };
    // Before the start: the output, unframed, in binary messages.
    let (mut s, extra) = open("stream=1&stdout=1&logs=1");
    d.cli(&["start", &c]).ok();
    let got = ws_messages(&mut s, extra);
    assert!(got.iter().all(|(op, _)| *op == 2), "{got:?}");
    let text: Vec<u8> = got.into_iter().flat_map(|(_, p)| p).collect();
    assert_eq!(text, b"hi there\n");
    // Stopped: its log, both streams when asked, a message a line.
    d.cli(&["wait", &c]).ok();
    let (mut s, extra) = open("stream=0&stdout=1&stderr=1&logs=1");
    let mut lines: Vec<Vec<u8>> = ws_messages(&mut s, extra)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    lines.sort();
    assert_eq!(lines, vec![b"err\n".to_vec(), b"hi there\n".to_vec()]);
}
