use super::*;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};

fn raw_entry(
    b: &mut tar::Builder<&mut Vec<u8>>,
    name: &[u8],
    kind: tar::EntryType,
    data: &[u8],
    link: Option<&[u8]>,
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o754);
    h.set_uid(4242);
    h.set_mtime(1234);
    let g = h.as_gnu_mut().unwrap();
    g.name[..name.len()].copy_from_slice(name);
    if let Some(l) = link {
        g.linkname[..l.len()].copy_from_slice(l);
    }
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn sample() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut b = tar::Builder::new(&mut out);
        raw_entry(
            &mut b,
            b"Dockerfile",
            tar::EntryType::Regular,
            b"FROM scratch\n",
            None,
        );
        raw_entry(&mut b, b"dir/", tar::EntryType::Directory, b"", None);
        raw_entry(&mut b, b"dir/f", tar::EntryType::Regular, b"F", None);
        raw_entry(&mut b, b".wh.keep", tar::EntryType::Regular, b"W", None);
        raw_entry(&mut b, b"/abs", tar::EntryType::Regular, b"abs", None);
        raw_entry(&mut b, b"fifo", tar::EntryType::Fifo, b"", None);
        raw_entry(&mut b, b"up", tar::EntryType::Symlink, b"", Some(b"/"));
        raw_entry(&mut b, b"up/escaped", tar::EntryType::Regular, b"E", None);
        b.finish().unwrap();
    }
    out
}

#[test]
fn receives_plain_and_compressed_tars() {
    let plain = sample();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&plain).unwrap();
    let bz = bz.finish().unwrap();
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut &plain[..], &mut xz).unwrap();
    for body in [plain.clone(), gz, bz, xz] {
        let t = tempfile::tempdir().unwrap();
        let st = receive(&body[..], t.path(), 1 << 20).unwrap();
        assert!(st.entries >= 6);
        let d = t.path();
        assert_eq!(std::fs::read(d.join("dir/f")).unwrap(), b"F");
        assert_eq!(std::fs::read(d.join(".wh.keep")).unwrap(), b"W");
        assert_eq!(std::fs::read(d.join("abs")).unwrap(), b"abs");
        // The symlink to / was followed inside the directory.
        assert_eq!(std::fs::read(d.join("escaped")).unwrap(), b"E");
        assert!(!d.join("fifo").exists());
        let m = std::fs::metadata(d.join("dir/f")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o754);
        assert_eq!(std::os::unix::fs::MetadataExt::mtime(&m), 1234);
        // Owners are not applied (uid 4242 in the tar).
        assert_ne!(std::os::unix::fs::MetadataExt::uid(&m), 4242);
        assert_eq!(read_dockerfile(d, "").unwrap(), "FROM scratch\n");
    }
}

#[test]
fn hostile_and_bad_bodies() {
    let t = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    {
        let mut b = tar::Builder::new(&mut out);
        raw_entry(&mut b, b"../x", tar::EntryType::Regular, b"x", None);
        b.finish().unwrap();
    }
    let e = receive(&out[..], t.path(), 1 << 20).unwrap_err();
    assert!(e.is_bad_input(), "{e}");
    assert!(!t.path().parent().unwrap().join("x").exists());
    let e = receive(&b"FROM busybox\n"[..], t.path(), 1 << 20).unwrap_err();
    assert_eq!(e.to_string(), "unexpected EOF");
    let junk = vec![b'z'; 2000];
    let e = receive(&junk[..], t.path(), 1 << 20).unwrap_err();
    assert_eq!(e.to_string(), "archive/tar: invalid tar header");
    assert!(e.is_bad_input());
    // Empty body: an empty context.
    let t2 = tempfile::tempdir().unwrap();
    assert_eq!(
        receive(&b""[..], t2.path(), 10).unwrap(),
        ReceiveStats::default()
    );
    assert_eq!(
        read_dockerfile(t2.path(), "").unwrap_err().to_string(),
        "Cannot locate specified Dockerfile: Dockerfile"
    );
    // Too large.
    let t3 = tempfile::tempdir().unwrap();
    let e = receive(&sample()[..], t3.path(), 5).unwrap_err();
    assert!(matches!(e, ContextError::TooLarge(5)), "{e}");
    // Truncated gzip.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&sample()).unwrap();
    let mut gz = gz.finish().unwrap();
    gz.truncate(gz.len() / 2);
    let t4 = tempfile::tempdir().unwrap();
    assert!(receive(&gz[..], t4.path(), 1 << 20).is_err());
}

