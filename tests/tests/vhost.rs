//! Virtual hosts (issue 7), end to end against the real kernel: isolation between
//! hosts and from the machine, caps, the disk, re-adoption and destroy.

use dockhand_tests::{Daemon, Run};
use std::process::Command;

/// Run our CLI against virtual host `name`'s own Docker API socket.
fn vh(d: &Daemon, name: &str, args: &[&str]) -> Run {
    d.vhost_cli(name, args)
}

/// A shell command run as the virtual host's root.
fn sh(d: &Daemon, name: &str, script: &str) -> Run {
    d.cli(&["host", "exec", name, "--", "sh", "-c", script])
}

fn create(d: &Daemon, args: &[&str]) -> String {
    let mut a = vec!["host", "create"];
    a.extend_from_slice(args);
    d.cli(&a).ok().trim().to_string()
}

fn httpd(d: &Daemon, host: &str, text: &str) {
    vh(
        d,
        host,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "-p",
            "8080:80",
            "busybox",
            "sh",
            "-c",
            &format!("mkdir /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www"),
        ],
    )
    .ok();
}

/// GET / from the machine (bounded in time), as the playground's proxy would.
fn http_get(ip: &str, port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = format!("{ip}:{port}").parse().ok()?;
    for _ in 0..50 {
        if let Ok(mut s) =
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2))
        {
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(3)));
            s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if !out.is_empty() {
                return Some(out);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    None
}

fn ip_of(d: &Daemon, name: &str) -> String {
    d.cli(&["host", "inspect", "-f", "{{.IPAddress}}", name])
        .ok()
        .trim()
        .to_string()
}

#[test]
fn two_hosts_use_the_same_names_and_ports_and_see_only_their_own_things() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let a = create(&d, &["vha"]);
    let b = create(&d, &["vhb"]);
    assert_eq!((a.as_str(), b.as_str()), ("vha", "vhb"));
    httpd(&d, "vha", "from-a");
    httpd(&d, "vhb", "from-b");
    // Same name, same published port, no conflict; each answers on its own eth0.
    let (ia, ib) = (ip_of(&d, "vha"), ip_of(&d, "vhb"));
    assert_ne!(ia, ib);
    assert!(http_get(&ia, 8080).expect("a answers").contains("from-a"));
    assert!(http_get(&ib, 8080).expect("b answers").contains("from-b"));
    // Containers, image tags, networks, volumes: each host sees only its own.
    let ida = vh(&d, "vha", &["inspect", "-f", "{{.Id}}", "web"]).ok();
    let psb = vh(&d, "vhb", &["ps", "-a", "--no-trunc", "-q"]).ok();
    assert!(!psb.contains(ida.trim()), "b sees a's container: {psb}");
    vh(&d, "vha", &["tag", "busybox", "only-in-a:v1"]).ok();
    vh(&d, "vha", &["network", "create", "net-a"]).ok();
    vh(&d, "vha", &["volume", "create", "vol-a"]).ok();
    assert!(vh(&d, "vha", &["images"]).ok().contains("only-in-a"));
    assert!(!vh(&d, "vhb", &["images"]).ok().contains("only-in-a"));
    assert!(!vh(&d, "vhb", &["network", "ls"]).ok().contains("net-a"));
    assert!(!vh(&d, "vhb", &["volume", "ls"]).ok().contains("vol-a"));
    // The machine's own host does not see them either.
    assert!(!d.cli(&["ps", "-a"]).ok().contains("web"));
    assert!(!d.cli(&["images"]).ok().contains("only-in-a"));
    // Without a shared session network, b cannot reach a's services.
    let r = sh(
        &d,
        "vhb",
        &format!("nc -w 2 {ia} 8080 </dev/null && echo reached"),
    );
    assert!(
        !r.stdout().contains("reached"),
        "b reached a: {}",
        r.stdout()
    );
    // Image content is shared by digest: both hosts' busybox is one layer dir.
    let la = vh(
        &d,
        "vha",
        &["inspect", "-f", "{{.GraphDriver.Data.LowerDir}}", "web"],
    )
    .ok();
    let lb = vh(
        &d,
        "vhb",
        &["inspect", "-f", "{{.GraphDriver.Data.LowerDir}}", "web"],
    )
    .ok();
    assert_eq!(la, lb);
}

