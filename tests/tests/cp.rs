//! `docker cp` and the container archive endpoints (issue 17), end to end: both
//! directions with our CLI and with the real docker CLI (same files, same
//! messages, same exit codes), running and stopped containers, through a
//! volume, paths resolved through the container's own symlinks and never out
//! of it, hostile archives refused with nothing written, the stat header, and a
//! virtual host's ids.

use base64::Engine as _;
use dockhand_tests::pty::Via;
use dockhand_tests::{require_docker_cli, Daemon, Run};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

/// A raw request on the daemon's socket: status, headers, body.
fn api(d: &Daemon, method: &str, path: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let at = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&buf[..at]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, buf[at + 4..].to_vec())
}

/// The decoded `X-Docker-Container-Path-Stat` of a `HEAD`.
fn stat_of(d: &Daemon, ctr: &str, path: &str) -> (u16, Option<serde_json::Value>) {
    let (status, head, _) = api(
        d,
        "HEAD",
        &format!("/containers/{ctr}/archive?path={path}"),
        b"",
    );
    let v = head
        .lines()
        .find_map(|l| l.strip_prefix("x-docker-container-path-stat: "))
        .map(|b| {
            let json = base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .unwrap();
            serde_json::from_slice(&json).unwrap()
        });
    (status, v)
}

