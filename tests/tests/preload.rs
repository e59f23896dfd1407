//! Images a trainer brings (`dockhand image preload`, `--preload DIR`): loaded
//! from Docker archives and OCI layouts into the machine's store, visible in
//! every virtual host without being charged to its disk, and a realistic Debian
//! image (debootstrap) running apt, bash and coreutils in a virtual host.

use dockhand_tests::registry::{oci_image, BuiltImage, Compression, ImageSpec, LayerSpec};
use dockhand_tests::{bin, say_skipped, Daemon, Run};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Run our CLI against virtual host `name`'s own Docker API socket.
fn vh(d: &Daemon, name: &str, args: &[&str]) -> Run {
    let sock = d
        .cli(&["host", "inspect", "-f", "{{.Socket}}", name])
        .ok()
        .trim()
        .to_string();
    let mut cmd = Command::new(bin());
    cmd.arg("-H").arg(format!("unix://{sock}")).args(args);
    dockhand_tests::run_command(cmd, None, Duration::from_secs(120))
}

fn create(d: &Daemon, args: &[&str]) {
    let mut a = vec!["host", "create"];
    a.extend_from_slice(args);
    d.cli(&a).ok();
}

/// `dockhand image preload PATHS...` on the machine's socket, unbounded by
/// the harness's 60 s (a large image).
fn preload(d: &Daemon, paths: &[&Path]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.arg("-H").arg(d.host_uri()).args(["image", "preload"]);
    cmd.args(paths);
    dockhand_tests::run_command(cmd, None, Duration::from_secs(300))
}

/// An OCI layout of `spec` in `dir` whose index names the image `ref_name`
/// (`org.opencontainers.image.ref.name`, a full name or a bare tag).
fn oci_layout(dir: &Path, spec: &ImageSpec, ref_name: &str) -> BuiltImage {
    let img = oci_image(dir, spec);
    let p = dir.join("index.json");
    let mut idx: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    idx["manifests"][0]["annotations"] =
        serde_json::json!({ "org.opencontainers.image.ref.name": ref_name });
    std::fs::write(&p, serde_json::to_vec(&idx).unwrap()).unwrap();
    img
}

/// A `docker save` archive at `out` of `spec` named `tag`: the OCI layout
/// plus Docker's `manifest.json`, as Docker 25+ writes it.
fn docker_archive(out: &Path, spec: &ImageSpec, tag: &str) -> BuiltImage {
    let dir = tempfile::tempdir().unwrap();
    let img = oci_image(dir.path(), spec);
    let blob = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
    let manifest = serde_json::json!([{
        "Config": blob(&img.config_digest),
        "RepoTags": [tag],
        "Layers": img.layer_digests().iter().map(|d| blob(d)).collect::<Vec<_>>(),
    }]);
    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    b.append_dir_all(".", dir.path()).unwrap();
    b.finish().unwrap();
    img
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|r| r.flatten().count())
        .unwrap_or(0)
}

