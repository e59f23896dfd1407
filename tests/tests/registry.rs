//! Pull, push, login and logout with our CLI against a real registry (Debian's
//! distribution 2.8) on loopback: progress and errors in Docker's words, every
//! blob verified (a corrupted or cut blob fails the pull and leaves no image),
//! retries after a broken connection, Basic and token auth, `run` pulling a
//! missing image, and a virtual host's pulls leaving from its own network.

use dockhand_tests::registry::{oci_image, Auth, Fault, ImageSpec, LayerSpec, Registry};
use dockhand_tests::{require_registry, Daemon};

/// Whether the layer (by diff id) is extracted in the daemon's store.
fn has_layer(d: &Daemon, diff_id: &str) -> bool {
    let hex = diff_id.trim_start_matches("sha256:");
    d.root.join("layers").join(hex).is_dir()
}

fn config_json(d: &Daemon) -> serde_json::Value {
    let p = d.dir.path().join("docker-config/config.json");
    std::fs::read(&p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn push_and_pull_round_trip_with_dockers_progress_lines() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let host = reg.host();
    let img = format!("{host}/team/bb:1");
    d.cli(&["tag", "busybox", &img]).ok();
    let id = d.cli(&["inspect", "-f", "{{.Id}}", "busybox"]).ok();

    let out = d.cli(&["push", &img]).ok();
    assert!(
        out.starts_with(&format!("The push refers to repository [{host}/team/bb]")),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let digest_line = out
        .lines()
        .find(|l| l.starts_with("1: digest: sha256:"))
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    // Again: nothing is sent twice; to another repository: mounted.
    let out = d.cli(&["push", &img]).ok();
    assert!(out.contains(": Layer already exists"), "{out}");
    assert!(out.contains(&digest_line), "same manifest digest: {out}");
    let other = format!("{host}/other/bb:2");
    d.cli(&["tag", "busybox", &other]).ok();
    let out = d.cli(&["push", &other]).ok();
    assert!(out.contains(": Mounted from team/bb"), "{out}");

    // Pull it back after removing the name.
    d.cli(&["rmi", &img]).ok();
    let out = d.cli(&["pull", &img]).ok();
    assert!(out.starts_with("1: Pulling from "), "{out}");
    assert!(out.contains("Digest: sha256:"), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {img}")),
        "{out}"
    );
    assert!(out.ends_with(&img), "the reference last: {out}");
    assert_eq!(d.cli(&["inspect", "-f", "{{.Id}}", &img]).ok(), id);
    let out = d.cli(&["pull", &img]).ok();
    assert!(
        out.contains(&format!("Status: Image is up to date for {img}")),
        "{out}"
    );
    // By digest.
    let digest = digest_line.split_whitespace().nth(2).unwrap();
    let by_digest = format!("{host}/team/bb@{digest}");
    let out = d.cli(&["pull", &by_digest]).ok();
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    // Without a tag, docker's default.
    d.cli(&["tag", "busybox", &format!("{host}/team/bb")]).ok();
    d.cli(&["push", &format!("{host}/team/bb")]).ok();
    let out = d.cli(&["pull", &format!("{host}/team/bb")]).ok();
    assert!(out.starts_with("Using default tag: latest"), "{out}");
}

#[test]
fn pulled_layers_are_fetched_and_run() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let built = oci_image(
        dir.path(),
        &ImageSpec::busybox()
            .layer(LayerSpec::files(&[(
                "/etc/greeting",
                b"hello from a registry\n",
            )]))
            .cmd(&["cat", "/etc/greeting"]),
    );
    reg.push_layout(dir.path(), "app/greet:1");
    let img = format!("{}/app/greet:1", reg.host());
    // `run` of a missing image pulls it first, as docker does.
    let r = d.cli(&["run", "--rm", &img]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout(), "hello from a registry\n");
    assert!(
        r.stderr()
            .contains(&format!("Unable to find image '{img}' locally")),
        "{}",
        r.stderr()
    );
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.Id}}", &img]).ok(),
        built.config_digest
    );
    for l in &built.layers {
        assert_eq!(reg.blob_fetches(&l.digest), 1, "each blob once");
        assert!(has_layer(&d, &l.diff_id));
    }
}