/// A tar whose entry names (and link targets) are written as given.
fn raw_tar(entries: &[(&str, tar::EntryType, &str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_mtime(1_500_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

/// `NAME MODE UID:GID SIZE MTIME -> LINK` of each entry of a tar, its top
/// directory renamed to `top`.
fn tar_rows(tar: &[u8], top: &str) -> Vec<String> {
    let mut ar = tar::Archive::new(tar);
    let mut rows: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let name = match name.split_once('/') {
                Some((_, rest)) => format!("{top}/{rest}"),
                None => top.to_string(),
            };
            format!(
                "{} {:o} {}:{} {} {} -> {}",
                name.trim_end_matches('/'),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.size().unwrap(),
                h.mtime().unwrap(),
                e.link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default()
            )
        })
        .collect();
    rows.sort();
    rows
}

/// The same rows for a local tree (directories' own mtime left out: making
/// their children changes it).
fn local_rows(root: &Path) -> Vec<String> {
    fn walk(p: &Path, name: String, out: &mut Vec<String>) {
        let m = std::fs::symlink_metadata(p).unwrap();
        let link = if m.file_type().is_symlink() {
            std::fs::read_link(p).unwrap().display().to_string()
        } else {
            String::new()
        };
        let content = if m.is_file() {
            std::fs::read_to_string(p).unwrap()
        } else {
            String::new()
        };
        out.push(format!(
            "{name} {:o} {}:{} {} {} -> {link} {content:?}",
            m.mode() & 0o7777,
            m.uid(),
            m.gid(),
            if m.is_dir() { 0 } else { m.len() },
            if m.is_dir() { 0 } else { m.mtime() },
        ));
        if m.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                let e = e.unwrap();
                walk(
                    &e.path(),
                    format!("{name}/{}", e.file_name().to_string_lossy()),
                    out,
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(root, ".".into(), &mut out);
    out.sort();
    out
}

/// A local tree to copy: `d/` with a 0640 file, a subdirectory, a relative
/// symlink, and `f.txt` owned by 1234:5678.
fn local_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("d/sub")).unwrap();
    std::fs::write(dir.join("d/a"), "alpha\n").unwrap();
    std::fs::set_permissions(dir.join("d/a"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(dir.join("d/sub/b"), "beta\n").unwrap();
    std::os::unix::fs::symlink("a", dir.join("d/la")).unwrap();
    std::fs::write(dir.join("f.txt"), "hello\n").unwrap();
    std::os::unix::fs::chown(dir.join("f.txt"), Some(1234), Some(5678)).unwrap();
}

fn ours(d: &Daemon, cwd: &Path, args: &[&str]) -> Run {
    via(d, Via::Dockhand, cwd, args)
}

fn via(d: &Daemon, who: Via, cwd: &Path, args: &[&str]) -> Run {
    let mut cmd = who.command(d, args);
    cmd.current_dir(cwd);
    dockhand_tests::run_command(cmd, None, Duration::from_secs(60))
}

fn via_stdin(d: &Daemon, who: Via, args: &[&str], stdin: &[u8]) -> Run {
    who.run(d, args, Some(stdin))
}

#[test]
fn both_clis_copy_the_same_files_in_and_out_of_a_running_container() {
    dockhand_tests::require_root!();
    let _ = require_docker_cli!();
    let d = Daemon::start();
    d.cli(&["run", "-d", "--name", "box", "busybox", "sleep", "600"])
        .ok();
    let t = tempfile::tempdir().unwrap();
    local_tree(t.path());
    // In: a directory under a new name, a file into an existing directory.
    for (who, tag) in [(Via::Dockhand, "ours"), (Via::Docker, "docker")] {
        let dst = format!("box:/in-{tag}");
        via(&d, who, t.path(), &["cp", "d", &dst]).ok();
        via(&d, who, t.path(), &["cp", "f.txt", &format!("{dst}/")]).ok();
    }
    let read = |path: &str| {
        let r = via(
            &d,
            Via::Docker,
            t.path(),
            &["cp", &format!("box:{path}"), "-"],
        );
        assert_eq!(r.code(), 0, "{}", r.stderr());
        r.out.stdout
    };
    let in_ours = tar_rows(&read("/in-ours"), "top");
    // The top directory's mtime is when f.txt landed in it, a moment that
    // differs between the two copies; every other field must match.
    let without_top_mtime = |rows: &[String]| -> Vec<String> {
        rows.iter()
            .map(|r| match r.strip_prefix("top ") {
                Some(rest) => {
                    let f: Vec<&str> = rest.split(' ').collect();
                    format!(
                        "top {} {} {} <mtime> {}",
                        f[0],
                        f[1],
                        f[2],
                        f[4..].join(" ")
                    )
                }
                None => r.clone(),
            })
            .collect()
    };
    assert_eq!(
        without_top_mtime(&in_ours),
        without_top_mtime(&tar_rows(&read("/in-docker"), "top"))
    );
    assert!(
        in_ours.iter().any(|r| r.starts_with("top/a 640 0:0 6 ")),
        "{in_ours:?}"
    );
    // The archive's owners are kept (without -a).
    assert!(
        in_ours
            .iter()
            .any(|r| r.starts_with("top/f.txt 644 1234:5678 6 ")),
        "{in_ours:?}"
    );
    assert!(in_ours
        .iter()
        .any(|r| r.starts_with("top/la 777") && r.ends_with("-> a")));
    assert_eq!(
        d.cli(&["exec", "box", "cat", "/in-ours/sub/b"]).ok(),
        "beta"
    );

    // Out: what the container made, into new and existing local paths.
    d.cli(&[
        "exec",
        "box",
        "sh",
        "-c",
        "mkdir -p /src/deep && echo one > /src/one && echo two > /src/deep/two && \
         chmod 600 /src/one && ln -s one /src/l1 && ln -s /src /srclink",
    ])
    .ok();
    for (src, dst) in [
        ("box:/src", "new"),
        ("box:/src/.", "existing"),
        ("box:/src/one", "existing/renamed"),
        ("box:/srclink", "link"),
        ("box:/srclink/", "followed"),
    ] {
        let mut got = vec![];
        for who in [Via::Dockhand, Via::Docker] {
            let out = tempfile::tempdir().unwrap();
            std::fs::create_dir(out.path().join("existing")).unwrap();
            let r = via(&d, who, out.path(), &["cp", src, dst]);
            assert_eq!(r.code(), 0, "{who:?} cp {src} {dst}: {}", r.stderr());
            got.push(local_rows(out.path()));
        }
        assert_eq!(got[0], got[1], "cp {src} {dst}");
    }
    // `-`: the daemon's archive as it is, for both.
    let a = via(&d, Via::Dockhand, t.path(), &["cp", "box:/src", "-"]);
    let b = via(&d, Via::Docker, t.path(), &["cp", "box:/src", "-"]);
    assert_eq!(a.code(), 0, "{}", a.stderr());
    assert_eq!(a.out.stdout, b.out.stdout);
    assert_eq!(
        tar_rows(&a.out.stdout, "src")
            .iter()
            .map(|r| r.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        [
            "src 755",
            "src/deep 755",
            "src/deep/two 644",
            "src/l1 777",
            "src/one 600"
        ]
    );
}

#[test]
fn a_stopped_container_is_copied_into_through_its_volume_and_out_of() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let id = d
        .cli(&[
            "create",
            "--name",
            "later",
            "-v",
            "/vol1",
            "busybox",
            "sh",
            "-c",
            "cat /vol1/in.txt /etc/note; echo made > /vol1/out.txt; echo root > /made.txt",
        ])
        .ok();
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("in.txt"), "copied in\n").unwrap();
    std::fs::write(t.path().join("note"), "a note\n").unwrap();
    // Never started: /vol1 exists only as the container's mount point.
    ours(&d, t.path(), &["cp", "in.txt", "later:/vol1/"]).ok();
    ours(&d, t.path(), &["cp", "note", "later:/etc/note"]).ok();
    // It went into the volume, not the container's own layer.
    let vol = d
        .cli(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Source}}{{end}}",
            "later",
        ])
        .ok();
    assert_eq!(
        std::fs::read_to_string(Path::new(&vol).join("in.txt")).unwrap(),
        "copied in\n"
    );
    assert_eq!(d.cli(&["start", "-a", "later"]).ok(), "copied in\na note");
    // Exited: out again, from the volume and from the root.
    ours(&d, t.path(), &["cp", "later:/vol1/out.txt", "out.txt"]).ok();
    ours(&d, t.path(), &["cp", "later:/made.txt", "."]).ok();
    assert_eq!(
        std::fs::read_to_string(t.path().join("out.txt")).unwrap(),
        "made\n"
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("made.txt")).unwrap(),
        "root\n"
    );
    // The stopped container was mounted privately and is unmounted again.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&id), "{mounts}");
    assert!(d.leftover_mounts().is_empty(), "{:?}", d.leftover_mounts());
}

