//! Host-name mode (`serve --port-domain localhost`): a published port is
//! served at `NODE-PORT-SESSION.localhost`, its own origin, so apps that use
//! absolute paths work; a link's key opens that one port and becomes a
//! cookie of that host alone. `*.localhost` needs no DNS in browsers; curl
//! is told where it is (`--resolve`).

use dockhand_tests::run_command;
use dockhand_tests::serve::{json_str, Serve};
use shared::playground::routes;
use std::process::Command;
use std::time::Duration;

/// `curl http://HOST/PATH` with HOST (`name:port`) resolved to the
/// playground on loopback and a cookie jar: (status, body).
fn get(host: &str, path: &str, jar: &std::path::Path) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-s", "-w", "\n%{http_code}", "--resolve"])
        .arg(format!("{host}:127.0.0.1"))
        .arg("-c")
        .arg(jar)
        .arg("-b")
        .arg(jar)
        .arg(format!("http://{host}{path}"));
    let out = run_command(c, None, Duration::from_secs(30)).stdout();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", &out));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn ports_open_at_their_own_host_names_with_their_key() {
    dockhand_tests::require_root!();
    let serve = Serve::start(&["--port-domain", "localhost"]);
    let (id, token) = serve.session_with_instance();
    let (st, body) = serve.http("GET", "/api/config", None, "");
    assert_eq!(
        (st, json_str(&body, "port_domain").as_str()),
        (200, "localhost")
    );
    // An app whose page refers to an absolute path.
    let out = serve.cli(&[
        "host",
        "exec",
        &format!("{id}-node1"),
        "sh",
        "-c",
        "mkdir -p /www && echo '<link href=\"/app.css\">hi-from-host' > /www/index.html \
         && echo 'body{}' > /www/app.css \
         && docker run -d -p 8080:80 -v /www:/www busybox httpd -f -p 80 -h /www >/dev/null",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = serve.url().rsplit(':').next().unwrap().to_string();
    let label = routes::port_host_label(&id, "node1", 8080);
    let host = format!("{label}.localhost:{port}");
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar");

    // Without the key: refused.
    assert_eq!(get(&host, "/", &jar).0, 401);
    // The link's key: a cookie of this host, a redirect without the key, the app.
    let key = routes::port_key(&token, &label);
    let link = format!("/?{}={key}", routes::PORT_KEY_QUERY);
    let (st, _) = get(&host, &link, &jar);
    assert_eq!(st, 303);
    let jar_text = std::fs::read_to_string(&jar).unwrap();
    assert!(
        jar_text.contains("dh_port") && jar_text.contains(&label),
        "{jar_text}"
    );
    let mut page = (0, String::new());
    for _ in 0..50 {
        page = get(&host, "/", &jar);
        if page.0 == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(page.0, 200, "{}", page.1);
    assert!(page.1.contains("hi-from-host"), "{}", page.1);
    // The absolute path is the app's: no prefix, no rewriting.
    assert_eq!(get(&host, "/app.css", &jar), (200, "body{}\n".to_string()));
    // The cookie opens this port only.
    let other = format!(
        "{}.localhost:{port}",
        routes::port_host_label(&id, "node1", 8081)
    );
    std::fs::copy(&jar, dir.path().join("jar2")).unwrap();
    let jar2 = std::fs::read_to_string(dir.path().join("jar2"))
        .unwrap()
        .replace(&label, &routes::port_host_label(&id, "node1", 8081));
    std::fs::write(dir.path().join("jar2"), jar2).unwrap();
    assert_eq!(get(&other, "/", &dir.path().join("jar2")).0, 401);
    // The playground's own host names are untouched.
    let (st, body) = serve.http("GET", "/api/config", None, "");
    assert_eq!(st, 200, "{body}");
}
