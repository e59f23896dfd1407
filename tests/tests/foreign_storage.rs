//! Storage that is not ours stays as it is (issue 24): a bind volume's device
//! directory, the source of a bind mount, a filesystem mounted inside a volume or
//! at the data root, and files somebody else put in the data root. Each test makes
//! the foreign object first, then drives every removal path at it and checks that
//! it is still there with its content.

use dockhand_tests::{bin, require_docker_cli, Daemon, Run};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// Every file under `dir` with its content (directories as `DIR`), to compare a
/// foreign tree before and after.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for e in std::fs::read_dir(dir).expect("read foreign dir").flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_path_buf();
            if e.file_type().unwrap().is_dir() {
                out.insert(rel, "DIR".into());
                walk(base, &p, out);
            } else {
                out.insert(rel, std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A directory tree of somebody else's: two files, one in a subdirectory.
fn foreign_tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("precious"), "not dockhand's\n").unwrap();
    std::fs::write(dir.join("sub/deep"), "deep\n").unwrap();
    snapshot(dir)
}

/// The filesystem type mounted exactly at `path`, if any.
fn mounted_at(path: &Path) -> Option<String> {
    let path = std::fs::canonicalize(path).ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (Path::new(left.split(' ').nth(4)?) == path)
            .then(|| right.split(' ').next().unwrap_or_default().to_string())
    })
}

/// A mount the test made; detached on drop, also when the test fails.
struct Mount(PathBuf);