#[test]
fn paths_resolve_through_the_containers_symlinks_and_stay_inside_it() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&[
        "run",
        "-d",
        "--name",
        "links",
        "busybox",
        "sh",
        "-c",
        "mkdir /data && ln -s ../../../../.. /data/up && ln -s / /data/top && \
         echo inside > /etc/only-inside && exec sleep 600",
    ])
    .ok();
    // Wait for the links.
    for _ in 0..100 {
        if d.cli(&["exec", "links", "test", "-L", "/data/up"]).code() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let t = tempfile::tempdir().unwrap();
    let marker = format!("cp-marker-{}.txt", std::process::id());
    std::fs::write(t.path().join(&marker), "marked\n").unwrap();
    // Into /tmp through a link that climbs "above" the root.
    ours(&d, t.path(), &["cp", &marker, "links:/data/up/tmp/"]).ok();
    assert_eq!(
        d.cli(&["exec", "links", "cat", &format!("/tmp/{marker}")])
            .ok(),
        "marked"
    );
    assert!(!Path::new("/tmp").join(&marker).exists());
    // Out through the same links: the container's file, not the machine's.
    let r = ours(
        &d,
        t.path(),
        &["cp", "links:/data/top/etc/only-inside", "got"],
    );
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(
        std::fs::read_to_string(t.path().join("got")).unwrap(),
        "inside\n"
    );
    let r = ours(&d, t.path(), &["cp", "links:/data/up/etc/hostname", "hn"]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let id = d.cli(&["inspect", "-f", "{{.Id}}", "links"]).ok();
    assert_eq!(
        std::fs::read_to_string(t.path().join("hn")).unwrap().trim(),
        &id[..12]
    );
    // The stat names the link's target inside the container.
    let (status, st) = stat_of(&d, "links", "/data/up");
    assert_eq!(status, 200);
    let st = st.unwrap();
    assert_eq!(st["linkTarget"], "/");
    assert_eq!(st["mode"].as_u64().unwrap() & (1 << 27), 1 << 27);
}

#[test]
fn archives_that_climb_out_are_refused_and_nothing_is_written() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&[
        "run",
        "--name",
        "target",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /data/sub",
    ])
    .ok();
    let n = std::process::id();
    let escape = format!("escape-{n}.txt");
    use tar::EntryType as T;
    let cases = [
        (
            raw_tar(&[(&format!("../{escape}"), T::Regular, "", "bad")]),
            format!("\"../{escape}\" is outside of \"/data/sub\""),
        ),
        (
            raw_tar(&[(&format!("a/../../{escape}"), T::Regular, "", "bad")]),
            format!("\"../{escape}\" is outside of \"/data/sub\""),
        ),
        (
            raw_tar(&[
                ("esc", T::Symlink, "../../../../", ""),
                (&format!("esc/{escape}"), T::Regular, "", "bad"),
            ]),
            "invalid symlink \"/data/sub/esc\" -> \"../../../../\"".to_string(),
        ),
        (
            raw_tar(&[("h", T::Link, "../../etc/passwd", "")]),
            "invalid hardlink \"/etc/passwd\" -> \"../../etc/passwd\"".to_string(),
        ),
    ];
    for (tar, want) in &cases {
        let r = via_stdin(&d, Via::Dockhand, &["cp", "-", "target:/data/sub"], tar);
        assert_eq!(r.code(), 1);
        assert_eq!(
            r.stderr().trim(),
            format!("Error response from daemon: {want}")
        );
        let (status, _, body) = api(&d, "PUT", "/containers/target/archive?path=/data/sub", tar);
        assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));
    }
    // An absolute link in the archive, and a file through it: the container's
    // root, never the machine's.
    let owned = format!("owned-{n}.txt");
    let tar = raw_tar(&[
        ("top", T::Symlink, "/", ""),
        (&format!("top/{owned}"), T::Regular, "", "inside"),
    ]);
    let r = via_stdin(&d, Via::Dockhand, &["cp", "-", "target:/data/sub"], &tar);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert!(!Path::new("/").join(&owned).exists());
    let r = ours(
        &d,
        Path::new("/"),
        &["cp", &format!("target:/{owned}"), "-"],
    );
    assert_eq!(tar_rows(&r.out.stdout, "x").len(), 1, "{}", r.stderr());
    // Nothing escaped anywhere: not beside the destination, not on the machine.
    for p in ["/data", "/"] {
        let (_, st) = stat_of(&d, "target", &format!("{p}/{escape}"));
        assert!(st.is_none(), "{p}/{escape} exists");
    }
    for p in ["/", "/tmp", "/etc"] {
        assert!(!Path::new(p).join(&escape).exists());
    }
    let found = std::process::Command::new("find")
        .arg(&d.root)
        .args(["-name", &escape])
        .output()
        .unwrap();
    assert!(
        found.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&found.stdout)
    );
}

