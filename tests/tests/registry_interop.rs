//! Registry interop end to end: what our daemon pushes, skopeo and a real
//! dockerd read back unchanged (same manifest digest, same image ID, the same
//! layers); what a real dockerd pushes, we pull and run; images made by the
//! harness in every compression and media type, and multi-platform indexes,
//! pull with their IDs kept; and the real docker CLI logs in, pushes and pulls
//! through our daemon against Basic and token auth registries.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use dockhand_tests::dockerd::RealDockerd;
use dockhand_tests::registry::{
    oci_image, oci_index, sha256_digest, Auth, Compression, ImageSpec, LayerSpec, MediaTypes,
    Registry,
};
use dockhand_tests::{require_docker_cli, require_registry, Daemon};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// Output of a command, for assertions.
struct Ran(Output);

impl Ran {
    fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    #[track_caller]
    fn ok(&self) -> String {
        assert_eq!(
            self.code(),
            0,
            "failed\nstdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self.stdout().trim().to_string()
    }
}

/// Run `cmd` to its end (at most `limit`), feeding it `stdin`.
fn run(cmd: Command, stdin: Option<&[u8]>, limit: Duration) -> Ran {
    Ran(dockhand_tests::run_command(cmd, stdin, limit).out)
}

/// The real docker CLI against our daemon, with its configuration (where
/// `login` stores credentials) in `config`; at most 120 s.
fn docker(d: &Daemon, config: &Path, args: &[&str], stdin: Option<&[u8]>) -> Ran {
    docker_within(d, config, args, stdin, Duration::from_secs(120))
}

/// [`docker`] killed after `limit`.
fn docker_within(
    d: &Daemon,
    config: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
    limit: Duration,
) -> Ran {
    let mut cmd = Command::new(dockhand_tests::docker_cli().expect("docker CLI"));
    cmd.env("DOCKER_HOST", d.host_uri())
        .env("DOCKER_CONFIG", config)
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CLI_HINTS", "false")
        .args(args);
    run(cmd, stdin, limit)
}

/// `skopeo` with no policy file, no stored credentials, plain HTTP.
fn skopeo(scratch: &Path, args: &[&str]) -> Ran {
    let mut cmd = Command::new("skopeo");
    cmd.arg("--insecure-policy")
        .args(args)
        .env("REGISTRY_AUTH_FILE", scratch.join("skopeo-auth.json"));
    run(cmd, None, Duration::from_secs(120))
}

/// The manifest digest of a push's `TAG: digest: sha256:… size: N` line.
#[track_caller]
fn pushed_digest(out: &str, tag: &str) -> String {
    let prefix = format!("{tag}: digest: ");
    out.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .filter(|d| d.starts_with("sha256:") && d.len() == 71)
        .unwrap_or_else(|| panic!("no `{prefix}sha256:…` line in\n{out}"))
        .to_string()
}

fn image_id(d: &Daemon, image: &str) -> String {
    d.cli(&["image", "inspect", "-f", "{{.Id}}", image]).ok()
}

fn diff_ids(d: &Daemon, image: &str) -> Vec<String> {
    let json = d
        .cli(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", image])
        .ok();
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

/// The uncompressed tar of a layer blob of media type `media_type`.
fn decompress(blob: &[u8], media_type: &str) -> Vec<u8> {
    let mut out = Vec::new();
    if media_type.ends_with("gzip") {
        flate2::read::GzDecoder::new(blob)
            .read_to_end(&mut out)
            .expect("gunzip a layer");
    } else if media_type.ends_with("zstd") {
        out = zstd::decode_all(blob).expect("unzstd a layer");
    } else {
        assert!(media_type.ends_with(".tar"), "layer type {media_type}");
        out = blob.to_vec();
    }
    out
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// This machine's platform in an index, and a foreign one; `None` elsewhere.
fn native_and_foreign() -> Option<(&'static str, &'static str)> {
    match std::env::consts::ARCH {
        "x86_64" => Some(("linux/amd64", "linux/arm64/v8")),
        "aarch64" => Some(("linux/arm64/v8", "linux/amd64")),
        _ => None,
    }
}

#[test]
fn our_push_is_read_back_by_skopeo_and_pulled_by_a_real_dockerd() {
    dockhand_tests::require_root!();
    require_registry!();
    let Some(real) = RealDockerd::start() else {
        return;
    };
    let reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let host = reg.host();
    let img = format!("{host}/interop/ours:1");
    d.cli(&["tag", "busybox", &img]).ok();
    let id = image_id(&d, "busybox");
    let layers = diff_ids(&d, "busybox");
    assert!(!layers.is_empty());
    let out = d.cli(&["push", &img]).ok();
    let digest = pushed_digest(&out, "1");

    // skopeo copies it out as stored: the manifest we pushed, our config, and
    // layers that decompress to our diff ids.
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("copy");
    skopeo(
        scratch.path(),
        &[
            "copy",
            "--src-tls-verify=false",
            "--src-no-creds",
            &format!("docker://{img}"),
            &format!("dir:{}", copy.display()),
        ],
    )
    .ok();
    let manifest_bytes = std::fs::read(copy.join("manifest.json")).unwrap();
    assert_eq!(
        sha256_digest(&manifest_bytes),
        digest,
        "the manifest pushed"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap_or_default();
    assert_eq!(config_digest, id, "the config is the image ID: {manifest}");
    let config = std::fs::read(copy.join(hex_of(config_digest))).unwrap();
    assert_eq!(sha256_digest(&config), id);
    let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["rootfs"]["diff_ids"], serde_json::json!(layers));
    let blobs = manifest["layers"].as_array().cloned().unwrap_or_default();
    assert_eq!(blobs.len(), layers.len(), "{manifest}");
    for (blob, diff_id) in blobs.iter().zip(&layers) {
        let blob_digest = blob["digest"].as_str().unwrap();
        let data = std::fs::read(copy.join(hex_of(blob_digest))).unwrap();
        assert_eq!(sha256_digest(&data), blob_digest);
        assert_eq!(blob["size"].as_u64(), Some(data.len() as u64));
        let tar = decompress(&data, blob["mediaType"].as_str().unwrap_or_default());
        assert_eq!(&sha256_digest(&tar), diff_id, "layer {blob_digest}");
    }

    // A real dockerd pulls it: same manifest digest, same image ID, and it runs.
    let out = real.ok(&["pull", &img]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {img}")),
        "{out}"
    );
    assert_eq!(real.ok(&["image", "inspect", "-f", "{{.Id}}", &img]), id);
    assert_eq!(
        real.ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", &img]),
        serde_json::to_string(&layers).unwrap()
    );
    assert_eq!(
        real.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            &img,
            "sh",
            "-c",
            "echo from-our-push"
        ]),
        "from-our-push"
    );
}

#[test]
fn a_real_dockerds_push_is_pulled_and_run_by_ours() {
    dockhand_tests::require_root!();
    require_registry!();
    let Some(real) = RealDockerd::start() else {
        return;
    };
    let reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let host = reg.host();
    // A root file system docker itself makes a layer of (`docker import`)…
    let rootfs = real.dir().join("rootfs.tar");
    std::fs::write(
        &rootfs,
        LayerSpec::busybox()
            .file("/etc/origin", b"imported by dockerd\n")
            .tar(),
    )
    .unwrap();
    let base = format!("{host}/interop/theirs:base");
    real.ok(&[
        "import",
        "--change",
        "CMD [\"cat\", \"/etc/origin\"]",
        rootfs.to_str().unwrap(),
        &base,
    ]);
    // …and a layer of its own `commit` on top.
    real.ok(&[
        "run",
        "--name",
        "maker",
        "--network",
        "none",
        &base,
        "sh",
        "-c",
        "echo committed > /etc/extra && rm /etc/origin",
    ]);
    let top = format!("{host}/interop/theirs:top");
    real.ok(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/etc/extra\"]",
        "maker",
        &top,
    ]);
    for (img, tag, want) in [
        (&base, "base", "imported by dockerd"),
        (&top, "top", "committed"),
    ] {
        let out = real.ok(&["push", img]);
        assert!(
            out.contains(": Pushed") || out.contains(": Layer already exists"),
            "{out}"
        );
        let digest = pushed_digest(&out, tag);
        let id = real.ok(&["image", "inspect", "-f", "{{.Id}}", img]);
        let layers = real.ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", img]);

        let out = d.cli(&["pull", img]).ok();
        assert!(out.contains(&format!("Digest: {digest}")), "{out}");
        assert!(
            out.contains(&format!("Status: Downloaded newer image for {img}")),
            "{out}"
        );
        assert_eq!(image_id(&d, img), id, "{img}: the image ID docker made");
        assert_eq!(
            serde_json::to_string(&diff_ids(&d, img)).unwrap(),
            layers,
            "{img}"
        );
        assert_eq!(d.cli(&["run", "--rm", img]).ok(), want);
        d.cli(&["run", "--rm", img, "true"]).ok();
    }
    // Docker's deletion (a whiteout in its layer) holds in ours.
    let r = d.cli(&["run", "--rm", &top, "cat", "/etc/origin"]);
    assert_ne!(
        r.code(),
        0,
        "a file docker deleted came back: {}",
        r.stdout()
    );
    assert_eq!(diff_ids(&d, &top).len(), 2);
}

#[test]
fn harness_images_in_every_compression_and_media_type_keep_their_ids_and_run() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let host = reg.host();
    let cases = [
        ("oci-gzip", MediaTypes::Oci, Compression::Gzip),
        ("oci-zstd", MediaTypes::Oci, Compression::Zstd),
        ("oci-plain", MediaTypes::Oci, Compression::None),
        ("docker-gzip", MediaTypes::Docker, Compression::Gzip),
        ("docker-plain", MediaTypes::Docker, Compression::None),
    ];
    for (name, media_types, compression) in cases {
        let dir = tempfile::tempdir().unwrap();
        let built = oci_image(
            dir.path(),
            &ImageSpec::default()
                .layer(LayerSpec::busybox().compression(compression))
                .layer(
                    LayerSpec::files(&[("/etc/which", name.as_bytes())])
                        .random_file("/data/blob", 50_000)
                        .compression(compression),
                )
                .cmd(&["cat", "/etc/which"])
                .media_types(media_types),
        );
        reg.push_layout(dir.path(), &format!("harness/{name}:1"));
        let img = format!("{host}/harness/{name}:1");
        let out = d.cli(&["pull", &img]).ok();
        assert!(
            out.contains(&format!("Digest: {}", built.manifest_digest)),
            "{name}: {out}"
        );
        assert_eq!(image_id(&d, &img), built.config_digest, "{name}");
        assert_eq!(diff_ids(&d, &img), built.diff_ids(), "{name}");
        // The top layer is this image's alone: fetched, and unpacked right.
        assert_eq!(reg.blob_fetches(&built.layers[1].digest), 1, "{name}");
        assert_eq!(d.cli(&["run", "--rm", &img]).ok(), name, "{name}");
        assert_eq!(
            d.cli(&["run", "--rm", &img, "stat", "-c", "%s", "/data/blob"])
                .ok(),
            "50000",
            "{name}"
        );
    }
}