impl Mount {
    fn new(source: &str, target: &Path, fstype: Option<&str>, flags: libc::c_ulong) -> Mount {
        let src = CString::new(source).unwrap();
        let dst = CString::new(target.as_os_str().to_str().unwrap()).unwrap();
        let fs = fstype.map(|t| CString::new(t).unwrap());
        // SAFETY: mount(2) with valid C strings (or null for the type).
        let r = unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                fs.as_ref().map_or(std::ptr::null(), |f| f.as_ptr()),
                flags,
                std::ptr::null(),
            )
        };
        assert_eq!(
            r,
            0,
            "mount {source} on {}: {}",
            target.display(),
            std::io::Error::last_os_error()
        );
        Mount(target.to_path_buf())
    }

    fn tmpfs(target: &Path) -> Mount {
        Mount::new("tmpfs", target, Some("tmpfs"), 0)
    }

    fn bind(source: &Path, target: &Path) -> Mount {
        Mount::new(source.to_str().unwrap(), target, None, libc::MS_BIND)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Ok(c) = CString::new(self.0.as_os_str().to_str().unwrap_or_default()) {
            // SAFETY: umount2 with a path string we own.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

fn bind_opts(device: &Path) -> Vec<String> {
    vec![
        "-o".into(),
        "type=none".into(),
        "-o".into(),
        "o=bind".into(),
        "-o".into(),
        format!("device={}", device.display()),
    ]
}

fn create_bind_volume(d: &Daemon, name: Option<&str>, device: &Path) -> String {
    let opts = bind_opts(device);
    let mut args: Vec<&str> = vec!["volume", "create"];
    args.extend(opts.iter().map(String::as_str));
    args.extend(name);
    d.cli(&args).ok()
}

fn volume_names(d: &Daemon) -> Vec<String> {
    d.cli(&["volume", "ls", "-q"])
        .ok()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_bind_volume_is_its_device_and_no_removal_path_deletes_the_device() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let device = d.dir.path().join("foreign-device");
    let before = foreign_tree(&device);

    assert_eq!(create_bind_volume(&d, Some("bvol"), &device), "bvol");
    // inspect: Docker's Mountpoint under the data root, the options as given.
    let mp = d
        .cli(&["volume", "inspect", "-f", "{{.Mountpoint}}", "bvol"])
        .ok();
    assert!(mp.ends_with("/volumes/bvol/_data"), "{mp}");
    assert!(mp.starts_with(&d.root.display().to_string()), "{mp}");
    let opts = d
        .cli(&["volume", "inspect", "-f", "{{json .Options}}", "bvol"])
        .ok();
    let opts: serde_json::Value = serde_json::from_str(&opts).unwrap();
    assert_eq!(
        opts,
        serde_json::json!({"type": "none", "o": "bind", "device": device.display().to_string()})
    );

    // A container sees the device's content and writes into it.
    assert_eq!(
        d.cli(&[
            "run",
            "--rm",
            "-v",
            "bvol:/data",
            "busybox",
            "cat",
            "/data/sub/deep"
        ])
        .ok(),
        "deep"
    );
    d.cli(&[
        "run",
        "--rm",
        "-v",
        "bvol:/data",
        "busybox",
        "sh",
        "-c",
        "echo written > /data/from-container",
    ])
    .ok();
    assert_eq!(
        std::fs::read_to_string(device.join("from-container")).unwrap(),
        "written\n"
    );
    assert!(
        std::fs::read_dir(&mp).unwrap().next().is_none(),
        "the volume's own _data stays empty: the device is bound straight in"
    );
    let before = {
        let mut b = before;
        b.insert("from-container".into(), "written\n".into());
        b
    };

    // volume rm: the record and the volume's own directory go, the device stays.
    assert_eq!(d.cli(&["volume", "rm", "bvol"]).ok(), "bvol");
    assert!(!Path::new(&mp).parent().unwrap().exists());
    assert_eq!(snapshot(&device), before, "volume rm");

    // volume prune -a.
    create_bind_volume(&d, Some("bvol"), &device);
    let out = d.cli(&["volume", "prune", "-a", "-f"]).ok();
    assert!(out.contains("bvol"), "{out}");
    assert!(volume_names(&d).is_empty());
    assert_eq!(snapshot(&device), before, "volume prune -a");

    // system prune -a --volumes with a stopped container that used an anonymous
    // bind volume: the container and the volume go, the device stays.
    let anon = create_bind_volume(&d, None, &device);
    let spec = format!("{anon}:/data");
    d.cli(&["run", "--name", "user", "-v", &spec, "busybox", "true"])
        .ok();
    let out = d.cli(&["system", "prune", "-a", "--volumes", "-f"]).ok();
    assert!(d.cli(&["ps", "-aq"]).ok().is_empty(), "the prune ran");
    assert!(out.contains(&anon), "the volume was pruned: {out}");
    assert!(!volume_names(&d).contains(&anon));
    assert_eq!(snapshot(&device), before, "system prune -a --volumes");

    // Anonymous ones (no name: labelled anonymous), which `rm -v` and
    // `run --rm` take along.
    let anon = create_bind_volume(&d, None, &device);
    assert_eq!(anon.len(), 64, "{anon}");
    let spec = format!("{anon}:/data");
    d.cli(&["run", "--name", "cc", "-v", &spec, "busybox", "ls", "/data"])
        .ok();
    d.cli(&["rm", "-v", "cc"]).ok();
    assert!(!volume_names(&d).contains(&anon), "rm -v took the volume");
    assert_eq!(snapshot(&device), before, "rm -v");

    let anon = create_bind_volume(&d, None, &device);
    let spec = format!("{anon}:/data");
    d.cli(&["run", "--rm", "-v", &spec, "busybox", "ls", "/data"])
        .ok();
    assert!(
        !volume_names(&d).contains(&anon),
        "run --rm took the volume"
    );
    assert_eq!(snapshot(&device), before, "run --rm");

    // volume prune (anonymous only).
    create_bind_volume(&d, None, &device);
    d.cli(&["volume", "prune", "-f"]).ok();
    assert!(volume_names(&d).is_empty());
    assert_eq!(snapshot(&device), before, "volume prune");
}

#[test]
fn local_volume_options_are_checked_and_a_missing_device_fails_the_start() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let r = d.cli(&["volume", "create", "-o", "foo=1", "bad"]);
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(
        r.stderr()
            .contains(r#"Error response from daemon: create bad: invalid option: "foo""#),
        "{}",
        r.stderr()
    );
    let r = d.cli(&["volume", "create", "-o", "type=none", "-o", "o=bind", "bad"]);
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(
        r.stderr()
            .contains(r#"create bad: missing required option: "device""#),
        "{}",
        r.stderr()
    );
    assert!(
        volume_names(&d).is_empty(),
        "nothing is made for bad options"
    );

    // Accepted at create (as Docker does); mounting it fails, with Docker's
    // words and its CLI's exit code for "no such file or directory".
    let missing = d.dir.path().join("no-such-device");
    create_bind_volume(&d, Some("gone"), &missing);
    let r = d.cli(&["run", "--rm", "-v", "gone:/data", "busybox", "true"]);
    assert_eq!(r.code(), 127, "{}", r.stderr());
    let err = r.stderr();
    assert!(err.contains("error while mounting volume '"), "{err}");
    assert!(err.contains("failed to mount local volume"), "{err}");
    assert!(err.contains("no such file or directory"), "{err}");
    assert!(!missing.exists(), "a device is never created");
    // A plain volume is unaffected.
    d.cli(&["run", "--rm", "-v", "plain:/data", "busybox", "true"])
        .ok();
}

#[test]
fn docker_cli_bind_volumes_by_volume_create_and_by_mount_volume_opt() {
    dockhand_tests::require_root!();
    require_docker_cli!();
    let d = Daemon::start();
    let r = d.docker(&["volume", "create", "-o", "foo=1", "bad"]);
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(
        r.stderr()
            .contains(r#"Error response from daemon: create bad: invalid option: "foo""#),
        "{}",
        r.stderr()
    );
    let device = d.dir.path().join("foreign-device");
    let before = foreign_tree(&device);
    let opts = bind_opts(&device);
    let mut args: Vec<&str> = vec!["volume", "create"];
    args.extend(opts.iter().map(String::as_str));
    args.push("dv");
    assert_eq!(d.docker(&args).ok(), "dv");
    assert_eq!(
        d.docker(&[
            "run",
            "--rm",
            "-v",
            "dv:/data",
            "busybox",
            "cat",
            "/data/precious"
        ])
        .ok(),
        "not dockhand's"
    );
    let mount = format!(
        "type=volume,src=mv,dst=/data,volume-opt=type=none,volume-opt=o=bind,volume-opt=device={}",
        device.display()
    );
    assert_eq!(
        d.docker(&[
            "run",
            "--rm",
            "--mount",
            &mount,
            "busybox",
            "cat",
            "/data/sub/deep"
        ])
        .ok(),
        "deep"
    );
    let opts = d
        .docker(&["volume", "inspect", "-f", "{{.Options.device}}", "mv"])
        .ok();
    assert_eq!(opts, device.display().to_string());
    let missing = d.dir.path().join("no-such-device");
    let opts = bind_opts(&missing);
    let mut args: Vec<&str> = vec!["volume", "create"];
    args.extend(opts.iter().map(String::as_str));
    args.push("gone");
    d.docker(&args).ok();
    let r = d.docker(&["run", "--rm", "-v", "gone:/data", "busybox", "true"]);
    assert_eq!(r.code(), 127, "{}", r.stderr());
    assert!(
        r.stderr().contains("no such file or directory"),
        "{}",
        r.stderr()
    );
    d.docker(&["volume", "rm", "dv", "mv", "gone"]).ok();
    assert_eq!(snapshot(&device), before, "docker volume rm");
    // An anonymous bind volume (no name) of a stopped container: system prune
    // removes the container, then the volume pruner the volume.
    let opts = bind_opts(&device);
    let mut args: Vec<&str> = vec!["volume", "create"];
    args.extend(opts.iter().map(String::as_str));
    let anon = d.docker(&args).ok();
    let spec = format!("{anon}:/data");
    d.docker(&["run", "--name", "user", "-v", &spec, "busybox", "true"])
        .ok();
    let out = d.docker(&["system", "prune", "-a", "--volumes", "-f"]).ok();
    assert!(out.contains(&anon), "{out}");
    assert!(volume_names(&d).is_empty());
    assert_eq!(
        snapshot(&device),
        before,
        "docker system prune -a --volumes"
    );
    assert!(!missing.exists());
}

#[test]
fn image_content_is_copied_into_a_bind_volume_only_when_its_device_is_empty() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // Not empty: left as it is, and the container sees only the device's files.
    let full = d.dir.path().join("full");
    let before = foreign_tree(&full);
    create_bind_volume(&d, Some("full"), &full);
    let ls = d
        .cli(&["run", "--rm", "-v", "full:/etc", "busybox", "ls", "/etc"])
        .ok();
    assert_eq!(
        ls.split_whitespace().collect::<Vec<_>>(),
        ["precious", "sub"]
    );
    assert_eq!(snapshot(&full), before);
    // Empty: filled from the image on first mount, as Docker does.
    let empty = d.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    create_bind_volume(&d, Some("empty"), &empty);
    let first = d
        .cli(&[
            "run",
            "--rm",
            "-v",
            "empty:/etc",
            "busybox",
            "head",
            "-1",
            "/etc/passwd",
        ])
        .ok();
    assert!(first.starts_with("root:"), "{first}");
    assert!(empty.join("passwd").exists());
    // nocopy: not filled.
    let nocopy = d.dir.path().join("nocopy");
    std::fs::create_dir(&nocopy).unwrap();
    create_bind_volume(&d, Some("nocopy"), &nocopy);
    d.cli(&["run", "--rm", "-v", "nocopy:/etc:nocopy", "busybox", "true"])
        .ok();
    assert!(std::fs::read_dir(&nocopy).unwrap().next().is_none());
}

#[test]
fn a_filesystem_mounted_inside_a_volume_is_never_deleted_across() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let foreign = d.dir.path().join("foreign");
    let before = foreign_tree(&foreign);
    d.cli(&["volume", "create", "held"]).ok();
    let data = PathBuf::from(
        d.cli(&["volume", "inspect", "-f", "{{.Mountpoint}}", "held"])
            .ok(),
    );
    // Somebody binds their directory onto the volume's _data on the machine.
    let bound = Mount::bind(&foreign, &data);
    // And a tmpfs deeper inside another volume.
    d.cli(&[
        "run",
        "--rm",
        "-v",
        "deep:/d",
        "busybox",
        "mkdir",
        "-p",
        "/d/sub/mnt",
    ])
    .ok();
    let deep = PathBuf::from(
        d.cli(&["volume", "inspect", "-f", "{{.Mountpoint}}", "deep"])
            .ok(),
    )
    .join("sub/mnt");
    let tmpfs = Mount::tmpfs(&deep);
    std::fs::write(deep.join("on-tmpfs"), "theirs").unwrap();

    for name in ["held", "deep"] {
        let r = d.cli(&["volume", "rm", name]);
        assert_eq!(r.code(), 1, "{}", r.stderr());
        assert!(
            r.stderr().contains("is a mount point") && r.stderr().contains("unmount it first"),
            "{}",
            r.stderr()
        );
    }
    d.cli(&["volume", "prune", "-a", "-f"]).ok();
    d.cli(&["system", "prune", "-a", "--volumes", "-f"]).ok();
    let mut names = volume_names(&d);
    names.sort();
    assert_eq!(
        names,
        ["deep", "held"],
        "both stay while something is mounted"
    );
    assert_eq!(snapshot(&foreign), before);
    assert_eq!(
        std::fs::read_to_string(deep.join("on-tmpfs")).unwrap(),
        "theirs"
    );
    assert!(mounted_at(&data).is_some(), "the bind is still in place");
    assert!(mounted_at(&deep).is_some_and(|t| t == "tmpfs"));

    // Unmounted, they go; what was mounted is untouched.
    drop(bound);
    drop(tmpfs);
    assert_eq!(d.cli(&["volume", "rm", "held", "deep"]).ok(), "held\ndeep");
    assert_eq!(snapshot(&foreign), before);
}

#[test]
fn bind_mount_sources_survive_rm_v_run_rm_and_every_prune() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let host = d.dir.path().join("host-dir");
    let before = foreign_tree(&host);
    let spec = format!("{}:/x", host.display());
    let mount = format!("type=bind,src={},dst=/x", host.display());

    d.cli(&["run", "--name", "ca", "-v", &spec, "busybox", "ls", "/x"])
        .ok();
    d.cli(&["rm", "-v", "ca"]).ok();
    assert_eq!(snapshot(&host), before, "rm -v of a -v bind");
    d.cli(&[
        "run", "--name", "cb", "--mount", &mount, "busybox", "ls", "/x",
    ])
    .ok();
    d.cli(&["rm", "-v", "cb"]).ok();
    assert_eq!(snapshot(&host), before, "rm -v of a --mount bind");
    d.cli(&["run", "--rm", "-v", &spec, "busybox", "ls", "/x"])
        .ok();
    d.cli(&["run", "--rm", "--mount", &mount, "busybox", "ls", "/x"])
        .ok();
    assert_eq!(snapshot(&host), before, "run --rm");
    // Stopped containers with binds (and an anonymous volume), then the prunes.
    d.cli(&[
        "run", "--name", "cc", "-v", &spec, "-v", "/anon", "busybox", "true",
    ])
    .ok();
    d.cli(&[
        "create", "--name", "ce", "--mount", &mount, "busybox", "true",
    ])
    .ok();
    d.cli(&["system", "prune", "-a", "--volumes", "-f"]).ok();
    assert!(d.cli(&["ps", "-aq"]).ok().is_empty(), "the prune ran");
    assert_eq!(snapshot(&host), before, "system prune -a --volumes");
    d.cli(&["run", "--name", "cf", "-v", &spec, "busybox", "true"])
        .ok();
    d.cli(&["volume", "prune", "-a", "-f"]).ok();
    d.cli(&["rm", "-f", "-v", "cf"]).ok();
    d.cli(&["volume", "prune", "-a", "-f"]).ok();
    assert_eq!(snapshot(&host), before, "volume prune -a");
}

#[test]
fn a_data_root_that_is_a_mount_point_stays_mounted() {
    dockhand_tests::require_root!();
    let t = tempfile::Builder::new()
        .prefix("dockhand-test-root-")
        .tempdir()
        .unwrap();
    let root = t.path().join("root");
    std::fs::create_dir(&root).unwrap();
    // Dropped after the daemon (declared before it): unmounted even on failure.
    let _tmpfs = Mount::tmpfs(&root);
    std::fs::write(root.join("foreign-file"), "theirs").unwrap();
    let mut d = Daemon::start_on(root.clone());
    let still = |what: &str| {
        assert_eq!(
            mounted_at(&root).as_deref(),
            Some("tmpfs"),
            "the data root's tmpfs after {what}"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("foreign-file")).unwrap(),
            "theirs",
            "after {what}"
        );
    };
    d.cli(&[
        "run", "--name", "cc", "-v", "vol:/d", "-v", "/anon", "busybox", "true",
    ])
    .ok();
    d.cli(&["rm", "-v", "cc"]).ok();
    d.cli(&["run", "--rm", "-v", "/anon", "busybox", "true"])
        .ok();
    still("rm -v and run --rm");
    d.cli(&["volume", "prune", "-a", "-f"]).ok();
    still("volume prune -a");
    d.cli(&["run", "--name", "cs", "busybox", "true"]).ok();
    d.cli(&["system", "prune", "-a", "--volumes", "-f"]).ok();
    d.cli(&["image", "prune", "-a", "-f"]).ok();
    still("system prune -a --volumes and image prune -a");
    d.terminate();
    still("SIGTERM");
    d.restart();
    d.cli(&["run", "--rm", "busybox", "true"]).ok();
    still("a restart");
    d.terminate();
    still("a second SIGTERM");
    d.restart();
}

