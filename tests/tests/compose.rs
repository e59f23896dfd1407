//! Our own `docker compose` against our daemon: a three-service project (web,
//! API, a database-like service whose health check gates the API, named
//! volumes, a published port, `.env` interpolation) brought up, listed,
//! exec'd into, logged, scaled, changed, stopped and taken down with nothing
//! left behind; the same project seen by Debian's docker-compose 1.29 and the
//! other way round; invalid files refused with the file, line and field; and
//! `docker compose` inside a virtual host.

use dockhand_tests::{bin, run_command, Daemon, Run};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SHOP: &str = r#"name: shop
services:
  web:
    image: busybox
    command: httpd -f -p 80 -h /www
    ports: ["${WEB_PORT:-18080}:80"]
    volumes: [site:/www]
    depends_on: [api]
  api:
    image: busybox
    command: sh -c 'mkdir -p /srv && echo "api says $$GREETING" > /srv/index.html && exec httpd -f -p 80 -h /srv'
    environment:
      GREETING: ${GREETING:-hello}
    networks:
      default: {aliases: [backend]}
    depends_on:
      db: {condition: service_healthy}
  db:
    image: busybox
    command: ["sh", "-c", "echo db starting; sleep 1; touch /tmp/ready; exec sleep 600"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 500ms
      retries: 20
    volumes: [data:/data]
volumes:
  site: {}
  data: {}
"#;

fn compose(d: &Daemon, dir: &Path, args: &[&str]) -> Run {
    let mut c = Command::new(bin());
    c.current_dir(dir)
        .env("DOCKER_HOST", d.host_uri())
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_FILE")
        .arg("compose")
        .args(args);
    run_command(c, None, Duration::from_secs(120))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// GET / on loopback, a few tries while the proxy comes up.
fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    for _ in 0..50 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.contains("\r\n\r\n") {
                return out
                    .split_once("\r\n\r\n")
                    .map(|(_, b)| b.to_string())
                    .unwrap_or_default();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    String::new()
}

fn networks(d: &Daemon) -> String {
    d.cli(&["network", "ls", "--format", "{{.Name}}"]).ok()
}

#[test]
fn our_compose_runs_a_three_service_project() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    dockhand_tests::write_file(dir.path(), "compose.yaml", SHOP);
    dockhand_tests::write_file(
        dir.path(),
        ".env",
        &format!("WEB_PORT={port}\nGREETING=hi\n"),
    );

    let up = compose(&d, dir.path(), &["up", "-d"]);
    let events = up.stderr();
    assert_eq!(up.code(), 0, "{events}\n{}", up.stdout());
    for line in [
        " Network shop_default  Created",
        " Volume \"shop_site\"  Created",
        " Volume \"shop_data\"  Created",
        " Container shop-db-1  Healthy",
        " Container shop-api-1  Started",
        " Container shop-web-1  Started",
    ] {
        assert!(events.contains(line), "no {line:?} in\n{events}");
    }
    // The health check gates the API; the API comes before the web front.
    let at = |l: &str| events.find(l).unwrap();
    assert!(
        at("shop-db-1  Healthy") < at("shop-api-1  Starting"),
        "{events}"
    );
    assert!(
        at("shop-api-1  Started") < at("shop-web-1  Starting"),
        "{events}"
    );

    // ps: each container once, Compose's columns.
    let ps = compose(&d, dir.path(), &["ps"]).ok();
    let lines: Vec<&str> = ps.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("SERVICE"),
        "{ps}"
    );
    for name in ["shop-api-1", "shop-db-1", "shop-web-1"] {
        assert_eq!(ps.matches(name).count(), 1, "{ps}");
    }
    assert!(ps.contains(&format!("0.0.0.0:{port}->80/tcp")), "{ps}");
    assert_eq!(
        compose(&d, dir.path(), &["ps", "-q"]).ok().lines().count(),
        3
    );
    assert_eq!(
        compose(&d, dir.path(), &["ps", "--services"]).ok(),
        "api\ndb\nweb"
    );
    // The service name resolves on the project's network; `$$` stayed a `$`.
    assert_eq!(
        compose(
            &d,
            dir.path(),
            &["exec", "-T", "web", "wget", "-qO-", "http://api/"]
        )
        .ok(),
        "api says hi"
    );
    assert_eq!(
        compose(&d, dir.path(), &["exec", "-T", "db", "hostname"]).ok(),
        d.cli(&["inspect", "-f", "{{.Config.Hostname}}", "shop-db-1"])
            .ok()
    );
    assert_eq!(
        compose(
            &d,
            dir.path(),
            &["exec", "-T", "web", "wget", "-qO-", "http://backend/"]
        )
        .ok(),
        "api says hi"
    );
    // The published port, with content written into the named volume.
    compose(
        &d,
        dir.path(),
        &[
            "exec",
            "-T",
            "web",
            "sh",
            "-c",
            "echo front > /www/index.html",
        ],
    )
    .ok();
    assert_eq!(http_get(port).trim(), "front");
    // Logs with Compose's prefixes; a one-off that leaves nothing behind.
    let logs = compose(&d, dir.path(), &["logs", "--no-color", "db"]).ok();
    assert!(logs.lines().any(|l| l == "db-1  | db starting"), "{logs}");
    assert_eq!(
        compose(
            &d,
            dir.path(),
            &["run", "--rm", "-T", "api", "echo", "one-off"]
        )
        .ok(),
        "one-off"
    );
    assert_eq!(d.cli(&["ps", "-aq"]).ok().lines().count(), 3);
    // ls and config.
    let ls = compose(&d, dir.path(), &["ls"]).ok();
    assert!(
        ls.lines()
            .any(|l| l.starts_with("shop ") && l.contains("running(3)")),
        "{ls}"
    );
    let config = compose(&d, dir.path(), &["config"]).ok();
    assert!(config.starts_with("name: shop\n"), "{config}");
    assert!(config.contains("GREETING=hi"), "{config}");
    assert!(config.contains(&format!("{port}:80")), "{config}");

    // Up again: nothing changes. Scale out and back.
    let again = compose(&d, dir.path(), &["up", "-d"]);
    assert_eq!(again.code(), 0, "{}", again.stderr());
    assert!(
        again.stderr().contains(" Container shop-web-1  Running"),
        "{}",
        again.stderr()
    );
    assert!(!again.stderr().contains("Recreate"), "{}", again.stderr());
    compose(&d, dir.path(), &["up", "-d", "--scale", "api=2"]).ok();
    assert_eq!(
        compose(&d, dir.path(), &["ps", "-q", "api"])
            .ok()
            .lines()
            .count(),
        2
    );
    assert_eq!(
        d.cli(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"com.docker.compose.container-number\"}}",
            "shop-api-2"
        ])
        .ok(),
        "2"
    );
    compose(&d, dir.path(), &["up", "-d"]).ok();
    assert_eq!(
        compose(&d, dir.path(), &["ps", "-q", "api"])
            .ok()
            .lines()
            .count(),
        1
    );

    // A changed variable recreates only the service that uses it.
    dockhand_tests::write_file(
        dir.path(),
        ".env",
        &format!("WEB_PORT={port}\nGREETING=hey\n"),
    );
    let changed = compose(&d, dir.path(), &["up", "-d"]);
    assert_eq!(changed.code(), 0, "{}", changed.stderr());
    assert!(
        changed.stderr().contains(" Container shop-api-1  Recreate"),
        "{}",
        changed.stderr()
    );
    assert!(
        !changed.stderr().contains("shop-db-1  Recreate"),
        "{}",
        changed.stderr()
    );
    assert_eq!(
        compose(
            &d,
            dir.path(),
            &["exec", "-T", "web", "wget", "-qO-", "http://api/"]
        )
        .ok(),
        "api says hey"
    );

    // stop, start, restart.
    compose(&d, dir.path(), &["stop"]).ok();
    assert_eq!(compose(&d, dir.path(), &["ps", "-q"]).ok(), "");
    compose(&d, dir.path(), &["start"]).ok();
    assert_eq!(
        compose(&d, dir.path(), &["ps", "-q"]).ok().lines().count(),
        3
    );
    compose(&d, dir.path(), &["restart", "web"]).ok();
    let wait = compose(&d, dir.path(), &["up", "-d", "--wait"]);
    assert_eq!(wait.code(), 0, "{}", wait.stderr());
    assert!(
        wait.stderr().contains(" Container shop-db-1  Healthy"),
        "{}",
        wait.stderr()
    );

    // down -v leaves no container, network or volume.
    let down = compose(&d, dir.path(), &["down", "-v"]);
    assert_eq!(down.code(), 0, "{}", down.stderr());
    assert_eq!(d.cli(&["ps", "-aq"]).ok(), "");
    assert_eq!(d.cli(&["volume", "ls", "-q"]).ok(), "");
    assert_eq!(networks(&d), "bridge\nhost\nnone");
}