#[test]
fn a_session_network_lets_hosts_reach_each_other_by_name() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    create(&d, &["--session", "s1", "--hostname", "node1", "s1-node1"]);
    create(&d, &["--session", "s1", "--hostname", "node2", "s1-node2"]);
    httpd(&d, "s1-node1", "hi-node2");
    let out = sh(&d, "s1-node2", "ping -c1 -W2 node1 && hostname").ok();
    assert!(out.contains("1 packets received"), "{out}");
    assert!(out.trim_end().ends_with("node2"), "{out}");
    let page = sh(
        &d,
        "s1-node2",
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 node1 8080",
    )
    .ok();
    assert!(page.contains("hi-node2"), "{page}");
}

#[test]
fn privileged_pid_host_containers_act_on_their_virtual_host_only() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    create(&d, &["pa"]);
    create(&d, &["pb"]);
    vh(
        &d,
        "pa",
        &["run", "-d", "--name", "hello", "busybox", "sleep", "1111"],
    )
    .ok();
    vh(
        &d,
        "pb",
        &["run", "-d", "--name", "other", "busybox", "sleep", "2222"],
    )
    .ok();
    // The course's "Under the hood": inspect the PID, kill it from a --pid=host
    // --privileged container, and the container ends.
    let pid = vh(
        &d,
        "pa",
        &["inspect", "--format", "{{.State.Pid}}", "hello"],
    )
    .ok();
    let pid = pid.trim().to_string();
    let ps = vh(
        &d,
        "pa",
        &[
            "run",
            "--rm",
            "--privileged",
            "--pid",
            "host",
            "busybox",
            "ps",
            "-o",
            "pid,args",
        ],
    )
    .ok();
    assert!(ps.contains("sleep 1111"), "{ps}");
    assert!(!ps.contains("sleep 2222"), "a sees b's process: {ps}");
    assert!(!ps.contains("dockhand daemon"), "a sees the machine: {ps}");
    vh(
        &d,
        "pa",
        &[
            "run",
            "--rm",
            "--privileged",
            "--pid",
            "host",
            "busybox",
            "kill",
            "-9",
            &pid,
        ],
    )
    .ok();
    let mut state = String::new();
    for _ in 0..50 {
        state = vh(&d, "pa", &["inspect", "-f", "{{.State.Status}}", "hello"]).ok();
        if state.trim() == "exited" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(state.trim(), "exited");
    // B's process, by its machine pid, is out of a's reach.
    let other = Command::new("pgrep")
        .args(["-f", "sleep 2222"])
        .output()
        .expect("pgrep");
    let other_pid = String::from_utf8_lossy(&other.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("0")
        .to_string();
    let r = vh(
        &d,
        "pa",
        &[
            "run",
            "--rm",
            "--privileged",
            "--pid",
            "host",
            "busybox",
            "kill",
            "-9",
            &other_pid,
        ],
    );
    assert_ne!(r.code(), 0, "a could signal pid {other_pid}");
    let st = vh(&d, "pb", &["inspect", "-f", "{{.State.Status}}", "other"]).ok();
    assert_eq!(st.trim(), "running");
    // Root in a virtual host is an unprivileged uid on the machine.
    let uid = uid_of(std::path::Path::new(&format!("/proc/{other_pid}"))).unwrap_or(0);
    assert!(uid >= 0x1000_0000, "root inside is uid {uid} outside");
}

#[test]
fn host_paths_net_host_and_the_socket_mean_the_virtual_host() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    create(&d, &["ha"]);
    sh(&d, "ha", "echo marker-of-ha > /marker").ok();
    // -v /:/host shows the virtual host's root, not the machine's.
    let out = vh(
        &d,
        "ha",
        &[
            "run",
            "--rm",
            "-v",
            "/:/host",
            "busybox",
            "sh",
            "-c",
            "cat /host/marker; ls /host",
        ],
    )
    .ok();
    assert!(out.contains("marker-of-ha"), "{out}");
    let machine_only = std::fs::read_dir("/")
        .expect("ls /")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| !out.lines().any(|l| l == n))
        .is_some();
    assert!(
        machine_only,
        "the machine's root has entries the host lacks"
    );
    // --net host is the virtual host's network: its docker0 and eth0, not ours.
    let links = vh(
        &d,
        "ha",
        &[
            "run",
            "--rm",
            "--net",
            "host",
            "--privileged",
            "busybox",
            "ip",
            "-o",
            "link",
        ],
    )
    .ok();
    assert!(
        links.contains("docker0") && links.contains("eth0"),
        "{links}"
    );
    assert!(!links.contains(&format!("dhb{}", d.net_tag())), "{links}");
    // ... and a privileged container there administers it (the course's "Under
    // the hood" runs iptables that way): the change shows in the host's network.
    vh(
        &d,
        "ha",
        &[
            "run",
            "--rm",
            "--net",
            "host",
            "--privileged",
            "busybox",
            "ip",
            "addr",
            "add",
            "10.123.4.5/32",
            "dev",
            "lo",
        ],
    )
    .ok();
    let lo = sh(&d, "ha", "ip addr show lo").ok();
    assert!(lo.contains("10.123.4.5"), "{lo}");
    // Its NAT rules are in its own network namespace, with Docker's chain names,
    // and not in the machine's.
    let init_pid = d.vhost_init_pid("ha");
    let nat = Command::new("nsenter")
        .arg(format!("--net=/proc/{init_pid}/ns/net"))
        .args(["iptables-save", "-t", "nat"])
        .output()
        .expect("nsenter");
    let nat = String::from_utf8_lossy(&nat.stdout);
    assert!(
        nat.contains(":DOCKER") && nat.contains("172.17.0.0/16"),
        "{nat}"
    );
    // The socket mounted into a container starts sibling containers.
    let sib = vh(
        &d,
        "ha",
        &[
            "run",
            "--rm",
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            "-v",
            "/usr/local/bin/docker:/usr/local/bin/docker",
            "busybox",
            "docker",
            "run",
            "-d",
            "--name",
            "sibling",
            "busybox",
            "sleep",
            "300",
        ],
    );
    assert_eq!(sib.code(), 0, "{}", sib.stderr());
    assert!(vh(&d, "ha", &["ps"]).ok().contains("sibling"));
    // Ownership in shared image layers reads right under the mapping.
    let own = vh(
        &d,
        "ha",
        &["run", "--rm", "busybox", "sh", "-c", "stat -c %u:%g /bin/busybox /etc/passwd; touch /etc/passwd; stat -c %u:%g /etc/passwd; id -u"],
    )
    .ok();
    assert_eq!(
        own.split_whitespace().collect::<Vec<_>>(),
        ["0:0", "0:0", "0:0", "0"]
    );
}

