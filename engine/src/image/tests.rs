//! ImageStore against a temp data root and the real kernel: import, tags, lookup,
//! inspect/history/list shapes, rmi rules and content sharing across hosts.

use super::*;
use shared::api::ImageDeleteItem::{Deleted, Untagged};

fn rootfs_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn no_users(_: &str) -> Vec<(String, bool)> {
    Vec::new()
}

fn import(s: &ImageStore, files: &[(&str, &[u8])], name: Option<&str>) -> String {
    s.import(&mut &rootfs_tar(files)[..], name, &[], "")
        .unwrap()
}

#[test]
fn import_tags_resolves_and_reads_back() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let changes = vec![
        "CMD [\"/bin/app\"]".to_string(),
        "ENV A=1".to_string(),
        "EXPOSE 80".to_string(),
    ];
    let tar = gz(&rootfs_tar(&[("bin/app", b"x"), ("etc/motd", b"hi")]));
    let id = s
        .import(&mut &tar[..], Some("myorg/app:1"), &changes, "")
        .unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71);
    // the ID is the digest of the stored config
    assert_eq!(config::image_id(&s.config_bytes(&id).unwrap()), id);

    let r = s.resolve("myorg/app:1").unwrap();
    assert_eq!(r.id, id);
    assert_eq!(r.config.cmd, Some(vec!["/bin/app".to_string()]));
    assert_eq!(r.config.env, ["A=1"]);
    assert_eq!(r.layers.len(), 1);
    assert_eq!(fs::read(r.layers[0].join("etc/motd")).unwrap(), b"hi");
    assert_eq!(r.repo_tags, ["myorg/app:1"]);
    // by full ID, bare hex, unique prefix
    assert_eq!(s.resolve(&id).unwrap().id, id);
    assert_eq!(s.resolve(&id[7..]).unwrap().id, id);
    assert_eq!(s.resolve(&id[7..12]).unwrap().id, id);
    assert_eq!(s.resolve(&id[..14]).unwrap().id, id);

    let e = s.resolve("nope").unwrap_err();
    assert_eq!(e.to_string(), "No such image: nope:latest");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        s.resolve("myorg/app").unwrap_err().to_string(),
        "No such image: myorg/app:latest"
    );
    let e = s.resolve("Bad").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    assert_eq!(
        e.to_string(),
        "invalid reference format: repository name (library/Bad) must be lowercase"
    );

    let insp = s.inspect("myorg/app:1").unwrap();
    assert_eq!(insp.id, id);
    assert_eq!(insp.comment, "Imported from -");
    assert_eq!(insp.os, "linux");
    assert_eq!(insp.root_fs.kind, "layers");
    assert_eq!(insp.root_fs.layers.len(), 1);
    assert_eq!(insp.graph_driver.name, "overlay2");
    assert!(insp.metadata["LastTagTime"]
        .as_str()
        .unwrap()
        .starts_with("20"));
    assert!(insp
        .config
        .exposed_ports
        .as_ref()
        .unwrap()
        .contains_key("80/tcp"));
    let json = serde_json::to_value(&insp).unwrap();
    assert!(json.get("RootFS").is_some() && json.get("GraphDriver").is_some());

    let hist = s.history(&id).unwrap();
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0].id, id);
    assert_eq!(hist[0].comment, "Imported from -");
    assert_eq!(hist[0].tags, ["myorg/app:1"]);
    assert!(hist[0].size > 0);
}

#[test]
fn reopening_keeps_the_index() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let s = ImageStore::open(dir.path(), "h").unwrap();
        import(&s, &[("f", b"1")], Some("x"))
    };
    let s = ImageStore::open(dir.path(), "h").unwrap();
    assert_eq!(s.image_id("x:latest").unwrap(), id);
    assert!(dir.path().join("hosts/h/images.json").is_file());
}