const PAIR: &str = r#"services:
  web:
    image: busybox
    command: sh -c "echo web > /tmp/who; exec sleep 600"
  api:
    image: busybox
    command: sleep 600
    depends_on: [web]
"#;

#[test]
fn compose_v1_and_ours_see_each_others_projects() {
    dockhand_tests::require_root!();
    if !Path::new("/usr/bin/docker-compose").exists() {
        dockhand_tests::say_skipped("docker-compose (Debian's 1.29) is not installed");
        return;
    }
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    dockhand_tests::write_file(dir.path(), "docker-compose.yml", PAIR);
    let v1 = |args: &[&str]| {
        let mut c = Command::new("/usr/bin/docker-compose");
        c.current_dir(dir.path())
            .env("DOCKER_HOST", d.host_uri())
            .args(["-p", "pair"])
            .args(args);
        run_command(c, None, Duration::from_secs(120))
    };
    // Ours up, v1 lists and execs.
    compose(&d, dir.path(), &["-p", "pair", "up", "-d"]).ok();
    let ps = v1(&["ps"]).ok();
    assert_eq!(ps.matches("pair-web-1").count(), 1, "{ps}");
    assert_eq!(ps.matches("pair-api-1").count(), 1, "{ps}");
    assert_eq!(v1(&["exec", "-T", "web", "cat", "/tmp/who"]).ok(), "web");
    v1(&["down"]).ok();
    assert_eq!(d.cli(&["ps", "-aq"]).ok(), "");
    // v1 up, ours lists and execs, ours takes it down.
    v1(&["up", "-d"]).ok();
    let ps = compose(&d, dir.path(), &["-p", "pair", "ps"]).ok();
    assert_eq!(ps.matches("pair_web_1").count(), 1, "{ps}");
    assert_eq!(ps.matches("pair_api_1").count(), 1, "{ps}");
    assert_eq!(
        compose(
            &d,
            dir.path(),
            &["-p", "pair", "exec", "-T", "web", "cat", "/tmp/who"]
        )
        .ok(),
        "web"
    );
    compose(&d, dir.path(), &["-p", "pair", "down"]).ok();
    assert_eq!(d.cli(&["ps", "-aq"]).ok(), "");
    assert_eq!(networks(&d), "bridge\nhost\nnone");
}