#[test]
fn caps_stop_a_fork_bomb_and_a_memory_hog_while_the_other_host_answers() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    create(&d, &["--pids-limit", "64", "--memory", "96m", "capa"]);
    create(&d, &["capb"]);
    let bomb = vh(
        &d,
        "capa",
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "n=0; for i in $(seq 200); do sleep 20 & n=$((n+1)); done 2>/dev/null; echo started",
        ],
    );
    // The shell cannot fork 200 sleeps under a cap of 64.
    assert!(
        bomb.code() != 0 || !bomb.stdout().contains("started") || bomb.stderr().contains("fork"),
        "fork bomb ran unhindered: {} {}",
        bomb.stdout(),
        bomb.stderr()
    );
    assert!(vh(&d, "capb", &["ps"]).code() == 0, "b must answer");
    let hog = vh(&d, "capa", &["run", "--rm", "busybox", "tail", "/dev/zero"]);
    assert_eq!(hog.code(), 137, "memory hog: {}", hog.stderr());
    assert_eq!(sh(&d, "capb", "docker ps -q | wc -l").code(), 0);
}

#[test]
fn writing_past_the_disk_cap_fails_with_enospc_inside() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    create(&d, &["--disk", "48m", "diska"]);
    let r = sh(&d, "diska", "dd if=/dev/zero of=/root/big bs=1M count=80");
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("No space left on device"),
        "{}",
        r.stderr()
    );
    sh(&d, "diska", "rm -f /root/big").ok();
    let c = vh(
        &d,
        "diska",
        &[
            "run",
            "--rm",
            "busybox",
            "dd",
            "if=/dev/zero",
            "of=/big",
            "bs=1M",
            "count=80",
        ],
    );
    assert_ne!(c.code(), 0);
    assert!(
        c.stderr().contains("No space left on device"),
        "{}",
        c.stderr()
    );
}