#[test]
fn foreign_files_in_the_data_root_survive_prune_and_restart() {
    dockhand_tests::require_root!();
    let t = tempfile::Builder::new()
        .prefix("dockhand-test-root-")
        .tempdir()
        .unwrap();
    let root = t.path().join("root");
    // Made before the daemon ever ran on this root.
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("foreign-file"), "theirs").unwrap();
    let top = foreign_tree(&root.join("foreign-dir"));
    let volumes = root.join("daemons/default/volumes");
    // A valid volume name, but no volume.json: not a volume of ours.
    let in_volumes = foreign_tree(&volumes.join("stranger"));
    std::fs::create_dir_all(volumes.join("stranger2/_data")).unwrap();
    std::fs::write(volumes.join("stranger2/_data/f"), "x").unwrap();
    let in_volumes2 = snapshot(&volumes.join("stranger2"));
    // Not named like a container of ours, where containers live.
    let in_containers = foreign_tree(&root.join("daemons/default/containers/not-a-container"));
    let mut d = Daemon::start_on(root.clone());
    let check = |what: &str| {
        assert_eq!(
            std::fs::read_to_string(root.join("foreign-file")).unwrap(),
            "theirs",
            "after {what}"
        );
        assert_eq!(snapshot(&root.join("foreign-dir")), top, "after {what}");
        assert_eq!(
            snapshot(&volumes.join("stranger")),
            in_volumes,
            "after {what}"
        );
        assert_eq!(
            snapshot(&volumes.join("stranger2")),
            in_volumes2,
            "after {what}"
        );
        assert_eq!(
            snapshot(&root.join("daemons/default/containers/not-a-container")),
            in_containers,
            "after {what}"
        );
    };
    assert!(volume_names(&d).is_empty(), "not listed");
    let r = d.cli(&["volume", "inspect", "stranger"]);
    assert_ne!(r.code(), 0);
    let r = d.cli(&["volume", "rm", "stranger"]);
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("no such volume"), "{}", r.stderr());
    d.cli(&["volume", "rm", "-f", "stranger"]).ok();
    check("volume rm");
    // Not taken over by a volume of that name either (whose rm would then
    // delete what it holds).
    for name in ["stranger", "stranger2"] {
        let r = d.cli(&["volume", "create", name]);
        assert_eq!(r.code(), 1, "{}", r.stdout());
        assert!(
            r.stderr().contains("is not a volume Dockhand made"),
            "{}",
            r.stderr()
        );
        let spec = format!("{name}:/d");
        let r = d.cli(&["run", "--rm", "-v", &spec, "busybox", "true"]);
        assert_ne!(r.code(), 0);
    }
    check("volume create");
    d.cli(&["run", "--name", "cc", "-v", "mine:/d", "busybox", "true"])
        .ok();
    d.cli(&["rm", "cc"]).ok();
    d.cli(&["volume", "prune", "-a", "-f"]).ok();
    assert!(volume_names(&d).is_empty(), "our own volume went");
    check("volume prune -a");
    d.cli(&["run", "--name", "cs", "-v", "/anon", "busybox", "true"])
        .ok();
    d.cli(&["system", "prune", "-a", "--volumes", "-f"]).ok();
    d.cli(&["image", "prune", "-a", "-f"]).ok();
    check("system prune -a --volumes and image prune -a");
    d.restart();
    check("a restart after SIGKILL");
    d.terminate();
    d.restart();
    check("a restart after SIGTERM");
    d.cli(&["volume", "prune", "-f"]).ok();
    assert_eq!(volume_names(&d), Vec::<String>::new());
    check("volume prune");
}

