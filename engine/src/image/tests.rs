//! ImageStore against a temp data root and the real kernel: import, tags, lookup,
//! inspect/history/list shapes, rmi rules and content sharing across daemons.

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

pub(super) fn no_users(_: &str) -> Vec<(String, bool)> {
    Vec::new()
}

pub(super) fn import(s: &ImageStore, files: &[(&str, &[u8])], name: Option<&str>) -> String {
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
    assert!(dir.path().join("daemons/h/images.json").is_file());
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
    let machine = ImageStore::open(dir.path(), MACHINE_DAEMON).unwrap();
    let disk = dir.path().join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let v = ImageStore::open(dir.path(), "vh")
        .unwrap()
        .with_disk_quota(&disk);
    assert_eq!(v.charged_bytes(), 0);
    assert!(v.content_budget().is_some(), "a quota");
    let shared = rootfs_tar(&[("shared", &[1u8; 3000][..])]);
    let own = rootfs_tar(&[("own", &[2u8; 5000][..])]);
    machine
        .import(&mut &shared[..], Some("s"), &[], "")
        .unwrap();
    v.import(&mut &shared[..], Some("s"), &[], "").unwrap();
    assert_eq!(v.charged_bytes(), 0, "the machine has that layer");
    v.import(&mut &own[..], Some("o"), &[], "").unwrap();
    assert_eq!(v.charged_bytes(), own.len() as u64);
    // The budget is the disk's free space less what is charged. Other writers
    // on the same file system (a parallel test run) move the free space, so it
    // is bracketed by readings just before and after.
    let free = || {
        let st = nix::sys::statvfs::statvfs(&disk).unwrap();
        #[allow(clippy::unnecessary_cast)]
        let n = st.blocks_available() as u64 * st.fragment_size() as u64;
        n
    };
    let (before, now, after) = (free(), v.content_budget().unwrap(), free());
    let charged = own.len() as u64;
    assert!(
        (before.min(after) - charged..=before.max(after) - charged).contains(&now),
        "budget {now}, free {before}..{after}, charged {charged}"
    );
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