#[test]
fn ambiguous_or_unknown_prefixes_are_not_found() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let mut ids = Vec::new();
    for i in 0..20u8 {
        ids.push(import(&s, &[("f", &[i])], None));
    }
    // with 20 images some first hex digit repeats
    let dup = ids
        .iter()
        .map(|i| &i[7..8])
        .find(|p| ids.iter().filter(|j| &j[7..8] == *p).count() > 1)
        .unwrap();
    assert_eq!(s.resolve(dup).unwrap_err().kind(), ErrorKind::NotFound);
    let missing = format!("sha256:{}", "0".repeat(64));
    assert_eq!(
        s.resolve(&missing).unwrap_err().to_string(),
        format!("No such image: {missing}")
    );
}

#[test]
fn import_refuses_bad_changes_and_names() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let tar = rootfs_tar(&[("f", b"")]);
    let e = s
        .import(&mut &tar[..], None, &["RUN x".to_string()], "")
        .unwrap_err();
    assert_eq!(e.to_string(), "RUN is not a valid change command");
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    let e = s.import(&mut &tar[..], Some("UP"), &[], "").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    let id = s
        .import(&mut &tar[..], Some("ok"), &[], "my message")
        .unwrap();
    assert_eq!(s.inspect(&id).unwrap().comment, "my message");
}

#[test]
fn tag_and_list() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let id = import(&s, &[("a", b"1")], Some("one"));
    s.tag("one", "localhost:5000/two:v2").unwrap();
    let e = s.tag("one", "Two").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    assert_eq!(
        e.to_string(),
        "invalid reference format: repository name (library/Two) must be lowercase"
    );
    assert_eq!(
        s.tag("none", "x").unwrap_err().to_string(),
        "No such image: none:latest"
    );
    let untagged = import(&s, &[("b", b"2")], None);
    let list = s.list(false);
    assert_eq!(list.len(), 2);
    let row = list.iter().find(|r| r.id == id).unwrap();
    // moby's order: lexical by the full name (docker.io/library/one sorts first)
    assert_eq!(row.repo_tags, ["one:latest", "localhost:5000/two:v2"]);
    assert!(row.repo_digests.is_empty());
    assert_eq!(row.containers, -1);
    assert!(row.size > 0 && row.created > 0);
    assert!(list
        .iter()
        .find(|r| r.id == untagged)
        .unwrap()
        .repo_tags
        .is_empty());
    // retagging a name moves it
    s.tag(&untagged, "one").unwrap();
    assert_eq!(s.image_id("one").unwrap(), untagged);
}

#[test]
fn rmi_by_name_untags_then_deletes_last_name() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let id = import(&s, &[("a", b"1")], Some("busybox"));
    s.tag("busybox", "other:tag").unwrap();
    let layer = s.resolve(&id).unwrap().layers[0].clone();
    assert_eq!(
        s.remove("other:tag", false, &no_users).unwrap(),
        [Untagged("other:tag".into())]
    );
    let rows = s.remove("busybox", false, &no_users).unwrap();
    assert_eq!(rows[0], Untagged("busybox:latest".into()));
    assert_eq!(rows[1], Deleted(id.clone()));
    let diff = s.inspect_layers_for_test(&rows);
    assert_eq!(diff, 1, "one layer row: {rows:?}");
    assert!(!layer.exists());
    assert!(s.list(true).is_empty());
    // nothing left in blobs except nothing
    assert_eq!(
        fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn rmi_conflicts_use_docker_texts() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let id = import(&s, &[("a", b"1")], Some("busybox"));
    let short = short_id(&id);
    let stopped = |_: &str| vec![("3f5a1c2d9e8b7a6f5e4d".to_string(), false)];
    let running = |_: &str| vec![("aaaabbbbccccdddd".to_string(), true)];

    let e = s.remove("busybox", false, &stopped).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        format!("conflict: unable to remove repository reference \"busybox\" (must force) - container 3f5a1c2d9e8b is using its referenced image {short}")
    );
    let e = s.remove(&short, false, &stopped).unwrap_err();
    assert_eq!(e.to_string(), format!("conflict: unable to delete {short} (must be forced) - image is being used by stopped container 3f5a1c2d9e8b"));
    let e = s.remove(&short, true, &running).unwrap_err();
    assert_eq!(e.to_string(), format!("conflict: unable to delete {short} (cannot be forced) - image is being used by running container aaaabbbbcccc"));

    s.tag("busybox", "second").unwrap();
    let e = s.remove(&short, false, &no_users).unwrap_err();
    assert_eq!(e.to_string(), format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"));
    // forced by ID: all names go, then the image
    let rows = s.remove(&short, true, &no_users).unwrap();
    assert_eq!(
        &rows[..3],
        [
            Untagged("busybox:latest".into()),
            Untagged("second:latest".into()),
            Deleted(id.clone())
        ]
    );
}