#[test]
fn the_stat_header_and_the_api_errors_read_as_mobys() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&[
        "run",
        "--name",
        "st",
        "busybox",
        "sh",
        "-c",
        "printf 12345 > /f && chmod 4751 /f && ln -s f /l && mkdir /d",
    ])
    .ok();
    let (status, st) = stat_of(&d, "st", "/f");
    assert_eq!(status, 200);
    let st = st.unwrap();
    assert_eq!(st["name"], "f");
    assert_eq!(st["size"], 5);
    // Go's os.FileMode: setuid is 1<<23.
    assert_eq!(st["mode"], (1u64 << 23) | 0o751);
    assert_eq!(st["linkTarget"], "");
    assert!(st["mtime"].as_str().unwrap().ends_with('Z'));
    let (_, st) = stat_of(&d, "st", "/l");
    let st = st.unwrap();
    assert_eq!(
        (st["name"].as_str(), st["linkTarget"].as_str()),
        (Some("l"), Some("/f"))
    );
    assert_eq!(st["mode"], (1u64 << 27) | 0o777);
    // /tmp: ModeDir | ModeSticky | 0777.
    let (_, st) = stat_of(&d, "st", "/tmp");
    assert_eq!(st.unwrap()["mode"], 2148532735u64);
    let (_, st) = stat_of(&d, "st", "/");
    assert_eq!(st.unwrap()["name"], "/");

    let (status, st) = stat_of(&d, "st", "/nope");
    assert_eq!((status, st), (404, None));
    let msg = |body: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(body).unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (status, head, body) = api(&d, "GET", "/containers/st/archive?path=/nope", b"");
    assert_eq!(status, 404, "{head}");
    assert_eq!(msg(&body), "Could not find the file /nope in container st");
    let (status, head, body) = api(&d, "GET", "/containers/st/archive?path=/f", b"");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("application/x-tar"), "{head}");
    assert_eq!(
        tar_rows(&body, "f")[0]
            .split(' ')
            .take(3)
            .collect::<Vec<_>>(),
        ["f", "4751", "0:0"]
    );
    let tar = raw_tar(&[("x", tar::EntryType::Regular, "", "x")]);
    let (status, _, body) = api(&d, "PUT", "/containers/st/archive?path=/f", &tar);
    assert_eq!(
        (status, msg(&body).as_str()),
        (400, "extraction point is not a directory")
    );
    let (status, _, body) = api(&d, "PUT", "/containers/st/archive?path=/nope", &tar);
    assert_eq!(
        (status, msg(&body).as_str()),
        (404, "Could not find the file /nope in container st")
    );
    let (status, _, body) = api(&d, "PUT", "/containers/st/archive?path=/d", &tar);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = api(&d, "GET", "/containers/nope/archive?path=/", b"");
    assert_eq!(
        (status, msg(&body).as_str()),
        (404, "No such container: nope")
    );
    let (status, _, body) = api(&d, "GET", "/containers/st/archive", b"");
    assert_eq!(
        (status, msg(&body).as_str()),
        (400, "bad parameter: pathcannot be empty")
    );
    // A read-only root refuses, its read-write volume takes the copy.
    d.cli(&[
        "create",
        "--name",
        "ro",
        "--read-only",
        "-v",
        "/rw",
        "busybox",
    ])
    .ok();
    let (status, _, body) = api(&d, "PUT", "/containers/ro/archive?path=/tmp", &tar);
    assert_eq!(
        (status, msg(&body).as_str()),
        (400, "container rootfs is marked read-only")
    );
    let (status, _, _) = api(&d, "PUT", "/containers/ro/archive?path=/rw", &tar);
    assert_eq!(status, 200);
}