#[test]
fn preloaded_images_are_in_every_virtual_host_and_not_charged_to_its_disk() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // A host from before the preload, with a disk smaller than the image.
    create(&d, &["--disk", "32m", "early"]);

    let bundle = tempfile::tempdir().unwrap();
    // A Docker archive of three layers, one of them 40 MB: more than the disk.
    let course = ImageSpec::busybox()
        .layer(LayerSpec::files(&[("/etc/course", b"docker-course\n")]))
        .layer(
            LayerSpec::new()
                .random_file("/data/big", 40 << 20)
                .compression(Compression::None),
        )
        .cmd(&["cat", "/etc/course"]);
    let course_img = docker_archive(&bundle.path().join("course_1.tar"), &course, "course:1");
    // An OCI layout named by a bare tag, its repository from its directory name.
    let web = ImageSpec::busybox()
        .layer(LayerSpec::files(&[(
            "/www/index.html",
            b"hello from web\n",
        )]))
        .cmd(&["cat", "/www/index.html"]);
    let web_img = oci_layout(&bundle.path().join("webapp_2"), &web, "2");
    std::fs::write(bundle.path().join("NOTES.md"), "not an image").unwrap();

    let r = preload(&d, &[bundle.path()]);
    let out = r.ok();
    assert!(out.contains("Loaded image: course:1"), "{out}");
    assert!(out.contains("Loaded image: webapp:2"), "{out}");
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.root.join("preload.json")).unwrap()).unwrap();
    assert_eq!(
        rec["docker.io/library/course:1"], course_img.config_digest,
        "{rec}"
    );
    assert_eq!(rec["docker.io/library/webapp:2"], web_img.config_digest);
    assert!(d.cli(&["images"]).ok().contains("course"));
    let log = d.log();
    assert!(log.contains("preloaded course:1"), "{log}");

    // A host created after the preload.
    create(&d, &["--disk", "32m", "late"]);
    for host in ["early", "late"] {
        let images = vh(
            &d,
            host,
            &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
        )
        .ok();
        assert!(images.contains("course:1"), "{host}: {images}");
        assert!(images.contains("webapp:2"), "{host}: {images}");
        let id = vh(&d, host, &["inspect", "-f", "{{.Id}}", "course:1"]).ok();
        assert_eq!(id, course_img.config_digest);
        assert_eq!(
            vh(&d, host, &["run", "--rm", "course:1"]).ok(),
            "docker-course"
        );
        let page = vh(&d, host, &["run", "--rm", "webapp:2"]).ok();
        assert_eq!(page, "hello from web");
        let hist = vh(&d, host, &["history", "-q", "webapp:2"]).ok();
        assert!(!hist.is_empty(), "{hist}");
        // The big layer is on the machine, not on the host's 32 MB disk.
        let df = vh(
            &d,
            host,
            &["run", "--rm", "course:1", "sh", "-c", "wc -c < /data/big"],
        )
        .ok();
        assert_eq!(df, (40u64 << 20).to_string());
    }

    // Inside the host, its own docker sees them too.
    let inside = d
        .cli(&[
            "host", "exec", "late", "--", "docker", "run", "--rm", "webapp:2",
        ])
        .ok();
    assert_eq!(inside, "hello from web");

    // Not charged: the host can still load an image of its own that fits its
    // disk only if the 40 MB preloaded layer is not counted against it.
    let own = bundle.path().join("own.tar");
    docker_archive(
        &own,
        &ImageSpec::default()
            .layer(
                LayerSpec::new()
                    .random_file("/own", 4 << 20)
                    .compression(Compression::None),
            )
            .cmd(&["true"]),
        "own:1",
    );
    let r = vh(&d, "early", &["load", "-i", own.to_str().unwrap()]);
    assert!(
        r.stdout().contains("Loaded image: own:1"),
        "the preloaded layers were charged to the host's disk: {} {}",
        r.stdout(),
        r.stderr()
    );
    let df = vh(&d, "early", &["system", "df"]).ok();
    assert!(df.contains("Images"), "{df}");

    // rmi in one host leaves the others and the machine alone.
    vh(&d, "early", &["rmi", "course:1"]).ok();
    assert!(!vh(&d, "early", &["images"]).ok().contains("course"));
    assert!(vh(&d, "late", &["images"]).ok().contains("course"));
    assert_eq!(
        vh(&d, "late", &["run", "--rm", "course:1"]).ok(),
        "docker-course"
    );
    assert!(d.cli(&["images"]).ok().contains("course"));
    // Offered once: a later preload of other names does not bring it back.
    let extra = bundle.path().join("extra_1.tar");
    docker_archive(
        &extra,
        &ImageSpec::busybox().cmd(&["echo", "extra"]),
        "extra:1",
    );
    // A relative path is the caller's, made absolute by the CLI.
    let mut cmd = Command::new(bin());
    cmd.current_dir(bundle.path())
        .arg("-H")
        .arg(d.host_uri())
        .args(["image", "preload", "extra_1.tar"]);
    let out = dockhand_tests::run_command(cmd, None, Duration::from_secs(60)).ok();
    assert_eq!(out, "Loaded image: extra:1");
    assert_eq!(vh(&d, "early", &["run", "--rm", "extra:1"]).ok(), "extra");
    assert_eq!(vh(&d, "late", &["run", "--rm", "extra:1"]).ok(), "extra");
    assert!(!vh(&d, "early", &["images"]).ok().contains("course"));
    // A pull of the name (no registry here) takes the preloaded image back.
    let pull = vh(&d, "early", &["pull", "course:1"]).ok();
    assert!(pull.contains("Preloaded on this machine"), "{pull}");
    assert_eq!(
        vh(&d, "early", &["inspect", "-f", "{{.Id}}", "course:1"]).ok(),
        course_img.config_digest
    );
    // And `run` of a name it lacks pulls it the same way.
    vh(&d, "early", &["rmi", "course:1"]).ok();
    assert_eq!(
        vh(&d, "early", &["run", "--rm", "course:1"]).ok(),
        "docker-course"
    );

    // A virtual host cannot preload.
    let r = vh(&d, "late", &["image", "preload", extra.to_str().unwrap()]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("machine's daemon socket only"),
        "{}",
        r.stderr()
    );
}

