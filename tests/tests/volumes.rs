//! Volumes, bind mounts and tmpfs on the real kernel: data goes where Docker puts
//! it, read-only means read-only, volumes outlive containers and are refused
//! removal while used, and no mount is ever left on the host.

use dockhand_tests::{require_docker_cli, Daemon};

#[test]
fn a_bind_mount_writes_through_to_the_host_and_leaves_no_mount_behind() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let host_dir = d.dir.path().join("shared/data");
    // Docker creates a missing host directory for -v.
    let spec = format!("{}:/data", host_dir.display());
    d.cli(&[
        "run",
        "--rm",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo hello > /data/f",
    ])
    .ok();
    assert_eq!(
        std::fs::read_to_string(host_dir.join("f")).unwrap(),
        "hello\n"
    );
    // And back in: a new container reads what the host holds.
    std::fs::write(host_dir.join("g"), "from host").unwrap();
    assert_eq!(
        d.cli(&["run", "--rm", "-v", &spec, "busybox", "cat", "/data/g"])
            .ok(),
        "from host"
    );
    assert!(d.leftover_mounts().is_empty(), "{:?}", d.leftover_mounts());
}

#[test]
fn a_read_only_bind_refuses_writes() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let host_dir = d.dir.path().join("ro");
    std::fs::create_dir_all(&host_dir).unwrap();
    let spec = format!("{}:/data:ro", host_dir.display());
    let r = d.cli(&[
        "run",
        "--rm",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo x > /data/f",
    ]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("Read-only file system"),
        "{}",
        r.stderr()
    );
    assert!(!host_dir.join("f").exists());
    let mounts = d
        .cli(&[
            "run",
            "--rm",
            "-v",
            &spec,
            "busybox",
            "grep",
            " /data ",
            "/proc/mounts",
        ])
        .ok();
    assert!(
        mounts.contains(" ro,") || mounts.contains(" ro "),
        "{mounts}"
    );
}

#[test]
fn a_named_volume_keeps_data_across_containers_and_is_refused_removal_while_used() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    assert_eq!(d.cli(&["volume", "create", "data"]).ok(), "data");
    d.cli(&[
        "run",
        "--rm",
        "-v",
        "data:/d",
        "busybox",
        "sh",
        "-c",
        "echo kept > /d/f",
    ])
    .ok();
    assert_eq!(
        d.cli(&["run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/f"])
            .ok(),
        "kept"
    );
    // Created on first use, too.
    d.cli(&["run", "--name", "user", "-v", "auto:/x", "busybox", "true"])
        .ok();
    let ls = d.cli(&["volume", "ls"]).ok();
    let lines: Vec<&str> = ls.lines().collect();
    assert!(
        lines[0].starts_with("DRIVER") && lines[0].contains("VOLUME NAME"),
        "{ls}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("local") && l.ends_with("auto")),
        "{ls}"
    );
    assert!(lines.iter().any(|l| l.ends_with(" data")), "{ls}");
    let mp = d
        .cli(&[
            "volume",
            "inspect",
            "-f",
            "{{.Mountpoint}} {{.Driver}}",
            "data",
        ])
        .ok();
    assert!(mp.ends_with("/volumes/data/_data local"), "{mp}");
    assert_eq!(
        std::fs::read_to_string(mp.split(' ').next().unwrap().to_string() + "/f").unwrap(),
        "kept\n"
    );
    // Inspect shows the mount as Docker does.
    let m = d
        .cli(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.Driver}} {{.RW}}{{end}}",
            "user",
        ])
        .ok();
    assert_eq!(m, "volume auto /x local true");
    // In use by a stopped container: refused with Docker's text.
    let id = d.cli(&["inspect", "-f", "{{.Id}}", "user"]).ok();
    let r = d.cli(&["volume", "rm", "auto"]);
    assert_eq!(r.code(), 1);
    assert!(
        r.stderr()
            .contains(&format!("remove auto: volume is in use - [{id}]")),
        "{}",
        r.stderr()
    );
    d.cli(&["rm", "user"]).ok();
    assert_eq!(d.cli(&["volume", "rm", "auto", "data"]).ok(), "auto\ndata");
    assert_eq!(d.cli(&["volume", "ls", "-q"]).ok(), "");
    let r = d.cli(&["volume", "inspect", "data"]);
    assert!(r.stderr().contains("no such volume"), "{}", r.stderr());
}

