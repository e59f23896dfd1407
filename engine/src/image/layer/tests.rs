//! Layer extraction against the real kernel, with crafted (and hostile) archives.

use super::*;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

/// Builds tars byte by byte so that names `tar::Builder` refuses (`..`) can be made.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Tar {
        Tar(tar::Builder::new(Vec::new()))
    }

    fn header(name: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        let n = name.as_bytes();
        h.as_old_mut().name[..n.len()].copy_from_slice(n);
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h
    }

    fn raw(&mut self, mut h: tar::Header, data: &[u8]) -> &mut Tar {
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    fn file(&mut self, name: &str, data: &[u8]) -> &mut Tar {
        let h = Self::header(name, tar::EntryType::Regular, 0o644, data.len() as u64);
        self.raw(h, data)
    }

    fn dir(&mut self, name: &str) -> &mut Tar {
        let h = Self::header(name, tar::EntryType::Directory, 0o755, 0);
        self.raw(h, b"")
    }

    fn link(&mut self, name: &str, kind: tar::EntryType, target: &str) -> &mut Tar {
        let mut h = Self::header(name, kind, 0o777, 0);
        let t = target.as_bytes();
        h.as_old_mut().linkname[..t.len()].copy_from_slice(t);
        self.raw(h, b"")
    }

    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Tar {
        let mut data = Vec::new();
        for (k, v) in records {
            let body_len = 1 + k.len() + 1 + v.len() + 1;
            let mut len = body_len + 1;
            while len != body_len + len.to_string().len() {
                len = body_len + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let h = Self::header("pax", tar::EntryType::XHeader, 0o644, data.len() as u64);
        self.raw(h, &data)
    }

    fn bytes(&mut self) -> Vec<u8> {
        self.0
            .get_mut()
            .clone()
            .into_iter()
            .chain(std::iter::repeat_n(0u8, 1024))
            .collect()
    }
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("layer");
    fs::create_dir(&root).unwrap();
    (outer, root)
}

#[test]
fn regular_entries_keep_their_metadata() {
    crate::testing::require_root!();
    let (_outer, root) = setup();
    let mut t = Tar::new();
    t.dir("etc/").file("etc/hostname", b"box\n");
    let mut h = Tar::header("bin/tool", tar::EntryType::Regular, 0o4755, 3);
    h.set_uid(1000);
    h.set_gid(1001);
    t.raw(h, b"abc");
    t.link("bin/sh", tar::EntryType::Symlink, "/bin/tool");
    t.link("bin/tool2", tar::EntryType::Link, "bin/tool");
    t.raw(Tar::header("dev/fifo", tar::EntryType::Fifo, 0o600, 0), b"");
    let mut h = Tar::header("dev/null", tar::EntryType::Char, 0o666, 0);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    t.raw(h, b"");
    t.pax(&[("SCHILY.xattr.user.test", b"v1")])
        .file("etc/x", b"");
    let stats = extract(&t.bytes()[..], &root).unwrap();
    assert_eq!(stats.content_bytes, 7);

    assert_eq!(fs::read(root.join("etc/hostname")).unwrap(), b"box\n");
    let m = fs::metadata(root.join("bin/tool")).unwrap();
    assert_eq!(
        m.permissions().mode() & 0o7777,
        0o4755,
        "setuid kept after chown"
    );
    assert_eq!((m.uid(), m.gid()), (1000, 1001));
    assert_eq!(m.mtime(), 1_600_000_000);
    assert_eq!(
        fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("/bin/tool")
    );
    assert_eq!(fs::metadata(root.join("bin/tool2")).unwrap().ino(), m.ino());
    assert!(fs::symlink_metadata(root.join("dev/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    let null = fs::symlink_metadata(root.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(null.permissions().mode() & 0o777, 0o666);
    assert_eq!(
        xattr::get(root.join("etc/x"), "user.test").unwrap(),
        Some(b"v1".to_vec())
    );
    // implicit parent dirs exist; the explicit dir's mtime survives its children
    assert!(root.join("dev").is_dir());
    assert_eq!(
        fs::metadata(root.join("etc")).unwrap().mtime(),
        1_600_000_000
    );
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    crate::testing::require_root!();
    let (_outer, root) = setup();
    let mut t = Tar::new();
    t.dir("a/")
        .file("a/.wh..wh..opq", b"")
        .file("a/kept", b"k")
        .file(".wh.gone", b"");
    t.file("a/.wh..wh.plnk", b"");
    extract(&t.bytes()[..], &root).unwrap();
    let wh = fs::symlink_metadata(root.join("gone")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!root.join(".wh.gone").exists());
    assert_eq!(
        xattr::get(root.join("a"), "trusted.overlay.opaque").unwrap(),
        Some(b"y".to_vec())
    );
    assert!(!root.join("a/.wh..wh..opq").exists());
    assert!(!root.join("a/.wh..wh.plnk").exists());
    assert_eq!(fs::read(root.join("a/kept")).unwrap(), b"k");
}

#[test]
fn whiteout_kinds_are_classified() {
    assert_eq!(
        whiteout_kind(OsStr::new(".wh..wh..opq")),
        WhiteoutKind::Opaque
    );
    assert_eq!(
        whiteout_kind(OsStr::new(".wh.foo")),
        WhiteoutKind::Whiteout(OsStr::new("foo"))
    );
    assert_eq!(
        whiteout_kind(OsStr::new(".wh..wh.plnk")),
        WhiteoutKind::Meta
    );
    assert_eq!(whiteout_kind(OsStr::new("foo.wh.")), WhiteoutKind::None);
}

#[test]
fn clean_components_refuses_climbing_out() {
    let c = |s: &str| clean_components(s.as_bytes()).map(|v| show_path(&v));
    assert_eq!(c("/a/./b//c/").unwrap(), "/a/b/c");
    assert_eq!(c("a/../b").unwrap(), "/b");
    assert_eq!(c("./").unwrap(), "/");
    assert!(matches!(c("../x"), Err(LayerError::Breakout(_))));
    assert!(matches!(c("a/../../x"), Err(LayerError::Breakout(_))));
}

#[test]
fn dot_dot_entries_are_refused_and_write_nothing_outside() {
    crate::testing::require_root!();
    let (outer, root) = setup();
    let mut t = Tar::new();
    t.file("../escaped", b"x");
    let err = extract(&t.bytes()[..], &root).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    assert!(!outer.path().join("escaped").exists());

    let mut t = Tar::new();
    t.file("ok", b"")
        .link("hl", tar::EntryType::Link, "../../../etc/passwd");
    assert!(matches!(
        extract(&t.bytes()[..], &root),
        Err(LayerError::Breakout(_))
    ));
    assert!(!root.join("hl").exists());
}

#[test]
fn absolute_names_land_inside_the_root() {
    crate::testing::require_root!();
    let (_outer, root) = setup();
    let mut t = Tar::new();
    t.file("/abs/file", b"in");
    extract(&t.bytes()[..], &root).unwrap();
    assert_eq!(fs::read(root.join("abs/file")).unwrap(), b"in");
}

#[test]
fn symlinked_parents_cannot_lead_outside() {
    crate::testing::require_root!();
    let (outer, root) = setup();
    let mut t = Tar::new();
    t.link("up", tar::EntryType::Symlink, "..");
    t.link("slash", tar::EntryType::Symlink, "/");
    t.file("up/via-dotdot", b"1").file("slash/via-slash", b"3");
    t.file("up/newdir/deep", b"4");
    extract(&t.bytes()[..], &root).unwrap();
    for name in ["via-dotdot", "via-slash", "newdir"] {
        assert!(!outer.path().join(name).exists(), "{name} escaped");
    }
    assert_eq!(fs::read(root.join("via-dotdot")).unwrap(), b"1");
    assert_eq!(fs::read(root.join("via-slash")).unwrap(), b"3");
    assert_eq!(fs::read(root.join("newdir/deep")).unwrap(), b"4");
}

#[test]
fn absolute_symlinks_are_re_rooted() {
    crate::testing::require_root!();
    let (outer, root) = setup();
    // The host directory exists; inside the layer it does not: refused, as in a chroot.
    let mut t = Tar::new();
    t.link(
        "abs",
        tar::EntryType::Symlink,
        outer.path().to_str().unwrap(),
    );
    t.file("abs/via-abs", b"2");
    assert!(extract(&t.bytes()[..], &root).is_err());
    assert!(!outer.path().join("via-abs").exists(), "escaped");

    // Once the target exists inside the layer, the write lands there.
    let (outer, root) = setup();
    let inside = outer
        .path()
        .strip_prefix("/")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let mut t = Tar::new();
    t.dir(&format!("{inside}/"));
    t.link(
        "abs",
        tar::EntryType::Symlink,
        outer.path().to_str().unwrap(),
    );
    t.file("abs/via-abs", b"2");
    extract(&t.bytes()[..], &root).unwrap();
    assert!(!outer.path().join("via-abs").exists(), "escaped");
    assert_eq!(fs::read(root.join(&inside).join("via-abs")).unwrap(), b"2");
}

#[test]
fn hard_links_through_symlinks_stay_inside() {
    let (outer, root) = setup();
    fs::write(outer.path().join("secret"), b"s").unwrap();
    let mut t = Tar::new();
    t.link(
        "out",
        tar::EntryType::Symlink,
        outer.path().to_str().unwrap(),
    );
    t.link("hl", tar::EntryType::Link, "out/secret");
    assert!(
        extract(&t.bytes()[..], &root).is_err(),
        "target resolves inside the root, where it is absent"
    );
    assert!(!root.join("hl").exists());
    assert_eq!(
        fs::metadata(outer.path().join("secret")).unwrap().nlink(),
        1
    );
}

#[test]
fn later_entries_replace_earlier_ones() {
    crate::testing::require_root!();
    let (outer, root) = setup();
    let mut t = Tar::new();
    t.dir("d/").file("d/inner", b"").file("d", b"now a file");
    t.link("s", tar::EntryType::Symlink, "../..");
    t.file("s", b"plain");
    extract(&t.bytes()[..], &root).unwrap();
    assert_eq!(fs::read(root.join("d")).unwrap(), b"now a file");
    assert!(fs::symlink_metadata(root.join("s")).unwrap().is_file());
    assert_eq!(fs::read_dir(outer.path()).unwrap().count(), 1);
}

/// One entry of a generated archive: (kind, name, link target).
type Generated = (u8, String, String);

/// Names and targets built from a few words, `..`, `.`, empty components and
/// absolute forms: everything a hostile layer uses to climb out. The words
/// are unusual so that an escape to the machine's `/` or `/tmp` is seen.
fn hostile_entries() -> impl proptest::strategy::Strategy<Value = Vec<Generated>> {
    use proptest::prelude::*;
    let word = prop_oneof![
        Just("dhpa"),
        Just("dhpb"),
        Just(".."),
        Just("."),
        Just(""),
        Just(".wh.dhpa"),
        Just(".wh..wh..opq"),
    ];
    let path = (any::<bool>(), prop::collection::vec(word, 1..4)).prop_map(|(abs, w)| {
        let p = w.join("/");
        if abs {
            format!("/{p}")
        } else {
            p
        }
    });
    let target = prop_oneof![
        Just("..".to_string()),
        Just("../..".to_string()),
        Just("../../..".to_string()),
        Just("/".to_string()),
        Just("/tmp".to_string()),
        Just("/dhpa".to_string()),
        path.clone(),
    ];
    prop::collection::vec((0u8..6, path, target), 1..10)
}

#[test]
fn hostile_layers_never_write_outside_the_root() {
    crate::testing::require_root!();
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 256,
        failure_persistence: None,
        ..Default::default()
    });
    let result = runner.run(&hostile_entries(), |entries| {
        let (outer, root) = setup();
        let sentinel = outer.path().join("sentinel");
        fs::write(&sentinel, b"keep").unwrap();
        let mut t = Tar::new();
        for (kind, name, target) in &entries {
            if name.len() > 90 || target.len() > 90 {
                continue;
            }
            match kind {
                0 => t.dir(name),
                1 => t.file(name, b"data"),
                2 => t.link(name, tar::EntryType::Symlink, target),
                3 => t.link(name, tar::EntryType::Link, target),
                4 => t.raw(Tar::header(name, tar::EntryType::Fifo, 0o644, 0), b""),
                _ => {
                    let mut h = Tar::header(name, tar::EntryType::Char, 0o644, 0);
                    h.set_device_major(1).unwrap();
                    h.set_device_minor(3).unwrap();
                    t.raw(h, b"")
                }
            };
        }
        // Refusing the archive is fine; writing outside the root is not.
        let _ = extract(&t.bytes()[..], &root);
        let mut beside: Vec<String> = fs::read_dir(outer.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        beside.sort();
        proptest::prop_assert_eq!(beside, vec!["layer".to_string(), "sentinel".to_string()]);
        proptest::prop_assert_eq!(fs::read(&sentinel).unwrap(), b"keep");
        for escaped in ["/dhpa", "/dhpb", "/tmp/dhpa", "/tmp/dhpb"] {
            proptest::prop_assert!(
                fs::symlink_metadata(escaped).is_err(),
                "{} escaped",
                escaped
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
