//! `dockhand registry` with real peers (issue 15): the real dockerd pushes to
//! it and pulls from it, skopeo copies in and out, our daemon does both (with a
//! cross-repository mount and htpasswd login); an upload survives a crash of
//! the registry; `garbage-collect` removes exactly what no manifest needs.

use dockhand_tests::dockerd::RealDockerd;
use dockhand_tests::own_registry::OwnRegistry;
use dockhand_tests::registry::{http_request, oci_image, ImageSpec, LayerSpec};
use dockhand_tests::{bin, say_skipped, Daemon};
use sha2::{Digest, Sha256};
use std::process::Command;

fn skopeo() -> Option<&'static str> {
    if std::path::Path::new("/usr/bin/skopeo").exists() {
        Some("/usr/bin/skopeo")
    } else {
        say_skipped("skopeo is not installed (apt-get install skopeo)");
        None
    }
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// The manifest digest a registry serves for `repo:tag`.
fn served_digest(reg: &OwnRegistry, repo: &str, tag: &str) -> String {
    let r = http_request(
        &reg.addr,
        "HEAD",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Accept", dockhand_tests::registry::MANIFEST_ACCEPT)],
        b"",
    )
    .expect("HEAD manifest");
    assert_eq!(r.status, 200, "HEAD {repo}:{tag}");
    r.header("docker-content-digest")
        .expect("Docker-Content-Digest")
        .to_string()
}

#[test]
fn the_real_dockerd_pushes_to_it_and_pulls_from_it() {
    dockhand_tests::require_root!();
    let _cli = dockhand_tests::require_docker_cli!();
    let Some(real) = RealDockerd::start() else {
        return;
    };
    let reg = OwnRegistry::start(&[]);
    let d = Daemon::start();
    let base = d.dir.path().join("busybox.tar");
    d.docker(&["save", "-o", base.to_str().unwrap(), "busybox"])
        .ok();
    real.ok(&["load", "-i", base.to_str().unwrap()]);
    let name = format!("{}/course/busybox:1", reg.addr);
    real.ok(&["tag", "busybox", &name]);
    let push = real.ok(&["push", &name]);
    let pushed = push
        .lines()
        .find_map(|l| l.split("digest: ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in {push}"))
        .to_string();
    assert_eq!(served_digest(&reg, "course/busybox", "1"), pushed);
    let id = real.ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    real.ok(&["rmi", &name, "busybox"]);
    let pull = real.ok(&["pull", &name]);
    assert!(pull.contains(&format!("Digest: {pushed}")), "{pull}");
    assert_eq!(real.ok(&["image", "inspect", "-f", "{{.Id}}", &name]), id);
    // And ours pulls what dockerd pushed, to the same image ID.
    let ours = d.docker(&["pull", &name]).ok();
    assert!(ours.contains(&format!("Digest: {pushed}")), "{ours}");
    assert_eq!(
        d.docker(&["image", "inspect", "-f", "{{.Id}}", &name]).ok(),
        id
    );
}

#[test]
fn skopeo_copies_in_and_out() {
    dockhand_tests::require_root!();
    let Some(skopeo) = skopeo() else { return };
    let reg = OwnRegistry::start(&[]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    let img = oci_image(
        &src,
        &ImageSpec::busybox()
            .layer(LayerSpec::random(3 << 20))
            .layer(LayerSpec::files(&[("etc/motd", b"hello\n")])),
    );
    let run = |args: &[&str]| {
        let out = Command::new(skopeo).args(args).output().expect("skopeo");
        assert!(
            out.status.success(),
            "skopeo {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            reg.log_tail(20)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dest = format!("docker://{}/lib/app:1", reg.addr);
    run(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}", src.display()),
        &dest,
    ]);
    assert_eq!(served_digest(&reg, "lib/app", "1"), img.manifest_digest);
    let tags = run(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/lib/app", reg.addr),
    ]);
    assert!(tags.contains("\"1\""), "{tags}");
    let back = tmp.path().join("back");
    run(&[
        "copy",
        "--src-tls-verify=false",
        &dest,
        &format!("oci:{}:1", back.display()),
    ]);
    // Every blob came back as it went.
    for l in &img.layers {
        let (algo, hex) = l.digest.split_once(':').expect("digest");
        let b = std::fs::read(back.join("blobs").join(algo).join(hex)).expect("layer blob");
        assert_eq!(sha256(&b), l.digest);
    }
    let manifest = std::fs::read(
        back.join("blobs/sha256")
            .join(img.manifest_digest.trim_start_matches("sha256:")),
    )
    .expect("manifest blob");
    assert_eq!(manifest, img.manifest);
}

