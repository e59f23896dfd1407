//! The course's registry chapter (issue 15) as written, inside a virtual host
//! that has no internet: `registry:2` and `docker` are made by the machine, the
//! push goes to the registry container on the host's own `localhost:5000`, and
//! the `docker` image drives the host's socket. Once with our CLI, once with the
//! real docker CLI on the same host's socket.

use dockhand_tests::{bin, run_command, Daemon, Run};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn create_host(d: &Daemon, name: &str) -> PathBuf {
    d.cli(&["host", "create", name]).ok();
    PathBuf::from(
        d.cli(&["host", "inspect", "-f", "{{.Socket}}", name])
            .ok()
            .trim(),
    )
}

/// A client (`cli`) on a virtual host's socket.
struct Client<'a> {
    cli: &'a Path,
    socket: &'a Path,
}

impl Client<'_> {
    fn run_in(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut cmd = Command::new(self.cli);
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .env("DOCKER_CONFIG", self.socket.with_extension("docker-config"));
        run_command(cmd, stdin, Duration::from_secs(120))
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_in(args, None)
    }
}

/// The registry container logs its address once it listens.
fn wait_listening(c: &Client) {
    for _ in 0..100 {
        if c.run(&["logs", "registry"])
            .stderr()
            .contains("listening on")
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the registry container did not start: {}",
        c.run(&["logs", "registry"]).stderr()
    );
}

fn course_steps(c: &Client, who: &str) {
    let repo = "localhost:5000/mycompany/my-busybox:99";
    // "docker run -d -p 5000:5000 --restart=always --name registry registry:2"
    let out = c.run(&[
        "run",
        "-d",
        "-p",
        "5000:5000",
        "--restart=always",
        "--name",
        "registry",
        "registry:2",
    ]);
    assert_eq!(out.code(), 0, "{who}: {}", out.stderr());
    assert!(
        out.stderr()
            .contains("Made from the machine's busybox and Dockhand's registry"),
        "{who}: the pull says the image was made: {}",
        out.stderr()
    );
    wait_listening(c);
    c.run(&["pull", "busybox"]).ok();
    c.run(&["tag", "busybox", repo]).ok();
    let push = c.run(&["push", repo]).ok();
    assert!(push.contains("99: digest: sha256:"), "{who}: {push}");
    c.run(&["rmi", repo]).ok();
    let pull = c.run(&["pull", repo]).ok();
    assert!(
        pull.contains(&format!("Status: Downloaded newer image for {repo}")),
        "{who}: {pull}"
    );
    let echo = c
        .run(&["run", "--rm", repo, "echo", "from-my-registry"])
        .ok();
    assert_eq!(echo.trim(), "from-my-registry", "{who}");
    let catalog = c
        .run(&[
            "run",
            "--rm",
            "--net",
            "host",
            "busybox",
            "wget",
            "-q",
            "-O-",
            "http://localhost:5000/v2/_catalog",
        ])
        .ok();
    assert_eq!(
        catalog.trim(),
        r#"{"repositories":["mycompany/my-busybox"]}"#,
        "{who}"
    );
    // "docker run -ti --rm -v /var/run/docker.sock:/var/run/docker.sock docker sh",
    // then `docker ps` in it (with -i: the test has no terminal).
    let inside = c.run_in(
        &[
            "run",
            "-i",
            "--rm",
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            "docker",
            "sh",
        ],
        Some(b"docker ps --format '{{.Names}} {{.Image}}'\n"),
    );
    assert_eq!(inside.code(), 0, "{who}: {}", inside.stderr());
    assert!(
        inside.stdout().contains("registry registry:2"),
        "{who}: the docker image sees the host's containers: {}",
        inside.stdout()
    );
    // A docker subcommand as the command runs through docker, as in docker:cli.
    let images = c
        .run(&[
            "run",
            "--rm",
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            "docker",
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
        .ok();
    assert!(images.contains(repo), "{who}: {images}");
    let policy = c
        .run(&[
            "inspect",
            "-f",
            "{{.HostConfig.RestartPolicy.Name}}",
            "registry",
        ])
        .ok();
    assert_eq!(policy.trim(), "always", "{who}");
    let history = c.run(&["history", "--no-trunc", "registry:2"]).ok();
    assert!(history.contains("Dockhand's registry"), "{who}: {history}");
    c.run(&["rm", "-f", "registry"]).ok();
}

#[test]
fn the_courses_registry_steps_work_in_a_virtual_host_with_our_cli() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let socket = create_host(&d, "course");
    let cli = bin();
    let c = Client {
        cli: &cli,
        socket: &socket,
    };
    course_steps(&c, "dockhand");
}

#[test]
fn the_courses_registry_steps_work_in_a_virtual_host_with_the_docker_cli() {
    dockhand_tests::require_root!();
    let docker = dockhand_tests::require_docker_cli!();
    let d = Daemon::start();
    let socket = create_host(&d, "course");
    let c = Client {
        cli: &docker,
        socket: &socket,
    };
    course_steps(&c, "docker CLI");
}

#[test]
fn made_images_are_not_charged_to_the_virtual_hosts_disk() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["host", "create", "--disk", "64m", "small"]).ok();
    let socket = PathBuf::from(
        d.cli(&["host", "inspect", "-f", "{{.Socket}}", "small"])
            .ok()
            .trim(),
    );
    let cli = bin();
    let c = Client {
        cli: &cli,
        socket: &socket,
    };
    // Each image carries the ~35 MB binary: two of them on a 64 MB disk fit
    // only because the machine's content is free.
    c.run(&["pull", "registry:2"]).ok();
    c.run(&["pull", "docker:cli"]).ok();
    let tags = c
        .run(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    for t in [
        "registry:2",
        "registry:latest",
        "docker:latest",
        "docker:cli",
    ] {
        assert!(tags.lines().any(|l| l == t), "{t} in {tags}");
    }
    // The disk is still free for the host's own content.
    let out = c.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "head -c 20000000 /dev/zero > /f && echo wrote",
    ]);
    assert_eq!(out.stdout().trim(), "wrote", "{}", out.stderr());
    let v = c.run(&["run", "--rm", "docker:cli", "--version"]).ok();
    assert!(v.starts_with("Dockhand version"), "{v}");
}

