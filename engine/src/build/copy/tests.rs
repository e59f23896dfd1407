use super::*;
use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, PermissionsExt};

#[derive(Debug, Clone)]
struct E {
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: Option<String>,
    data: Vec<u8>,
}

fn entries(tar_bytes: &[u8]) -> BTreeMap<String, E> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(tar_bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(
            path,
            E {
                kind: h.entry_type(),
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mtime: h.mtime().unwrap(),
                link: e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned()),
                data,
            },
        );
    }
    out
}

fn write(p: &Path, data: &str, mode: u32) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn set_mtime(p: &Path, t: i64) {
    let ts = nix::sys::time::TimeSpec::new(t, 0);
    nix::sys::stat::utimensat(
        None,
        p,
        &ts,
        &ts,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
}

struct Fx {
    _t: tempfile::TempDir,
    ctx: PathBuf,
    img: PathBuf,
}

/// A context with files, a dir and a symlink; an image with /etc, /tmp, a
/// symlink /link -> /tmp and a 0700 /data owned by us.
fn fixture() -> Fx {
    let t = tempfile::tempdir().unwrap();
    let ctx = t.path().join("ctx");
    let img = t.path().join("img");
    write(&ctx.join("a.txt"), "A", 0o644);
    write(&ctx.join("b.txt"), "B", 0o600);
    write(&ctx.join("run.sh"), "#!/bin/sh", 0o755);
    write(&ctx.join("dir/x"), "X", 0o644);
    write(&ctx.join("dir/sub/y"), "Y", 0o640);
    symlink("x", ctx.join("dir/lnk")).unwrap();
    symlink("a.txt", ctx.join("alias")).unwrap();
    set_mtime(&ctx.join("a.txt"), 1_000_000);
    write(
        &img.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        0o644,
    );
    write(
        &img.join("etc/group"),
        "root:x:0:\nstaff:x:50:\napp:x:1001:\n",
        0o644,
    );
    std::fs::create_dir_all(img.join("tmp")).unwrap();
    std::fs::set_permissions(img.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::create_dir_all(img.join("data")).unwrap();
    std::fs::set_permissions(img.join("data"), std::fs::Permissions::from_mode(0o700)).unwrap();
    set_mtime(&img.join("data"), 12345);
    symlink("/tmp", img.join("link")).unwrap();
    symlink("../../../../tmp", img.join("climb")).unwrap();
    Fx { _t: t, ctx, img }
}

fn run(
    fx: &Fx,
    sources: &[&str],
    dest: &str,
    f: impl FnOnce(&mut CopyRequest<'_>),
) -> Result<BTreeMap<String, E>, CopyError> {
    let src = LayerView::new(vec![fx.ctx.clone()]);
    let dst = LayerView::new(vec![fx.img.clone()]);
    let mut req = CopyRequest {
        src: &src,
        sources: sources
            .iter()
            .map(|s| Source::Path(s.to_string()))
            .collect(),
        dest: dest.into(),
        dest_view: &dst,
        workdir: "/".into(),
        chown: None,
        chmod: None,
        add: false,
        instruction: "COPY",
    };
    f(&mut req);
    let mut out = Vec::new();
    write_copy_layer(&req, &mut out)?;
    Ok(entries(&out))
}

fn copy(fx: &Fx, sources: &[&str], dest: &str) -> BTreeMap<String, E> {
    run(fx, sources, dest, |_| {}).unwrap()
}

#[test]
fn file_to_dir_and_to_name() {
    let fx = fixture();
    let e = copy(&fx, &["a.txt"], "/new/");
    assert_eq!(e.keys().collect::<Vec<_>>(), ["new", "new/a.txt"]);
    let f = &e["new/a.txt"];
    assert_eq!((f.mode, f.uid, f.gid, f.mtime), (0o644, 0, 0, 1_000_000));
    assert_eq!(f.data, b"A");
    assert_eq!(e["new"].mode, 0o755);
    assert_eq!(e["new"].kind, tar::EntryType::Directory);
    // No slash, not an existing directory: the file itself.
    let e = copy(&fx, &["a.txt"], "/new/name");
    assert!(e.contains_key("new/name") && e["new/name"].kind.is_file());
    // An existing directory without slash: into it, keeping its metadata.
    let e = copy(&fx, &["b.txt"], "/data");
    assert_eq!(e["data"].mode, 0o700);
    assert_eq!(e["data"].mtime, 12345);
    assert_eq!(e["data/b.txt"].mode, 0o600);
}

#[test]
fn directory_copies_its_contents_and_symlinks_as_symlinks() {
    let fx = fixture();
    let e = copy(&fx, &["dir"], "/opt/d");
    assert!(e.contains_key("opt/d/x") && e.contains_key("opt/d/sub/y"));
    assert!(!e.contains_key("opt/d/dir"));
    assert_eq!(e["opt/d/lnk"].kind, tar::EntryType::Symlink);
    assert_eq!(e["opt/d/lnk"].link.as_deref(), Some("x"));
    assert_eq!(e["opt/d/sub/y"].mode, 0o640);
    // The source itself is followed when it is a symlink.
    let e = copy(&fx, &["alias"], "/z/");
    assert_eq!(e["z/alias"].kind, tar::EntryType::Regular);
    assert_eq!(e["z/alias"].data, b"A");
    // The whole context.
    let e = copy(&fx, &["."], "/all/");
    assert!(e.contains_key("all/a.txt") && e.contains_key("all/dir/sub/y"));
}

#[test]
fn sources_clamp_to_the_root() {
    let fx = fixture();
    let e = copy(&fx, &["../../a.txt"], "/t/");
    assert_eq!(e["t/a.txt"].data, b"A");
    let e = copy(&fx, &["/dir/../a.txt"], "/t/");
    assert_eq!(e["t/a.txt"].data, b"A");
    // A symlink escaping the context resolves inside it.
    symlink("/../../etc/passwd", fx.ctx.join("evil")).unwrap();
    let err = run(&fx, &["evil"], "/t/", |_| {}).unwrap_err();
    assert!(err.is_bad_input());
    symlink("../../../a.txt", fx.ctx.join("dir/up")).unwrap();
    let e = copy(&fx, &["dir/up"], "/t/");
    assert_eq!(e["t/up"].data, b"A");
}

#[test]
fn not_found_and_several_sources() {
    let fx = fixture();
    let err = run(&fx, &["nope"], "/", |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "COPY failed: file not found in build context or excluded by .dockerignore: stat nope: file does not exist"
    );
    assert!(err.is_bad_input());
    let err = run(&fx, &["a.txt", "b.txt"], "/x", |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "When using COPY with more than one source file, the destination must be a directory and end with a /"
    );
    let err = run(&fx, &["*.nomatch"], "/x/", |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "COPY failed: no source files were specified"
    );
    let e = copy(&fx, &["a.txt", "b.txt"], "/x/");
    assert!(e.contains_key("x/a.txt") && e.contains_key("x/b.txt"));
}

#[test]
fn wildcards() {
    let fx = fixture();
    let e = copy(&fx, &["*.txt"], "/w/");
    assert!(e.contains_key("w/a.txt") && e.contains_key("w/b.txt"));
    assert!(!e.contains_key("w/run.sh"));
    let e = copy(&fx, &["dir/s?b"], "/w/");
    assert!(e.contains_key("w/y"), "{e:?}");
    let e = copy(&fx, &["[ab].txt"], "/w/");
    assert_eq!(e.len(), 3);
    // One match without a slash: a file named as the dest.
    let e = copy(&fx, &["a.*"], "/w");
    assert_eq!(e["w"].data, b"A");
}

#[test]
fn dest_relative_to_workdir_and_through_symlinks() {
    let fx = fixture();
    let e = run(&fx, &["a.txt"], "sub/", |r| r.workdir = "/app".into()).unwrap();
    assert!(e.contains_key("app/sub/a.txt"));
    let e = run(&fx, &["a.txt"], ".", |r| r.workdir = "/data".into()).unwrap();
    assert!(e.contains_key("data/a.txt"));
    // /link -> /tmp
    let e = copy(&fx, &["a.txt"], "/link/");
    assert!(e.contains_key("tmp/a.txt"), "{e:?}");
    assert_eq!(e["tmp"].mode, 0o1777);
    let e = copy(&fx, &["a.txt"], "/link");
    assert!(e.contains_key("tmp/a.txt"), "{e:?}");
    // A relative symlink climbing above the root stays inside.
    let e = copy(&fx, &["a.txt"], "/climb/");
    assert!(e.contains_key("tmp/a.txt"), "{e:?}");
}

#[test]
fn chown_and_chmod() {
    let fx = fixture();
    let dst = LayerView::new(vec![fx.img.clone()]);
    assert_eq!(resolve_chown(&dst, "app").unwrap(), (1000, 1001));
    assert_eq!(resolve_chown(&dst, "app:staff").unwrap(), (1000, 50));
    assert_eq!(resolve_chown(&dst, "10:20").unwrap(), (10, 20));
    assert_eq!(resolve_chown(&dst, "app:7").unwrap(), (1000, 7));
    let err = resolve_chown(&dst, "foo").unwrap_err();
    assert_eq!(
        err.to_string(),
        "can't find uid for user foo: no such user: foo"
    );
    assert!(resolve_chown(&dst, "a:b:c").is_err());
    let empty = LayerView::new(vec![]);
    assert!(resolve_chown(&empty, "app").is_err());
    assert_eq!(resolve_chown(&empty, "1:2").unwrap(), (1, 2));
    let e = run(&fx, &["dir"], "/n/d/", |r| {
        r.chown = Some((1000, 1001));
        r.chmod = Some(0o700);
    })
    .unwrap();
    for (k, v) in &e {
        if k.starts_with("n/d/") && v.kind != tar::EntryType::Symlink {
            assert_eq!((v.uid, v.gid, v.mode), (1000, 1001, 0o700), "{k}");
        }
    }
    // Created parents: the chown user, 0755.
    assert_eq!((e["n"].uid, e["n"].mode), (1000, 0o755));
}

#[test]
fn heredoc_and_url_sources() {
    let fx = fixture();
    let e = run(&fx, &[], "/h", |r| {
        r.sources = vec![Source::Bytes {
            name: "EOF".into(),
            data: b"hi\n".to_vec(),
        }]
    })
    .unwrap();
    assert_eq!((e["h"].mode, e["h"].data.as_slice()), (0o644, &b"hi\n"[..]));
    let dl = fx.ctx.parent().unwrap().join("download");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    {
        let mut b = tar::Builder::new(&mut gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, "in.txt", &b"I"[..]).unwrap();
        b.finish().unwrap();
    }
    std::fs::write(&dl, gz.finish().unwrap()).unwrap();
    let e = run(&fx, &[], "/u/", |r| {
        r.add = true;
        r.sources = vec![Source::File {
            path: dl.clone(),
            name: "f.tgz".into(),
            mtime: 77,
        }]
    })
    .unwrap();
    assert_eq!((e["u/f.tgz"].mode, e["u/f.tgz"].mtime), (0o600, 77));
}

fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    {
        let mut b = tar::Builder::new(&mut gz);
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o640);
            h.set_uid(33);
            h.set_gid(44);
            h.set_mtime(555);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.finish().unwrap();
    }
    gz.finish().unwrap()
}

#[test]
fn add_extracts_local_archives() {
    let fx = fixture();
    std::fs::write(fx.ctx.join("pkg.tgz"), tgz(&[("top/f", b"F"), ("g", b"G")])).unwrap();
    let add = |r: &mut CopyRequest<'_>| {
        r.add = true;
        r.instruction = "ADD";
    };
    let e = run(&fx, &["pkg.tgz"], "/opt/", add).unwrap();
    assert_eq!(e["opt/top/f"].data, b"F");
    assert_eq!(
        (
            e["opt/g"].uid,
            e["opt/g"].gid,
            e["opt/g"].mode,
            e["opt/g"].mtime
        ),
        (33, 44, 0o640, 555)
    );
    assert!(!e.contains_key("opt/pkg.tgz"));
    // COPY does not extract.
    let e = copy(&fx, &["pkg.tgz"], "/opt/");
    assert!(e.contains_key("opt/pkg.tgz"));
    // A file that is not an archive is copied.
    let e = run(&fx, &["a.txt"], "/opt/", add).unwrap();
    assert!(e.contains_key("opt/a.txt"));
    // Breakout names are refused.
    let mut raw = Vec::new();
    {
        let mut b = tar::Builder::new(&mut raw);
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.as_gnu_mut().unwrap().name[..7].copy_from_slice(b"../../x");
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        b.finish().unwrap();
    }
    std::fs::write(fx.ctx.join("evil.tar"), raw).unwrap();
    let err = run(&fx, &["evil.tar"], "/opt/", add).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
}