#[test]
fn each_layers_progress_follows_dockers_order() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ImageSpec::default();
    for _ in 0..5 {
        spec = spec.layer(LayerSpec::random(300_000));
    }
    let built = oci_image(dir.path(), &spec);
    reg.push_layout(dir.path(), "app/five:1");
    let out = d.cli(&["pull", &format!("{}/app/five:1", reg.host())]).ok();
    let want = [
        "Pulling fs layer",
        "Verifying Checksum",
        "Download complete",
        "Extracting",
        "Pull complete",
    ];
    for (i, l) in built.layers.iter().enumerate() {
        let id = l.digest.trim_start_matches("sha256:")[..12].to_string();
        let seen: Vec<&str> = out
            .lines()
            .filter_map(|line| line.strip_prefix(&format!("{id}: ")))
            .filter(|s| !s.starts_with("Downloading"))
            .collect();
        // Three download at once: the others wait for a slot first.
        let mut expect: Vec<&str> = want.to_vec();
        if i >= 3 {
            expect.insert(1, "Waiting");
        }
        assert_eq!(seen, expect, "layer {i}: {out}");
    }
}

#[test]
fn a_corrupted_blob_fails_the_pull_and_leaves_nothing() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let built = oci_image(
        dir.path(),
        &ImageSpec::default().layer(LayerSpec::random(300_000)),
    );
    reg.push_layout(dir.path(), "app/data:1");
    let img = format!("{}/app/data:1", reg.host());
    let layer = &built.layers[0];
    reg.inject(&layer.digest, Fault::Corrupt);
    let r = d.cli(&["pull", &img]);
    assert_eq!(r.code(), 1, "{}", r.stdout());
    assert!(r.stderr().contains("verification failed"), "{}", r.stderr());
    assert!(!has_layer(&d, &layer.diff_id), "no unverified layer stays");
    assert!(d.cli(&["inspect", &img]).code() != 0, "no image");
    let blobs = d.root.join("blobs");
    let hex = layer.diff_id.trim_start_matches("sha256:");
    assert!(
        !std::fs::read_dir(&blobs)
            .map(|rd| rd
                .flatten()
                .any(|e| e.file_name().to_string_lossy().contains(hex)))
            .unwrap_or(false),
        "no blob of it"
    );
    // A well-framed answer that is shorter than the blob: the same.
    reg.clear_faults();
    reg.inject(&layer.digest, Fault::Truncate(1000));
    let r = d.cli(&["pull", &img]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("unexpected EOF"), "{}", r.stderr());
    assert!(!has_layer(&d, &layer.diff_id));
    reg.clear_faults();
    d.cli(&["pull", &img]).ok();
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.Id}}", &img]).ok(),
        built.config_digest
    );
}

