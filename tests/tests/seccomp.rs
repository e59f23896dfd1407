//! Seccomp as Docker applies it: the built-in profile on every container (and
//! on what is exec'd in it), none with `--privileged` or
//! `--security-opt seccomp=unconfined`, a profile file in Docker's format with
//! `seccomp=FILE`, system calls opened by `--cap-add`; in virtual hosts too.
//! The filter's own rules are unit-tested in engine/src/runtime/seccomp.

use dockhand_tests::Daemon;

/// The container's seccomp mode from /proc/self/status: 0 none, 2 filter.
fn mode(d: &Daemon, extra: &[&str]) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "grep", "^Seccomp:", "/proc/self/status"]);
    let out = d.cli(&args).ok();
    out.split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn containers_get_the_default_filter_unless_privileged_or_unconfined() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    assert_eq!(mode(&d, &[]), "2");
    assert_eq!(mode(&d, &["--privileged"]), "0");
    assert_eq!(mode(&d, &["--security-opt", "seccomp=unconfined"]), "0");
    assert_eq!(mode(&d, &["--security-opt", "seccomp=builtin"]), "2");
    let info = d.cli(&["info", "-f", "{{json .SecurityOptions}}"]).ok();
    assert!(info.contains("name=seccomp,profile=builtin"), "{info}");

    // A new user namespace needs no capability, but Docker's profile refuses
    // unshare without CAP_SYS_ADMIN: that refusal is the filter's.
    let r = d.cli(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("Operation not permitted"),
        "{}",
        r.stderr()
    );
    // Where the kernel lets anyone make one, the same call gets through
    // unconfined and with the capability the profile asks for.
    let open = d.cli(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    if open.code() == 0 {
        d.cli(&[
            "run",
            "--rm",
            "--cap-add",
            "SYS_ADMIN",
            "busybox",
            "unshare",
            "-U",
            "true",
        ])
        .ok();
    } else {
        dockhand_tests::say_skipped(&format!(
            "this kernel refuses user namespaces to containers: {}",
            open.stderr()
        ));
    }

    // exec'd processes get the container's filter.
    d.cli(&["run", "-d", "--name", "sc-exec", "busybox", "sleep", "300"])
        .ok();
    let out = d
        .cli(&["exec", "sc-exec", "grep", "^Seccomp:", "/proc/self/status"])
        .ok();
    assert!(out.contains('2'), "{out}");
    let r = d.cli(&["exec", "--privileged", "sc-exec", "unshare", "-U", "true"]);
    assert_ne!(
        r.code(),
        0,
        "a privileged exec keeps the container's filter"
    );
    d.cli(&["rm", "-f", "sc-exec"]).ok();
}

#[test]
fn a_profile_file_in_dockers_format_is_sent_and_enforced() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{
          "defaultAction": "SCMP_ACT_ALLOW",
          "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
          ]
        }"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    d.cli(&[
        "run",
        "-d",
        "--name",
        "sc-profile",
        "--security-opt",
        &opt,
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    for cmd in [
        vec!["exec", "sc-profile", "mkdir", "/made"],
        vec!["exec", "sc-profile", "touch", "/made-file"],
    ] {
        let r = d.cli(&cmd);
        if cmd[2] == "mkdir" {
            assert_ne!(r.code(), 0);
            assert!(r.stderr().contains("Permission denied"), "{}", r.stderr());
        } else {
            assert_eq!(r.code(), 0, "{}", r.stderr());
        }
    }
    // What inspect shows is the profile itself, as dockerd stores it.
    let opts = d
        .cli(&[
            "inspect",
            "-f",
            "{{json .HostConfig.SecurityOpt}}",
            "sc-profile",
        ])
        .ok();
    assert!(opts.contains("SCMP_ACT_ALLOW"), "{opts}");
    d.cli(&["rm", "-f", "sc-profile"]).ok();
}