#[test]
fn volumes_from_shares_another_containers_volumes() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&[
        "run",
        "--name",
        "store",
        "-v",
        "/shared",
        "busybox",
        "sh",
        "-c",
        "echo one > /shared/f",
    ])
    .ok();
    assert_eq!(
        d.cli(&[
            "run",
            "--rm",
            "--volumes-from",
            "store",
            "busybox",
            "cat",
            "/shared/f"
        ])
        .ok(),
        "one"
    );
    let r = d.cli(&[
        "run",
        "--rm",
        "--volumes-from",
        "store:ro",
        "busybox",
        "sh",
        "-c",
        "echo two > /shared/f",
    ]);
    assert_ne!(r.code(), 0, "a :ro volumes-from must refuse writes");
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_with_run_rm() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["run", "--rm", "-v", "/data", "busybox", "touch", "/data/x"])
        .ok();
    assert_eq!(d.cli(&["volume", "ls", "-q"]).ok(), "");
    d.cli(&["run", "--name", "keep", "-v", "/data", "busybox", "true"])
        .ok();
    let name = d.cli(&["volume", "ls", "-q"]).ok();
    assert_eq!(name.len(), 64, "{name}");
    // Plain rm keeps it; prune then removes the unused anonymous volume.
    d.cli(&["rm", "keep"]).ok();
    assert_eq!(d.cli(&["volume", "ls", "-q"]).ok(), name);
    let out = d.cli(&["volume", "prune", "-f"]).ok();
    assert!(out.contains(&name), "{out}");
    d.cli(&["run", "--name", "gone", "-v", "/data", "busybox", "true"])
        .ok();
    d.cli(&["rm", "-v", "gone"]).ok();
    assert_eq!(d.cli(&["volume", "ls", "-q"]).ok(), "");
}

#[test]
fn the_daemon_socket_binds_onto_a_file_mount_point() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let spec = format!("{}:/var/run/docker.sock", d.socket.display());
    d.cli(&[
        "run",
        "--rm",
        "-v",
        &spec,
        "busybox",
        "test",
        "-S",
        "/var/run/docker.sock",
    ])
    .ok();
    assert!(d.leftover_mounts().is_empty(), "{:?}", d.leftover_mounts());
}

#[test]
fn tmpfs_mounts_a_tmpfs() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let line = d
        .cli(&[
            "run",
            "--rm",
            "--tmpfs",
            "/scratch:size=1m",
            "busybox",
            "grep",
            " /scratch ",
            "/proc/mounts",
        ])
        .ok();
    assert!(line.starts_with("tmpfs /scratch tmpfs "), "{line}");
    assert!(line.contains("noexec"), "{line}");
}

#[test]
fn mount_flag_binds_and_mounts_volumes() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let host_dir = d.dir.path().join("m");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("f"), "m").unwrap();
    let bind = format!("type=bind,source={},target=/b,readonly", host_dir.display());
    let out = d
        .cli(&[
            "run",
            "--rm",
            "--mount",
            &bind,
            "--mount",
            "type=volume,src=mv,dst=/v",
            "busybox",
            "sh",
            "-c",
            "cat /b/f; touch /b/x || echo ro; touch /v/y && echo ok",
        ])
        .ok();
    assert_eq!(out, "mro\nok");
    assert_eq!(d.cli(&["volume", "ls", "-q"]).ok(), "mv");
}