#[test]
fn a_cut_connection_is_retried_and_a_dead_registry_fails_cleanly() {
    dockhand_tests::require_root!();
    require_registry!();
    let mut reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let built = oci_image(
        dir.path(),
        &ImageSpec::default().layer(LayerSpec::random(400_000)),
    );
    reg.push_layout(dir.path(), "app/cut:1");
    let img = format!("{}/app/cut:1", reg.host());
    let digest = built.layers[0].digest.clone();
    reg.inject_times(&digest, Fault::CutAfter(50_000), 1);
    let out = d.cli(&["pull", &img]).ok();
    assert!(out.contains("Retrying in 1 second"), "{out}");
    assert_eq!(reg.blob_fetches(&digest), 2);
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.Id}}", &img]).ok(),
        built.config_digest
    );
    // The second fetch resumed where the first broke, and the registry
    // answered only the rest (206).
    let fetches: Vec<_> = reg
        .requests()
        .into_iter()
        .filter(|q| q.is_blob_fetch(&digest))
        .collect();
    assert_eq!(fetches[0].range, None);
    let from: u64 = fetches[1]
        .range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a ranged second fetch: {:?}", fetches[1]));
    assert!(from > 0 && from <= 50_000, "resumed at {from}");
    assert_eq!(fetches[1].status, 206);

    // A registry that ignores ranges answers the whole blob: the bytes
    // already extracted are skipped, and the layer is the same.
    d.cli(&["rmi", &img]).ok();
    d.cli(&["image", "prune", "-af"]).ok();
    assert!(!has_layer(&d, &built.layers[0].diff_id));
    reg.inject_times(&digest, Fault::CutAfter(50_000), 1);
    reg.inject_times(&digest, Fault::IgnoreRange, 1);
    let out = d.cli(&["pull", &img]).ok();
    assert!(out.contains("Retrying in"), "{out}");
    let last = reg
        .requests()
        .into_iter()
        .rfind(|q| q.is_blob_fetch(&digest))
        .unwrap();
    assert_eq!((last.status, last.fault), (200, Some(Fault::IgnoreRange)));
    assert!(has_layer(&d, &built.layers[0].diff_id));
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.Id}}", &img]).ok(),
        built.config_digest
    );
    // Always cut: a few attempts, then an error, and no image.
    d.cli(&["rmi", &img]).ok();
    d.cli(&["image", "prune", "-af"]).ok();
    reg.inject(&digest, Fault::CutAfter(50_000));
    let r = d.cli(&["pull", &img]);
    assert_eq!(r.code(), 1);
    assert_eq!(reg.blob_fetches(&digest), 7, "four before, three now");
    assert!(d.cli(&["inspect", &img]).code() != 0);
    assert!(!has_layer(&d, &built.layers[0].diff_id));
    // A registry that died: the pull fails, with Docker's form of the error
    // (after the progress began: the manifest is still fresh in the cache).
    reg.kill();
    let r = d.cli(&["pull", &img]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().starts_with("Get \"http://"), "{}", r.stderr());
}

#[test]
fn a_large_layer_is_pushed_in_chunks_and_a_failed_chunk_is_sent_again() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let img = format!("{}/app/big:1", reg.host());
    // 40 MB that do not compress: one chunk of 32 MiB and the rest.
    d.cli(&[
        "run",
        "--name",
        "big",
        "busybox",
        "sh",
        "-c",
        "head -c 40000000 /dev/urandom > /big && md5sum /big",
    ])
    .ok();
    let sum = d.cli(&["logs", "big"]).ok();
    d.cli(&["commit", "big", &img]).ok();
    // The first chunk fails once (the registry answers 503): it is sent again
    // from where the registry says the upload stands.
    reg.inject_times("PATCH", Fault::Status(503), 1);
    let out = d.cli(&["push", &img]).ok();
    assert!(out.contains("Retrying in 1 second"), "{out}");
    assert!(out.contains(": Pushed"), "{out}");
    let patches: Vec<_> = reg
        .requests()
        .into_iter()
        .filter(|q| q.method == "PATCH")
        .collect();
    let ranges: Vec<(u16, String)> = patches
        .iter()
        .map(|q| (q.status, q.content_range.clone().unwrap_or_default()))
        .collect();
    assert_eq!(ranges.len(), 3, "{ranges:?}");
    assert_eq!(ranges[0], (503, "0-33554431".to_string()), "{ranges:?}");
    assert_eq!(ranges[1], (202, "0-33554431".to_string()), "{ranges:?}");
    assert_eq!(ranges[2].0, 202, "{ranges:?}");
    assert!(ranges[2].1.starts_with("33554432-"), "{ranges:?}");
    // Small blobs (the config, busybox's layer) went in one request each.
    let puts = reg
        .requests()
        .into_iter()
        .filter(|q| q.method == "PUT" && q.path.contains("/blobs/uploads/"))
        .count();
    assert_eq!(puts, 3, "a PUT closes each of the three uploads");
    // What the registry holds is the same file.
    d.cli(&["rm", "big"]).ok();
    d.cli(&["rmi", &img]).ok();
    d.cli(&["image", "prune", "-af"]).ok();
    d.cli(&["pull", &img]).ok();
    let again = d.cli(&["run", "--rm", &img, "md5sum", "/big"]).ok();
    assert_eq!(again.trim(), sum.trim());
}

