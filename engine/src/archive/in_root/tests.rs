use super::*;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

fn root_of(dir: &Path) -> Root {
    Root::open(dir, None).unwrap()
}

/// A tar entry with its name (and link) written raw, `..` and all.
fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    link: &str,
    data: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_000_000_000);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn tar_of(entries: &[(&str, tar::EntryType, &str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link, data) in entries {
        raw_entry(&mut b, name, *kind, link, data.as_bytes());
    }
    b.into_inner().unwrap()
}

fn names_of(tar: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(tar);
    ar.entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect()
}

fn plain() -> ExtractOptions {
    ExtractOptions {
        no_overwrite_dir_non_dir: true,
        ..Default::default()
    }
}

#[test]
fn go_path_helpers_match_filepath() {
    assert_eq!(clean("/a/../../b/./c/"), "/b/c");
    assert_eq!(clean("../a/.."), "..");
    assert_eq!(clean(""), ".");
    assert_eq!(base("/tmp/d/"), "d");
    assert_eq!(base("/"), "/");
    assert_eq!(base("/tmp/d/."), ".");
    assert_eq!(dir("/a/b"), "/a");
    assert_eq!(dir("b"), ".");
    assert_eq!(join("/data/sub", "/x"), "/data/sub/x");
    assert_eq!(join("/data/sub", "../../etc/passwd"), "/etc/passwd");
    assert_eq!(preserve_trailing_dot_or_separator("/a/b", "a/b/"), "/a/b/");
    assert_eq!(
        preserve_trailing_dot_or_separator("/a/b", "a/b/."),
        "/a/b/."
    );
    assert_eq!(preserve_trailing_dot_or_separator("/", "/"), "/");
    assert_eq!(split_path_dir_entry("/a/b/."), ("/a/b".into(), ".".into()));
    assert_eq!(split_path_dir_entry("/a/b/"), ("/a".into(), "b".into()));
    assert!(asserts_directory("x/") && asserts_directory("x/.") && !asserts_directory("x"));
}

#[test]
fn modes_and_times_read_as_gos() {
    // /tmp's 1777 is ModeDir|ModeSticky|0777; a symlink 0777 is 134218239.
    assert_eq!(go_file_mode(libc::S_IFDIR | 0o1777), 2148532735);
    assert_eq!(go_file_mode(libc::S_IFLNK | 0o777), 134218239);
    assert_eq!(
        go_file_mode(libc::S_IFCHR | 0o666),
        go_mode::DEVICE | go_mode::CHAR_DEVICE | 0o666
    );
    assert_eq!(go_time(1796430024, 0), "2026-12-05T00:20:24Z");
    assert_eq!(
        go_time(1796430024, 66207500),
        "2026-12-05T00:20:24.0662075Z"
    );
}

#[test]
fn symlinks_resolve_inside_the_root_and_never_out_of_it() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("root");
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("etc/hostname"), "inside\n").unwrap();
    symlink("../../../../../etc", r.join("up")).unwrap();
    symlink("/", r.join("top")).unwrap();
    symlink("hostname", r.join("etc/rel")).unwrap();
    let root = root_of(&r);
    assert_eq!(root.follow_in_scope("/up").unwrap(), "/etc");
    assert_eq!(
        root.follow_in_scope("/top/etc/rel").unwrap(),
        "/etc/hostname"
    );
    assert_eq!(root.read_small_file("/up/hostname"), "inside\n");
    assert_eq!(root.read_small_file("/top/../../etc/hostname"), "inside\n");
    let s = root.stat("/up").unwrap();
    assert!(s.is_symlink());
    assert_eq!((s.name.as_str(), s.link_target.as_str()), ("up", "/etc"));
    // A trailing slash follows the last link, as lstat("x/") does.
    let s = root.stat("/up/").unwrap();
    assert!(s.is_dir() && s.link_target.is_empty());
    assert!(matches!(root.stat("/nope/x"), Err(PathError::NotFound(_))));
    assert!(matches!(
        root.stat("/etc/hostname/x"),
        Err(PathError::Failed(m)) if m == "lstat /etc/hostname/x: not a directory"
    ));
    // Names the kernel cannot take are bad input (a 400), not a failure.
    for bad in ["/etc\0/x".to_string(), format!("/etc/{}", "n".repeat(256))] {
        assert!(
            matches!(root.stat(&bad), Err(PathError::Invalid(_))),
            "{bad:.40}"
        );
    }
}