#[test]
fn rmi_by_name_with_running_container_keeps_image_when_forced() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let id = import(&s, &[("a", b"1")], Some("web"));
    let running = |_: &str| vec![("c1c1c1c1c1c1c1".to_string(), true)];
    // forced untag: the name goes, the image stays for its container, silently
    assert_eq!(
        s.remove("web", true, &running).unwrap(),
        [Untagged("web:latest".into())]
    );
    assert_eq!(s.resolve(&id).unwrap().id, id);
    assert!(s.list(false)[0].repo_tags.is_empty());
}

#[test]
fn force_removed_image_used_by_stopped_container_is_retained_until_released() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let id = import(&s, &[("a", b"1")], Some("app"));
    let layer = s.resolve(&id).unwrap().layers[0].clone();
    let stopped = |_: &str| vec![("deadbeefdeadbeef".to_string(), false)];
    let rows = s.remove(&id, true, &stopped).unwrap();
    assert_eq!(rows, [Untagged("app:latest".into()), Deleted(id.clone())]);
    assert!(s.list(true).is_empty());
    assert!(s.resolve("app").is_err());
    // the container can still find its image by ID
    assert_eq!(s.resolve(&id).unwrap().layers, std::slice::from_ref(&layer));
    assert!(s.release_unused(&stopped).unwrap().is_empty());
    assert_eq!(
        s.release_unused(&no_users).unwrap().len(),
        1,
        "the layer row"
    );
    assert!(!layer.exists());
    assert!(s.resolve(&id).is_err());
}

#[test]
fn content_is_shared_across_hosts_and_freed_by_the_last() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let a = ImageStore::open(dir.path(), "a").unwrap();
    let b = ImageStore::open(dir.path(), "b").unwrap();
    let id_a = import(&a, &[("same", b"content")], Some("img"));
    let layer = a.resolve(&id_a).unwrap().layers[0].clone();
    // names are per host
    assert!(b.resolve("img").is_err());
    let id_b = b
        .import(
            &mut &rootfs_tar(&[("same", b"content")])[..],
            Some("img"),
            &[],
            "",
        )
        .unwrap();
    assert_eq!(
        b.resolve(&id_b).unwrap().layers[0],
        layer,
        "the layer is stored once"
    );
    assert_eq!(fs::read_dir(dir.path().join("layers")).unwrap().count(), 1);

    let rows = a.remove("img", false, &no_users).unwrap();
    assert!(rows.contains(&Deleted(id_a.clone())));
    assert!(layer.is_dir(), "still used by host b");
    assert_eq!(b.resolve("img").unwrap().layers[0], layer);
    b.remove("img", false, &no_users).unwrap();
    assert!(!layer.exists());
}

#[test]
fn hostile_import_is_a_bad_request_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..9].copy_from_slice(b"../escape");
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"x"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let e = s.import(&mut &tar[..], Some("evil"), &[], "").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidParameter, "{e}");
    assert!(!dir.path().join("escape").exists());
    assert_eq!(fs::read_dir(dir.path().join("layers")).unwrap().count(), 0);
    assert_eq!(
        fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    assert!(s.list(true).is_empty());
}

