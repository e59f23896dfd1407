//! `RepoDigests` as Docker keeps them: digest references (`NAME@sha256:..`)
//! beside the tags, from a pull by digest (and, once the registry code records
//! them, from pulls by tag and pushes); listed by `images --digests`, the Engine
//! API and `inspect`; resolved by `run`/`tag`/`inspect`; removed by `rmi`
//! (alone, or with the repository's last tag), by `image prune` when they are
//! an image's only names; not exported by `save`; kept across a restart.

use dockhand_tests::registry::{oci_image, oci_index, Auth, ImageSpec, LayerSpec, Registry};
use dockhand_tests::{docker_cli, require_registry, Daemon};
use std::io::{Read, Write};

/// `GET path` on the daemon's socket; the JSON body.
fn api_get(d: &Daemon, path: &str) -> serde_json::Value {
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// `images --digests` rows as `REPOSITORY TAG DIGEST`, sorted (docker's CLI
/// orders the repositories of one image as Go maps do: at random).
fn digest_rows(out: &str) -> Vec<String> {
    let mut rows: Vec<String> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .collect();
    rows.sort();
    rows
}

fn inspect_names(d: &Daemon, name: &str) -> (serde_json::Value, serde_json::Value) {
    let v: serde_json::Value = serde_json::from_str(
        &d.cli(&[
            "image",
            "inspect",
            "-f",
            "{\"t\":{{json .RepoTags}},\"d\":{{json .RepoDigests}}}",
            name,
        ])
        .ok(),
    )
    .unwrap();
    (v["t"].clone(), v["d"].clone())
}

/// Without a registry: digest references as a pull leaves them in the host's
/// index (written while the daemon is stopped), then everything that reads or
/// removes them, through our CLI, the real docker CLI and the Engine API.
#[test]
fn stored_digest_references_list_resolve_and_untag_like_docker() {
    dockhand_tests::require_root!();
    let mut d = Daemon::start();
    let id = d.cli(&["inspect", "-f", "{{.Id}}", "busybox"]).ok();
    d.cli(&["tag", "busybox", "localhost:5000/app/x:1"]).ok();
    let (da, db) = (
        format!("sha256:{}", "a".repeat(64)),
        format!("sha256:{}", "b".repeat(64)),
    );
    d.terminate();
    let index = d.root.join("daemons/default/images.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
    v["refs"][format!("localhost:5000/app/x@{da}")] = id.clone().into();
    v["refs"][format!("docker.io/library/other@{db}")] = id.clone().into();
    std::fs::write(&index, serde_json::to_vec(&v).unwrap()).unwrap();
    d.restart();

    // RepoTags and RepoDigests, in moby's order (by the full name).
    let (tags, digests) = inspect_names(&d, "busybox");
    assert_eq!(
        tags,
        serde_json::json!(["busybox:latest", "localhost:5000/app/x:1"])
    );
    assert_eq!(
        digests,
        serde_json::json!([format!("other@{db}"), format!("localhost:5000/app/x@{da}")])
    );
    let list = api_get(&d, "/images/json");
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Id"] == id.as_str())
        .unwrap();
    assert_eq!(row["RepoDigests"], digests);
    assert_eq!(row["RepoTags"], tags);
    assert_eq!(
        api_get(&d, &format!("/images/other@{db}/json"))["RepoDigests"],
        digests
    );

    // `images --digests`: a tag row carries its repository's digests, a
    // repository with digests only gets `<none>` and one row per digest.
    let ours = d.cli(&["images", "--digests"]).ok();
    assert!(
        ours.starts_with("REPOSITORY") && ours.lines().next().unwrap().contains("DIGEST"),
        "{ours}"
    );
    let want = [
        "busybox latest <none>".to_string(),
        format!("localhost:5000/app/x 1 {da}"),
        format!("other <none> {db}"),
    ];
    assert_eq!(digest_rows(&ours), want, "{ours}");
    // Without --digests the digest-only repository is still a row.
    let plain = d
        .cli(&["images", "--format", "{{.Repository}} {{.Tag}}"])
        .ok();
    assert!(plain.lines().any(|l| l == "other <none>"), "{plain}");
    let fmt = d
        .cli(&["images", "--format", "{{.Repository}}|{{.Digest}}"])
        .ok();
    assert!(fmt.contains(&format!("localhost:5000/app/x|{da}")), "{fmt}");
    assert!(
        fmt.lines().any(|l| l == "other|"),
        "docker's empty digest: {fmt}"
    );
    // `images REPO` lists the image under that repository's names only.
    let only = d.cli(&["images", "--digests", "other"]).ok();
    assert_eq!(digest_rows(&only), [format!("other <none> {db}")], "{only}");
    // A digest-only name makes the image no less "tagged" for dangling=false,
    // and `images -f dangling=true` does not list a tagged image.
    assert_eq!(d.cli(&["images", "-q", "-f", "dangling=true"]).ok(), "");

    // The real docker CLI renders the same rows from our API.
    if docker_cli().is_some() {
        let theirs = d.docker(&["images", "--digests"]).ok();
        assert_eq!(digest_rows(&theirs), want, "{theirs}");
        let theirs = d
            .docker(&["images", "--format", "{{.Repository}}|{{.Digest}}"])
            .ok();
        let mut a: Vec<&str> = theirs.lines().collect();
        let mut b: Vec<&str> = fmt.lines().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    // Resolved by NAME@DIGEST: run, tag, inspect.
    assert_eq!(
        d.cli(&["run", "--rm", &format!("other@{db}"), "echo", "hi"])
            .ok(),
        "hi"
    );
    d.cli(&["tag", &format!("localhost:5000/app/x@{da}"), "copy:1"])
        .ok();
    assert_eq!(d.cli(&["inspect", "-f", "{{.Id}}", "copy:1"]).ok(), id);
    let r = d.cli(&["tag", "busybox", &format!("copy@{da}")]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr()
            .contains("refusing to create a tag with a digest reference"),
        "{}",
        r.stderr()
    );
    let r = d.cli(&["image", "inspect", &format!("other@{da}")]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains(&format!("No such image: other@{da}")),
        "{}",
        r.stderr()
    );

    // rmi: the last tag of a repository takes its digests along.
    assert_eq!(
        d.cli(&["rmi", "localhost:5000/app/x:1"]).ok(),
        format!("Untagged: localhost:5000/app/x:1\nUntagged: localhost:5000/app/x@{da}")
    );
    // A digest reference alone.
    assert_eq!(
        d.cli(&["rmi", &format!("other@{db}")]).ok(),
        format!("Untagged: other@{db}")
    );
    let (tags, digests) = inspect_names(&d, &id);
    assert_eq!(tags, serde_json::json!(["busybox:latest", "copy:1"]));
    assert_eq!(digests, serde_json::json!([]));
}

/// A pull by digest records a digest reference and no tag: listed as
/// `NAME <none> DIGEST`, resolved by `NAME@DIGEST`, kept across a restart,
/// not saved by `save`, dangling for `image prune`.
#[test]
fn a_pull_by_digest_makes_a_digest_reference_only() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::None);
    let mut d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let img = oci_image(
        dir.path(),
        &ImageSpec::busybox()
            .layer(LayerSpec::files(&[("/etc/greeting", b"by digest\n")]))
            .cmd(&["cat", "/etc/greeting"]),
    );
    reg.push_layout(dir.path(), "app/x:1");
    let repo = format!("{}/app/x", reg.host());
    let digest = img.manifest_digest.clone();
    let by_digest = format!("{repo}@{digest}");
    let out = d.cli(&["pull", &by_digest]).ok();
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    let id = d.cli(&["inspect", "-f", "{{.Id}}", &by_digest]).ok();
    assert_eq!(id, img.config_digest);
    let (tags, digests) = inspect_names(&d, &by_digest);
    assert_eq!(tags, serde_json::json!([]));
    assert_eq!(digests, serde_json::json!([by_digest.clone()]));
    let rows = d.cli(&["images", "--digests", &repo]).ok();
    assert_eq!(
        digest_rows(&rows),
        [format!("{repo} <none> {digest}")],
        "{rows}"
    );
    assert!(d.cli(&["images", "--format", "{{.Tag}}", &repo]).ok() == "<none>");
    assert!(
        d.cli(&["images", "-q", "--no-trunc", "-f", "dangling=true"])
            .ok()
            .contains(&id),
        "an image without a tag is dangling, as docker's"
    );
    // Pulling it again changes nothing; `run` by digest uses it.
    let out = d.cli(&["pull", &by_digest]).ok();
    assert!(out.contains("Image is up to date"), "{out}");
    let r = d.cli(&["run", "--rm", &by_digest]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout(), "by digest\n");
    assert!(
        !r.stderr().contains("Unable to find image"),
        "{}",
        r.stderr()
    );

    // Kept across a restart.
    d.restart();
    assert_eq!(
        inspect_names(&d, &id).1,
        serde_json::json!([by_digest.clone()])
    );

    // `save` by digest: the image, no name (docker exports no RepoDigests).
    let tar = d.dir.path().join("x.tar");
    d.cli(&["save", "-o", tar.to_str().unwrap(), &by_digest])
        .ok();
    let member = |m: &str| {
        let o = std::process::Command::new("tar")
            .arg("-xOf")
            .arg(&tar)
            .arg(m)
            .output()
            .unwrap();
        assert!(o.status.success(), "{m}");
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let manifest = member("manifest.json");
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::Value::Null,
        "{manifest}"
    );
    let index = member("index.json");
    assert!(
        index["manifests"][0].get("annotations").is_none(),
        "{index}"
    );
    // Loaded elsewhere: the image, without a name.
    let other = Daemon::start();
    other.cli(&["load", "-i", tar.to_str().unwrap()]).ok();
    assert_eq!(
        inspect_names(&other, &id),
        (serde_json::json!([]), serde_json::json!([]))
    );

    // A tag of another repository beside it: removing that tag leaves the
    // digest reference (another repository) and the image.
    d.cli(&["tag", &by_digest, "mine:1"]).ok();
    assert_eq!(d.cli(&["rmi", "mine:1"]).ok(), "Untagged: mine:1");
    // `image prune` takes an image whose names are digests only.
    let out = d.cli(&["image", "prune", "-f"]).ok();
    assert!(
        out.contains(&format!("untagged: {by_digest}")) && out.contains(&format!("deleted: {id}")),
        "{out}"
    );
    assert!(d.cli(&["inspect", &by_digest]).code() != 0);

    // Pulled again, then removed by its digest reference: untagged and deleted.
    d.cli(&["pull", &by_digest]).ok();
    let out = d.cli(&["rmi", &by_digest]).ok();
    assert!(
        out.starts_with(&format!("Untagged: {by_digest}\nDeleted: {id}")),
        "{out}"
    );
}

/// Pulls by tag and pushes record `NAME@<manifest digest>` (the digest the pull
/// prints, an index's when there is one; the pushed manifest's). Needs
/// `engine/src/registry/{pull,push}.rs` to call `ImageStore::add_digest`.
#[test]
fn pulls_by_tag_and_pushes_record_repo_digests() {
    dockhand_tests::require_root!();
    require_registry!();
    let reg = Registry::start(Auth::None);
    let d = Daemon::start();
    let host = reg.host();

    // Pull by tag: the manifest's digest, as printed.
    let dir = tempfile::tempdir().unwrap();
    let img = oci_image(
        dir.path(),
        &ImageSpec::busybox().layer(LayerSpec::files(&[("/etc/x", b"x\n")])),
    );
    reg.push_layout(dir.path(), "app/x:1");
    let name = format!("{host}/app/x:1");
    let out = d.cli(&["pull", &name]).ok();
    assert!(
        out.contains(&format!("Digest: {}", img.manifest_digest)),
        "{out}"
    );
    let want = format!("{host}/app/x@{}", img.manifest_digest);
    let (tags, digests) = inspect_names(&d, &name);
    assert_eq!(tags, serde_json::json!([name.clone()]));
    assert_eq!(digests, serde_json::json!([want.clone()]));
    let rows = d
        .cli(&["images", "--digests", &format!("{host}/app/x")])
        .ok();
    assert_eq!(
        digest_rows(&rows),
        [format!("{host}/app/x 1 {}", img.manifest_digest)],
        "{rows}"
    );
    // Up to date: still one digest.
    d.cli(&["pull", &name]).ok();
    assert_eq!(
        inspect_names(&d, &name).1,
        serde_json::json!([want.clone()])
    );
    // The last tag goes with its digest, then the image.
    let out = d.cli(&["rmi", &name]).ok();
    assert!(
        out.starts_with(&format!(
            "Untagged: {name}\nUntagged: {want}\nDeleted: {}",
            img.config_digest
        )),
        "{out}"
    );

    // An index: the digest of the index, as docker's.
    let dir = tempfile::tempdir().unwrap();
    let index = oci_index(
        dir.path(),
        &[
            ImageSpec::busybox().layer(LayerSpec::files(&[("/etc/y", b"y\n")])),
            ImageSpec::new("linux/arm64/v8").layer(LayerSpec::random(1000)),
        ],
    );
    reg.push_layout(dir.path(), "app/multi:1");
    let name = format!("{host}/app/multi:1");
    let out = d.cli(&["pull", &name]).ok();
    assert!(out.contains(&format!("Digest: {}", index.digest)), "{out}");
    assert_eq!(
        inspect_names(&d, &name).1,
        serde_json::json!([format!("{host}/app/multi@{}", index.digest)])
    );

    // Push: the pushed manifest's digest.
    let bb = format!("{host}/team/bb:1");
    d.cli(&["tag", "busybox", &bb]).ok();
    let out = d.cli(&["push", &bb]).ok();
    let pushed = out
        .lines()
        .find_map(|l| l.strip_prefix("1: digest: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    let (_, digests) = inspect_names(&d, "busybox");
    assert_eq!(
        digests,
        serde_json::json!([format!("{host}/team/bb@{pushed}")])
    );
    // The registry serves that digest.
    let (bytes, _) = reg.manifest("team/bb", &pushed);
    assert!(!bytes.is_empty());
}