#[test]
fn bad_security_options_and_profiles_are_refused_with_dockers_texts() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    // `run --rm` with the profile at `name` (holding `text`, unless None).
    let run_with = |name: &str, text: Option<&str>| {
        let path = dir.path().join(name);
        if let Some(text) = text {
            std::fs::write(&path, text).unwrap();
        }
        let opt = format!("seccomp={}", path.display());
        (
            path,
            d.cli(&["run", "--rm", "--security-opt", &opt, "busybox", "true"]),
        )
    };
    let (missing, r) = run_with("missing.json", None);
    assert_eq!(r.code(), 125);
    let text = format!("opening seccomp profile ({}) failed", missing.display());
    assert!(r.stderr().contains(&text), "{}", r.stderr());
    let (_, r) = run_with("garbled.json", Some("{ not json"));
    assert_eq!(r.code(), 125);
    assert!(
        r.stderr().contains("compacting json for seccomp profile"),
        "{}",
        r.stderr()
    );
    for (opt, text) in [
        ("bogus", r#"invalid --security-opt 1: "bogus""#),
        ("colour=blue", r#"invalid --security-opt 2: "colour=blue""#),
        (
            "no-new-privileges=maybe",
            r#"invalid --security-opt 2: "no-new-privileges=maybe""#,
        ),
    ] {
        // `create` exits 1 where `run` exits 125, as docker's CLI.
        let r = d.cli(&["create", "--security-opt", opt, "busybox", "true"]);
        assert_eq!(r.code(), 1, "{opt}");
        assert!(r.stderr().contains(text), "{opt}: {}", r.stderr());
    }
    // A profile that parses but cannot become a filter stops the start.
    let (_, r) = run_with(
        "odd.json",
        Some(r#"{"defaultAction": "SCMP_ACT_SOMETIMES"}"#),
    );
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("invalid action \"SCMP_ACT_SOMETIMES\""),
        "{}",
        r.stderr()
    );
    // Nothing was left running or half-made by the refusals: `run --rm`
    // removes what it created, `create` made nothing.
    assert_eq!(d.cli(&["ps", "-aq"]).ok().trim(), "");
}

/// `Seccomp:` and `Seccomp_filters:` of /proc/self/status in `out`.
fn status_of(out: &str) -> (String, String) {
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    (field("Seccomp:"), field("Seccomp_filters:"))
}

#[test]
fn every_process_of_a_virtual_host_carries_its_filter() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["host", "create", "sc"]).ok();
    let status = ["grep", "^Seccomp", "/proc/self/status"];
    // The host's own shell: the host-level filter alone.
    let mut args = vec!["host", "exec", "sc"];
    args.extend_from_slice(&status);
    let (mode, shell_filters) = status_of(&d.cli(&args).ok());
    assert_eq!(mode, "2", "a virtual host's shell");
    // A container: the host's filter and the container's (Docker's default
    // makes two: one that allows, one that answers clone3 with ENOSYS).
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.push("busybox");
        args.extend_from_slice(&status);
        status_of(&d.vhost_cli("sc", &args).ok())
    };
    let plain = run(&[]);
    assert_eq!(plain.0, "2");
    let privileged = run(&["--privileged"]);
    assert_eq!(
        privileged.0, "2",
        "--privileged in a virtual host keeps its filter"
    );
    assert_eq!(privileged.1, shell_filters);
    let unconfined = run(&["--security-opt", "seccomp=unconfined"]);
    assert_eq!(unconfined.1, shell_filters);
    let n = |s: &str| s.parse::<u32>().unwrap_or(0);
    assert!(
        n(&plain.1) > n(&shell_filters) && n(&shell_filters) > 0,
        "filters: container {}, host {}",
        plain.1,
        shell_filters
    );
    let r = d.vhost_cli("sc", &["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert_ne!(r.code(), 0, "unshare in a virtual host's container");
    d.cli(&["host", "rm", "-f", "sc"]).ok();
}