#[test]
fn a_pull_killed_half_way_leaves_nothing_and_the_next_reuses_verified_layers() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::None);
    let mut d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let built = oci_image(
        dir.path(),
        &ImageSpec::default()
            .layer(LayerSpec::random(100_000))
            .layer(LayerSpec::random(100_000))
            .layer(LayerSpec::random(2_000_000)),
    );
    reg.push_layout(dir.path(), "app/killed:1");
    let img = format!("{}/app/killed:1", reg.host());
    let (small, big) = (&built.layers[..2], &built.layers[2]);
    reg.inject_times(&big.digest, Fault::StallAfter(500_000), 1);
    let pull = std::process::Command::new(dockhand_tests::bin())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .args(["-H", &d.host_uri(), "pull", &img])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("pull");
    // Kill the daemon while the big layer hangs half-way and the small ones
    // are in.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !(small.iter().all(|l| has_layer(&d, &l.diff_id))
        && reg
            .requests()
            .iter()
            .any(|q| q.fault == Some(Fault::StallAfter(500_000))))
    {
        assert!(std::time::Instant::now() < deadline, "the pull got going");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    d.kill9();
    let mut pull = pull;
    let _ = pull.wait();
    let work = |d: &Daemon| -> Vec<String> {
        ["blobs/sha256", "layers"]
            .iter()
            .flat_map(|sub| std::fs::read_dir(d.root.join(sub)).into_iter().flatten())
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tmp-"))
            .collect()
    };
    assert!(!work(&d).is_empty(), "the killed pull left its work files");
    d.restart();
    assert_eq!(work(&d), Vec::<String>::new(), "a restart removes them");
    assert!(d.cli(&["inspect", &img]).code() != 0, "no image");
    assert!(!has_layer(&d, &big.diff_id));
    // The next pull fetches only what was not verified.
    let out = d.cli(&["pull", &img]).ok();
    assert!(out.contains("Already exists"), "{out}");
    for l in small {
        assert_eq!(reg.blob_fetches(&l.digest), 1, "verified layers are kept");
    }
    assert_eq!(reg.blob_fetches(&big.digest), 2);
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.Id}}", &img]).ok(),
        built.config_digest
    );
}

#[test]
fn errors_are_dockers() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let host = reg.host();
    let r = d.cli(&["pull", &format!("{host}/no/such:tag")]);
    assert_eq!(r.code(), 1);
    assert_eq!(
        r.stderr().trim(),
        format!("Error response from daemon: manifest for {host}/no/such:tag not found: manifest unknown: manifest unknown")
    );
    let r = d.cli(&["push", &format!("{host}/not/here:1")]);
    assert_eq!(r.code(), 1);
    assert!(
        r.stderr()
            .contains(&format!("No such image: {host}/not/here:1")),
        "{}",
        r.stderr()
    );
    // Nobody listens: Docker's dial error.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = d.cli(&["pull", &format!("127.0.0.1:{port}/x/y:1")]);
    assert_eq!(r.code(), 1);
    assert_eq!(
        r.stderr().trim(),
        format!("Error response from daemon: Get \"http://127.0.0.1:{port}/v2/\": dial tcp 127.0.0.1:{port}: connect: connection refused")
    );
    let r = d.cli(&["pull", "--all-tags", &format!("{host}/a/b:1")]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("tag can't be used with --all-tags/-a"));
}