/// The real uid of the process at `/proc/PID`.
fn uid_of(proc_dir: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(proc_dir.join("status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
}

/// Processes running as a uid of `base`'s range, in this daemon's cgroups.
fn procs_in_range(d: &Daemon, base: u64) -> Vec<String> {
    let prefix = std::fs::read_to_string(d.root.join("cgroup-prefix")).unwrap_or_default();
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cg = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
        if prefix.trim().is_empty() || !cg.contains(prefix.trim()) {
            continue;
        }
        if uid_of(&e.path()).is_some_and(|u| u >= base && u < base + 65536) {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out
}

#[test]
fn destroy_is_idempotent_and_leaves_nothing_behind() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    create(&d, &["--session", "gone", "doomed"]);
    let base: u64 = d
        .cli(&["host", "inspect", "-f", "{{.UidBase}}", "doomed"])
        .ok()
        .trim()
        .parse()
        .expect("uid base");
    vh(
        &d,
        "doomed",
        &[
            "run", "-d", "-p", "8081:80", "busybox", "httpd", "-f", "-p", "80",
        ],
    )
    .ok();
    vh(&d, "doomed", &["volume", "create", "v1"]).ok();
    assert!(!procs_in_range(&d, base).is_empty());
    d.cli(&["host", "rm", "doomed"]).ok();
    d.cli(&["host", "rm", "-f", "doomed"]).ok();
    assert!(d.cli(&["host", "ls", "-q"]).ok().trim().is_empty());
    assert!(procs_in_range(&d, base).is_empty(), "processes left");
    let prefix = std::fs::read_to_string(d.root.join("cgroup-prefix")).unwrap_or_default();
    for root in [
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/unified",
    ] {
        let p = std::path::Path::new(root)
            .join(prefix.trim())
            .join("doomed");
        assert!(!p.exists(), "cgroup left: {}", p.display());
    }
    let mounts = d.leftover_mounts();
    assert!(mounts.iter().all(|m| !m.contains("doomed")), "{mounts:?}");
    assert!(!d.root.join("daemons/doomed").exists());
    assert!(!d.root.join("vhosts/doomed.json").exists());
    assert!(!d.root.join("vhosts/doomed.img").exists());
    // Its session bridge went with its last member.
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip");
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(
        !links.contains(&format!("dhs{}", d.net_tag())),
        "session bridge left: {links}"
    );
}

#[test]
fn a_restarted_daemon_adopts_live_hosts_and_removes_dead_ones() {
    dockhand_tests::require_root!();
    let mut d = Daemon::start();
    create(&d, &["keep"]);
    create(&d, &["lose"]);
    vh(
        &d,
        "keep",
        &["run", "-d", "--name", "c1", "busybox", "sleep", "300"],
    )
    .ok();
    // "gone" holds an image of its own and, as after a reboot, its disk is
    // not mounted when the daemon comes back.
    create(&d, &["gone"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let before = shared_blobs(&d);
    let tar = random_tar(tmp.path(), "g", 1);
    vh(&d, "gone", &["import", &tar.to_string_lossy(), "g"]).ok();
    assert!(shared_blobs(&d).len() > before.len());
    let base = |name: &str| -> u64 {
        d.cli(&["host", "inspect", "-f", "{{.UidBase}}", name])
            .ok()
            .trim()
            .parse()
            .expect("uid base")
    };
    let (lose_base, gone_base) = (base("lose"), base("gone"));
    d.kill9();
    // The inits of "lose" and "gone" die while no daemon watches.
    for p in procs_in_range(&d, lose_base)
        .into_iter()
        .chain(procs_in_range(&d, gone_base))
    {
        let _ = Command::new("kill").args(["-9", &p]).output();
    }
    // As a reboot would: nothing of "gone" runs (its container monitors hold
    // files on its disk), and its disk is not mounted.
    let gone_dir = d.root.join("daemons/gone");
    let _ = Command::new("pkill")
        .args(["-9", "-f", &format!("{}/", gone_dir.display())])
        .status();
    let mut unmounted = false;
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let st = Command::new("umount").arg(&gone_dir).status();
        if st.is_ok_and(|s| s.success()) {
            unmounted = true;
            break;
        }
    }
    assert!(unmounted, "gone's disk could not be unmounted");
    d.restart();
    // The API answers while the daemon still clears what is left.
    let cleared = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        !d.root.join("vhosts/gone.img").exists() && !d.root.join("vhosts/lose.img").exists()
    });
    assert!(cleared, "the dead hosts' disks are still there");
    assert_eq!(shared_blobs(&d), before, "gone's image is released");
    assert!(d.leftover_mounts().iter().all(|m| !m.contains("/gone")));
    let ls = d.cli(&["host", "ls", "-q"]).ok();
    assert_eq!(ls.split_whitespace().collect::<Vec<_>>(), ["keep"], "{ls}");
    assert!(vh(&d, "keep", &["ps"]).ok().contains("c1"));
    assert!(sh(&d, "keep", "docker ps --format '{{.Names}}'")
        .ok()
        .contains("c1"));
    assert!(!d.root.join("vhosts/lose.img").exists());
    assert!(d.leftover_mounts().iter().all(|m| !m.contains("/lose")));
}

#[test]
fn bad_requests_are_refused_and_leave_nothing() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let r = d.cli(&["host", "create", "--disk", "1m", "tiny"]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("at least"), "{}", r.stderr());
    let r = d.cli(&["host", "create", "x"]);
    assert_ne!(r.code(), 0);
    create(&d, &["twice"]);
    let r = d.cli(&["host", "create", "twice"]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("already exists"), "{}", r.stderr());
    assert_eq!(d.cli(&["host", "ls", "-q"]).ok().trim(), "twice");
    assert!(!d.root.join("daemons/tiny").exists());
    assert!(!d.root.join("vhosts/tiny.json").exists());
    let r = vh(
        &d,
        "twice",
        &["run", "--rm", "--pid", "container:x", "busybox", "true"],
    );
    assert_ne!(r.code(), 0);
}