#[test]
fn archives_name_entries_after_the_requested_base() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    std::fs::create_dir_all(r.join("d/sub")).unwrap();
    std::fs::write(r.join("d/b.txt"), "b").unwrap();
    std::fs::write(r.join("d/sub/a"), "a").unwrap();
    std::fs::hard_link(r.join("d/b.txt"), r.join("d/c.txt")).unwrap();
    symlink("/etc", r.join("d/abs")).unwrap();
    symlink("d", r.join("dl")).unwrap();
    let root = root_of(r);
    let tar_of = |abs: &str| {
        let mut out = Vec::new();
        root.write_resource(abs, &mut out).unwrap();
        out
    };
    assert_eq!(
        names_of(&tar_of("/d")),
        ["d/", "d/abs", "d/b.txt", "d/c.txt", "d/sub/", "d/sub/a"]
    );
    assert_eq!(
        names_of(&tar_of("/d/.")),
        ["./", "./abs", "./b.txt", "./c.txt", "./sub/", "./sub/a"]
    );
    assert_eq!(names_of(&tar_of("/d/sub/a")), ["a"]);
    // The link itself, or (with a trailing slash) its target under its name.
    assert_eq!(names_of(&tar_of("/dl")), ["dl"]);
    assert_eq!(names_of(&tar_of("/dl/"))[..2], ["dl/", "dl/abs"]);
    assert_eq!(names_of(&tar_of("/"))[..2], ["/", "/d/"]);
    // The second name of a hard-linked file is a link to the first.
    let data = tar_of("/d");
    let mut ar = tar::Archive::new(&data[..]);
    let c = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path_bytes().as_ref() == b"d/c.txt")
        .map(|e| {
            (
                e.header().entry_type(),
                e.link_name_bytes().map(|l| l.into_owned()),
            )
        })
        .unwrap();
    assert_eq!(c, (tar::EntryType::Link, Some(b"d/b.txt".to_vec())));
}

#[test]
fn extraction_refuses_entries_that_climb_out_and_writes_nothing_outside() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("root");
    std::fs::create_dir_all(r.join("data/sub")).unwrap();
    let root = root_of(&r);
    use tar::EntryType as T;
    for (entries, want) in [
        (
            vec![("../escape.txt", T::Regular, "", "bad")],
            r#""../escape.txt" is outside of "/data/sub""#,
        ),
        (
            vec![("a/../../escape.txt", T::Regular, "", "bad")],
            r#""../escape.txt" is outside of "/data/sub""#,
        ),
        (
            vec![("esc", T::Symlink, "../../../../", "")],
            r#"invalid symlink "/data/sub/esc" -> "../../../../""#,
        ),
        (
            vec![("h", T::Link, "../../etc/passwd", "")],
            r#"invalid hardlink "/etc/passwd" -> "../../etc/passwd""#,
        ),
    ] {
        let err = root
            .extract("/data/sub", &plain(), &tar_of(&entries)[..])
            .unwrap_err();
        assert_eq!(err.to_string(), want);
    }
    assert!(!t.path().join("escape.txt").exists());
    assert!(!r.join("escape.txt").exists() && !r.join("data/escape.txt").exists());
}

#[test]
fn writes_through_symlinks_land_inside_the_root() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("root");
    std::fs::create_dir_all(r.join("data")).unwrap();
    // Symlinks that would leave the root on the machine.
    symlink("/", r.join("data/rootlink")).unwrap();
    symlink("../../../../..", r.join("data/uplink")).unwrap();
    let root = root_of(&r);
    let outside = t.path().join("x.txt");
    use tar::EntryType as T;
    // An absolute symlink in the archive, then a file through it.
    let tar = tar_of(&[
        ("absl", T::Symlink, "/", ""),
        ("absl/x.txt", T::Regular, "", "via link"),
    ]);
    root.extract("/data", &plain(), &tar[..]).unwrap();
    assert_eq!(
        std::fs::read_to_string(r.join("x.txt")).unwrap(),
        "via link"
    );
    // The destination itself reached through escaping links.
    let (dest, _) = root.eval_symlinks("/data/uplink/data/rootlink").unwrap();
    assert_eq!(dest, "/");
    let tar = tar_of(&[("y.txt", T::Regular, "", "y")]);
    root.extract(&dest, &plain(), &tar[..]).unwrap();
    assert!(r.join("y.txt").exists());
    assert!(!outside.exists() && !Path::new("/y.txt").exists());
}