#[test]
fn dockerfile_rules() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("ctx");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(t.path().join("secret"), "outside").unwrap();
    std::fs::write(d.join("dockerfile"), "lower").unwrap();
    assert_eq!(read_dockerfile(&d, "").unwrap(), "lower");
    assert_eq!(read_dockerfile(&d, "Dockerfile").unwrap(), "lower");
    std::fs::write(d.join("Dockerfile"), "\u{feff}upper").unwrap();
    assert_eq!(read_dockerfile(&d, "Dockerfile").unwrap(), "upper");
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/Other"), "other").unwrap();
    assert_eq!(read_dockerfile(&d, "sub/Other").unwrap(), "other");
    assert_eq!(read_dockerfile(&d, "/sub/Other").unwrap(), "other");
    assert_eq!(
        read_dockerfile(&d, "../secret").unwrap_err().to_string(),
        "The Dockerfile (../secret) must be within the build context"
    );
    assert_eq!(
        read_dockerfile(&d, "Nope").unwrap_err().to_string(),
        "Cannot locate specified Dockerfile: Nope"
    );
    // A symlink leading out resolves inside the context.
    symlink("../secret", d.join("link")).unwrap();
    assert!(read_dockerfile(&d, "link").is_err());
    symlink("/../secret", d.join(".dockerignore")).unwrap();
    assert_eq!(read_dockerignore(&d).unwrap(), "");
    std::fs::remove_file(d.join(".dockerignore")).unwrap();
    std::fs::write(d.join(".dockerignore"), "*.tmp\n").unwrap();
    assert_eq!(read_dockerignore(&d).unwrap(), "*.tmp\n");
}

#[test]
fn excluded_dockerfile_and_dockerignore_are_removed() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("Dockerfile"), "FROM scratch").unwrap();
    std::fs::write(d.join("keep"), "k").unwrap();
    remove_excluded_dockerfile(d, "", |_| true).unwrap();
    // No .dockerignore: nothing is asked or removed.
    assert!(d.join("Dockerfile").exists());
    std::fs::write(d.join(".dockerignore"), "Dockerfile\n.dockerignore\n").unwrap();
    remove_excluded_dockerfile(d, "Dockerfile", |p| {
        p == "Dockerfile" || p == ".dockerignore"
    })
    .unwrap();
    assert!(!d.join("Dockerfile").exists() && !d.join(".dockerignore").exists());
    assert!(d.join("keep").exists());
}

#[test]
fn a_tar_ending_right_after_its_last_content_is_complete() {
    // As docker CLI 28 sends it: no padding after the last file, no end blocks.
    let mut out = Vec::new();
    {
        let mut b = tar::Builder::new(&mut out);
        raw_entry(&mut b, b"a", tar::EntryType::Regular, b"hello", None);
        raw_entry(
            &mut b,
            b"Dockerfile",
            tar::EntryType::Regular,
            b"FROM x\n",
            None,
        );
        b.finish().unwrap();
    }
    // Header 512 + content 5 padded to 512, header 512 + content 7.
    let cut = 512 + 512 + 512 + 7;
    let dir = tempfile::tempdir().unwrap();
    receive(&out[..cut], dir.path(), 1 << 20).unwrap();
    assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"hello");
    assert_eq!(
        std::fs::read(dir.path().join("Dockerfile")).unwrap(),
        b"FROM x\n"
    );
    // Cut inside the content or inside a header: still an error.
    for bad in [cut - 3, 512 + 512 + 100] {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            receive(&out[..bad], dir.path(), 1 << 20).is_err(),
            "cut at {bad}"
        );
    }
}
