//! The local image workflow end to end: commit, diff, save/load between data roots,
//! export/import (file and URL), system df and prune, hostile and truncated
//! archives, and interop with real Docker (dockerd 20.10) and skopeo when present.

use dockhand_tests::dockerd::RealDockerd;
use dockhand_tests::Daemon;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256_hex(path: &Path) -> String {
    sh(&format!("sha256sum '{}'", path.display()))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Names in `<root>/layers` (extracted layers), ignoring temporaries.
fn layer_dirs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("layers"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Our CLI's stdout when it is larger than a pipe buffer (the harness reads output
/// only after the process exits).
fn large_stdout(d: &Daemon, args: &[&str]) -> Vec<u8> {
    let out = Command::new(dockhand_tests::bin())
        .arg("-H")
        .arg(d.host_uri())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn image_ids(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = d
        .cli(&["images", "-q", "--no-trunc"])
        .ok()
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A container with files added, changed, deleted, hard-linked; stopped.
fn changed_container(d: &Daemon, name: &str) {
    d.cli(&[
        "run",
        "--name",
        name,
        "busybox",
        "sh",
        "-c",
        "echo new > /etc/added; echo changed >> /etc/passwd; rm /bin/ls; \
         mkdir -p /data/sub && echo x > /data/sub/f && ln /data/sub/f /data/hard && \
         rm -rf /usr && mkfifo /data/fifo",
    ])
    .ok();
}

#[test]
fn commit_keeps_changes_deletions_and_config_and_prints_the_id() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    changed_container(&d, "c1");
    let diff = d.cli(&["diff", "c1"]).ok();
    for want in [
        "A /etc/added",
        "C /etc/passwd",
        "D /bin/ls",
        "A /data/sub/f",
        "A /data/hard",
        "D /usr",
        "C /etc",
    ] {
        assert!(diff.lines().any(|l| l == want), "{want} missing in\n{diff}");
    }
    // Untagged: the sha256 ID is printed.
    let id = d.cli(&["commit", "c1"]).ok();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let dangling = d
        .cli(&["images", "-f", "dangling=true", "-q", "--no-trunc"])
        .ok();
    assert_eq!(dangling, id);
    // Named, with -c changes, author and message.
    let id2 = d
        .cli(&[
            "commit",
            "-a",
            "Ann <ann@example.com>",
            "-m",
            "my change",
            "-c",
            "ENV FOO=bar",
            "-c",
            "CMD [\"sh\", \"-c\", \"echo $FOO; cat /etc/added\"]",
            "-c",
            "WORKDIR /data",
            "-c",
            "LABEL team=blue",
            "-c",
            "EXPOSE 8080",
            "-c",
            "USER 0",
            "c1",
            "committed",
        ])
        .ok();
    assert!(id2.starts_with("sha256:"), "{id2}");
    let inspected = d
        .cli(&[
            "image",
            "inspect",
            "-f",
            "{{.Author}}|{{.Comment}}|{{json .Config.Env}}|{{.Config.WorkingDir}}|{{.Config.Labels.team}}|{{json .Config.ExposedPorts}}|{{len .RootFS.Layers}}",
            "committed:latest",
        ])
        .ok();
    assert!(
        inspected.starts_with("Ann <ann@example.com>|my change|")
            && inspected.contains("FOO=bar")
            && inspected.contains("|/data|blue|{\"8080/tcp\":{}}|2"),
        "{inspected}"
    );
    let hist = d
        .cli(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.Comment}}",
            "committed",
        ])
        .ok();
    assert_eq!(hist.lines().next(), Some("my change"), "{hist}");
    // The new image runs with the changes; deletions stay deleted.
    assert_eq!(d.cli(&["run", "--rm", "committed"]).ok(), "bar\nnew");
    let r = d.cli(&[
        "run",
        "--rm",
        "committed",
        "sh",
        "-c",
        "test ! -e /bin/ls && test ! -e /usr && tail -1 /etc/passwd && \
         stat -c %h /data/hard && test -p /data/fifo && pwd",
    ]);
    assert_eq!(r.ok(), "changed\n2\n/data");
    // Committing twice the same changes stores that layer once.
    let before = layer_dirs(&d.root);
    d.cli(&["commit", "c1", "again:v1"]).ok();
    assert_eq!(layer_dirs(&d.root), before);
}