#[test]
fn hard_links_are_kept() {
    let fx = fixture();
    std::fs::hard_link(fx.ctx.join("dir/x"), fx.ctx.join("dir/x2")).unwrap();
    let e = copy(&fx, &["dir"], "/h/");
    let (a, b) = (&e["h/x"], &e["h/x2"]);
    let kinds = [a.kind, b.kind];
    assert!(kinds.contains(&tar::EntryType::Link) && kinds.contains(&tar::EntryType::Regular));
}

#[test]
fn checksum_follows_content_and_mode_not_time() {
    let fx = fixture();
    let src = LayerView::new(vec![fx.ctx.clone()]);
    let dst = LayerView::new(vec![fx.img.clone()]);
    let sum = |s: &str| {
        let req = CopyRequest {
            src: &src,
            sources: vec![Source::Path(s.into())],
            dest: "/".into(),
            dest_view: &dst,
            workdir: "/".into(),
            chown: None,
            chmod: None,
            add: false,
            instruction: "COPY",
        };
        source_checksum(&req).unwrap()
    };
    let d1 = sum("dir");
    let f1 = sum("a.txt");
    assert!(d1.starts_with("dir:") && f1.starts_with("file:"));
    set_mtime(&fx.ctx.join("dir/x"), 42);
    set_mtime(&fx.ctx.join("a.txt"), 43);
    assert_eq!(sum("dir"), d1);
    assert_eq!(sum("a.txt"), f1);
    std::fs::set_permissions(fx.ctx.join("dir/x"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let d2 = sum("dir");
    assert_ne!(d2, d1);
    std::fs::write(fx.ctx.join("dir/x"), "changed").unwrap();
    assert_ne!(sum("dir"), d2);
    std::fs::write(fx.ctx.join("a.txt"), "B").unwrap();
    assert_ne!(sum("a.txt"), f1);
    assert!(sum("*.txt").starts_with("multi:"));
}

#[test]
fn layered_view_merges_directories() {
    let t = tempfile::tempdir().unwrap();
    let (l0, l1) = (t.path().join("l0"), t.path().join("l1"));
    write(&l0.join("etc/a"), "a0", 0o644);
    write(&l0.join("etc/b"), "b0", 0o644);
    write(&l1.join("etc/b"), "b1", 0o644);
    write(&l1.join("etc/c"), "c1", 0o644);
    // An upper file hides a lower directory; an upper dir over a lower symlink wins.
    write(&l0.join("x/inner"), "i", 0o644);
    write(&l1.join("x"), "file", 0o644);
    symlink("/etc", l0.join("s")).unwrap();
    write(&l1.join("s/own"), "o", 0o644);
    let v = LayerView::new(vec![l0.clone(), l1.clone()]);
    assert_eq!(v.read_dir("/etc").unwrap(), ["a", "b", "c"]);
    let mut s = String::new();
    v.open("/etc/b").unwrap().read_to_string(&mut s).unwrap();
    assert_eq!(s, "b1");
    assert!(v.stat("/x").unwrap().unwrap().is_file());
    assert!(v.stat("/x/inner").unwrap().is_none());
    assert_eq!(v.read_dir("/s").unwrap(), ["own"]);
    assert!(v.stat("/s/a").unwrap().is_none());
    // Symlink loops end.
    symlink("/loop", l1.join("loop")).unwrap();
    assert!(v.stat("/loop").is_err());
    assert!(v.lstat("/loop").unwrap().is_some());
}

#[test]
fn whiteouts_hide_lower_paths() {
    crate::testing::require_root!();
    let t = tempfile::tempdir().unwrap();
    let (l0, l1) = (t.path().join("l0"), t.path().join("l1"));
    write(&l0.join("etc/a"), "a0", 0o644);
    write(&l0.join("etc/b"), "b0", 0o644);
    write(&l0.join("o/old"), "old", 0o644);
    write(&l1.join("o/new"), "new", 0o644);
    std::fs::create_dir_all(l1.join("etc")).unwrap();
    nix::sys::stat::mknod(
        &l1.join("etc/a"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .unwrap();
    xattr::set(l1.join("o"), "trusted.overlay.opaque", b"y").unwrap();
    let v = LayerView::new(vec![l0, l1]);
    assert_eq!(v.read_dir("/etc").unwrap(), ["b"]);
    assert!(v.stat("/etc/a").unwrap().is_none());
    assert_eq!(v.read_dir("/o").unwrap(), ["new"]);
    assert!(v.stat("/o/old").unwrap().is_none());
}

/// `cargo test --release -p dockhand-engine --lib copy_100mb -- --ignored --nocapture`
#[test]
#[ignore]
fn copy_100mb_timing() {
    let t = tempfile::tempdir().unwrap();
    let ctx = t.path().join("ctx");
    let chunk = vec![7u8; 1 << 20];
    for i in 0..50 {
        write(&ctx.join(format!("d{}/f{i}", i % 5)), "", 0o644);
        std::fs::write(ctx.join(format!("d{}/f{i}", i % 5)), &chunk).unwrap();
    }
    std::fs::write(ctx.join("big"), vec![1u8; 50 << 20]).unwrap();
    let src = LayerView::new(vec![ctx.clone()]);
    let dst = LayerView::new(vec![]);
    let req = CopyRequest {
        src: &src,
        sources: vec![Source::Path(".".into())],
        dest: "/app/".into(),
        dest_view: &dst,
        workdir: "/".into(),
        chown: None,
        chmod: None,
        add: false,
        instruction: "COPY",
    };
    let t0 = std::time::Instant::now();
    let sum = source_checksum(&req).unwrap();
    let t1 = t0.elapsed();
    let mut out = std::fs::File::create(t.path().join("layer.tar")).unwrap();
    let st = write_copy_layer(&req, &mut out).unwrap();
    let t2 = t0.elapsed() - t1;
    let t0 = std::time::Instant::now();
    let mut n = 0u64;
    for e in walk(&ctx) {
        n += std::io::copy(&mut std::fs::File::open(e).unwrap(), &mut std::io::sink()).unwrap();
    }
    eprintln!(
        "checksum {t1:?} ({sum}), layer {t2:?} ({st:?}), plain read {:?} of {n} bytes",
        t0.elapsed()
    );
}

#[cfg(test)]
fn walk(p: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            v.extend(walk(&e.path()));
        } else {
            v.push(e.path());
        }
    }
    v
}

#[test]
fn directory_to_the_root_of_an_empty_image() {
    let fx = fixture();
    let src = LayerView::new(vec![fx.ctx.clone()]);
    let dst = LayerView::new(vec![]);
    let req = CopyRequest {
        src: &src,
        sources: vec![Source::Path("dir".into())],
        dest: "/".into(),
        dest_view: &dst,
        workdir: String::new(),
        chown: None,
        chmod: None,
        add: false,
        instruction: "COPY",
    };
    let mut out = Vec::new();
    write_copy_layer(&req, &mut out).unwrap();
    let e = entries(&out);
    assert!(e.contains_key("x") && e.contains_key("sub/y"), "{e:?}");
    // And it applies with the layer extractor (which sets owners: root).
    crate::testing::require_root!();
    let root = fx.ctx.parent().unwrap().join("applied");
    std::fs::create_dir(&root).unwrap();
    crate::image::layer::extract(&out[..], &root).unwrap();
    assert_eq!(std::fs::read(root.join("sub/y")).unwrap(), b"Y");
}