/// Our CLI against virtual host `name`'s own Docker API socket.
fn vh(d: &Daemon, name: &str, args: &[&str]) -> Run {
    let sock = d.cli(&["host", "inspect", "-f", "{{.Socket}}", name]).ok();
    let out = std::process::Command::new(bin())
        .arg("-H")
        .arg(format!("unix://{sock}"))
        .args(args)
        .output()
        .expect("run cli");
    Run { out }
}

#[test]
fn a_bind_volume_in_a_virtual_host_is_a_directory_of_the_virtual_host() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // A directory of the machine's, which the virtual host must not reach.
    let machine = d.dir.path().join("machine-only");
    let before = foreign_tree(&machine);
    d.cli(&["host", "create", "vh1"]).ok();
    let sh = |script: &str| d.cli(&["host", "exec", "vh1", "--", "sh", "-c", script]);
    sh("mkdir -p /srv/dev && echo inside > /srv/dev/f").ok();
    let create = |name: &str, device: &str| {
        let dev = format!("device={device}");
        vh(
            &d,
            "vh1",
            &[
                "volume",
                "create",
                "-o",
                "type=none",
                "-o",
                "o=bind",
                "-o",
                &dev,
                name,
            ],
        )
        .ok()
    };
    create("hostdir", "/srv/dev");
    create("escape", machine.to_str().unwrap());
    assert_eq!(
        vh(
            &d,
            "vh1",
            &["run", "--rm", "-v", "hostdir:/d", "busybox", "cat", "/d/f"]
        )
        .ok(),
        "inside"
    );
    let r = vh(
        &d,
        "vh1",
        &["run", "--rm", "-v", "escape:/d", "busybox", "ls", "/d"],
    );
    assert_ne!(
        r.code(),
        0,
        "the machine's directory is not the virtual host's"
    );
    assert!(
        r.stderr().contains("bind source path") && r.stderr().contains("No such file"),
        "{}",
        r.stderr()
    );
    assert!(!r.stdout().contains("precious"), "{}", r.stdout());
    let probe = format!("test -e {}", machine.display());
    assert_ne!(sh(&probe).code(), 0, "the device was not created inside");
    vh(&d, "vh1", &["volume", "rm", "hostdir", "escape"]).ok();
    assert_eq!(sh("cat /srv/dev/f").ok(), "inside");
    assert_eq!(snapshot(&machine), before);
}

#[test]
fn our_cli_system_prune_volumes_removes_unused_anonymous_volumes_only() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["volume", "create", "keep"]).ok();
    d.cli(&["run", "--name", "anon", "-v", "/data", "busybox", "true"])
        .ok();
    let anon = d
        .cli(&["inspect", "-f", "{{(index .Mounts 0).Name}}", "anon"])
        .ok();
    d.cli(&["rm", "anon"]).ok();
    let out = d.cli(&["system", "prune", "--volumes", "-f"]).ok();
    assert!(out.contains("Deleted Volumes:"), "{out}");
    assert!(out.contains(&anon), "{out}");
    let left = d.cli(&["volume", "ls", "-q"]).ok();
    assert!(left.lines().any(|l| l == "keep"), "{left}");
    assert!(!left.contains(&anon), "{left}");
}
