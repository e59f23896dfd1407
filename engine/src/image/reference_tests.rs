//! ImageStore's digest references (RepoDigests) as moby keeps them, build
//! chains of intermediate images, and the sweep of half-made content.

use super::tests::{import, no_users};
use super::*;
use shared::api::ImageDeleteItem::{Deleted, Untagged};

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