#[test]
fn a_broken_archive_fails_clearly_and_leaves_nothing() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    create(&d, &["--disk", "32m", "vh1"]);
    let bundle = tempfile::tempdir().unwrap();
    let good = bundle.path().join("good_1.tar");
    docker_archive(
        &good,
        &ImageSpec::busybox()
            .layer(LayerSpec::files(&[("/good", b"1")]))
            .cmd(&["cat", "/good"]),
        "good:1",
    );
    preload(&d, &[&good]).ok();
    let blobs = count(&d.root.join("blobs/sha256"));
    let layers = count(&d.root.join("layers"));
    let record = std::fs::read(d.root.join("preload.json")).unwrap();
    let images = d.cli(&["images", "-q"]).ok();

    // Truncated within a new layer.
    let whole = bundle.path().join("whole.tar");
    docker_archive(
        &whole,
        &ImageSpec::busybox()
            .layer(
                LayerSpec::new()
                    .random_file("/bad", 2 << 20)
                    .compression(Compression::None),
            )
            .cmd(&["true"]),
        "bad:1",
    );
    let data = std::fs::read(&whole).unwrap();
    let cut = bundle.path().join("bad_1.tar");
    std::fs::write(&cut, &data[..data.len() - (1 << 20)]).unwrap();
    let r = preload(&d, &[&cut]);
    assert_eq!(r.code(), 1, "{}", r.stdout());
    let err = r.stderr();
    assert!(err.contains(cut.to_str().unwrap()), "{err}");
    assert!(err.contains("invalid"), "{err}");
    // A path that is not there, and a directory without images.
    let r = preload(&d, &[&bundle.path().join("missing.tar")]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("missing.tar"), "{}", r.stderr());
    let empty = tempfile::tempdir().unwrap();
    let r = preload(&d, &[empty.path()]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("no image archives"), "{}", r.stderr());

    assert_eq!(count(&d.root.join("blobs/sha256")), blobs);
    assert_eq!(count(&d.root.join("layers")), layers);
    assert_eq!(std::fs::read(d.root.join("preload.json")).unwrap(), record);
    assert_eq!(d.cli(&["images", "-q"]).ok(), images);
    assert_eq!(count(&d.root.join("tmp")), 0, "staging left behind");
    assert!(!vh(&d, "vh1", &["images"]).ok().contains("bad"));
    assert!(vh(&d, "vh1", &["images"]).ok().contains("good"));
}