#[test]
fn basic_auth_login_push_pull_and_logout() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::basic("trainer", "s3cret"));
    let d = Daemon::start();
    let host = reg.host();
    let img = format!("{host}/class/bb:1");
    d.cli(&["tag", "busybox", &img]).ok();
    // Anonymous: refused, in Docker's words.
    let r = d.cli(&["push", &img]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("unauthorized"), "{}", r.stderr());
    let r = d.cli(&["pull", &img]);
    assert!(
        r.stderr().contains(&format!(
            "pull access denied for {host}/class/bb, repository does not exist or may require 'docker login'"
        )),
        "{}",
        r.stderr()
    );
    // A wrong password.
    let r = d.cli_stdin(
        &["login", "-u", "trainer", "--password-stdin", &host],
        Some(b"wrong\n"),
    );
    assert_eq!(r.code(), 1);
    assert_eq!(
        r.stderr().trim(),
        format!("Error response from daemon: login attempt to http://{host}/v2/ failed with status: 401 Unauthorized")
    );
    assert!(config_json(&d)["auths"][&host].is_null());
    // The right one: stored as docker stores it.
    let r = d.cli_stdin(
        &["login", "-u", "trainer", "--password-stdin", &host],
        Some(b"s3cret\n"),
    );
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout().trim(), "Login Succeeded");
    assert_eq!(
        config_json(&d)["auths"][&host]["auth"],
        "dHJhaW5lcjpzM2NyZXQ=",
        "base64(trainer:s3cret)"
    );
    d.cli(&["push", &img]).ok();
    d.cli(&["rmi", &img]).ok();
    d.cli(&["pull", &img]).ok();
    let out = d.cli(&["logout", &host]).ok();
    assert_eq!(out, format!("Removing login credentials for {host}"));
    assert!(config_json(&d)["auths"][&host].is_null());
    assert_eq!(d.cli(&["pull", &img]).code(), 1, "logged out again");
}

#[test]
fn token_auth_asks_for_the_repository_scope() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::token("dev", "pw"));
    let d = Daemon::start();
    let host = reg.host();
    let img = format!("{host}/team/tok:1");
    d.cli(&["tag", "busybox", &img]).ok();
    d.cli_stdin(
        &["login", "-u", "dev", "--password-stdin", &host],
        Some(b"pw"),
    )
    .ok();
    d.cli(&["push", &img]).ok();
    assert!(reg.token_scope_asked("team/tok", "push"));
    d.cli(&["rmi", &img]).ok();
    d.cli(&["pull", &img]).ok();
    assert!(reg.token_scope_asked("team/tok", "pull"));
    d.cli(&["logout", &host]).ok();
    let r = d.cli(&["pull", &img]);
    assert_eq!(r.code(), 1, "anonymous pulls are refused here");
}