#[test]
fn busybox_is_built_from_the_host_binary() {
    crate::testing::require_root!();
    if find_host_busybox_for_test().is_none() {
        eprintln!("no static busybox on this machine; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let id = s.ensure_busybox().unwrap().expect("built");
    assert_eq!(s.ensure_busybox().unwrap(), None, "already tagged");
    let r = s.resolve("busybox").unwrap();
    assert_eq!(r.id, id);
    assert_eq!(r.config.cmd, Some(vec!["sh".to_string()]));
    assert_eq!(
        r.config.env,
        ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    );
    let root = &r.layers[0];
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let bb = fs::metadata(root.join("bin/busybox")).unwrap();
    assert_eq!(fs::metadata(root.join("bin/sh")).unwrap().ino(), bb.ino());
    assert_eq!(
        fs::metadata(root.join("tmp")).unwrap().permissions().mode() & 0o7777,
        0o1777
    );
    assert!(fs::read_to_string(root.join("etc/passwd"))
        .unwrap()
        .starts_with("root:x:0:0:"));
    for d in ["proc", "sys", "dev", "root", "home", "var", "usr/bin"] {
        assert!(root.join(d).is_dir(), "{d}");
    }
    let hist = s.history("busybox").unwrap();
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[0].created_by, "/bin/sh -c #(nop)  CMD [\"sh\"]");
    assert_eq!(hist[0].id, id);
    assert_eq!(hist[1].id, "<missing>");
    assert!(hist[1].created_by.contains("ADD file:"));
    assert_eq!(s.list(false).len(), 1, "no intermediate image left");
    // the same binary gives the same image on another host
    let other = ImageStore::open(dir.path(), "other").unwrap();
    assert_eq!(other.ensure_busybox().unwrap(), Some(id));
    // real run: the extracted busybox works
    let out = std::process::Command::new(root.join("bin/busybox"))
        .arg("true")
        .status()
        .unwrap();
    assert!(out.success());
}

fn find_host_busybox_for_test() -> Option<PathBuf> {
    busybox::find_host_busybox().ok()
}

impl ImageStore {
    /// Count `Deleted` rows after the image's own one (the layer rows).
    fn inspect_layers_for_test(&self, rows: &[shared::api::ImageDeleteItem]) -> usize {
        rows.iter().filter(|r| matches!(r, Deleted(_))).count() - 1
    }
}

#[test]
fn image_store_is_shareable_between_threads() {
    fn check<T: Send + Sync>() {}
    check::<ImageStore>();
}

#[test]
fn a_quota_charges_a_hosts_own_layers_and_not_the_machines() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let machine = ImageStore::open(dir.path(), MACHINE_HOST).unwrap();
    let disk = dir.path().join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let v = ImageStore::open(dir.path(), "vh")
        .unwrap()
        .with_disk_quota(&disk);
    assert_eq!(v.charged_bytes(), 0);
    let budget = v.content_budget().expect("a quota");
    let shared = rootfs_tar(&[("shared", &[1u8; 3000][..])]);
    let own = rootfs_tar(&[("own", &[2u8; 5000][..])]);
    machine
        .import(&mut &shared[..], Some("s"), &[], "")
        .unwrap();
    v.import(&mut &shared[..], Some("s"), &[], "").unwrap();
    assert_eq!(v.charged_bytes(), 0, "the machine has that layer");
    v.import(&mut &own[..], Some("o"), &[], "").unwrap();
    assert_eq!(v.charged_bytes(), own.len() as u64);
    assert!(v.content_budget().unwrap() <= budget - own.len() as u64);
    // The machine has no quota.
    assert_eq!(machine.content_budget(), None);
    // Releasing the host drops its own content and keeps the machine's.
    let own_id = v.inspect("o").unwrap().id;
    v.release_all().unwrap();
    assert_eq!(v.charged_bytes(), 0);
    assert!(!v.blobs().exists(&parse_digest(&own_id).unwrap()));
    assert!(machine.inspect("s").is_ok());
}

#[test]
fn a_budgeted_reader_fails_with_enospc_past_its_budget() {
    let tripped = std::cell::Cell::new(false);
    let mut src = &[7u8; 2000][..];
    let mut r = Budgeted {
        inner: &mut src,
        left: 100,
        tripped: &tripped,
    };
    let e = std::io::copy(&mut r, &mut std::io::sink()).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    assert!(tripped.get());
    let tripped = std::cell::Cell::new(false);
    let mut src = &[7u8; 100][..];
    let mut r = Budgeted {
        inner: &mut src,
        left: 100,
        tripped: &tripped,
    };
    assert_eq!(std::io::copy(&mut r, &mut std::io::sink()).unwrap(), 100);
    assert!(!tripped.get());
}