#[test]
fn commit_pauses_a_running_container_and_leaves_it_running() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo live > /live; sleep 1000",
    ])
    .ok();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !d.cli(&["diff", "live"]).stdout().contains("A /live") {
        assert!(Instant::now() < deadline, "no change seen");
        std::thread::sleep(Duration::from_millis(50));
    }
    d.cli(&["commit", "live", "snap:1"]).ok();
    d.cli(&["commit", "--pause=false", "live", "snap:2"]).ok();
    let state = d.cli(&["inspect", "-f", "{{.State.Status}}", "live"]).ok();
    assert_eq!(state, "running");
    assert_eq!(
        d.cli(&["run", "--rm", "snap:1", "cat", "/live"]).ok(),
        "live"
    );
    assert_eq!(
        d.cli(&["run", "--rm", "snap:2", "cat", "/live"]).ok(),
        "live"
    );
    let r = d.cli(&["commit", "nosuch"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("No such container: nosuch"),
        "{}",
        r.stderr()
    );
}

#[test]
fn save_and_load_round_trip_between_two_data_roots_in_every_compression() {
    dockhand_tests::require_root!();
    let a = Daemon::start();
    changed_container(&a, "c1");
    let id = a
        .cli(&[
            "commit",
            "-c",
            "CMD [\"cat\", \"/etc/added\"]",
            "c1",
            "mine:v1",
        ])
        .ok();
    a.cli(&["tag", "mine:v1", "other/name:two"]).ok();
    // Named .tar.gz as in the course, but a plain tar as Docker writes it.
    let file = a.dir.path().join("my-images.tar.gz");
    a.cli(&[
        "save",
        "-o",
        file.to_str().unwrap(),
        "mine:v1",
        "other/name:two",
        "busybox",
    ])
    .ok();
    let listing = sh(&format!("tar tf '{}'", file.display()));
    for want in [
        "index.json",
        "manifest.json",
        "oci-layout",
        "repositories",
        "blobs/sha256/",
    ] {
        assert!(listing.lines().any(|l| l == want), "{want} in\n{listing}");
    }
    // Saving to stdout gives the same bytes.
    let out = large_stdout(&a, &["save", "mine:v1", "other/name:two", "busybox"]);
    let from_file = std::fs::read(&file).unwrap();
    assert!(
        out == from_file,
        "save to stdout differs: {} vs {} bytes",
        out.len(),
        from_file.len()
    );
    let r = a.cli(&["save", "-o", "/dev/null", "nosuch:tag"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("No such image: nosuch:tag"),
        "{}",
        r.stderr()
    );

    let b = Daemon::start();
    let loaded = b.cli(&["load", "-i", file.to_str().unwrap()]).ok();
    assert_eq!(
        loaded,
        "Loaded image: mine:v1\nLoaded image: other/name:two\nLoaded image: busybox:latest"
    );
    assert_eq!(b.cli(&["images", "-q", "--no-trunc", "mine:v1"]).ok(), id);
    assert_eq!(b.cli(&["run", "--rm", "mine:v1"]).ok(), "new");
    b.cli(&[
        "run",
        "--rm",
        "other/name:two",
        "sh",
        "-c",
        "test ! -e /bin/ls",
    ])
    .ok();
    // Compressed forms and stdin, quietly, after removing the image.
    for (tool, quiet) in [("gzip", false), ("bzip2", true), ("xz", false)] {
        b.cli(&["rmi", "mine:v1", "other/name:two"]).ok();
        let z = b.dir.path().join(format!("imgs.{tool}"));
        sh(&format!(
            "{tool} -c '{}' > '{}'",
            file.display(),
            z.display()
        ));
        let data = std::fs::read(&z).unwrap();
        let args: &[&str] = if quiet { &["load", "-q"] } else { &["load"] };
        let out = b.cli_stdin(args, Some(&data)).ok();
        assert!(out.contains("Loaded image: mine:v1"), "{tool}: {out}");
        assert_eq!(b.cli(&["run", "--rm", "mine:v1"]).ok(), "new");
    }
    // Untagged images load by ID.
    let untagged = a.cli(&["commit", "c1"]).ok();
    let f2 = a.dir.path().join("untagged.tar");
    a.cli(&["save", "-o", f2.to_str().unwrap(), &untagged]).ok();
    assert_eq!(
        b.cli(&["load", "-i", f2.to_str().unwrap()]).ok(),
        format!("Loaded image ID: {untagged}")
    );
}

#[test]
fn two_images_sharing_a_base_store_it_once_and_df_shows_it() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let base_layers = layer_dirs(&d.root);
    assert_eq!(base_layers.len(), 1);
    for (name, content) in [("one", "1"), ("two", "2")] {
        d.cli(&[
            "run",
            "--name",
            name,
            "busybox",
            "sh",
            "-c",
            &format!("echo {content} > /f"),
        ])
        .ok();
        d.cli(&["commit", name, &format!("img{name}")]).ok();
    }
    let layers = layer_dirs(&d.root);
    assert_eq!(
        layers.len(),
        3,
        "base once plus one layer per commit: {layers:?}"
    );
    assert!(layers.contains(&base_layers[0]));
    let df = d.cli(&["system", "df"]).ok();
    let mut lines = df.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    );
    let images: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&images[..3], ["Images", "3", "1"], "{df}");
    let base_size = std::fs::metadata(d.root.join("blobs/sha256").join(&base_layers[0]))
        .unwrap()
        .len();
    // Total is the base once (plus two tiny layers), not three times.
    let size = d
        .cli(&["system", "df", "--format", "{{.Type}} {{.Size}}"])
        .ok();
    let mb: f64 = size
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("Images ")
        .trim_end_matches("MB")
        .parse()
        .unwrap();
    assert!(
        mb * 1e6 < base_size as f64 * 1.1,
        "{size} vs base {base_size}"
    );
    let verbose = d.cli(&["system", "df", "-v"]).ok();
    assert!(verbose.contains("SHARED SIZE"), "{verbose}");
    // rmi keeps the shared base; prune -a removes images without containers.
    d.cli(&["rmi", "imgone"]).ok();
    assert!(layer_dirs(&d.root).contains(&base_layers[0]));
    d.cli(&["rm", "one", "two"]).ok();
    let pruned = d.cli(&["image", "prune", "-a", "-f"]).ok();
    assert!(pruned.contains("untagged: imgtwo:latest"), "{pruned}");
    assert!(pruned.contains("Total reclaimed space:"), "{pruned}");
    assert!(image_ids(&d).is_empty());
    assert!(layer_dirs(&d.root).is_empty());
}