#[test]
fn an_index_pulls_this_machines_platform_unless_another_is_asked() {
    dockhand_tests::require_root!();
    require_registry!();
    let Some((native, foreign)) = native_and_foreign() else {
        eprintln!(
            "SKIPPED: no index test for {} machines",
            std::env::consts::ARCH
        );
        return;
    };
    let reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let host = reg.host();
    let arch = |platform: &str| platform.split('/').nth(1).unwrap_or_default().to_string();
    for (name, media_types) in [("oci", MediaTypes::Oci), ("docker", MediaTypes::Docker)] {
        let dir = tempfile::tempdir().unwrap();
        let index = oci_index(
            dir.path(),
            &[
                ImageSpec::new(native)
                    .layer(LayerSpec::busybox())
                    .cmd(&["echo", "native"])
                    .media_types(media_types),
                ImageSpec::new(foreign)
                    .layer(LayerSpec::random(2000))
                    .media_types(media_types),
            ],
        );
        let native_img = index.image(native).unwrap();
        let foreign_img = index.image(foreign).unwrap();
        reg.push_layout(dir.path(), &format!("multi/{name}:1"));
        let img = format!("{host}/multi/{name}:1");

        let out = d.cli(&["pull", &img]).ok();
        assert!(
            out.contains(&format!("Digest: {}", index.digest)),
            "{name}: the index digest, as docker shows it: {out}"
        );
        assert_eq!(image_id(&d, &img), native_img.config_digest, "{name}");
        assert_eq!(
            d.cli(&["image", "inspect", "-f", "{{.Architecture}}", &img])
                .ok(),
            arch(native)
        );
        assert_eq!(d.cli(&["run", "--rm", &img]).ok(), "native");
        assert_eq!(
            reg.blob_fetches(&foreign_img.layers[0].digest),
            0,
            "{name}: nothing of the other platform is fetched"
        );

        let short = foreign.rsplit_once('/').map(|(p, _)| p).unwrap_or(foreign);
        let out = d.cli(&["pull", "--platform", short, &img]).ok();
        assert!(out.contains("Status: Downloaded newer image"), "{out}");
        assert_eq!(image_id(&d, &img), foreign_img.config_digest, "{name}");
        assert_eq!(
            d.cli(&["image", "inspect", "-f", "{{.Architecture}}", &img])
                .ok(),
            arch(foreign)
        );
        assert_eq!(reg.blob_fetches(&foreign_img.layers[0].digest), 1);
    }
}