#[test]
fn invalid_compose_files_are_refused_with_file_line_and_field() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let cases: &[(&str, &str)] = &[
        (
            "services:\n  web:\n    image: busybox\n    imagee: busybox\n",
            "compose.yaml:4: services.web.imagee: additional property imagee is not allowed",
        ),
        (
            "services:\n  web:\n    image: busybox\n    ports:\n      - \"8080:80\"\n      - \"80a\"\n",
            "compose.yaml:6: services.web.ports[1]: ",
        ),
        (
            "services:\n  web:\n    image: busybox\n    volumes: [data:/data]\n",
            "compose.yaml:4: services.web.volumes: service \"web\" refers to undefined volume data",
        ),
        (
            "services:\n  web:\n    image: busybox\n    environment:\n      A: ${NEEDED:?set NEEDED first}\n",
            "compose.yaml:5: services.web.environment.A: required variable NEEDED is missing a value: set NEEDED first",
        ),
        ("services:\n  web:\n    image: [busybox\n", "compose.yaml:4: yaml: "),
        (
            "services:\n  web:\n    image: busybox\n    depends_on:\n      db: {condition: service_ready}\n",
            "compose.yaml:5: services.web.depends_on.db.condition: invalid condition \"service_ready\"",
        ),
    ];
    for (text, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        dockhand_tests::write_file(dir.path(), "compose.yaml", text);
        for cmd in [&["config"][..], &["up", "-d"][..]] {
            let r = compose(&d, dir.path(), cmd);
            assert_eq!(r.code(), 1, "{text}\n{}", r.stderr());
            let err = r.stderr();
            let file = dir.path().join(want.split(':').next().unwrap());
            let want = want.replacen("compose.yaml", &file.display().to_string(), 1);
            assert!(
                err.contains(&want),
                "{cmd:?} on\n{text}\nwanted {want:?}\ngot {err}"
            );
        }
    }
    // Nothing was created on the way.
    assert_eq!(networks(&d), "bridge\nhost\nnone");
    assert_eq!(d.cli(&["volume", "ls", "-q"]).ok(), "");
    assert_eq!(d.cli(&["ps", "-aq"]).ok(), "");
}