// ----- digest references (RepoDigests) -------------------------------------------

fn dg(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn rf(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

#[test]
fn add_digest_lists_inspects_and_resolves_like_docker() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let id = import(&s, &[("a", b"1")], Some("127.0.0.1:5000/app/x:1"));
    let (d1, d2) = (dg('a'), dg('b'));
    // A pull of NAME:TAG records NAME@<manifest digest>; the tag does not matter.
    s.add_digest(&id, &rf("127.0.0.1:5000/app/x:1"), &d1)
        .unwrap();
    s.add_digest(&id, &rf("127.0.0.1:5000/app/x:1"), &d1)
        .unwrap();
    s.add_digest(&id, &rf("busybox"), &d2).unwrap();
    let row = s.list(false).into_iter().find(|r| r.id == id).unwrap();
    assert_eq!(row.repo_tags, ["127.0.0.1:5000/app/x:1"]);
    assert_eq!(
        row.repo_digests,
        [
            format!("127.0.0.1:5000/app/x@{d1}"),
            format!("busybox@{d2}")
        ]
    );
    let insp = s.inspect(&format!("busybox@{d2}")).unwrap();
    assert_eq!(insp.id, id);
    assert_eq!(insp.repo_tags, row.repo_tags);
    assert_eq!(insp.repo_digests, row.repo_digests);
    let json = serde_json::to_value(&insp).unwrap();
    assert_eq!(json["RepoDigests"][1], format!("busybox@{d2}"));
    // Resolved by NAME@DIGEST, also with a tag next to it (the digest wins),
    // never as a tag: RepoTags, history and `resolve` show tags only.
    assert_eq!(
        s.resolve(&format!("127.0.0.1:5000/app/x@{d1}")).unwrap().id,
        id
    );
    assert_eq!(s.image_id(&format!("busybox:whatever@{d2}")).unwrap(), id);
    assert_eq!(
        s.resolve(&format!("busybox@{d2}")).unwrap().repo_tags,
        ["127.0.0.1:5000/app/x:1"]
    );
    assert_eq!(s.history(&id).unwrap()[0].tags, ["127.0.0.1:5000/app/x:1"]);
    let e = s.resolve(&format!("busybox@{d1}")).unwrap_err();
    assert_eq!(e.to_string(), format!("No such image: busybox@{d1}"));
    assert!(s.resolve("busybox").is_err(), "no busybox tag was made");
    assert!(s.tags_of("docker.io/library/busybox").is_empty());
    // `tag` from a digest reference works; to one is refused.
    s.tag(&format!("busybox@{d2}"), "copy:1").unwrap();
    assert_eq!(s.image_id("copy:1").unwrap(), id);
    assert_eq!(
        s.tag("copy:1", &format!("copy@{d1}"))
            .unwrap_err()
            .to_string(),
        "refusing to create a tag with a digest reference"
    );
    // Bad input.
    assert_eq!(
        s.add_digest(&id, &rf("x"), "sha256:abc")
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidParameter
    );
    assert_eq!(
        s.add_digest(&dg('0'), &rf("x"), &d1).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn a_digest_claimed_by_another_image_keeps_it_as_moby_does() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let a = import(&s, &[("a", b"1")], Some("x:1"));
    let b = import(&s, &[("b", b"2")], Some("x:2"));
    let d = dg('c');
    s.add_digest(&a, &rf("x"), &d).unwrap();
    // addDigestReference: "cannot update", the old image keeps it.
    s.add_digest(&b, &rf("x"), &d).unwrap();
    assert_eq!(s.image_id(&format!("x@{d}")).unwrap(), a);
    assert!(s.inspect(&b).unwrap().repo_digests.is_empty());
    // A pull by that digest that got another image: moby's AddDigest error,
    // before anything is stored.
    let cfg = s.config_bytes(&b).unwrap();
    let e = s.add_image(&cfg, Some(&rf(&format!("x@{d}")))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(e.to_string(), format!("cannot overwrite digest {d}"));
    // Once the old image is gone, the digest is free again.
    s.remove("x:1", false, &no_users).unwrap();
    s.add_digest(&b, &rf("x"), &d).unwrap();
    assert_eq!(s.image_id(&format!("x@{d}")).unwrap(), b);
}

#[test]
fn add_image_with_a_digest_reference_records_a_digest_not_a_tag() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let id = import(&s, &[("a", b"1")], None);
    let cfg = s.config_bytes(&id).unwrap();
    let d = dg('d');
    // A pull by `NAME:TAG@DIGEST` stores the digest only (moby's favorDigest).
    let got = s
        .add_image(&cfg, Some(&rf(&format!("localhost:5000/app:1@{d}"))))
        .unwrap();
    assert_eq!(got, id);
    // Again (up to date): no error.
    s.add_image(&cfg, Some(&rf(&format!("localhost:5000/app@{d}"))))
        .unwrap();
    let row = s.list(false).into_iter().find(|r| r.id == id).unwrap();
    assert!(row.repo_tags.is_empty(), "{row:?}");
    assert_eq!(row.repo_digests, [format!("localhost:5000/app@{d}")]);
    assert!(s.resolve("localhost:5000/app:1").is_err());
    assert_eq!(s.image_id(&format!("localhost:5000/app@{d}")).unwrap(), id);
    // A digest reference sets no LastTagTime (only `docker tag` and tags do).
    assert_eq!(
        s.inspect(&id).unwrap().metadata["LastTagTime"],
        "0001-01-01T00:00:00Z"
    );
    // Persisted with the tags, per host.
    drop(s);
    let s = ImageStore::open(dir.path(), "default").unwrap();
    assert_eq!(
        s.inspect(&id).unwrap().repo_digests,
        [format!("localhost:5000/app@{d}")]
    );
    let other = ImageStore::open(dir.path(), "other").unwrap();
    assert!(other.resolve(&format!("localhost:5000/app@{d}")).is_err());
}

#[test]
fn rmi_of_a_digest_reference_untags_it_alone() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let id = import(&s, &[("a", b"1")], Some("x:1"));
    let d = dg('e');
    s.add_digest(&id, &rf("x:1"), &d).unwrap();
    assert_eq!(
        s.remove(&format!("x@{d}"), false, &no_users).unwrap(),
        [Untagged(format!("x@{d}"))]
    );
    assert_eq!(s.inspect("x:1").unwrap().repo_digests, Vec::<String>::new());
    assert_eq!(
        s.remove(&format!("x@{d}"), false, &no_users)
            .unwrap_err()
            .to_string(),
        format!("No such image: x@{d}")
    );
}

#[test]
fn rmi_of_a_repositorys_last_tag_untags_its_digests_too() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let id = import(&s, &[("a", b"1")], Some("x:1"));
    let (d1, d2, d3) = (dg('1'), dg('2'), dg('3'));
    s.tag("x:1", "x:2").unwrap();
    s.tag("x:1", "y:1").unwrap();
    s.add_digest(&id, &rf("x"), &d1).unwrap();
    s.add_digest(&id, &rf("x"), &d2).unwrap();
    s.add_digest(&id, &rf("y"), &d3).unwrap();
    // x:2 is left: the digests of x stay.
    assert_eq!(
        s.remove("x:1", false, &no_users).unwrap(),
        [Untagged("x:1".into())]
    );
    // x's last tag: x's digests go, in order; y keeps the image.
    assert_eq!(
        s.remove("x:2", false, &no_users).unwrap(),
        [
            Untagged("x:2".into()),
            Untagged(format!("x@{d1}")),
            Untagged(format!("x@{d2}")),
        ]
    );
    let insp = s.inspect(&id).unwrap();
    assert_eq!(insp.repo_tags, ["y:1"]);
    assert_eq!(insp.repo_digests, [format!("y@{d3}")]);
    // The last tag of all: its digests, then the image and its layer.
    let rows = s.remove("y", false, &no_users).unwrap_err();
    assert_eq!(rows.to_string(), "No such image: y:latest");
    let rows = s.remove("y:1", false, &no_users).unwrap();
    assert_eq!(
        &rows[..3],
        [
            Untagged("y:1".into()),
            Untagged(format!("y@{d3}")),
            Deleted(id.clone())
        ]
    );
    assert_eq!(rows.len(), 4, "and the layer: {rows:?}");
    assert!(s.list(true).is_empty());
}

