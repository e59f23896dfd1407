//! What a process sees inside a container: its own namespaces, root, devices,
//! capabilities; and nothing left on the host after removal.

use dockhand_tests::Daemon;

fn sh(d: &Daemon, script: &str) -> String {
    d.cli(&["run", "--rm", "busybox", "sh", "-c", script]).ok()
}

#[test]
fn the_process_is_pid_1_in_its_own_namespaces() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    assert_eq!(sh(&d, "echo $$"), "1");
    let n: usize = sh(&d, "ls /proc | grep -c '^[0-9]'").parse().unwrap();
    assert!(
        n <= 3,
        "only the shell and its pipeline are visible, saw {n}"
    );
    // (a trailing command keeps busybox sh from exec-ing the last one)
    assert_eq!(sh(&d, "cat /proc/1/comm; true"), "sh");
    // Network namespace of its own: loopback (up) and eth0 on the default bridge.
    let links = sh(&d, "ls /sys/class/net | tr '\\n' ' '");
    assert_eq!(links.trim(), "eth0 lo");
    assert!(sh(&d, "ip -o link show lo").contains("UP"));
    // Own mount, uts and ipc namespaces: compare with the host's.
    let host_ns = |n: &str| {
        std::fs::read_link(format!("/proc/self/ns/{n}"))
            .unwrap()
            .display()
            .to_string()
    };
    for ns in ["mnt", "uts", "ipc", "net", "pid"] {
        let inside = sh(&d, &format!("readlink /proc/self/ns/{ns}"));
        assert_ne!(
            inside,
            host_ns(ns),
            "{ns} namespace is shared with the host"
        );
    }
}

#[test]
fn root_proc_sys_and_dev_are_set_up_as_docker_does() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    assert_eq!(
        sh(&d, "grep CapEff /proc/self/status | cut -f2"),
        "00000000a80425fb",
        "Docker's default set"
    );
    assert!(sh(&d, "grep ' / ' /proc/mounts").starts_with("overlay / overlay"));
    assert!(sh(&d, "grep ' /sys ' /proc/mounts").contains("ro,"));
    assert!(sh(&d, "grep ' /proc/sys ' /proc/mounts").contains("ro,"));
    assert_eq!(
        sh(
            &d,
            "echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo writable || echo refused"
        ),
        "refused"
    );
    // Masked paths read empty (this kernel may lack /proc/kcore; timer_list exists).
    assert_eq!(
        sh(&d, "wc -c < /proc/timer_list"),
        "0",
        "timer_list is masked"
    );
    assert_eq!(
        sh(&d, "ls /dev | tr '\\n' ' '"),
        "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero"
    );
    assert!(sh(&d, "grep ' /dev/pts ' /proc/mounts").contains("devpts"));
    assert_eq!(sh(&d, "head -c 4 /dev/zero | wc -c"), "4");
    assert!(sh(&d, "cat /etc/hosts").contains("127.0.0.1\tlocalhost"));
    assert!(sh(&d, "cat /etc/resolv.conf").contains("nameserver"));
    // Writes land in the container's layer, not the image.
    assert_eq!(sh(&d, "echo x > /bin/new && cat /bin/new"), "x");
    assert_eq!(sh(&d, "ls /bin/new 2>/dev/null || echo absent"), "absent");
    // --privileged: every capability the daemon holds.
    let held = std::fs::read_to_string("/proc/self/status").unwrap();
    let mine = held
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(
        d.cli(&[
            "run",
            "--rm",
            "--privileged",
            "busybox",
            "sh",
            "-c",
            "grep CapEff /proc/self/status | cut -f2"
        ])
        .ok(),
        mine
    );
    let dropped = d
        .cli(&[
            "run",
            "--rm",
            "--cap-drop",
            "ALL",
            "busybox",
            "sh",
            "-c",
            "grep CapEff /proc/self/status | cut -f2",
        ])
        .ok();
    assert_eq!(dropped, "0000000000000000");
}