#[test]
fn hosts_expire_after_their_ttl_and_idle_timeout() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    create(&d, &["--ttl", "2s", "--idle-timeout", "0", "short-ttl"]);
    create(&d, &["--ttl", "0", "--idle-timeout", "2s", "short-idle"]);
    create(&d, &["--ttl", "0", "--idle-timeout", "0", "forever"]);
    let mut left = String::new();
    for _ in 0..100 {
        left = d.cli(&["host", "ls", "-q"]).ok();
        // Listed no more at once; the disk goes a moment later.
        let files_gone = !d.root.join("vhosts/short-ttl.img").exists()
            && !d.root.join("vhosts/short-idle.img").exists();
        if left.split_whitespace().collect::<Vec<_>>() == ["forever"] && files_gone {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(left.split_whitespace().collect::<Vec<_>>(), ["forever"]);
    assert!(!d.root.join("vhosts/short-ttl.img").exists());
    assert!(!d.root.join("vhosts/short-idle.img").exists());
    let exp = d
        .cli(&["host", "inspect", "-f", "{{.ExpiresAt}}", "forever"])
        .ok();
    assert!(exp.trim().is_empty(), "{exp}");
}

/// An image with the machine's own `iptables` (the binary, the libraries `ldd`
/// names and the extensions): the course's `ubuntu` has it, and there is no
/// registry here to pull one from. None when the machine has no iptables.
fn iptables_image_tar(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let found = Command::new("sh")
        .args(["-c", "command -v iptables"])
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
    if path.is_empty() {
        return None;
    }
    let real = std::fs::canonicalize(&path).ok()?;
    let stage = dir.join("ipt-stage");
    let put = |from: &std::path::Path, to: &str| {
        let dst = stage.join(to.trim_start_matches('/'));
        std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
        std::fs::copy(from, &dst).expect("copy into the image");
    };
    put(&real, "/usr/sbin/iptables");
    let ldd = Command::new("ldd").arg(&real).output().ok()?;
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libx.so => /lib/.../libx.so (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let lib = line
            .split("=>")
            .last()
            .and_then(|r| r.split_whitespace().next())
            .filter(|p| p.starts_with('/'));
        if let Some(lib) = lib {
            put(std::path::Path::new(lib), lib);
        }
    }
    for ext in ["/usr/lib/x86_64-linux-gnu/xtables", "/usr/lib/xtables"] {
        for e in std::fs::read_dir(ext).into_iter().flatten().flatten() {
            put(
                &e.path(),
                &format!("{ext}/{}", e.file_name().to_string_lossy()),
            );
        }
    }
    let tar = dir.join("iptables.tar");
    tar_of(&stage, &tar);
    Some(tar)
}

/// `tar -C dir -cf out .`
fn tar_of(dir: &std::path::Path, out: &std::path::Path) {
    let ok = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .arg(".")
        .status()
        .expect("tar")
        .success();
    assert!(ok, "tar of {}", dir.display());
}

#[test]
fn iptables_in_a_privileged_host_network_container_lists_the_virtual_hosts_nat() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(tar) = iptables_image_tar(tmp.path()) else {
        dockhand_tests::say_skipped("no iptables on this machine (apt-get install iptables)");
        return;
    };
    create(&d, &["hu"]);
    vh(&d, "hu", &["import", &tar.to_string_lossy(), "ipt"]).ok();
    // "Open another terminal: docker run -ti --rm -p 8080:8080 ubuntu bash":
    // exposing a port is port forwarding, and the listing shows it.
    vh(
        &d,
        "hu",
        &["run", "-d", "-p", "8080:8080", "busybox", "sleep", "300"],
    )
    .ok();
    // The course's "Under the hood": `docker run -ti --rm --net=host
    // --privileged=true ubuntu bash`, then `iptables -n -L -t nat`.
    let list_nat = |privileged: &[&str]| {
        let mut args = vec!["run", "--rm", "--net=host"];
        args.extend_from_slice(privileged);
        args.extend(["ipt", "/usr/sbin/iptables", "-n", "-L", "-t", "nat"]);
        vh(&d, "hu", &args)
    };
    let nat = list_nat(&["--privileged=true"]).ok();
    assert!(nat.contains("Chain DOCKER"), "{nat}");
    assert!(
        nat.lines()
            .any(|l| l.starts_with("MASQUERADE") && l.contains("172.17.0.0/16")),
        "{nat}"
    );
    assert!(
        nat.lines()
            .any(|l| l.starts_with("DNAT") && l.contains("dpt:8080") && l.contains("to:172.17.")),
        "{nat}"
    );
    // The virtual host's rules, not the machine's (where this daemon's chains are).
    assert!(!nat.contains(&format!("DH-T{}", d.net_tag())), "{nat}");
    // Without --privileged the container may not touch the host's firewall.
    let denied = list_nat(&[]);
    assert_ne!(denied.code(), 0, "{}", denied.stdout());
}