#[test]
fn a_daemon_started_with_preload_has_the_images_and_a_bad_path_stops_it() {
    dockhand_tests::require_root!();
    let bundle = tempfile::tempdir().unwrap();
    docker_archive(
        &bundle.path().join("boot_1.tar"),
        &ImageSpec::busybox().cmd(&["echo", "booted"]),
        "boot:1",
    );
    let dir = bundle.path().to_str().unwrap().to_string();
    let d = Daemon::start_with(&["--preload", &dir]);
    assert!(d.cli(&["images"]).ok().contains("boot"));
    create(&d, &["--disk", "32m", "vb"]);
    assert_eq!(vh(&d, "vb", &["run", "--rm", "boot:1"]).ok(), "booted");
    assert!(d.log().contains("preloaded boot:1"), "{}", d.log());
    drop(d);

    // A bad path at start: the daemon exits non-zero, saying which.
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["daemon", "--no-networking", "--data-root"])
        .arg(root.path().join("root"))
        .arg("-H")
        .arg(format!("unix://{}", root.path().join("d.sock").display()))
        .args(["--preload", "/nonexistent/bundle"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--preload") && err.contains("/nonexistent/bundle"),
        "{err}"
    );
    assert!(!root.path().join("d.sock").exists());
    assert!(!root.path().join("root").exists(), "nothing made");

    // A broken archive at start: found while loading, the daemon stops too.
    let cut = bundle.path().join("broken_1.tar");
    let data = std::fs::read(bundle.path().join("boot_1.tar")).unwrap();
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let data_root = root.path().join("root2");
    let out = Command::new(bin())
        .args(["daemon", "--no-networking", "--data-root"])
        .arg(&data_root)
        .arg("-H")
        .arg(format!("unix://{}", root.path().join("d2.sock").display()))
        .arg("--preload")
        .arg(&cut)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    remove_cgroups(&data_root);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("--preload: {}: invalid", cut.display())),
        "{err}"
    );
    assert!(!root.path().join("d2.sock").exists());
    assert!(!data_root.join("preload.json").exists());
    assert!(count_busybox(&data_root) > 0);
    assert_eq!(
        count(&data_root.join("blobs/sha256")),
        count_busybox(&data_root)
    );
}

/// Blobs of the machine's own busybox image (its layer, config and manifest).
fn count_busybox(data_root: &Path) -> usize {
    let idx: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data_root.join("daemons/default/images.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    idx["images"]
        .as_object()
        .map(|m| {
            m.values()
                .map(|i| i["layers"].as_array().map_or(0, |l| l.len()) + 2)
                .sum()
        })
        .unwrap_or(0)
}

/// The cgroup directories a daemon that failed at start made for `data_root`.
fn remove_cgroups(data_root: &Path) {
    let Ok(prefix) = std::fs::read_to_string(data_root.join("cgroup-prefix")) else {
        return;
    };
    let prefix = prefix.trim();
    if prefix.is_empty() || prefix.contains('/') {
        return;
    }
    fn rmdir_tree(dir: &Path) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_tree(&e.path());
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        roots.push(e.path());
    }
    for r in roots {
        let d = r.join(prefix);
        if d.is_dir() {
            rmdir_tree(&d);
        }
    }
}

// ----- a realistic Debian image -----------------------------------------------

const CACHE: &str = "/var/cache/dockhand-tests";

/// The Debian mirror this machine's apt uses.
fn debian_mirror() -> String {
    let mut texts = vec![std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default()];
    for e in std::fs::read_dir("/etc/apt/sources.list.d")
        .into_iter()
        .flatten()
        .flatten()
    {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "sources" || x == "list") {
            texts.push(std::fs::read_to_string(&p).unwrap_or_default());
        }
    }
    for t in &texts {
        for line in t.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let uri = match words.first() {
                Some(&"URIs:") => words.get(1),
                Some(&"deb") => words.iter().skip(1).find(|w| !w.starts_with('[')),
                _ => None,
            };
            if let Some(u) = uri {
                if u.trim_end_matches('/').ends_with("/debian") {
                    return u.trim_end_matches('/').to_string();
                }
            }
        }
    }
    "http://deb.debian.org/debian".to_string()
}