#[test]
fn image_and_system_prune_remove_dangling_images_and_stopped_containers() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["run", "--name", "s1", "busybox", "touch", "/x"])
        .ok();
    let dangling = d.cli(&["commit", "s1"]).ok();
    let out = d.cli(&["image", "prune", "-f"]).ok();
    assert!(out.contains(&format!("deleted: {dangling}")), "{out}");
    d.cli(&["commit", "s1"]).ok();
    let r = d.cli_stdin(&["system", "prune"], Some(b"n\n"));
    assert!(r.ok().contains("WARNING! This will remove:"));
    assert_eq!(d.cli(&["ps", "-aq"]).ok().lines().count(), 1);
    let out = d.cli(&["system", "prune", "-f"]).ok();
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.contains("Deleted Images:"), "{out}");
    assert!(d.cli(&["ps", "-aq"]).ok().is_empty());
    // busybox is tagged: kept without -a.
    assert_eq!(image_ids(&d).len(), 1);
    // The real docker CLI calls every pruner (networks, build cache too).
    if dockhand_tests::docker_cli().is_some() {
        d.cli(&["run", "--name", "s2", "busybox", "true"]).ok();
        let out = d.docker(&["system", "prune", "-f"]).ok();
        assert!(out.contains("Deleted Containers:"), "{out}");
        let df = d.docker(&["system", "df"]).ok();
        assert!(df.starts_with("TYPE"), "{df}");
    } else {
        dockhand_tests::say_skipped("docker CLI part (not installed)");
    }
}

