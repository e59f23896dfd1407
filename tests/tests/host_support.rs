//! What the daemon says about the machine it runs on: the cgroup version and
//! driver `info` reports, and the start-up check that names a kernel feature
//! virtual hosts need and the machine lacks. These run on the machine and in
//! the guests of scripts/vm-test (pure cgroup v2, Debian's 6.1 kernel), where
//! the answers differ.

use dockhand_tests::{Daemon, Run};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// "2" when /sys/fs/cgroup is a cgroup2 filesystem, else "1" (v1 or hybrid).
fn machine_cgroup_version() -> &'static str {
    let out = Command::new("stat")
        .args(["-fc", "%T", "/sys/fs/cgroup"])
        .output()
        .expect("stat");
    if String::from_utf8_lossy(&out.stdout).trim() == "cgroup2fs" {
        "2"
    } else {
        "1"
    }
}

/// The running kernel's (major, minor).
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn info_reports_the_machines_cgroup_version_and_driver() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let want = format!("{} cgroupfs", machine_cgroup_version());
    assert_eq!(
        d.cli(&["info", "-f", "{{.CgroupVersion}} {{.CgroupDriver}}"])
            .ok(),
        want
    );
    // The limits the end-to-end tests use (memory, CPU quota, pids) work on
    // any machine they pass on, so docker's warnings about them stay away
    // (swap and cpuset may be off on a machine: those warnings may show).
    let needed = [
        "No memory limit support",
        "No cpu cfs quota support",
        "No pids limit support",
    ];
    let warnings = d.cli(&["info", "-f", "{{json .Warnings}}"]).ok();
    assert!(warnings.starts_with('['), "{warnings}");
    for w in needed {
        assert!(!warnings.contains(w), "{warnings}");
    }
    if dockhand_tests::docker_cli().is_some() {
        let r = d.docker(&["info", "--format", "{{.CgroupVersion}} {{.CgroupDriver}}"]);
        assert_eq!(r.ok(), want);
        let r = d.docker(&["info"]);
        assert!(
            r.stdout()
                .contains(&format!(" Cgroup Version: {}", machine_cgroup_version())),
            "{}",
            r.stdout()
        );
        for w in needed {
            assert!(!r.stderr().contains(w), "{}", r.stderr());
        }
    }
}

/// A tmpfs mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("dockhand-tmpfs-")
            .tempdir()
            .expect("tempdir");
        let r = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256m", "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount");
        assert!(r.success(), "mount -t tmpfs");
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Idmapped mounts on tmpfs came in Linux 6.3: before, the playground refuses
/// a data root there at start-up, naming the feature and the fix, and leaves
/// nothing; from 6.3 on a daemon there runs a virtual host.
#[test]
fn a_data_root_without_idmapped_mounts_is_refused_at_start_up() {
    dockhand_tests::require_root!();
    let fs = Tmpfs::mount();
    let root = fs.path().join("root");
    if kernel_version() >= (6, 3) {
        let d = Daemon::start_on(root.clone());
        let r = d.cli(&["host", "create", "ontmpfs"]);
        assert_eq!(r.code(), 0, "{}\n{}", r.stderr(), d.log());
        let r = d.vhost_cli("ontmpfs", &["run", "--rm", "busybox", "echo", "hi"]);
        assert_eq!(r.stdout().trim(), "hi", "{}", r.stderr());
        d.cli(&["host", "rm", "-f", "ontmpfs"]).ok();
        return;
    }
    let socket = fs.path().join("serve.sock");
    let tag = format!("{:04x}", std::process::id() & 0xffff);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut cmd = Command::new(dockhand_tests::bin());
    cmd.arg("serve")
        .arg("--data-root")
        .arg(&root)
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(["--bridge", &format!("dhf{tag}"), "--bip", "10.249.7.1/24"])
        .args(["--default-address-pool", "base=10.248.0.0/16,size=24"])
        .args(["--iptables-chain-prefix", &format!("DH-F{tag}")])
        .args(["--network-bridge-prefix", &format!("dhg{tag}")])
        .args(["--playground-bridge", &format!("dhq{tag}")])
        .args(["--playground-subnet", "10.247.0.0/16"])
        .args(["--playground-chain-prefix", &format!("DH-Q{tag}")])
        .args(["--session-bridge-prefix", &format!("dhr{tag}")])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--ui")
        .arg(dockhand_tests::serve::ui_dir());
    let r: Run = dockhand_tests::run_command(cmd, None, Duration::from_secs(60));
    assert_eq!(r.code(), 1, "{}", r.stderr());
    let err = r.stderr();
    assert!(
        err.contains("lacks what virtual hosts need: idmapped mounts on")
            && err.contains("tmpfs needs 6.3"),
        "{err}"
    );
    assert!(!socket.exists(), "no API socket");
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip");
    let links = String::from_utf8_lossy(&links.stdout);
    for bridge in [format!("dhq{tag}"), format!("dhf{tag}")] {
        assert!(!links.contains(&bridge), "no bridge {bridge}: {links}");
    }
    let left: Vec<_> = std::fs::read_dir(&root)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !left
            .iter()
            .any(|n| n.to_string_lossy().starts_with("preflight")),
        "{left:?}"
    );
}