#[test]
fn rmi_by_id_counts_one_repository_with_its_digests_as_one_name() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let id = import(&s, &[("a", b"1")], Some("x:1"));
    let short = short_id(&id);
    let d = dg('4');
    s.add_digest(&id, &rf("x"), &d).unwrap();
    s.add_digest(&id, &rf("y"), &dg('5')).unwrap();
    // Another repository's digest: several repositories, -f needed.
    let e = s.remove(&short, false, &no_users).unwrap_err();
    assert_eq!(e.to_string(), format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"));
    s.remove(&format!("y@{}", dg('5')), false, &no_users)
        .unwrap();
    // x:1 and x@d: one repository, one tag.
    let stopped = |_: &str| vec![("3f5a1c2d9e8b7a6f5e4d".to_string(), false)];
    let e = s.remove("x:1", false, &stopped).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("conflict: unable to remove repository reference \"x:1\" (must force)"),
        "{e}"
    );
    let rows = s.remove(&short, false, &no_users).unwrap();
    assert_eq!(
        &rows[..3],
        [
            Untagged("x:1".into()),
            Untagged(format!("x@{d}")),
            Deleted(id.clone())
        ]
    );
}

#[test]
fn an_image_left_with_digests_only_lists_untagged_and_goes_with_its_last_digest() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let old = import(&s, &[("a", b"1")], Some("x:1"));
    let d = dg('6');
    s.add_digest(&old, &rf("x:1"), &d).unwrap();
    // The tag moves to a newer image (a newer pull): the old one keeps its
    // digest reference, listed as `x <none>` and counted as dangling.
    let new = import(&s, &[("b", b"2")], Some("x:1"));
    let row = s.list(false).into_iter().find(|r| r.id == old).unwrap();
    assert!(row.repo_tags.is_empty());
    assert_eq!(row.repo_digests, [format!("x@{d}")]);
    let usage = s.usage().into_iter().find(|u| u.id == old).unwrap();
    assert!(usage.repo_tags.is_empty());
    assert_eq!(usage.repo_digests, [format!("x@{d}")]);
    // Its last name is a digest: removing it deletes the image.
    let rows = s.remove(&format!("x@{d}"), false, &no_users).unwrap();
    assert_eq!(
        &rows[..2],
        [Untagged(format!("x@{d}")), Deleted(old.clone())]
    );
    assert_eq!(s.image_id("x:1").unwrap(), new);
    // A forced rmi by ID of a digest-only image (what prune does) untags first.
    let cfg = s.config_bytes(&new).unwrap();
    s.add_image(&cfg, Some(&rf(&format!("z@{d}")))).unwrap();
    s.remove("x:1", false, &no_users).unwrap();
    let rows = s.remove(&new, true, &no_users).unwrap();
    assert_eq!(
        &rows[..2],
        [Untagged(format!("z@{d}")), Deleted(new.clone())]
    );
}