#[test]
fn a_registry_that_answers_has_the_real_image_first() {
    dockhand_tests::require_root!();
    if !std::path::Path::new("/usr/bin/skopeo").exists() {
        dockhand_tests::say_skipped("skopeo is not installed (apt-get install skopeo)");
        return;
    }
    use dockhand_tests::registry::{oci_image, ImageSpec, LayerSpec};
    // A Docker Hub mirror that has a `registry:2` of its own.
    let mirror = dockhand_tests::own_registry::OwnRegistry::start(&[]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let layout = tmp.path().join("layout");
    let img = oci_image(
        &layout,
        &ImageSpec::busybox()
            .layer(LayerSpec::files(&[(
                "etc/origin",
                b"the mirror's registry:2\n",
            )]))
            .cmd(&["cat", "/etc/origin"]),
    );
    let out = Command::new("/usr/bin/skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}", layout.display()))
        .arg(format!("docker://{}/library/registry:2", mirror.addr))
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = Daemon::start_with(&["--registry-mirror", &format!("http://{}", mirror.addr)]);
    let pull = d.cli(&["pull", "registry:2"]).ok();
    assert!(
        pull.contains(&format!("Digest: {}", img.manifest_digest)),
        "{pull}"
    );
    assert!(!pull.contains("Made from"), "{pull}");
    assert_eq!(
        d.cli(&["run", "--rm", "registry:2"]).ok(),
        "the mirror's registry:2"
    );
    // What the mirror lacks is made.
    let docker = d.cli(&["pull", "docker:cli"]).ok();
    assert!(
        docker.contains("Made from the machine's busybox and Dockhand's docker CLI"),
        "{docker}"
    );
}