/// Serve `data` once over HTTP on a loopback port.
fn serve_once(data: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/rootfs.tar", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut req = Vec::new();
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            req.extend_from_slice(&buf[..n]);
        }
        assert!(req.starts_with(b"GET /rootfs.tar "));
        write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            data.len()
        )
        .unwrap();
        s.write_all(&data).unwrap();
    });
    (url, h)
}

#[test]
fn export_then_import_from_a_file_stdin_and_a_url() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    changed_container(&d, "c1");
    let tar = d.dir.path().join("fs.tar");
    d.cli(&["export", "-o", tar.to_str().unwrap(), "c1"]).ok();
    let listing = sh(&format!("tar tf '{}'", tar.display()));
    let names: Vec<&str> = listing.lines().map(|l| l.trim_end_matches('/')).collect();
    for want in ["etc/added", "bin/busybox", "data/hard", "etc/hosts", "proc"] {
        assert!(names.contains(&want), "{want} missing");
    }
    assert!(!names.contains(&"bin/ls") && !names.iter().any(|n| n.starts_with("usr")));
    assert!(!names.iter().any(|n| n.contains(".wh.")));
    // Export to stdout is the same archive.
    let streamed = large_stdout(&d, &["export", "c1"]);
    assert!(
        streamed == std::fs::read(&tar).unwrap(),
        "export to stdout differs ({} bytes)",
        streamed.len()
    );
    let id = d
        .cli(&[
            "import",
            "-c",
            "CMD [\"cat\", \"/etc/added\"]",
            "-m",
            "flat",
            tar.to_str().unwrap(),
            "flat:1",
        ])
        .ok();
    assert!(id.starts_with("sha256:"));
    assert_eq!(d.cli(&["run", "--rm", "flat:1"]).ok(), "new");
    let comment = d
        .cli(&["image", "inspect", "-f", "{{.Comment}}", "flat:1"])
        .ok();
    assert_eq!(comment, "flat");
    let data = std::fs::read(&tar).unwrap();
    let (url, server) = serve_once(data);
    let out = d.cli(&["import", &url, "fromurl:1"]).ok();
    server.join().unwrap();
    assert!(out.lines().last().unwrap().starts_with("sha256:"), "{out}");
    assert_eq!(
        d.cli(&["run", "--rm", "fromurl:1", "cat", "/etc/added"])
            .ok(),
        "new"
    );
}

// ----- hostile and broken archives ---------------------------------------------