/// Docker's default cgroup namespace: private on cgroup v2 (the container
/// sees its own cgroup as `/`, and its limits at /sys/fs/cgroup), the
/// machine's on v1; `--cgroupns` picks either; exec'd processes join the
/// container's.
#[test]
fn the_cgroup_namespace_follows_dockers_default_and_cgroupns() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let v2 = machine_cgroup_version() == "2";
    let prefix = std::fs::read_to_string(d.root.join("cgroup-prefix")).unwrap();
    let prefix = prefix.trim();
    let own = d
        .cli(&["run", "--rm", "busybox", "cat", "/proc/self/cgroup"])
        .ok();
    let private = d
        .cli(&[
            "run",
            "--rm",
            "--cgroupns",
            "private",
            "busybox",
            "cat",
            "/proc/self/cgroup",
        ])
        .ok();
    let host = d
        .cli(&[
            "run",
            "--rm",
            "--cgroupns",
            "host",
            "busybox",
            "cat",
            "/proc/self/cgroup",
        ])
        .ok();
    // In a private namespace every hierarchy's path is the root.
    assert!(!private.is_empty());
    assert!(private.lines().all(|l| l.ends_with(":/")), "{private}");
    assert!(host.contains(prefix), "{host}");
    if v2 {
        assert_eq!(own, "0::/");
        let r = d.cli(&[
            "run",
            "--rm",
            "-m",
            "64m",
            "busybox",
            "cat",
            "/sys/fs/cgroup/memory.max",
        ]);
        assert_eq!(r.ok(), (64 << 20).to_string());
        // Read-only, as under dockerd.
        let r = d.cli(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo 1 > /sys/fs/cgroup/pids.max",
        ]);
        assert_ne!(r.code(), 0);
        assert!(
            r.stderr().contains("Read-only file system"),
            "{}",
            r.stderr()
        );
    } else {
        assert!(own.contains(prefix), "v1: the machine's namespace: {own}");
    }
    d.cli(&["run", "-d", "--name", "ns", "busybox", "sleep", "300"])
        .ok();
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.HostConfig.CgroupnsMode}}", "ns"])
            .ok(),
        if v2 { "private" } else { "host" }
    );
    let exec = d.cli(&["exec", "ns", "cat", "/proc/self/cgroup"]).ok();
    assert_eq!(exec == "0::/", v2, "{exec}");
    let r = d.cli(&["run", "--rm", "--cgroupns", "bogus", "busybox", "true"]);
    assert_eq!(r.code(), 125);
    assert!(
        r.stderr().contains("invalid cgroup namespace mode: bogus"),
        "{}",
        r.stderr()
    );
    assert_eq!(
        d.cli(&["ps", "-aq"]).ok().lines().count(),
        1,
        "nothing made of the bad run"
    );
}

/// A virtual host's containers get cgroups below the host's own, so its caps
/// bound them; their limits are their own, and `docker stats` inside shows them.
#[test]
fn a_virtual_hosts_container_limits_nest_under_its_caps() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    assert_eq!(
        d.cli(&["host", "create", "--memory", "512m", "nest"]).ok(),
        "nest"
    );
    let vh = |args: &[&str]| d.vhost_cli("nest", args).ok();
    let id = vh(&[
        "run", "-d", "--name", "lim", "-m", "64m", "busybox", "sleep", "300",
    ]);
    let (limit_file, host_limit) = if machine_cgroup_version() == "2" {
        ("memory.max", (512u64 << 20).to_string())
    } else {
        ("memory.limit_in_bytes", (512u64 << 20).to_string())
    };
    let dir = d
        .leftover_cgroups()
        .into_iter()
        .find(|p| p.ends_with(&id) && p.join(limit_file).exists())
        .expect("the container's memory cgroup");
    assert!(dir.parent().unwrap().ends_with("nest"), "{}", dir.display());
    let read = |p: &Path| {
        std::fs::read_to_string(p.join(limit_file))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read(&dir), (64u64 << 20).to_string());
    assert_eq!(read(dir.parent().unwrap()), host_limit);
    let usage = vh(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "lim"]);
    assert!(usage.ends_with("/ 64MiB"), "{usage}");
    if machine_cgroup_version() == "2" {
        assert_eq!(vh(&["exec", "lim", "cat", "/proc/self/cgroup"]), "0::/");
    }
    d.cli(&["host", "rm", "-f", "nest"]).ok();
}

/// A `--network host` container shares the machine's /sys read-only, with
/// everything mounted below it: its cgroup trees cannot be written either.
#[test]
fn host_network_containers_see_sys_and_its_cgroups_read_only() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    for dir in ["/sys/fs/cgroup", "/sys/kernel"] {
        let probe = format!("{dir}/dockhand-probe");
        let r = d.cli(&[
            "run",
            "--rm",
            "--network",
            "host",
            "busybox",
            "mkdir",
            &probe,
        ]);
        assert_ne!(r.code(), 0, "{dir} is writable");
        assert!(
            r.stderr().contains("Read-only file system"),
            "{}",
            r.stderr()
        );
        assert!(!Path::new(&probe).exists());
    }
}