/// A tar holding one file of `mb` MiB of random (incompressible) bytes.
fn random_tar(dir: &std::path::Path, name: &str, mb: usize) -> std::path::PathBuf {
    use std::io::Read;
    let stage = dir.join(format!("{name}-stage"));
    std::fs::create_dir_all(&stage).expect("mkdir");
    let mut data = vec![0u8; mb << 20];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut data))
        .expect("random bytes");
    std::fs::write(stage.join(name), &data).expect("write");
    let tar = dir.join(format!("{name}.tar"));
    tar_of(&stage, &tar);
    tar
}

/// Files in the shared blob store (temporary ones included).
fn shared_blobs(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d.root.join("blobs/sha256"))
        .expect("blobs")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn images_a_host_brings_in_count_against_its_disk() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    create(&d, &["--disk", "64m", "qa"]);
    let a = random_tar(tmp.path(), "a", 24);
    let b = random_tar(tmp.path(), "b", 24);
    let big = random_tar(tmp.path(), "big", 80);
    let before = shared_blobs(&d);
    // Bigger than the whole disk: refused, and nothing of it is left in the
    // shared store (nor on the machine's disk: it was spooled on the host's).
    let r = vh(&d, "qa", &["import", &big.to_string_lossy(), "big"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("no space left on device"),
        "{}",
        r.stderr()
    );
    assert_eq!(shared_blobs(&d), before);
    // One 24 MiB image fits; a second does not, since the first still counts.
    vh(&d, "qa", &["import", &a.to_string_lossy(), "a"]).ok();
    let r = vh(&d, "qa", &["import", &b.to_string_lossy(), "b"]);
    assert_ne!(r.code(), 0, "{}", r.stdout());
    assert!(
        r.stderr().contains("no space left on device"),
        "{}",
        r.stderr()
    );
    // Removing the first frees its share: now the second fits.
    vh(&d, "qa", &["rmi", "a"]).ok();
    vh(&d, "qa", &["import", &b.to_string_lossy(), "b"]).ok();
    // The machine itself has no such quota.
    d.cli(&["import", &big.to_string_lossy(), "big"]).ok();
    d.cli(&["rmi", "big"]).ok();
    assert_eq!(
        shared_blobs(&d).len(),
        before.len() + 3,
        "b's layer, config and manifest; no temporary files"
    );
}