#[test]
fn a_virtual_hosts_pulls_leave_from_its_own_network() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let img = format!("{}/team/bb:1", reg.host());
    d.cli(&["tag", "busybox", &img]).ok();
    d.cli(&["push", &img]).ok();
    // The machine's loopback has the registry; the host's own loopback has not.
    d.cli(&["host", "create", "--hostname", "node1", "vh-reg"])
        .ok();
    let seen = |reg: &Registry| {
        reg.requests()
            .iter()
            .filter(|q| q.path.contains("team/bb"))
            .count()
    };
    let before = seen(&reg);
    let r = d.cli(&["host", "exec", "vh-reg", "docker", "pull", &img]);
    assert_eq!(r.code(), 1, "{}", r.stdout());
    assert!(
        r.stderr().contains("connect: connection refused"),
        "{}",
        r.stderr()
    );
    assert_eq!(
        seen(&reg),
        before,
        "the registry saw no request from the virtual host"
    );

    // The course's own registry on the host's loopback (`localhost:5000`),
    // served here by distribution started in the host's network: push and
    // pull by that name work, and the machine's registry sees none of it.
    let init_pid = d.vhost_init_pid("vh-reg");
    let own = tempfile::tempdir().unwrap();
    let cfg = own.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:5000\n",
            own.path().join("storage").display()
        ),
    )
    .unwrap();
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let netns = format!("--net=/proc/{init_pid}/ns/net");
    let _own_registry = Killed(
        std::process::Command::new("nsenter")
            .arg(&netns)
            .arg(dockhand_tests::registry::registry_bin())
            .arg("serve")
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nsenter docker-registry"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::process::Command::new("nsenter")
        .arg(&netns)
        .args(["curl", "-fs", "http://127.0.0.1:5000/v2/"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(std::time::Instant::now() < deadline, "the host's registry");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mine = "localhost:5000/mycompany/my-bb:99";
    let vh = |args: &[&str]| {
        let mut a = vec!["host", "exec", "vh-reg", "docker"];
        a.extend_from_slice(args);
        d.cli(&a).ok()
    };
    vh(&["run", "--rm", "busybox", "true"]);
    vh(&["tag", "busybox", mine]);
    let out = vh(&["push", mine]);
    assert!(out.contains("99: digest: sha256:"), "{out}");
    vh(&["rmi", mine]);
    let out = vh(&["pull", mine]);
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    assert_eq!(
        vh(&["run", "--rm", mine, "echo", "from my registry"]),
        "from my registry"
    );
    assert_eq!(seen(&reg), before, "nothing reached the machine's registry");
}

#[test]
fn concurrent_pulls_fetch_each_blob_once_and_a_fresh_tag_asks_nobody() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let built = oci_image(
        dir.path(),
        &ImageSpec::busybox()
            .layer(LayerSpec::random(2_000_000))
            .layer(LayerSpec::random(1_000_000)),
    );
    reg.push_layout(dir.path(), "class/img:1");
    let img = format!("{}/class/img:1", reg.host());
    let runs: Vec<_> = (0..10)
        .map(|_| {
            let img = img.clone();
            std::thread::spawn({
                let host = d.host_uri();
                let config = d.dir.path().join("docker-config");
                move || {
                    std::process::Command::new(dockhand_tests::bin())
                        .env("DOCKER_CONFIG", config)
                        .args(["-H", &host, "pull", &img])
                        .output()
                        .expect("pull")
                }
            })
        })
        .collect();
    for r in runs {
        let out = r.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for l in &built.layers {
        assert_eq!(reg.blob_fetches(&l.digest), 1, "{} fetched once", l.digest);
    }
    assert_eq!(reg.manifest_fetches("1"), 1, "one manifest request");
    // Within the freshness window a pull makes no request at all.
    let before = reg.requests().len();
    let out = d.cli(&["pull", &img]).ok();
    assert!(out.contains("Image is up to date"), "{out}");
    assert_eq!(
        reg.requests().len(),
        before,
        "{:?}",
        &reg.requests()[before..]
    );
}

#[test]
fn virtual_hosts_get_docker_hub_images_through_the_machines_cache() {
    dockhand_tests::require_root!();
    require_registry!();
    // The registry stands in for Docker Hub, as the daemon's mirror; the
    // virtual hosts' egress policy lets them reach nothing themselves.
    let reg = Registry::start(Auth::None);
    let mirror = format!("http://{}", reg.host());
    let d = Daemon::start_with(&["--registry-mirror", &mirror]);
    let dir = tempfile::tempdir().unwrap();
    let built = oci_image(
        dir.path(),
        &ImageSpec::busybox()
            .layer(LayerSpec::files(&[("/hello", b"from the hub\n")]))
            .cmd(&["cat", "/hello"]),
    );
    reg.push_layout(dir.path(), "library/hello:1");
    // Twenty hosts pull at once.
    let hosts: Vec<String> = (0..20).map(|i| format!("vh-{i}")).collect();
    for vh in &hosts {
        d.cli(&["host", "create", "--hostname", vh, vh]).ok();
    }
    let runs: Vec<_> = hosts
        .iter()
        .map(|vh| {
            let (host, config) = (d.host_uri(), d.dir.path().join("docker-config"));
            let vh = vh.clone();
            std::thread::spawn(move || {
                std::process::Command::new(dockhand_tests::bin())
                    .env("DOCKER_CONFIG", config)
                    .args([
                        "-H", &host, "host", "exec", &vh, "docker", "pull", "hello:1",
                    ])
                    .output()
                    .expect("pull")
            })
        })
        .collect();
    for r in runs {
        let out = r.join().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("Pulling from library/hello"), "{text}");
    }
    for vh in &hosts {
        assert_eq!(
            d.cli(&["host", "exec", vh, "docker", "inspect", "-f", "{{.Id}}", "hello:1"])
                .ok(),
            built.config_digest
        );
    }
    for vh in [&hosts[0], &hosts[19]] {
        assert_eq!(
            d.cli(&["host", "exec", vh, "docker", "run", "--rm", "hello:1"])
                .ok(),
            "from the hub"
        );
    }
    for l in &built.layers {
        assert_eq!(reg.blob_fetches(&l.digest), 1, "one fetch for all hosts");
    }
    assert_eq!(reg.manifest_fetches("1"), 1);
    // A host's images are its own: the machine did not get the name.
    assert_ne!(d.cli(&["inspect", "hello:1"]).code(), 0);
}

#[test]
fn a_private_image_one_host_pulled_is_not_given_to_another_without_credentials() {
    dockhand_tests::require_root!();
    require_registry!();
    // The registry stands in for Docker Hub (the daemon's mirror) and wants a
    // login; one virtual host has the credentials, the other has none.
    let reg = Registry::start(Auth::basic("trainee", "pw"));
    let mirror = format!("http://{}", reg.host());
    let d = Daemon::start_with(&["--registry-mirror", &mirror]);
    let dir = tempfile::tempdir().unwrap();
    let built = oci_image(
        dir.path(),
        &ImageSpec::busybox()
            .layer(LayerSpec::files(&[("/secret", b"private\n")]))
            .cmd(&["cat", "/secret"]),
    );
    reg.push_layout(dir.path(), "team/secret:1");
    for vh in ["vh-a", "vh-b"] {
        d.cli(&["host", "create", "--hostname", vh, vh]).ok();
    }
    // Docker Hub's key in a docker config: base64("trainee:pw").
    let sh = |vh: &str, script: &str| d.cli(&["host", "exec", vh, "--", "sh", "-c", script]);
    sh(
        "vh-a",
        r#"mkdir -p /tmp/dc && echo '{"auths":{"https://index.docker.io/v1/":{"auth":"dHJhaW5lZTpwdw=="}}}' > /tmp/dc/config.json"#,
    )
    .ok();
    let out = sh("vh-a", "DOCKER_CONFIG=/tmp/dc docker pull team/secret:1").ok();
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    assert_eq!(sh("vh-a", "docker run --rm team/secret:1").ok(), "private");
    // The other host has the layers in the shared store, but not the right
    // to them: the registry is asked with its (no) credentials and refuses.
    let asked = reg.requests().len();
    let r = sh("vh-b", "docker pull team/secret:1");
    assert_eq!(r.code(), 1, "{}", r.stdout());
    let refused = reg.requests()[asked..]
        .iter()
        .any(|q| q.path.contains("/team/secret/manifests/1") && q.status == 401);
    assert!(refused, "{:?}", &reg.requests()[asked..]);
    assert_ne!(sh("vh-b", "docker inspect team/secret:1").code(), 0);
    assert_ne!(sh("vh-b", "docker run --rm team/secret:1").code(), 0);
    for l in &built.layers {
        assert_eq!(reg.blob_fetches(&l.digest), 1);
    }
}

#[test]
fn the_daemons_config_file_sets_the_mirror_and_a_flag_for_the_same_is_refused() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let built = oci_image(
        dir.path(),
        &ImageSpec::busybox()
            .layer(LayerSpec::files(&[("/hello", b"mirrored\n")]))
            .cmd(&["cat", "/hello"]),
    );
    reg.push_layout(dir.path(), "library/hello:1");
    // dockerd's daemon.json: our directives, and one of dockerd's we ignore.
    let file = dir.path().join("daemon.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"registry-mirrors": ["http://{}"], "log-driver": "json-file"}}"#,
            reg.host()
        ),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let d = Daemon::start_with(&["--config-file", path]);
    let out = d.cli(&["pull", "hello:1"]).ok();
    assert!(out.contains("Pulling from library/hello"), "{out}");
    assert_eq!(d.cli(&["run", "--rm", "hello:1"]).ok(), "mirrored");
    assert_eq!(reg.blob_fetches(&built.layers[1].digest), 1);
    // The same directive as a flag too: refused before anything starts (a
    // daemon of its own root and socket, should it start all the same).
    let root = tempfile::tempdir().unwrap();
    let refused = |args: &[&str]| {
        let mut cmd = std::process::Command::new(dockhand_tests::bin());
        cmd.arg("daemon")
            .arg("--data-root")
            .arg(root.path().join("root"))
            .arg("-H")
            .arg(format!("unix://{}", root.path().join("d.sock").display()))
            .args([
                "--bridge",
                "dhcfgtest0",
                "--iptables-chain-prefix",
                "DH-CFGTEST",
            ])
            .args(args);
        let r = dockhand_tests::run_command(cmd, None, std::time::Duration::from_secs(20));
        assert_ne!(r.code(), 0);
        assert!(!root.path().join("root").exists(), "nothing was made");
        r.stderr()
    };
    let e = refused(&[
        "--config-file",
        path,
        "--registry-mirror",
        "http://other:5000",
    ]);
    assert!(
        e.contains(&format!(
            "unable to configure the Docker daemon with file {path}: the following directives are specified both as a flag and in the configuration file: registry-mirrors: (from flag: [http://other:5000], from file: [http://{}])",
            reg.host()
        )),
        "{e}"
    );
    // A directive nobody knows, and a file asked for that is not there.
    std::fs::write(&file, r#"{"registry-mirors": []}"#).unwrap();
    let e = refused(&["--config-file", path]);
    assert!(
        e.contains(
            "the following directives don't match any configuration option: registry-mirors"
        ),
        "{e}"
    );
    let e = refused(&["--config-file", "/nonexistent/daemon.json"]);
    assert!(
        e.contains("unable to configure the Docker daemon with file /nonexistent/daemon.json: open /nonexistent/daemon.json: no such file or directory"),
        "{e}"
    );
}

#[test]
fn pull_all_tags_gets_every_tag_of_the_repository() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let repo = format!("{}/team/multi", reg.host());
    for t in ["1", "2", "edge"] {
        d.cli(&["tag", "busybox", &format!("{repo}:{t}")]).ok();
        d.cli(&["push", &format!("{repo}:{t}")]).ok();
        d.cli(&["rmi", &format!("{repo}:{t}")]).ok();
    }
    let out = d.cli(&["pull", "--all-tags", &repo]).ok();
    assert!(out.ends_with(&repo), "{out}");
    let rows = d
        .cli(&["images", "--format", "{{.Repository}} {{.Tag}}"])
        .ok();
    let prefix = format!("{repo} ");
    let mut tags: Vec<&str> = rows
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect();
    tags.sort();
    assert_eq!(tags, ["1", "2", "edge"], "{rows}");
    // `images REPO` lists that repository's names only (busybox, the same
    // image, is not among them).
    let only = d.cli(&["images", "--format", "{{.Tag}}", &repo]).ok();
    let mut only: Vec<&str> = only.lines().collect();
    only.sort();
    assert_eq!(only, ["1", "2", "edge"]);
}
