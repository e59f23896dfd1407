//! The playground's HTTP API against a real `dockhand serve` (no browser): flags
//! and the config file, caps and the polite "full" answer, instances and tabs
//! with their numbering, uploads into a shell's working directory, the port
//! proxy with its token, redirect and `Referer` rewriting.

use dockhand_tests::serve::{json_str, serve_bin, Serve};
use std::process::Command;

fn session(serve: &Serve) -> (String, String) {
    let (st, body) = serve.http("POST", "/api/sessions", None, "{}");
    assert_eq!(st, 201, "{body}");
    (json_str(&body, "id"), json_str(&body, "token"))
}

#[test]
fn serve_help_documents_every_flag() {
    dockhand_tests::require_root!();
    let out = Command::new(serve_bin())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--ui",
        "--max-sessions",
        "--max-instances",
        "--max-terminals",
        "--session-ttl",
        "--idle-timeout",
        "--access-code",
        "--upload-limit",
        "--port-domain",
        "--config",
        "--data-root",
        "--host",
        "--playground-subnet",
        "--vhost-memory",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn the_config_file_sets_limits_flags_win_and_a_full_server_says_so() {
    dockhand_tests::require_root!();
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("playground.toml");
    std::fs::write(
        &cfg,
        "# a trainer's file\ntitle = \"Class A\"\nmax_sessions = 1\nmax-instances = 4\naccess_code = \"dock\"\n",
    )
    .unwrap();
    let cfg = cfg.display().to_string();
    let serve = Serve::start(&["--config", &cfg, "--max-instances", "2"]);
    let (st, body) = serve.http("GET", "/api/config", None, "");
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["title"], "Class A");
    assert_eq!(v["max_instances"], 2, "the command line wins: {v}");
    assert_eq!(v["access_code_required"], true);
    assert_eq!(v["accepting_sessions"], true);
    let (st, body) = serve.http("POST", "/api/sessions", None, "{}");
    assert_eq!(st, 403, "{body}");
    let (st, body) = serve.http("POST", "/api/sessions", None, r#"{"access_code":"dock"}"#);
    assert_eq!(st, 201, "{body}");
    let (st, body) = serve.http("POST", "/api/sessions", None, r#"{"access_code":"dock"}"#);
    assert_eq!(st, 503);
    assert!(body.contains("The playground is full right now"), "{body}");
    let (_, body) = serve.http("GET", "/api/config", None, "");
    assert!(body.contains(r#""accepting_sessions":false"#), "{body}");
}

#[test]
fn instances_tabs_uploads_and_port_links_through_the_api() {
    dockhand_tests::require_root!();
    let serve = Serve::start(&["--max-instances", "2", "--upload-limit", "16k"]);
    let (id, token) = session(&serve);
    let t = Some(token.as_str());
    let instances = format!("/api/sessions/{id}/instances");

    // Instances take the lowest free number and come with tab 1.
    let (st, body) = serve.http("POST", &instances, t, "");
    assert_eq!(st, 201, "{body}\n{}", serve.log());
    assert_eq!(json_str(&body, "name"), "node1");
    assert!(body.contains(r#""terminals":[1]"#), "{body}");
    let (st, body) = serve.http("POST", &instances, t, "");
    assert_eq!(
        (st, json_str(&body, "name").as_str()),
        (201, "node2"),
        "{body}"
    );
    let (st, body) = serve.http("POST", &instances, t, "");
    assert_eq!(st, 409, "{body}");
    assert_eq!(
        serve.http("DELETE", &format!("{instances}/node1"), t, "").0,
        204
    );
    let (st, body) = serve.http("POST", &instances, t, "");
    assert_eq!(
        (st, json_str(&body, "name").as_str()),
        (201, "node1"),
        "{body}"
    );
    // Without the token nothing happens.
    assert_eq!(serve.http("POST", &instances, None, "").0, 401);

    // node1 and node2 share the session network.
    let node1 = format!("{id}-node1");
    let node2 = format!("{id}-node2");
    let ping = serve.in_vhost(&node2, "ping -c1 -W3 node1 >/dev/null && echo reached");
    assert_eq!(ping, "reached");

    // Tab numbers are never reused.
    let terminals = format!("{instances}/node2/terminals");
    let (st, body) = serve.http("POST", &terminals, t, "");
    assert_eq!((st, body.as_str()), (201, r#"{"tab":2}"#));
    assert_eq!(
        serve.http("DELETE", &format!("{terminals}/2"), t, "").0,
        204
    );
    assert_eq!(
        serve.http("DELETE", &format!("{terminals}/2"), t, "").0,
        404
    );
    let (_, body) = serve.http("POST", &terminals, t, "");
    assert_eq!(body, r#"{"tab":3}"#);

    // Uploads land in the shell's working directory, owned by the instance's root.
    let upload = format!("{instances}/node1/upload?terminal=1&name=hello.txt&tar=0");
    let (st, body) = serve.upload(&upload, &token, b"hi there");
    assert_eq!(st, 200, "{body}");
    assert_eq!(json_str(&body, "path"), "/root/hello.txt");
    assert_eq!(
        serve.in_vhost(&node1, "cat /root/hello.txt; stat -c ' %u' /root/hello.txt"),
        "hi there 0"
    );
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir(folder.path().join("site")).unwrap();
    std::fs::write(folder.path().join("site/index.html"), "from-a-folder").unwrap();
    let tar = Command::new("tar")
        .arg("-C")
        .arg(folder.path())
        .args(["-cf", "-", "site"])
        .output()
        .unwrap();
    let upload = format!("{instances}/node1/upload?terminal=1&name=site&tar=1");
    let (st, body) = serve.upload(&upload, &token, &tar.stdout);
    assert_eq!(st, 200, "{body}");
    assert_eq!(json_str(&body, "path"), "/root/site");
    assert_eq!(
        serve.in_vhost(&node1, "cat /root/site/index.html"),
        "from-a-folder"
    );
    let (st, _) = serve.upload(&upload, &token, &vec![b'x'; 20_000]);
    assert_eq!(st, 413);

    // A published port through the proxy, with the session's token only.
    serve.in_vhost(
        &node1,
        "mkdir -p /www/dir && echo page-one > /www/index.html && echo css > /www/style.css \
         && docker run -d -p 8080:80 -v /www:/www busybox httpd -f -p 80 -h /www >/dev/null",
    );
    let port = format!("/s/{id}/node1/8080/");
    let mut body = String::new();
    for _ in 0..50 {
        let (st, b) = serve.http("GET", &port, t, "");
        body = b;
        if st == 200 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(body.trim(), "page-one");
    assert_eq!(serve.http("GET", &port, None, "").0, 401);
    let (other, other_token) = session(&serve);
    assert_ne!(other, id);
    assert_eq!(serve.http("GET", &port, Some(&other_token), "").0, 401);
    // A path without the trailing slash is redirected to it.
    let (st, _) = serve.http("GET", &format!("/s/{id}/node1/8080"), t, "");
    assert_eq!(st, 308);
    // An absolute path requested from a proxied page reaches the same app.
    let s = std::net::TcpStream::connect(("127.0.0.1", serve.port)).unwrap();
    let (st, body) = raw_get(
        s,
        "/style.css",
        &[
            format!("X-Dockhand-Token: {token}"),
            format!("Referer: {}/s/{id}/node1/8080/", serve.url()),
        ],
    );
    assert_eq!((st, body.trim()), (200, "css"));
    // The app's redirect for a folder stays under the prefix.
    let s = std::net::TcpStream::connect(("127.0.0.1", serve.port)).unwrap();
    let (st, head) = raw_head(s, &format!("/s/{id}/node1/8080/dir"), &token);
    assert!(st == 301 || st == 302, "{st} {head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("location: /s/{id}/node1/8080/dir/")),
        "{head}"
    );

    // Deleting the session removes its instances.
    assert_eq!(
        serve
            .http("DELETE", &format!("/api/sessions/{id}"), t, "")
            .0,
        204
    );
    assert_eq!(
        serve.http("GET", &format!("/api/sessions/{id}"), t, "").0,
        410
    );
    let left: Vec<String> = serve
        .vhost_records()
        .into_iter()
        .filter(|v| v.starts_with(&id))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn raw_get(mut s: std::net::TcpStream, path: &str, headers: &[String]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let st = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (st, body.to_string())
}

fn raw_head(s: std::net::TcpStream, path: &str, token: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = s;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Dockhand-Token: {token}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let head = out.split("\r\n\r\n").next().unwrap_or("").to_string();
    let st = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (st, head)
}