/// A tar of a `debootstrap --variant=minbase bookworm` root (no device nodes,
/// no downloaded packages), cached across runs; `Err` says why there is none.
fn debootstrap_tar() -> Result<PathBuf, String> {
    if std::env::var_os("DOCKHAND_TEST_NO_DEBOOTSTRAP").is_some() {
        return Err("DOCKHAND_TEST_NO_DEBOOTSTRAP is set".into());
    }
    let cached = Path::new(CACHE).join("debian-bookworm-minbase.tar");
    if cached.is_file() {
        return Ok(cached);
    }
    let Some(tool) = ["/usr/sbin/debootstrap", "/usr/bin/debootstrap"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        return Err("debootstrap is not installed (scripts/install-deps --test)".into());
    };
    std::fs::create_dir_all(CACHE).map_err(|e| format!("{CACHE}: {e}"))?;
    let work = tempfile::Builder::new()
        .prefix("debootstrap-")
        .tempdir_in(CACHE)
        .map_err(|e| e.to_string())?;
    let rootfs = work.path().join("rootfs");
    let mirror = debian_mirror();
    let mut cmd = Command::new(tool);
    cmd.args(["--variant=minbase", "bookworm"])
        .arg(&rootfs)
        .arg(&mirror);
    let r = dockhand_tests::run_command(cmd, None, Duration::from_secs(240));
    if r.code() != 0 {
        let log =
            std::fs::read_to_string(rootfs.join("debootstrap/debootstrap.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        return Err(format!(
            "debootstrap from {mirror} failed: {} {}",
            r.stderr().trim(),
            tail.join(" | ")
        ));
    }
    let tmp = work.path().join("rootfs.tar");
    let out = Command::new("tar")
        .args(["--numeric-owner", "--xattrs", "-C"])
        .arg(&rootfs)
        .args([
            "--exclude=./dev/*",
            "--exclude=./proc/*",
            "--exclude=./sys/*",
            "--exclude=./var/cache/apt/archives/*.deb",
            "-cf",
        ])
        .arg(&tmp)
        .arg(".")
        .output()
        .map_err(|e| format!("tar: {e}"))?;
    if !out.status.success() {
        return Err(format!("tar: {}", String::from_utf8_lossy(&out.stderr)));
    }
    std::fs::rename(&tmp, &cached).map_err(|e| e.to_string())?;
    Ok(cached)
}

/// A layer of the machine's own bash, ls and apt-get with the libraries they
/// load, at the paths the machine has them: the fallback when debootstrap
/// cannot run.
fn machine_files_tar(out: &Path) {
    let progs = [
        "/bin/bash",
        "/bin/sh",
        "/bin/ls",
        "/bin/cat",
        "/usr/bin/apt-get",
        "/usr/bin/dpkg",
        "/usr/bin/env",
    ];
    let mut files: Vec<String> = progs.iter().map(|s| s.to_string()).collect();
    for p in progs {
        let ldd = Command::new("ldd").arg(p).output().expect("ldd");
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => line.split_whitespace().next(),
            };
            if let Some(path) = path.filter(|p| p.starts_with('/')) {
                files.push(path.to_string());
            }
        }
    }
    // dpkg's architecture tables, which apt reads.
    for t in ["cputable", "tupletable", "ostable", "abitable"] {
        let p = format!("/usr/share/dpkg/{t}");
        if Path::new(&p).exists() {
            files.push(p);
        }
    }
    files.sort();
    files.dedup();
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    b.follow_symlinks(true);
    for f in &files {
        b.append_path_with_name(f, f.trim_start_matches('/'))
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    // What apt-get needs to know it runs on a dpkg system.
    for d in [
        "tmp",
        "root",
        "etc/apt/apt.conf.d",
        "etc/apt/preferences.d",
        "etc/apt/sources.list.d",
        "var/lib/apt/lists",
        "var/cache/apt",
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o1777);
        h.set_size(0);
        b.append_data(&mut h, d, std::io::empty()).unwrap();
    }
    for f in ["var/lib/dpkg/status", "var/lib/dpkg/available"] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(0);
        b.append_data(&mut h, f, std::io::empty()).unwrap();
    }
    b.finish().unwrap();
}