#[test]
fn destroying_a_host_releases_the_content_only_it_held() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    create(&d, &["ra"]);
    create(&d, &["rb"]);
    let x = random_tar(tmp.path(), "x", 1);
    let before = shared_blobs(&d);
    vh(&d, "ra", &["import", &x.to_string_lossy(), "x"]).ok();
    let with_x = shared_blobs(&d);
    assert!(with_x.len() > before.len());
    vh(&d, "rb", &["import", &x.to_string_lossy(), "x"]).ok();
    // save and load in a virtual host (the load is staged on its disk).
    let saved = tmp.path().join("x-saved.tar");
    vh(&d, "rb", &["save", "-o", &saved.to_string_lossy(), "x"]).ok();
    vh(&d, "rb", &["rmi", "x"]).ok();
    let loaded = vh(&d, "rb", &["load", "-i", &saved.to_string_lossy()]).ok();
    assert!(loaded.contains("Loaded image: x:latest"), "{loaded}");
    // rb still holds the layer: it stays.
    d.cli(&["host", "rm", "ra"]).ok();
    let after_ra = shared_blobs(&d);
    assert!(after_ra.len() > before.len(), "rb's image lost its content");
    assert_eq!(vh(&d, "rb", &["run", "--rm", "x", "true"]).code(), 127);
    // The last holder gone: the store is as it was.
    d.cli(&["host", "rm", "rb"]).ok();
    assert_eq!(shared_blobs(&d), before);
}

/// What the course does on a Docker host works in an instance's shell: `ps`,
/// `ip`, `ping`, `wget`, the `nc -lp` pipeline of the networking chapter,
/// `iptables -n -L -t nat` (read-only, answered by the engine) and bash
/// where the machine has a static one.
#[test]
fn an_instance_has_the_tools_the_course_uses() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    create(&d, &["tl"]);
    let ps = sh(&d, "tl", "ps").ok();
    assert!(ps.contains("PID") && ps.contains("sh"), "{ps}");
    let ip = sh(&d, "tl", "ip -4 addr show eth0").ok();
    assert!(ip.contains("inet "), "{ip}");
    httpd(&d, "tl", "hello-wget");
    let got = sh(
        &d,
        "tl",
        "for i in $(seq 50); do timeout 3 wget -q -O- http://127.0.0.1:8080/ && exit 0; sleep 0.1; done; exit 1",
    )
    .ok();
    assert_eq!(got.trim(), "hello-wget");
    let web_ip = vh(
        &d,
        "tl",
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"],
    )
    .ok();
    sh(&d, "tl", &format!("ping -c 1 -W 2 {}", web_ip.trim())).ok();

    // "nc -lp 45678 | nc -lp 45679" in a container, a reader on one port
    // and a writer on the other from the instance.
    vh(
        &d,
        "tl",
        &[
            "run",
            "-d",
            "--name",
            "echo-server",
            "-p",
            "45678:45678",
            "-p",
            "45679:45679",
            "busybox",
            "sh",
            "-c",
            "nc -lp 45678 | nc -lp 45679",
        ],
    )
    .ok();
    let piped = sh(
        &d,
        "tl",
        "sleep 1; (sleep 5 | timeout 5 nc 127.0.0.1 45679 > /tmp/got &); sleep 1; \
         echo through-the-pipe | timeout 3 nc 127.0.0.1 45678; \
         for i in $(seq 30); do grep -q through /tmp/got && break; sleep 0.1; done; cat /tmp/got",
    )
    .ok();
    assert_eq!(piped.trim(), "through-the-pipe");

    // The course's "iptables -n -L -t nat": the host's own rules, read-only.
    let nat = sh(&d, "tl", "iptables -n -L -t nat").ok();
    assert!(nat.contains("Chain DOCKER"), "{nat}");
    assert!(
        nat.lines()
            .any(|l| l.starts_with("DNAT") && l.contains("dpt:8080")),
        "{nat}"
    );
    assert!(!nat.contains(&format!("DH-T{}", d.net_tag())), "{nat}");
    let saved = sh(&d, "tl", "iptables-save -t nat").ok();
    assert!(
        saved.contains("*nat") && saved.contains("COMMIT"),
        "{saved}"
    );
    for change in [
        "iptables -F",
        "iptables -t nat -A DOCKER -j ACCEPT",
        "iptables -L -Z",
    ] {
        let r = sh(&d, "tl", change);
        assert_eq!(r.code(), 2, "{change}: {}", r.stdout());
        assert!(
            r.stderr().contains("not available in a virtual host"),
            "{change}: {}",
            r.stderr()
        );
    }
    let after = sh(&d, "tl", "iptables -n -L -t nat").ok();
    assert_eq!(after, nat, "a refused change changed the rules");
    // The machine's daemon does not list its rules for clients.
    let (code, body) = d.api(
        "POST",
        "/dockhand/iptables",
        Some(r#"{"program":"iptables","args":["-L"]}"#),
    );
    assert_eq!(code, 404, "{body}");

    if std::path::Path::new("/bin/bash-static").exists() {
        let v = sh(&d, "tl", "bash -c 'echo bash-$BASH_VERSION'").ok();
        assert!(v.starts_with("bash-5"), "{v}");
    } else {
        dockhand_tests::say_skipped("bash: no /bin/bash-static here (apt-get install bash-static)");
    }
}