/// The real docker CLI logs in through our daemon, then pushes and pulls.
fn docker_cli_login_push_pull(reg: &Registry, repo: &str) {
    let d = Daemon::start();
    let host = reg.host();
    let (user, password) = reg.credentials().expect("a registry with auth");
    let cfg = tempfile::tempdir().unwrap();
    let config_json = || -> serde_json::Value {
        std::fs::read(cfg.path().join("config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(serde_json::Value::Null)
    };
    let img = format!("{host}/{repo}:1");
    d.cli(&["tag", "busybox", &img]).ok();
    let id = image_id(&d, "busybox");

    // Anonymous: refused.
    refused_pull(&d, cfg.path(), &img);
    let r = docker(&d, cfg.path(), &["push", &img], None);
    assert_eq!(r.code(), 1, "anonymous push: {}", r.stdout());
    assert!(
        (r.stdout() + &r.stderr()).contains("unauthorized"),
        "{}\n{}",
        r.stdout(),
        r.stderr()
    );

    // A wrong password: refused, nothing stored.
    let login = ["login", "-u", user, "--password-stdin", host.as_str()];
    let r = docker(&d, cfg.path(), &login, Some(b"not-the-password\n"));
    assert_eq!(r.code(), 1, "{}", r.stdout());
    if matches!(reg.auth(), Auth::Basic { .. }) {
        assert!(
            r.stderr().contains(&format!(
                "login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"
            )),
            "{}",
            r.stderr()
        );
    } else {
        // dockerd passes on what the token server said (its `details`).
        assert!(
            r.stderr().contains(&format!(
                "Get \"http://{host}/v2/\": unauthorized: incorrect username or password"
            )),
            "{}",
            r.stderr()
        );
    }
    assert!(config_json()["auths"][&host].is_null(), "{}", config_json());

    // The right one: stored where and as docker stores it.
    let r = docker(
        &d,
        cfg.path(),
        &login,
        Some(format!("{password}\n").as_bytes()),
    );
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert!(r.stdout().contains("Login Succeeded"), "{}", r.stdout());
    let entry = &config_json()["auths"][&host];
    assert_eq!(
        entry["auth"],
        STANDARD.encode(format!("{user}:{password}")),
        "{entry}"
    );

    // Push and pull with docker's progress lines.
    let r = docker(&d, cfg.path(), &["push", &img], None);
    let out = r.ok();
    assert!(
        out.starts_with(&format!("The push refers to repository [{host}/{repo}]")),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let digest = pushed_digest(&out, "1");
    if matches!(reg.auth(), Auth::Token { .. }) {
        assert!(
            reg.token_scope_asked(repo, "push"),
            "{:?}",
            reg.token_requests()
        );
    }
    docker(&d, cfg.path(), &["rmi", &img], None).ok();
    let out = docker(&d, cfg.path(), &["pull", &img], None).ok();
    assert!(out.contains("1: Pulling from"), "{out}");
    assert!(
        out.contains(": Pull complete") || out.contains(": Already exists"),
        "{out}"
    );
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {img}")),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some(img.as_str()), "{out}");
    assert_eq!(image_id(&d, &img), id);
    if matches!(reg.auth(), Auth::Token { .. }) {
        assert!(reg.token_scope_asked(repo, "pull"));
    }

    // Logged out: refused again.
    let out = docker(&d, cfg.path(), &["logout", &host], None).ok();
    assert_eq!(out, format!("Removing login credentials for {host}"));
    docker(&d, cfg.path(), &["rmi", &img], None).ok();
    refused_pull(&d, cfg.path(), &img);
}

/// An anonymous `docker pull` of `img` fails at once, as with dockerd. Were
/// the daemon to answer the pull with HTTP 401, the CLI would take it for a
/// login to ask for ("Login prior to pull:") and wait on its prompt.
#[track_caller]
fn refused_pull(d: &Daemon, config: &Path, img: &str) {
    let r = docker_within(d, config, &["pull", img], None, Duration::from_secs(30));
    assert!(
        !r.stdout().contains("Login prior to pull"),
        "the daemon answered the pull with 401, so the docker CLI prompts for a login \
         instead of failing:\nstdout: {}\nstderr: {}",
        r.stdout(),
        r.stderr()
    );
    assert_eq!(r.code(), 1, "anonymous pull: {}", r.stdout());
    assert!(
        r.stderr().contains("pull access denied") || r.stderr().contains("unauthorized"),
        "{}",
        r.stderr()
    );
}

#[test]
fn the_docker_cli_logs_in_pushes_and_pulls_through_us_with_basic_auth() {
    dockhand_tests::require_root!();
    require_registry!();
    require_docker_cli!();
    let reg = Registry::start(Auth::basic("trainer", "s3cret"));
    docker_cli_login_push_pull(&reg, "class/basic");
}

#[test]
fn the_docker_cli_logs_in_pushes_and_pulls_through_us_with_token_auth() {
    dockhand_tests::require_root!();
    require_registry!();
    require_docker_cli!();
    let reg = Registry::start(Auth::token("dev", "t0ken-pw"));
    docker_cli_login_push_pull(&reg, "class/token");
}