#[test]
fn a_volume_subpath_mounts_a_directory_of_the_volume() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&[
        "run", "--rm", "-v", "sv:/vol", "busybox", "sh", "-c",
        "mkdir -p /vol/subdir && echo 'test content' > /vol/subdir/f && ln -s /subdir /vol/abs && ln -s ../../etc /vol/up",
    ])
    .ok();
    let cat = |sub: &str| {
        d.cli(&[
            "run",
            "--rm",
            "--mount",
            &format!("type=volume,src=sv,dst=/mnt,readonly,volume-subpath={sub}"),
            "busybox",
            "sh",
            "-c",
            "cat /mnt/f; touch /mnt/x 2>/dev/null || echo ro",
        ])
    };
    assert_eq!(cat("subdir").ok(), "test content\nro");
    // A symlink in the volume resolves inside it, never to the machine's paths.
    assert_eq!(cat("abs").ok(), "test content\nro");
    let up = cat("up");
    assert_ne!(up.code(), 0, "{}", up.stdout());
    assert!(
        up.stderr().contains("no such file or directory"),
        "{}",
        up.stderr()
    );
    let abs = cat("/etc");
    assert_eq!(abs.code(), 125);
    assert!(
        abs.stderr()
            .contains("subpath must be a relative path within the volume"),
        "{}",
        abs.stderr()
    );
    // Refused runs leave no container and no mount.
    assert_eq!(d.cli(&["ps", "-aq"]).ok(), "");
    assert!(d.leftover_mounts().is_empty(), "{:?}", d.leftover_mounts());
}

#[test]
fn a_volume_starts_with_the_images_content_at_its_path() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // busybox has /etc/passwd: a fresh volume on /etc gets a copy.
    let out = d
        .cli(&[
            "run",
            "--rm",
            "-v",
            "etc:/etc",
            "busybox",
            "head",
            "-1",
            "/etc/passwd",
        ])
        .ok();
    assert!(out.starts_with("root:"), "{out}");
    let mp = d
        .cli(&["volume", "inspect", "-f", "{{.Mountpoint}}", "etc"])
        .ok();
    assert!(std::path::Path::new(&mp).join("passwd").exists());
}

#[test]
fn docker_cli_volume_round_trip() {
    dockhand_tests::require_root!();
    require_docker_cli!();
    let d = Daemon::start();
    assert_eq!(d.docker(&["volume", "create", "dv"]).ok(), "dv");
    d.docker(&[
        "run",
        "--rm",
        "-v",
        "dv:/d",
        "busybox",
        "sh",
        "-c",
        "echo hi > /d/f",
    ])
    .ok();
    assert_eq!(
        d.docker(&["run", "--rm", "-v", "dv:/d:ro", "busybox", "cat", "/d/f"])
            .ok(),
        "hi"
    );
    let ls = d.docker(&["volume", "ls"]).ok();
    assert!(
        ls.lines()
            .any(|l| l.starts_with("local") && l.ends_with("dv")),
        "{ls}"
    );
    d.docker(&["run", "--name", "cv", "-v", "dv:/d", "busybox", "true"])
        .ok();
    let r = d.docker(&["volume", "rm", "dv"]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("volume is in use"), "{}", r.stderr());
    d.docker(&["rm", "cv"]).ok();
    assert_eq!(d.docker(&["volume", "rm", "dv"]).ok(), "dv");
}

#[test]
fn an_images_volume_gets_an_anonymous_volume_seeded_from_the_image() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&[
        "run",
        "--name",
        "seed",
        "busybox",
        "sh",
        "-c",
        "mkdir /vol && echo seeded > /vol/f",
    ])
    .ok();
    d.cli(&["commit", "--change", "VOLUME /vol", "seed", "withvol"])
        .ok();
    d.cli(&["rm", "seed"]).ok();
    d.cli(&["run", "--name", "kv", "withvol", "cat", "/vol/f"])
        .ok();
    assert_eq!(d.cli(&["logs", "kv"]).ok(), "seeded");
    let name = d.cli(&["volume", "ls", "-q"]).ok();
    assert_eq!(name.len(), 64, "{name}");
    let m = d
        .cli(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}",
            "kv",
        ])
        .ok();
    assert_eq!(m, format!("volume {name} /vol"));
    d.cli(&["rm", "-v", "kv"]).ok();
    assert_eq!(d.cli(&["volume", "ls", "-q"]).ok(), "");
}