#[test]
fn a_removed_container_leaves_no_mount_process_or_file() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let id = d
        .cli(&["run", "-d", "busybox", "sh", "-c", "sleep 100 & sleep 100"])
        .ok();
    let pid = d.cli(&["inspect", "-f", "{{.State.Pid}}", &id]).ok();
    // The container's mounts live only in its own mount namespace.
    assert!(d.leftover_mounts().is_empty(), "{:?}", d.leftover_mounts());
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    d.cli(&["rm", "-f", &id]).ok();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(
        d.leftover_processes().is_empty(),
        "{:?}",
        d.leftover_processes()
    );
    assert!(!d.root.join("daemons/default/containers").join(&id).exists());
    assert_eq!(
        std::fs::read_dir(d.root.join("run")).unwrap().count(),
        0,
        "no monitor socket left"
    );
    let cgroups: Vec<_> = d
        .leftover_cgroups()
        .into_iter()
        .filter(|p| p.ends_with(&id))
        .collect();
    assert!(cgroups.is_empty(), "container cgroups left: {cgroups:?}");
}

#[test]
fn each_container_has_a_cgroup_that_its_exec_processes_join() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let id = d.cli(&["run", "-d", "busybox", "sleep", "100"]).ok();
    let pid = d.cli(&["inspect", "-f", "{{.State.Pid}}", &id]).ok();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let prefix = std::fs::read_to_string(d.root.join("cgroup-prefix")).unwrap();
    let want = format!("/{}/default/{id}", prefix.trim());
    assert!(cg.lines().any(|l| l.ends_with(&want)), "{cg}");
    // An exec'd process joins the same cgroups as the container's PID 1.
    let exec_pid = d
        .cli(&[
            "exec",
            &id,
            "sh",
            "-c",
            "cat /proc/self/cgroup >/dev/null; echo $$",
        ])
        .ok();
    assert!(!exec_pid.is_empty());
    let dirs: Vec<_> = d
        .leftover_cgroups()
        .into_iter()
        .filter(|p| p.ends_with(&id))
        .collect();
    assert!(!dirs.is_empty());
    for dir in &dirs {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        assert!(
            procs.lines().any(|l| l == pid),
            "{} lacks {pid}: {procs}",
            dir.display()
        );
    }
    let long = d.cli(&["exec", "-d", &id, "sleep", "50"]);
    long.ok();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let counts: Vec<usize> = dirs
        .iter()
        .map(|dir| {
            std::fs::read_to_string(dir.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .count()
        })
        .collect();
    assert!(
        counts.iter().all(|c| *c == 2),
        "PID 1 and the exec'd sleep in every hierarchy: {counts:?}"
    );
    d.cli(&["rm", "-f", &id]).ok();
    assert!(d.leftover_cgroups().iter().all(|p| !p.ends_with(&id)));
}

#[test]
fn network_modes_host_none_and_container() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // --net host: the host's interfaces and hostname. Tests beside this one
    // add and remove links, so the count is taken again until it held still
    // across the container's run.
    let count = || std::fs::read_dir("/sys/class/net").unwrap().count();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let before = count();
        let inside: usize = d
            .cli(&[
                "run",
                "--rm",
                "--net",
                "host",
                "busybox",
                "sh",
                "-c",
                "ls /sys/class/net | wc -l",
            ])
            .ok()
            .parse()
            .unwrap();
        let after = count();
        seen.push((before, inside, after));
        if before == after {
            assert_eq!(inside, before, "{seen:?}");
            break;
        }
    }
    assert!(
        seen.iter().any(|(b, _, a)| b == a),
        "links never held still: {seen:?}"
    );
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        d.cli(&["run", "--rm", "--net", "host", "busybox", "hostname"])
            .ok(),
        host_name.trim()
    );
    // --net none: loopback only.
    assert_eq!(
        d.cli(&[
            "run",
            "--rm",
            "--net",
            "none",
            "busybox",
            "ls",
            "/sys/class/net"
        ])
        .ok(),
        "lo"
    );
    // --net container:NAME shares that container's namespace.
    d.cli(&["run", "-d", "--name", "netowner", "busybox", "sleep", "100"])
        .ok();
    let owner = d
        .cli(&["exec", "netowner", "readlink", "/proc/self/ns/net"])
        .ok();
    let joined = d
        .cli(&[
            "run",
            "--rm",
            "--net",
            "container:netowner",
            "busybox",
            "readlink",
            "/proc/self/ns/net",
        ])
        .ok();
    assert_eq!(owner, joined);
    let r = d.cli(&["run", "--rm", "--net", "container:ghost", "busybox", "true"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("No such container: ghost"),
        "{}",
        r.stderr()
    );
}
