//! Image round trips through our CLI: the busybox image, import with changes,
//! tag, images, history, inspect, rmi.

use dockhand_tests::Daemon;

/// A tiny rootfs tar: one static busybox plus a file, as `docker import` takes it.
fn rootfs_tar(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("rootfs");
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::copy("/bin/busybox", src.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", src.join("bin/sh")).unwrap();
    std::os::unix::fs::symlink("busybox", src.join("bin/cat")).unwrap();
    std::fs::write(src.join("etc/motd"), "imported\n").unwrap();
    let tar = dir.join("rootfs.tar");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&src)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    tar
}

#[test]
fn busybox_exists_on_first_start_and_lists_like_docker() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let out = d.cli(&["images"]).ok();
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], ["busybox", "latest"]);
    let id = d.cli(&["images", "-q", "--no-trunc"]).ok();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(row[2], &id[7..19]);
    // The image ID is the sha256 of its config JSON, as Docker's.
    let cfg_path = d.root.join("blobs/sha256").join(&id[7..]);
    let cfg = std::fs::read(&cfg_path).expect("config blob stored under its digest");
    let hex = std::process::Command::new("sha256sum")
        .arg(&cfg_path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&hex.stdout).starts_with(&id[7..]));
    let v: serde_json::Value = serde_json::from_slice(&cfg).unwrap();
    assert_eq!(v["rootfs"]["type"], "layers");
    let hist = d.cli(&["history", "busybox"]).ok();
    assert!(hist.starts_with("IMAGE"), "{hist}");
    assert!(hist.contains("CMD [\"sh\"]"), "{hist}");
}

#[test]
fn import_with_changes_runs_with_that_config() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let tar = rootfs_tar(d.dir.path());
    let id = d
        .cli(&[
            "import",
            "-c",
            "ENV GREETING=hello",
            "-c",
            "CMD [\"sh\", \"-c\", \"echo $GREETING; cat /etc/motd; pwd\"]",
            "-c",
            "WORKDIR /srv",
            "-c",
            "LABEL team=blue",
            "-c",
            "EXPOSE 80",
            "-m",
            "my import",
            tar.to_str().unwrap(),
            "mine:v1",
        ])
        .ok();
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(
        d.cli(&["run", "--rm", "mine:v1"]).ok(),
        "hello\nimported\n/srv"
    );
    assert_eq!(
        d.cli(&[
            "image",
            "inspect",
            "-f",
            "{{.Config.Labels.team}} {{.Comment}}",
            "mine:v1"
        ])
        .ok(),
        "blue my import"
    );
    // From stdin too, untagged.
    let data = std::fs::read(&tar).unwrap();
    let id2 = d.cli_stdin(&["import", "-"], Some(&data)).ok();
    assert!(id2.starts_with("sha256:"));
    let all = d
        .cli(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    assert!(
        all.contains("<none>:<none>") && all.contains("mine:v1"),
        "{all}"
    );
    let r = d.cli(&["import", "-c", "BOGUS x", tar.to_str().unwrap()]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().to_lowercase().contains("bogus"),
        "{}",
        r.stderr()
    );
}

#[test]
fn tag_and_rmi_untag_before_deleting() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["tag", "busybox", "registry.example.com:5000/org/name:tag"])
        .ok();
    d.cli(&["tag", "busybox", "org/other"]).ok();
    let repos = d
        .cli(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    assert!(
        repos.contains("registry.example.com:5000/org/name:tag"),
        "{repos}"
    );
    assert!(repos.contains("org/other:latest"), "{repos}");
    let r = d.cli(&["rmi", "org/other"]).ok();
    assert_eq!(r, "Untagged: org/other:latest");
    // By ID with several tags: refused without -f.
    let id = d.cli(&["images", "-q", "busybox"]).ok();
    let r = d.cli(&["rmi", &id]);
    assert!(
        r.stderr().contains("must be forced")
            && r.stderr().contains("referenced in multiple repositories"),
        "{}",
        r.stderr()
    );
    // With another name left, untagging one is fine even while a container uses
    // the image (moby's rule); the last name is protected.
    d.cli(&["create", "--name", "user", "busybox", "true"]).ok();
    d.cli(&["rmi", "registry.example.com:5000/org/name:tag"])
        .ok();
    let r = d.cli(&["rmi", "busybox"]);
    assert!(
        r.stderr().contains("is using its referenced image"),
        "{}",
        r.stderr()
    );
    d.cli(&["rm", "user"]).ok();
    let out = d.cli(&["rmi", "busybox"]).ok();
    assert!(
        out.starts_with("Untagged: busybox:latest\nDeleted: sha256:"),
        "{out}"
    );
    assert_eq!(d.cli(&["images", "-q"]).ok(), "");
    // Layers and blobs are gone with the last image.
    assert_eq!(
        std::fs::read_dir(d.root.join("layers"))
            .map(|r| r
                .filter(|e| !e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.'))
                .count())
            .unwrap_or(0),
        0
    );
    // busybox is not downloaded: "pulling" it rebuilds it from the host's binary.
    let r = d.cli(&["run", "--rm", "busybox", "echo", "back"]);
    assert_eq!(r.ok(), "back");
    assert!(
        r.stderr()
            .contains("Unable to find image 'busybox:latest' locally"),
        "{}",
        r.stderr()
    );
}

#[test]
fn rmi_by_id_prefix_deletes_an_untagged_image() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let tar = rootfs_tar(d.dir.path());
    let id = d.cli(&["import", tar.to_str().unwrap()]).ok();
    let hex = id.trim_start_matches("sha256:");
    let all = d.cli(&["images", "-a", "-q", "--no-trunc"]).ok();
    assert!(all.contains(&id), "{all}");
    let out = d.cli(&["rmi", &hex[..8]]).ok();
    // The image, then its now unused layer, as docker lists them.
    assert!(
        out.starts_with(&format!("Deleted: {id}\nDeleted: sha256:")),
        "{out}"
    );
    let r = d.cli(&["rmi", &hex[..8]]);
    assert!(
        r.stderr()
            .contains(&format!("No such image: {}", &hex[..8])),
        "{}",
        r.stderr()
    );
    // The shared busybox layer is untouched.
    assert_eq!(
        d.cli(&["run", "--rm", "busybox", "echo", "still"]).ok(),
        "still"
    );
}