/// A child image of `parent` with one config change and no layer, as a build's
/// metadata step makes it.
fn child(s: &ImageStore, parent: &str, env: &str, name: Option<&str>) -> String {
    let mut config = s.resolve(parent).unwrap().config;
    config.env.push(env.to_string());
    let new = NewImage {
        parent: Some(parent.to_string()),
        config,
        created_by: format!("/bin/sh -c #(nop)  ENV {env}"),
        ..Default::default()
    };
    s.create_image(&new, name).unwrap()
}

#[test]
fn build_chains_hide_intermediates_and_go_with_their_last_child() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let base = import(&s, &[("bin/app", b"x")], Some("base:1"));
    let mid = child(&s, &base, "A=1", None);
    let top = child(&s, &mid, "B=2", Some("app:1"));
    assert_eq!(s.inspect(&top).unwrap().parent, mid);
    assert_eq!(s.inspect(&mid).unwrap().parent, base);
    // `images` hides the nameless parent; `images -a` shows it with its parent.
    let ids = |all| -> Vec<String> { s.list(all).into_iter().map(|i| i.id).collect() };
    assert!(!ids(false).contains(&mid));
    let listed = s.list(true);
    let row = listed.iter().find(|i| i.id == mid).unwrap();
    assert_eq!(row.parent_id, base);
    assert!(!s.is_dangling(&mid));
    // An image with children cannot go, even forced.
    let e = s.remove(&mid, true, &no_users).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
            &mid[7..19]
        )
    );
    // Untagging the base keeps it (it has children), quietly.
    assert_eq!(
        s.remove("base:1", false, &no_users).unwrap(),
        vec![Untagged("base:1".into())]
    );
    assert!(s.resolve(&base).is_ok());
    // Removing the top removes the nameless chain below it, top first.
    let rows = s.remove("app:1", false, &no_users).unwrap();
    assert_eq!(rows[0], Untagged("app:1".into()));
    let deleted: Vec<&shared::api::ImageDeleteItem> =
        rows.iter().filter(|r| matches!(r, Deleted(_))).collect();
    assert_eq!(deleted[0], &Deleted(top.clone()));
    assert_eq!(deleted[1], &Deleted(mid.clone()));
    assert_eq!(deleted[2], &Deleted(base.clone()));
    assert!(s.list(true).is_empty());
}