#[test]
fn our_daemon_pushes_and_pulls_with_a_mount_and_htpasswd_login() {
    dockhand_tests::require_root!();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("htpasswd");
    let hash = bcrypt::hash_with_result("s3cret", 5)
        .expect("bcrypt")
        .format_for_version(bcrypt::Version::TwoY);
    std::fs::write(&file, format!("trainer:{hash}\n")).expect("htpasswd");
    let reg = OwnRegistry::start(&[
        ("REGISTRY_AUTH_HTPASSWD_REALM", "Registry Realm".to_string()),
        ("REGISTRY_AUTH_HTPASSWD_PATH", file.display().to_string()),
    ]);
    let d = Daemon::start();
    let config = dir.path().join("docker-config");
    let cli = |args: &[&str], stdin: Option<&[u8]>| {
        let mut cmd = Command::new(bin());
        cmd.arg("-H")
            .arg(d.host_uri())
            .args(args)
            .env("DOCKER_CONFIG", &config);
        dockhand_tests::run_command(cmd, stdin, std::time::Duration::from_secs(60))
    };
    let a = format!("{}/team/a:1", reg.addr);
    let b = format!("{}/team/b:1", reg.addr);
    cli(&["tag", "busybox", &a], None).ok();
    cli(&["tag", "busybox", &b], None).ok();
    let denied = cli(&["push", &a], None);
    assert_ne!(denied.code(), 0, "a push without login is refused");
    assert!(
        denied.stderr().contains("no basic auth credentials")
            || denied.stderr().contains("authentication required"),
        "{}",
        denied.stderr()
    );
    let login = cli(
        &["login", "-u", "trainer", "--password-stdin", &reg.addr],
        Some(b"s3cret\n"),
    );
    assert!(
        login.stdout().contains("Login Succeeded"),
        "{}",
        login.stderr()
    );
    cli(&["push", &a], None).ok();
    // The second repository gets its layer by a cross-repository mount.
    let push_b = cli(&["push", &b], None).ok();
    assert!(push_b.contains("Mounted from team/a"), "{push_b}");
    let before = cli(&["image", "inspect", "-f", "{{.Id}}", "busybox"], None).ok();
    cli(&["rmi", &a, &b], None).ok();
    cli(&["pull", &b], None).ok();
    assert_eq!(
        cli(&["image", "inspect", "-f", "{{.Id}}", &b], None).ok(),
        before
    );
    let run = cli(&["run", "--rm", &b, "echo", "pulled"], None).ok();
    assert_eq!(run.trim(), "pulled");
}

#[test]
fn an_upload_survives_a_crash_and_garbage_collect_keeps_what_is_referenced() {
    let mut reg = OwnRegistry::start(&[]);
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let digest = sha256(&data);
    let start = http_request(&reg.addr, "POST", "/v2/gc/app/blobs/uploads/", &[], b"").unwrap();
    assert_eq!(start.status, 202);
    let location = start.header("location").expect("Location").to_string();
    let half = data.len() / 2;
    let range = format!("0-{}", half - 1);
    let first = http_request(
        &reg.addr,
        "PATCH",
        &location,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", &range),
        ],
        &data[..half],
    )
    .unwrap();
    assert_eq!(first.status, 202, "{}", first.text());
    reg.crash_and_restart();
    let status = http_request(&reg.addr, "GET", &location, &[], b"").unwrap();
    assert_eq!(status.status, 204);
    assert_eq!(status.header("range"), Some(range.as_str()));
    let rest = format!("{half}-{}", data.len() - 1);
    let next = first.header("location").unwrap_or(&location).to_string();
    let second = http_request(
        &reg.addr,
        "PATCH",
        &next,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", &rest),
        ],
        &data[half..],
    )
    .unwrap();
    assert_eq!(second.status, 202, "{}", second.text());
    let done_at = second.header("location").unwrap_or(&next).to_string();
    let sep = if done_at.contains('?') { '&' } else { '?' };
    let put = http_request(
        &reg.addr,
        "PUT",
        &format!("{done_at}{sep}digest={digest}"),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(put.status, 201, "{}", put.text());
    let got = http_request(
        &reg.addr,
        "GET",
        &format!("/v2/gc/app/blobs/{digest}"),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(
        sha256(&got.body),
        digest,
        "the blob is whole after the crash"
    );

    // An image that references a config and this layer; plus an orphan blob.
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = sha256(config);
    let orphan = b"nobody references me".to_vec();
    let orphan_digest = sha256(&orphan);
    for (blob, d) in [(&config[..], &config_digest), (&orphan[..], &orphan_digest)] {
        let r = http_request(
            &reg.addr,
            "POST",
            &format!("/v2/gc/app/blobs/uploads/?digest={d}"),
            &[("Content-Type", "application/octet-stream")],
            blob,
        )
        .unwrap();
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": data.len()}],
    })
    .to_string();
    let put = http_request(
        &reg.addr,
        "PUT",
        "/v2/gc/app/manifests/1",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        manifest.as_bytes(),
    )
    .unwrap();
    assert_eq!(put.status, 201, "{}", put.text());
    let blob_file = |d: &str| {
        let hex = d.trim_start_matches("sha256:");
        reg.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    };
    assert!(blob_file(&orphan_digest).exists());
    let gc = Command::new(bin())
        .args(["registry", "garbage-collect", "--root"])
        .arg(reg.storage())
        .output()
        .expect("garbage-collect");
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    assert!(!blob_file(&orphan_digest).exists(), "the orphan is swept");
    for d in [&digest, &config_digest, &sha256(manifest.as_bytes())] {
        assert!(blob_file(d).exists(), "{d} is referenced and kept");
    }
    let again = http_request(&reg.addr, "GET", "/v2/gc/app/manifests/1", &[], b"").unwrap();
    assert_eq!(again.status, 200);
}