#[test]
fn errors_read_as_dockers_with_exit_code_1() {
    dockhand_tests::require_root!();
    let _ = require_docker_cli!();
    let d = Daemon::start();
    d.cli(&[
        "run",
        "--name",
        "errs",
        "busybox",
        "sh",
        "-c",
        "echo x > /file && mkdir /dir",
    ])
    .ok();
    let t = tempfile::tempdir().unwrap();
    local_tree(t.path());
    for args in [
        &["cp", "errs:/nope", "."][..],
        &["cp", "f.txt", "errs:/nope/x"],
        &["cp", "f.txt", "errs:/file/x"],
        &["cp", "d", "errs:/file"],
        &["cp", "f.txt", "errs:/newdir/"],
        &["cp", "/nonexistent-cp-source", "errs:/tmp"],
        &["cp", "errs:/file", "/nonexistent-cp-dir/x"],
        &["cp", "errs:/dir", "f.txt"],
        &["cp", "errs:/file", "other:/x"],
        &["cp", "a", "b"],
        &["cp", "nope:/etc", "."],
        // Refused before any of it is extracted: the client still hears why.
        &["cp", "d", "nope:/x"],
    ] {
        let a = ours(&d, t.path(), args);
        let b = via(&d, Via::Docker, t.path(), args);
        assert_eq!(a.code(), 1, "{args:?}: {}", a.stderr());
        assert_eq!(b.code(), 1, "{args:?}: {}", b.stderr());
        // The docker CLI may add a log line of its own aborted tar writer.
        let last = |r: &Run| r.stderr().trim().lines().last().unwrap_or("").to_string();
        assert_eq!(last(&a), last(&b), "{args:?}");
    }
    let r = via_stdin(&d, Via::Dockhand, &["cp", "-", "errs:/file"], b"");
    assert_eq!(
        (r.code(), r.stderr().trim()),
        (1, "destination \"errs:/file\" must be a directory")
    );
}