#[test]
fn extraction_replaces_entries_but_not_a_directory_by_a_file() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    std::fs::create_dir_all(r.join("d/keep")).unwrap();
    std::fs::write(r.join("f"), "old").unwrap();
    let root = root_of(r);
    use tar::EntryType as T;
    let err = root
        .extract("/", &plain(), &tar_of(&[("d", T::Regular, "", "x")])[..])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"cannot overwrite directory "/d" with non-directory "/""#
    );
    let err = root
        .extract("/", &plain(), &tar_of(&[("f", T::Directory, "", "")])[..])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"cannot overwrite non-directory "/f" with directory "/""#
    );
    // Without the option a file replaces a tree, and files are replaced.
    let opts = ExtractOptions::default();
    root.extract(
        "/",
        &opts,
        &tar_of(&[
            ("d", T::Regular, "", "now a file"),
            ("f", T::Regular, "", "new"),
        ])[..],
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(r.join("d")).unwrap(), "now a file");
    assert_eq!(std::fs::read_to_string(r.join("f")).unwrap(), "new");
}

#[test]
fn extraction_keeps_modes_times_and_makes_missing_parents() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let root = root_of(r);
    use tar::EntryType as T;
    let tar = tar_of(&[
        ("top/", T::Directory, "", ""),
        ("top/deep/er/file", T::Regular, "", "content"),
        ("top/link", T::Symlink, "deep/er/file", ""),
        ("top/hard", T::Link, "top/deep/er/file", ""),
    ]);
    root.extract("/", &plain(), &tar[..]).unwrap();
    let f = r.join("top/deep/er/file");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "content");
    let m = std::fs::metadata(&f).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o644);
    assert_eq!(m.mtime(), 1_000_000_000);
    assert_eq!(m.nlink(), 2);
    assert_eq!(
        std::fs::metadata(r.join("top")).unwrap().mtime(),
        1_000_000_000
    );
    assert_eq!(
        std::fs::read_link(r.join("top/link")).unwrap(),
        Path::new("deep/er/file")
    );
}

#[test]
fn rebasing_renames_the_top_entry() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let root = root_of(r);
    use tar::EntryType as T;
    let tar = tar_of(&[
        ("src/", T::Directory, "", ""),
        ("src/a", T::Regular, "", "a"),
        ("src/b", T::Link, "src/a", ""),
    ]);
    let opts = ExtractOptions {
        rebase: vec![(b"src".to_vec(), b"dst".to_vec())],
        ..plain()
    };
    root.extract("/", &opts, &tar[..]).unwrap();
    assert_eq!(std::fs::read_to_string(r.join("dst/a")).unwrap(), "a");
    assert_eq!(std::fs::metadata(r.join("dst/b")).unwrap().nlink(), 2);
    assert!(!r.join("src").exists());
}

#[test]
fn owners_come_from_the_archive_mapped_into_a_range() {
    crate::testing::require_root!();
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let root = Root::open(
        r,
        Some(IdMap {
            base: 100000,
            size: 65536,
        }),
    )
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("f").unwrap();
    h.set_size(1);
    h.set_mode(0o4755);
    h.set_uid(1000);
    h.set_gid(50);
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let opts = ExtractOptions {
        chown: true,
        ..plain()
    };
    root.extract("/", &opts, &tar[..]).unwrap();
    let m = std::fs::symlink_metadata(r.join("f")).unwrap();
    assert_eq!((m.uid(), m.gid()), (101000, 100050));
    // chmod after chown: the setuid bit stays.
    assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
    // And read back as the ids inside.
    let mut out = Vec::new();
    root.write_resource("/f", &mut out).unwrap();
    let mut ar = tar::Archive::new(&out[..]);
    let e = ar.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(
        (e.header().uid().unwrap(), e.header().gid().unwrap()),
        (1000, 50)
    );
    // An id beyond the range is refused.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("g").unwrap();
    h.set_size(0);
    h.set_uid(70000);
    h.set_cksum();
    b.append(&h, &[][..]).unwrap();
    let err = root
        .extract("/", &opts, &b.into_inner().unwrap()[..])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Container ID 70000 cannot be mapped to a host ID"
    );
}
