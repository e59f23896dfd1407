//! A real Compose client against our daemon: Debian's docker-compose 1.29
//! (through docker-py) brings a project up, lists it, execs into one service
//! and takes it down. It lists a service's containers with two label
//! filters, so it needs them AND-ed as moby does. Skips visibly where
//! docker-compose is not installed (`scripts/install-deps --test` installs it).

use dockhand_tests::{run_command, Daemon};
use std::process::Command;
use std::time::Duration;

const COMPOSE: &str = r#"version: "3.8"
services:
  web:
    image: busybox
    command: sh -c "echo web > /data/who; sleep 300"
    volumes: [data:/data]
    networks: [front]
  api:
    image: busybox
    command: sleep 300
    networks: [front]
    depends_on: [web]
volumes:
  data: {}
networks:
  front: {}
"#;

#[test]
fn docker_compose_v1_drives_a_project() {
    dockhand_tests::require_root!();
    if !std::path::Path::new("/usr/bin/docker-compose").exists() {
        dockhand_tests::say_skipped("docker-compose (Debian's 1.29) is not installed");
        return;
    }
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    dockhand_tests::write_file(dir.path(), "docker-compose.yml", COMPOSE);
    let compose = |args: &[&str]| {
        let mut c = Command::new("/usr/bin/docker-compose");
        c.current_dir(dir.path())
            .env("DOCKER_HOST", d.host_uri())
            .args(["-p", "cmp"])
            .args(args);
        run_command(c, None, Duration::from_secs(120))
    };
    compose(&["up", "-d"]).ok();
    // Each container once, each service its own.
    let ids = compose(&["ps", "-q"]).ok();
    assert_eq!(ids.lines().count(), 2, "{ids}");
    let ps = compose(&["ps"]).ok();
    assert_eq!(ps.matches("cmp_web_1").count(), 1, "{ps}");
    assert_eq!(ps.matches("cmp_api_1").count(), 1, "{ps}");
    assert_eq!(compose(&["ps", "-q", "web"]).ok().lines().count(), 1);
    // exec reaches the right container.
    assert_eq!(
        compose(&["exec", "-T", "web", "cat", "/data/who"]).ok(),
        "web"
    );
    let api_id = d
        .cli(&["inspect", "-f", "{{.Config.Hostname}}", "cmp_api_1"])
        .ok();
    assert_eq!(compose(&["exec", "-T", "api", "hostname"]).ok(), api_id);
    // A second `up` finds the project as it is: nothing renumbered.
    compose(&["up", "-d"]).ok();
    assert_eq!(compose(&["ps", "-q"]).ok().lines().count(), 2);
    compose(&["down", "-v"]).ok();
    assert_eq!(d.cli(&["ps", "-aq"]).ok(), "");
    assert_eq!(d.cli(&["volume", "ls", "-q"]).ok(), "");
    assert_eq!(
        d.cli(&["network", "ls", "--format", "{{.Name}}"]).ok(),
        "bridge\nhost\nnone"
    );
}