#[test]
fn a_terminal_shows_dockers_summary_line() {
    dockhand_tests::require_root!();
    let _ = require_docker_cli!();
    let d = Daemon::start();
    d.cli(&[
        "run",
        "--name",
        "sum",
        "busybox",
        "sh",
        "-c",
        "echo 12345 > /five",
    ])
    .ok();
    let t = tempfile::tempdir().unwrap();
    for (who, name) in [(Via::Dockhand, "ours"), (Via::Docker, "docker")] {
        let dst = t.path().join(name);
        let dst = dst.to_str().unwrap();
        let mut p = who.pty(&d, &["cp", "sum:/five", dst]);
        // One 512-byte header, one data block, two end blocks.
        p.want(
            &format!("Successfully copied 2.05kB to {dst}"),
            Duration::from_secs(30),
        );
        assert_eq!(p.wait(Duration::from_secs(30)), Some(0));
        let mut p = who.pty(&d, &["cp", dst, "sum:/tmp/"]);
        p.want(
            "Successfully copied 2.05kB to sum:/tmp/",
            Duration::from_secs(30),
        );
        assert_eq!(p.wait(Duration::from_secs(30)), Some(0));
        let mut p = who.pty(&d, &["cp", "-q", "sum:/five", &format!("{dst}-q")]);
        assert_eq!(p.wait(Duration::from_secs(30)), Some(0));
        assert!(!p.screen().contains("Successfully"), "{}", p.screen());
    }
    // Without a terminal: quiet.
    let r = ours(&d, t.path(), &["cp", "sum:/five", "plain"]);
    assert_eq!((r.code(), r.stderr()), (0, String::new()));
}

#[test]
fn a_virtual_hosts_copies_keep_the_ids_inside_its_range() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["host", "create", "cpvh"]).ok();
    let sock = d
        .cli(&["host", "inspect", "-f", "{{.Socket}}", "cpvh"])
        .ok();
    let base: u64 = d
        .cli(&["host", "inspect", "-f", "{{.UidBase}}", "cpvh"])
        .ok()
        .parse()
        .unwrap();
    let vh = |args: &[&str]| {
        let mut cmd = std::process::Command::new(dockhand_tests::bin());
        cmd.arg("-H").arg(format!("unix://{sock}")).args(args);
        dockhand_tests::run_command(cmd, None, Duration::from_secs(120))
    };
    let id = vh(&["create", "--name", "vc", "busybox", "sleep", "600"]).ok();
    let t = tempfile::tempdir().unwrap();
    local_tree(t.path());
    let f = t.path().join("f.txt");
    // Stopped, then running.
    vh(&["cp", f.to_str().unwrap(), "vc:/tmp/stopped.txt"]).ok();
    vh(&["start", "vc"]).ok();
    vh(&["cp", f.to_str().unwrap(), "vc:/tmp/running.txt"]).ok();
    let ls = vh(&["exec", "vc", "ls", "-ln", "/tmp"]).ok();
    for name in ["stopped.txt", "running.txt"] {
        let row = ls
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{ls}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!((cols[2], cols[3]), ("1234", "5678"), "{row}");
        // On the machine: the virtual host's range.
        let upper = d
            .root
            .join("daemons/cpvh/containers")
            .join(&id)
            .join("upper/tmp")
            .join(name);
        let m = std::fs::metadata(&upper).unwrap();
        assert_eq!((m.uid() as u64, m.gid() as u64), (base + 1234, base + 5678));
    }
    // And out again as the ids inside.
    let r = vh(&["cp", "vc:/tmp/running.txt", "-"]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert!(tar_rows(&r.out.stdout, "x")[0].contains(" 1234:5678 "));
    let r = vh(&["cp", "vc:/etc/passwd", "-"]);
    assert!(tar_rows(&r.out.stdout, "x")[0].contains(" 0:0 "));
}