fn sha256_file(p: &Path) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut f = std::fs::File::open(p).unwrap();
    std::io::copy(&mut f, &mut h).unwrap();
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// A `docker save` archive of two layers (`base`, then `top`), named `tag`.
fn two_layer_archive(out: &Path, base: &Path, top: &[u8], tag: &str) {
    let diff_ids = [
        sha256_file(base),
        dockhand_tests::registry::sha256_digest(top),
    ];
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["bash"],
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "debootstrap --variant=minbase bookworm"},
            {"created": "2024-01-01T00:00:00Z", "created_by": "COPY dockhand-test /etc/"},
        ],
    });
    let config = serde_json::to_vec(&config).unwrap();
    let cfg_name = format!(
        "{}.json",
        &dockhand_tests::registry::sha256_digest(&config)[7..]
    );
    let l0 = format!("{}/layer.tar", &diff_ids[0][7..]);
    let l1 = format!("{}/layer.tar", &diff_ids[1][7..]);
    let manifest = serde_json::json!([{"Config": cfg_name, "RepoTags": [tag], "Layers": [l0, l1]}]);
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    add(&cfg_name, &config);
    add(&l1, top);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.append_path_with_name(base, &l0).unwrap();
    b.finish().unwrap();
}

#[test]
fn a_debian_image_runs_apt_bash_and_coreutils_in_a_virtual_host() {
    dockhand_tests::require_root!();
    let work = tempfile::tempdir().unwrap();
    let (base, what) = match debootstrap_tar() {
        Ok(p) => (p, "debootstrap"),
        Err(why) => {
            say_skipped(&format!(
                "no Debian image from debootstrap ({why}): building the two-layer image from the machine's own bash, coreutils and apt instead"
            ));
            let p = work.path().join("machine.tar");
            machine_files_tar(&p);
            (p, "machine files")
        }
    };
    let mut top = tar::Builder::new(Vec::new());
    let text = b"preloaded by the trainer\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(text.len() as u64);
    h.set_mode(0o644);
    top.append_data(&mut h, "etc/dockhand-test", &text[..])
        .unwrap();
    let top = top.into_inner().unwrap();
    let archive = work.path().join("debian-test_latest.tar");
    two_layer_archive(&archive, &base, &top, "debian-test:latest");

    let d = Daemon::start();
    let out = preload(&d, &[&archive]).ok();
    assert!(out.contains("Loaded image: debian-test:latest"), "{out}");
    create(&d, &["deb"]);
    let hist = vh(
        &d,
        "deb",
        &["history", "--format", "{{.CreatedBy}}", "debian-test"],
    )
    .ok();
    assert!(hist.contains("COPY dockhand-test"), "{hist}");
    let r = vh(
        &d,
        "deb",
        &[
            "run",
            "--rm",
            "debian-test",
            "bash",
            "-c",
            "apt-get --version && ls --version && cat /etc/dockhand-test && echo ok",
        ],
    );
    let out = r.ok();
    assert!(out.starts_with("apt "), "{what}: {out}");
    assert!(out.contains("ls (GNU coreutils)"), "{what}: {out}");
    assert!(out.contains("preloaded by the trainer"), "{what}: {out}");
    assert!(out.trim_end().ends_with("ok"), "{what}: {out}");
    if what == "debootstrap" {
        let os = vh(
            &d,
            "deb",
            &["run", "--rm", "debian-test", "cat", "/etc/debian_version"],
        )
        .ok();
        assert!(os.starts_with("12."), "{os}");
    }
}

#[test]
fn serve_with_preload_gives_every_instance_the_images() {
    dockhand_tests::require_root!();
    use dockhand_tests::serve::Serve;
    let bundle = tempfile::tempdir().unwrap();
    docker_archive(
        &bundle.path().join("course_1.tar"),
        &ImageSpec::busybox()
            .layer(LayerSpec::files(&[("/etc/course", b"from the bundle\n")]))
            .cmd(&["cat", "/etc/course"]),
        "course:1",
    );
    let dir = bundle.path().to_str().unwrap();
    let serve = Serve::start(&["--preload", dir]);
    let (id, _) = serve.session_with_instance();
    let out = serve.cli(&[
        "host",
        "exec",
        &format!("{id}-node1"),
        "sh",
        "-c",
        "docker run --rm course:1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "from the bundle"
    );
}