/// A raw ustar entry, whatever its name (the tar tools refuse to write hostile ones).
fn raw_entry(out: &mut Vec<u8>, name: &str, kind: u8, link: &str, data: &[u8]) {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn finish(mut v: Vec<u8>) -> Vec<u8> {
    v.extend_from_slice(&[0u8; 1024]);
    v
}

/// A Docker 20.10-style archive of one image with one layer.
fn legacy_archive(dir: &Path, layer: &[u8], extra: &[(&str, u8, &str, &[u8])]) -> PathBuf {
    let lp = dir.join("layer.tmp");
    std::fs::write(&lp, layer).unwrap();
    let diff = sha256_hex(&lp);
    let cfg = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{diff}"]}}}}"#
    );
    let manifest =
        r#"[{"Config":"config.json","RepoTags":["hostile:1"],"Layers":["abc/layer.tar"]}]"#;
    let mut ar = Vec::new();
    for (n, k, l, d) in extra {
        raw_entry(&mut ar, n, *k, l, d);
    }
    raw_entry(&mut ar, "abc/layer.tar", b'0', "", layer);
    raw_entry(&mut ar, "config.json", b'0', "", cfg.as_bytes());
    raw_entry(&mut ar, "manifest.json", b'0', "", manifest.as_bytes());
    let p = dir.join(format!("legacy-{}.tar", rand_suffix()));
    std::fs::write(&p, finish(ar)).unwrap();
    p
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn assert_refused(d: &Daemon, file: &Path, want: &str) {
    let before = (image_ids(d), layer_dirs(&d.root));
    let r = d.cli(&["load", "-i", file.to_str().unwrap()]);
    assert_ne!(r.code(), 0, "accepted: {}", r.stdout());
    assert!(
        r.stderr().to_lowercase().contains(want),
        "want {want:?} in {}",
        r.stderr()
    );
    assert_eq!(
        (image_ids(d), layer_dirs(&d.root)),
        before,
        "partial image left"
    );
    let tmp: Vec<_> = std::fs::read_dir(d.root.join("tmp"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "staging left behind: {tmp:?}");
}

#[test]
fn hostile_archives_never_write_outside_the_store() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let outside = d.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let out_s = outside
        .to_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string();

    // 1. An archive entry climbing out of the archive.
    let mut layer = Vec::new();
    raw_entry(&mut layer, "hello", b'0', "", b"hi\n");
    let layer = finish(layer);
    let evil_name = format!("../../../../../../{out_s}/pwned");
    let f = legacy_archive(d.dir.path(), &layer, &[(&evil_name, b'0', "", b"x")]);
    assert_refused(&d, &f, "outside");

    // 2. A layer entry climbing out of the layer.
    let mut bad_layer = Vec::new();
    raw_entry(
        &mut bad_layer,
        &format!("../../../../../../../{out_s}/pwned2"),
        b'0',
        "",
        b"x",
    );
    let f = legacy_archive(d.dir.path(), &finish(bad_layer), &[]);
    assert_refused(&d, &f, "outside");

    // 3. A layer symlink to an absolute path outside, then a file through it: it
    //    lands inside the layer, as a chroot would resolve it.
    let mut sym_layer = Vec::new();
    raw_entry(&mut sym_layer, "evil", b'2', outside.to_str().unwrap(), b"");
    raw_entry(&mut sym_layer, "evil/pwned3", b'0', "", b"x");
    raw_entry(&mut sym_layer, "up", b'2', "../../../../../../../..", b"");
    raw_entry(
        &mut sym_layer,
        &format!("up/{out_s}/pwned4"),
        b'0',
        "",
        b"x",
    );
    let f = legacy_archive(d.dir.path(), &finish(sym_layer), &[]);
    let _ = d.cli(&["load", "-i", f.to_str().unwrap()]);

    // 4. An archive-level symlink pointing out of the archive for a layer.
    let f = {
        let mut ar = Vec::new();
        raw_entry(&mut ar, "abc/layer.tar", b'2', "/etc/passwd", b"");
        raw_entry(
            &mut ar,
            "manifest.json",
            b'0',
            "",
            br#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["abc/layer.tar"]}]"#,
        );
        raw_entry(&mut ar, "c.json", b'0', "", br#"{"rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#);
        let p = d.dir.path().join("symlink-out.tar");
        std::fs::write(&p, finish(ar)).unwrap();
        p
    };
    assert_refused(&d, &f, "missing");

    let left: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().collect();
    assert!(left.is_empty(), "files written outside: {left:?}");
    assert!(!Path::new("/pwned").exists() && !Path::new("/pwned2").exists());
}

#[test]
fn truncated_and_corrupt_archives_are_refused_and_leave_nothing() {
    dockhand_tests::require_root!();
    let a = Daemon::start();
    a.cli(&[
        "run",
        "--name",
        "cbig",
        "busybox",
        "sh",
        "-c",
        "head -c 300000 /dev/urandom > /big",
    ])
    .ok();
    a.cli(&["commit", "cbig", "big:1"]).ok();
    let file = a.dir.path().join("big.tar");
    a.cli(&["save", "-o", file.to_str().unwrap(), "big:1"]).ok();
    let data = std::fs::read(&file).unwrap();

    let b = Daemon::start();
    // Truncated in the middle of the blobs: index and manifest are missing.
    let t = b.dir.path().join("trunc.tar");
    std::fs::write(&t, &data[..data.len() / 2]).unwrap();
    assert_refused(&b, &t, "truncated");
    // Truncated gzip.
    let gz = b.dir.path().join("full.tar.gz");
    sh(&format!(
        "gzip -c '{}' > '{}'",
        file.display(),
        gz.display()
    ));
    let gzdata = std::fs::read(&gz).unwrap();
    let tg = b.dir.path().join("trunc.tar.gz");
    std::fs::write(&tg, &gzdata[..gzdata.len() * 2 / 3]).unwrap();
    assert_refused(&b, &tg, "");
    // One byte of the new layer flipped: its digest no longer matches.
    let hex = a
        .cli(&[
            "image",
            "inspect",
            "-f",
            "{{index .RootFS.Layers 1}}",
            "big:1",
        ])
        .ok();
    let hex = hex.trim_start_matches("sha256:");
    let listing = sh(&format!("tar tvf '{}'", file.display()));
    assert!(listing.contains(hex));
    let needle = format!("blobs/sha256/{hex}");
    let pos = data
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap();
    let mut bad = data.clone();
    let at = pos - pos % 512 + 512 + 100_000;
    bad[at] ^= 0xff;
    let c = b.dir.path().join("corrupt.tar");
    std::fs::write(&c, &bad).unwrap();
    assert_refused(&b, &c, "digest");
    // Not an archive at all.
    let n = b.dir.path().join("garbage.tar");
    std::fs::write(
        &n,
        b"this is not a tar archive at all, not even close".repeat(20),
    )
    .unwrap();
    assert_refused(&b, &n, "");
    // The intact archive still loads after all that.
    assert!(b
        .cli(&["load", "-i", file.to_str().unwrap()])
        .ok()
        .contains("big:1"));
}

// ----- interop -------------------------------------------------------------------

#[test]
fn our_archives_load_into_real_dockerd_and_theirs_into_ours() {
    dockhand_tests::require_root!();
    let Some(real) = RealDockerd::start() else {
        return;
    };
    let d = Daemon::start();
    changed_container(&d, "c1");
    d.cli(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/etc/added\"]",
        "c1",
        "ours:v1",
    ])
    .ok();
    let file = d.dir.path().join("ours.tar");
    d.cli(&["save", "-o", file.to_str().unwrap(), "ours:v1"])
        .ok();
    let out = real.ok(&["load", "-i", file.to_str().unwrap()]);
    assert!(out.contains("Loaded image: ours:v1"), "{out}");
    assert_eq!(
        real.ok(&["run", "--rm", "--network", "none", "ours:v1"]),
        "new"
    );
    let gone = real.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "ours:v1",
        "ls",
        "/bin/ls",
    ]);
    assert!(
        !gone.status.success(),
        "a deleted file came back in dockerd"
    );
    // The image ID is the same on both sides.
    assert_eq!(
        real.ok(&["image", "inspect", "-f", "{{.Id}}", "ours:v1"]),
        d.cli(&["image", "inspect", "-f", "{{.Id}}", "ours:v1"])
            .ok()
    );

    // Docker's archive (20.10's legacy layout) into ours.
    real.ok(&[
        "run",
        "--name",
        "theirs",
        "--network",
        "none",
        "ours:v1",
        "sh",
        "-c",
        "echo from-docker > /etc/docker-made; rm /etc/added",
    ]);
    real.ok(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/etc/docker-made\"]",
        "theirs",
        "theirs:v2",
    ]);
    let theirs = d.dir.path().join("theirs.tar");
    real.ok(&[
        "save",
        "-o",
        theirs.to_str().unwrap(),
        "theirs:v2",
        "ours:v1",
    ]);
    let out = d.cli(&["load", "-i", theirs.to_str().unwrap()]).ok();
    assert!(out.contains("Loaded image: theirs:v2"), "{out}");
    assert_eq!(d.cli(&["run", "--rm", "theirs:v2"]).ok(), "from-docker");
    assert_ne!(
        d.cli(&["run", "--rm", "theirs:v2", "cat", "/etc/added"])
            .code(),
        0
    );
    // And through our CLI's compressed path.
    let gz = d.dir.path().join("theirs.tgz");
    sh(&format!(
        "gzip -c '{}' > '{}'",
        theirs.display(),
        gz.display()
    ));
    d.cli(&["rmi", "theirs:v2"]).ok();
    assert!(d
        .cli(&["load", "-i", gz.to_str().unwrap()])
        .ok()
        .contains("theirs:v2"));
}

