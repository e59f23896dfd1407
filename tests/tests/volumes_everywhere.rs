//! Every kind of volume behaves the same on the machine and inside a virtual
//! host: named, anonymous, `--volumes-from`, `--mount type=volume`, copy-up of
//! the image's content, `volume rm` and `prune`. Inside a virtual host the
//! container's root is an unprivileged uid on the machine, so a volume must
//! belong to that root, not to the machine's.

use dockhand_tests::{bin, Daemon, Run};
use std::process::Command;

/// The checks, through a CLI that talks to one engine (the machine's or a
/// virtual host's).
fn volume_kinds(cli: &dyn Fn(&[&str]) -> Run) {
    // A named volume: writable by the container's root, kept across containers.
    cli(&["volume", "create", "named"]).ok();
    assert_eq!(
        cli(&[
            "run",
            "--rm",
            "-v",
            "named:/v",
            "busybox",
            "sh",
            "-c",
            "echo hi > /v/f && stat -c '%u %g' /v"
        ])
        .ok(),
        "0 0"
    );
    assert_eq!(
        cli(&["run", "--rm", "-v", "named:/v", "busybox", "cat", "/v/f"]).ok(),
        "hi"
    );
    // An anonymous volume, and --volumes-from another container.
    cli(&[
        "run",
        "-d",
        "--name",
        "src",
        "-v",
        "/data",
        "busybox",
        "sh",
        "-c",
        "echo a > /data/a && sleep 100",
    ])
    .ok();
    assert_eq!(
        cli(&[
            "run",
            "--rm",
            "--volumes-from",
            "src",
            "busybox",
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do [ -f /data/a ] && break; sleep 0.2; done; \
             echo b > /data/b && cat /data/a /data/b"
        ])
        .ok(),
        "a\nb"
    );
    // --mount type=volume, read-only too.
    assert_eq!(
        cli(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=mounted,dst=/m",
            "busybox",
            "sh",
            "-c",
            "echo m > /m/f && cat /m/f"
        ])
        .ok(),
        "m"
    );
    let r = cli(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=mounted,dst=/m,readonly",
        "busybox",
        "sh",
        "-c",
        "cat /m/f; echo x > /m/g",
    ]);
    assert_ne!(r.code(), 0);
    assert!(r.stdout().contains('m'), "{}", r.stdout());
    assert!(
        r.stderr().contains("Read-only file system"),
        "{}",
        r.stderr()
    );
    // Copy-up: a new volume over a directory of the image gets its content and
    // owner; a new mount point gives the volume nothing.
    assert_eq!(
        cli(&[
            "run",
            "--rm",
            "-v",
            "etc:/etc",
            "busybox",
            "sh",
            "-c",
            "test -f /etc/passwd && touch /etc/z && stat -c %u /etc /etc/passwd"
        ])
        .ok(),
        "0\n0"
    );
    assert_eq!(
        cli(&[
            "run",
            "--rm",
            "-v",
            "fresh:/not/in/image",
            "busybox",
            "sh",
            "-c",
            "touch /not/in/image/z && stat -c %u /not/in/image"
        ])
        .ok(),
        "0"
    );
    // rm and prune.
    cli(&["rm", "-f", "src"]).ok();
    assert_eq!(cli(&["volume", "rm", "named"]).ok(), "named");
    let pruned = cli(&["volume", "prune", "-af"]).ok();
    for v in ["mounted", "etc", "fresh"] {
        assert!(pruned.contains(v), "{v} not pruned: {pruned}");
    }
    assert_eq!(cli(&["volume", "ls", "-q"]).ok(), "");
}

#[test]
fn volumes_on_the_machine() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    volume_kinds(&|args| d.cli(args));
}

#[test]
fn volumes_inside_a_virtual_host() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&[
        "host",
        "create",
        "--session",
        "s1",
        "--hostname",
        "node1",
        "s1-node1",
    ])
    .ok();
    let sock = d
        .cli(&["host", "inspect", "-f", "{{.Socket}}", "s1-node1"])
        .ok()
        .trim()
        .to_string();
    volume_kinds(&|args| {
        let out = Command::new(bin())
            .arg("-H")
            .arg(format!("unix://{sock}"))
            .args(args)
            .output()
            .expect("run cli");
        Run { out }
    });
}