#[test]
fn compose_builds_pushes_pulls_and_removes_its_images() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let reg = dockhand_tests::own_registry::OwnRegistry::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{}/shop/app:1", reg.addr);
    dockhand_tests::write_file(
        dir.path(),
        "compose.yaml",
        &format!(
            "name: bld\nservices:\n  app:\n    build: ./app\n    image: {image}\n    command: [\"sh\", \"-c\", \"cat /built; exec sleep 600\"]\n  tool:\n    build: {{context: ./app, dockerfile: Tool.Dockerfile, args: {{WHAT: a-tool}}}}\n    command: cat /built\n"
        ),
    );
    dockhand_tests::write_file(
        dir.path(),
        "app/Dockerfile",
        "FROM busybox\nRUN echo built-app > /built\n",
    );
    dockhand_tests::write_file(
        dir.path(),
        "app/Tool.Dockerfile",
        "FROM busybox\nARG WHAT\nRUN echo built-$WHAT > /built\n",
    );
    compose(&d, dir.path(), &["build"]).ok();
    d.cli(&["image", "inspect", &image]).ok();
    d.cli(&["image", "inspect", "bld-tool"]).ok();
    compose(&d, dir.path(), &["push"]).ok();
    d.cli(&["rmi", &image]).ok();
    compose(&d, dir.path(), &["pull", "app"]).ok();
    d.cli(&["image", "inspect", &image]).ok();
    compose(&d, dir.path(), &["up", "-d"]).ok();
    let out = compose(&d, dir.path(), &["logs", "--no-log-prefix", "tool"]).ok();
    assert_eq!(out, "built-a-tool");
    let out = compose(&d, dir.path(), &["logs", "--no-log-prefix", "app"]).ok();
    assert_eq!(out, "built-app");
    // --rmi local: only the image without a name of its own.
    compose(&d, dir.path(), &["down", "--rmi", "local", "-t", "1"]).ok();
    assert_ne!(d.cli(&["image", "inspect", "bld-tool"]).code(), 0);
    d.cli(&["image", "inspect", &image]).ok();
    compose(&d, dir.path(), &["up", "-d"]).ok();
    compose(&d, dir.path(), &["down", "--rmi", "all", "-t", "1"]).ok();
    assert_ne!(d.cli(&["image", "inspect", &image]).code(), 0);
    assert_eq!(d.cli(&["ps", "-aq"]).ok(), "");
}

#[test]
fn docker_compose_inside_a_virtual_host() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["host", "create", "cvh"]).ok();
    let script = format!(
        "mkdir -p /shop && cd /shop && cat > compose.yaml <<'EOF'\n{SHOP}EOF\n\
         docker compose up -d 2>&1 | grep -c 'Started' && \
         docker-compose ps -q | wc -l && \
         docker compose exec -T web wget -qO- http://api/ && \
         docker compose down -v 2>&1 | grep -c Removed && docker ps -aq | wc -l && docker volume ls -q | wc -l"
    );
    let out = d
        .cli(&["host", "exec", "cvh", "--", "sh", "-c", &script])
        .ok();
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    // 3 started; 3 listed; the API answers; containers, volumes and the
    // network removed (3 + 2 + 1); none left.
    assert_eq!(lines, ["3", "3", "api says hello", "6", "0", "0"], "{out}");
    d.cli(&["host", "rm", "-f", "cvh"]).ok();
}