#[test]
fn skopeo_reads_our_archives_as_docker_and_oci() {
    dockhand_tests::require_root!();
    let Some(skopeo) = ["/usr/bin/skopeo", "/usr/local/bin/skopeo"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        dockhand_tests::say_skipped("skopeo is not installed (apt-get install skopeo)");
        return;
    };
    let d = Daemon::start();
    let file = d.dir.path().join("bb.tar");
    d.cli(&["save", "-o", file.to_str().unwrap(), "busybox"])
        .ok();
    let id = d
        .cli(&["image", "inspect", "-f", "{{.Id}}", "busybox"])
        .ok();
    for transport in ["docker-archive", "oci-archive"] {
        let out = Command::new(skopeo)
            .args([
                "inspect",
                "--config",
                &format!("{transport}:{}", file.display()),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{transport}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cfg: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(cfg["rootfs"]["type"], "layers", "{transport}");
        assert_eq!(cfg["config"]["Cmd"][0], "sh", "{transport}");
    }
    // skopeo can copy it into a plain OCI layout, which we load back.
    let oci = d.dir.path().join("oci");
    let st = Command::new(skopeo)
        .args([
            "copy",
            &format!("docker-archive:{}", file.display()),
            &format!("oci:{}:copied", oci.display()),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let oci_tar = d.dir.path().join("oci.tar");
    sh(&format!(
        "tar -C '{}' -cf '{}' .",
        oci.display(),
        oci_tar.display()
    ));
    d.cli(&["rmi", "busybox"]).ok();
    // skopeo rewrites the config when it converts the manifest: a new ID.
    let out = d.cli(&["load", "-i", oci_tar.to_str().unwrap()]).ok();
    let loaded = out.strip_prefix("Loaded image ID: sha256:").expect(&out);
    assert_ne!(loaded, &id[7..]);
    assert_eq!(
        d.cli(&["run", "--rm", &loaded[..12], "echo", "ok"]).ok(),
        "ok"
    );
}

/// `image prune -a` goes through images in ID order; a parent listed before its
/// child refuses to go while the child is there, and is removed on the next
/// pass. The child here is made until its ID sorts after busybox's (about one
/// commit in 26; bounded).
#[test]
fn prune_all_removes_a_parent_listed_before_its_child() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let base = d.cli(&["inspect", "-f", "{{.Id}}", "busybox"]).ok();
    let mut child = None;
    for i in 0..300 {
        let name = format!("c{i}");
        d.cli(&["create", "--name", &name, "busybox", "true"]).ok();
        let id = d.cli(&["commit", &name, "child:latest"]).ok();
        d.cli(&["rm", &name]).ok();
        if id > base {
            child = Some(id);
            break;
        }
    }
    let child = child.expect("a child whose ID sorts after its parent's");
    let ids = image_ids(&d);
    assert!(ids.contains(&base) && ids.contains(&child), "{ids:?}");
    let pruned = d.cli(&["image", "prune", "-a", "-f"]).ok();
    assert!(pruned.contains(&format!("deleted: {base}")), "{pruned}");
    assert!(image_ids(&d).is_empty(), "{pruned}");
}