/// A socket address holds 107 bytes of path; a data root deeper than that
/// left every container's monitor socket, and every virtual host's API
/// socket, unusable ("path must be shorter than SUN_LEN").
#[test]
fn a_data_root_longer_than_a_socket_address_holds_works() {
    dockhand_tests::require_root!();
    let parent = tempfile::Builder::new()
        .prefix("dockhand-test-long-")
        .tempdir()
        .unwrap();
    let mut root = parent.path().to_path_buf();
    while root.as_os_str().len() < 140 {
        root.push("a-folder-deep-in-a-file-system");
    }
    std::fs::create_dir_all(&root).unwrap();
    let d = Daemon::start_on(root.clone());
    assert_eq!(d.cli(&["run", "--rm", "busybox", "echo", "hi"]).ok(), "hi");
    // A detached container: its monitor is reached again for exec and logs.
    d.cli(&[
        "run",
        "-d",
        "--name",
        "long1",
        "busybox",
        "sh",
        "-c",
        "echo up; sleep 60",
    ])
    .ok();
    assert_eq!(d.cli(&["exec", "long1", "echo", "exec-ok"]).ok(), "exec-ok");
    assert_eq!(d.cli(&["logs", "long1"]).ok(), "up");
    d.cli(&["rm", "-f", "long1"]).ok();
    // A virtual host's API socket lies deeper still.
    create(&d, &["deep"]);
    let sock = d
        .cli(&["host", "inspect", "-f", "{{.Socket}}", "deep"])
        .ok()
        .trim()
        .to_string();
    assert!(sock.len() > 107, "{sock}");
    assert!(sock.starts_with(root.to_str().unwrap()), "{sock}");
    assert_eq!(
        vh(&d, "deep", &["run", "--rm", "busybox", "echo", "inside"]).ok(),
        "inside"
    );
    // Inside, the same socket is at its usual short path.
    let out = sh(
        &d,
        "deep",
        "docker run --rm -v /var/run/docker.sock:/var/run/docker.sock busybox test -S /var/run/docker.sock && echo socket",
    )
    .ok();
    assert!(out.ends_with("socket"), "{out}");
    d.cli(&["host", "rm", "-f", "deep"]).ok();
    assert!(d.cli(&["host", "ls", "-q"]).ok().trim().is_empty());
    // A monitor removes its socket just after it reports the exit: allow it
    // a moment.
    let empty = || std::fs::read_dir(root.join("run")).map_or(true, |mut r| r.next().is_none());
    for _ in 0..50 {
        if empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        empty(),
        "monitor sockets left in {}",
        root.join("run").display()
    );
}