#[test]
fn a_chain_stops_at_a_named_or_shared_parent() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let base = import(&s, &[("bin/app", b"x")], Some("base:1"));
    let mid = child(&s, &base, "A=1", None);
    let a = child(&s, &mid, "B=2", Some("a:1"));
    let b = child(&s, &mid, "C=3", Some("b:1"));
    let rows = s.remove("a:1", false, &no_users).unwrap();
    assert!(rows.contains(&Deleted(a)));
    // `mid` still has a child: it stays.
    assert!(!rows.contains(&Deleted(mid.clone())));
    let rows = s.remove("b:1", false, &no_users).unwrap();
    assert!(rows.contains(&Deleted(b)) && rows.contains(&Deleted(mid)));
    // The named base stays.
    assert!(s.resolve("base:1").is_ok());
    // The index survives a reopen with the parent links.
    let c = child(&s, &base, "D=4", Some("c:1"));
    let again = ImageStore::open(dir.path(), "default").unwrap();
    assert_eq!(again.inspect(&c).unwrap().parent, base);
}

#[test]
fn sweeping_removes_half_made_content_and_keeps_complete_layers() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path(), "default").unwrap();
    let other = ImageStore::open(dir.path(), "other").unwrap();
    let kept = import(&s, &[("etc/kept", b"1")], Some("kept:1"));
    let shared = import(&other, &[("etc/other", b"2")], Some("other:1"));
    // What a killed daemon leaves: a config of no image, a layer's blob
    // without its tree and a tree without its blob (a removal half-way).
    let config_only = s.blobs().put_bytes(b"{\"orphan\":true}").unwrap();
    let blob_only = s.blobs().put_bytes(b"a layer whose tree went").unwrap();
    let tree_only = crate::store::sha256_of(b"a layer whose blob went");
    fs::create_dir_all(s.layer_dir(&tree_only).join("etc")).unwrap();
    // A complete layer no image names yet (a pull killed before its index).
    let complete = s.blobs().put_bytes(b"a verified layer").unwrap();
    fs::create_dir_all(s.layer_dir(&complete).join("etc")).unwrap();
    // Files that are not content are left alone.
    fs::write(dir.path().join("layers/README"), "x").unwrap();
    assert_eq!(s.sweep_unreferenced().unwrap(), 3);
    assert!(!s.blobs().exists(&config_only) && !s.blobs().exists(&blob_only));
    assert!(!s.layer_dir(&tree_only).exists());
    assert!(s.blobs().exists(&complete) && s.layer_dir(&complete).is_dir());
    assert!(dir.path().join("layers/README").exists());
    for (store, id) in [(&s, &kept), (&other, &shared)] {
        let r = store.resolve(id).unwrap();
        assert!(r.layers.iter().all(|l| l.is_dir()));
        assert!(store.config_bytes(id).is_ok());
        assert!(store.manifest_bytes(id).is_ok());
    }
    assert_eq!(s.sweep_unreferenced().unwrap(), 0);
}
