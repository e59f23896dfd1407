//! What `create` decides and lays out, on a temporary data root without root
//! or kernel work: a container's record with Docker's defaults, its folder,
//! and nothing at all left by a create that is refused. Starting it (mounts,
//! namespaces, cgroups) is tested against the real kernel in `tests/`.

use super::*;
use crate::cgroups::test_tree;

/// A daemon on a temporary data root, without networks; `cgroups` as given
/// (a temp-dir tree or none).
fn daemon(cgroups: Option<crate::cgroups::Cgroups>) -> (tempfile::TempDir, Arc<Daemon>) {
    let root = tempfile::tempdir().unwrap();
    let d = Daemon::open_with(
        root.path(),
        "default",
        PathBuf::from("/nonexistent/dockhand"),
        None,
        cgroups,
        None,
    )
    .unwrap();
    // An image of one empty layer: nothing to extract, so no root needed
    // (extracting files owned by root is root's work).
    let empty = tar::Builder::new(Vec::new()).into_inner().unwrap();
    d.images
        .import(&mut &empty[..], Some("unit:1"), &[], "")
        .unwrap();
    (root, d)
}

fn request(body: serde_json::Value) -> ContainerCreateRequest {
    serde_json::from_value(body).unwrap()
}

/// The container folders there are.
fn folders(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d.dir().join("containers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn create_records_dockers_defaults_and_lays_out_the_folder() {
    let (_root, d) = daemon(None);
    let made = d
        .create(
            Some("web"),
            request(serde_json::json!({
                "Image": "unit:1",
                "Cmd": ["sleep", "1"],
                "HostConfig": {"ExtraHosts": ["db:10.1.2.3"]}
            })),
        )
        .unwrap();
    let rec = d.inspect("web").unwrap();
    assert_eq!(rec.id, made.id);
    assert_eq!(rec.name, "/web");
    assert_eq!(
        (rec.path.as_str(), rec.args.as_slice()),
        ("sleep", &["1".to_string()][..])
    );
    assert_eq!(rec.state.status, "created");
    assert_eq!(rec.config.hostname, made.id[..12]);
    let hc = &rec.host_config;
    assert_eq!(hc.restart_policy.name, "no");
    assert_eq!(hc.network_mode, "bridge");
    assert_eq!(hc.extra["Runtime"], "runc");
    assert_eq!(hc.extra["LogConfig"]["Type"], "json-file");
    // No cgroups known: the machine's namespace, as dockerd on cgroup v1.
    assert_eq!(hc.extra["CgroupnsMode"], "host");

    let dir = d.dir().join("containers").join(&made.id);
    assert_eq!(folders(&d), std::slice::from_ref(&made.id));
    for sub in [
        "upper",
        "work",
        "rootfs",
        "init/proc",
        "init/dev/pts",
        "init/etc",
    ] {
        assert!(dir.join(sub).is_dir(), "{sub}");
    }
    assert_eq!(
        rec.log_path,
        dir.join(format!("{}-json.log", made.id))
            .display()
            .to_string()
    );
    assert_eq!(rec.hosts_path, dir.join("hosts").display().to_string());
    let hosts = std::fs::read_to_string(dir.join("hosts")).unwrap();
    assert!(
        hosts.starts_with(HOSTS_BASE) && hosts.ends_with("10.1.2.3\tdb\n"),
        "{hosts}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("hostname")).unwrap(),
        format!("{}\n", &made.id[..12])
    );
    let upper = rec.graph_driver.data["UpperDir"].clone();
    assert_eq!(upper, dir.join("upper").display().to_string());

    // A restarted daemon reads the same record back.
    let again = Daemon::open_with(
        d.dir().parent().unwrap().parent().unwrap(),
        "default",
        PathBuf::from("/nonexistent/dockhand"),
        None,
        None,
        None,
    )
    .unwrap();
    again.load().unwrap();
    let back = again.inspect(&made.id).unwrap();
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        serde_json::to_value(&rec).unwrap()
    );
}

#[test]
fn on_cgroup_v2_a_container_gets_a_private_cgroup_namespace() {
    let tree = tempfile::tempdir().unwrap();
    test_tree::unified(tree.path(), "cpu memory pids");
    let cgroups = crate::cgroups::Cgroups::new(tree.path(), "dockhand-unit").unwrap();
    let (_root, d) = daemon(Some(cgroups));
    d.create(
        None,
        request(serde_json::json!({"Image": "unit:1", "Cmd": ["true"]})),
    )
    .unwrap();
    let id = d.all_ids().pop().unwrap();
    let rec = d.inspect(&id).unwrap();
    assert_eq!(rec.host_config.extra["CgroupnsMode"], "private");
    // Created, not started: no cgroup yet.
    assert!(!tree.path().join("dockhand-unit").exists());
}

#[test]
fn generated_names_are_docker_style_and_unique() {
    let (_root, d) = daemon(None);
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let made = d
            .create(
                None,
                request(serde_json::json!({"Image": "unit:1", "Cmd": ["true"]})),
            )
            .unwrap();
        let name = d.inspect(&made.id).unwrap().name;
        let (adjective, surname) = name
            .trim_start_matches('/')
            .split_once('_')
            .unwrap_or_else(|| panic!("{name}"));
        assert!(!adjective.is_empty() && !surname.is_empty(), "{name}");
        assert!(names.insert(name));
    }
    assert_eq!(folders(&d).len(), 20);
}

#[test]
fn a_refused_create_leaves_no_record_and_no_folder() {
    let (_root, d) = daemon(None);
    let first = d
        .create(
            Some("web"),
            request(serde_json::json!({"Image": "unit:1", "Cmd": ["true"]})),
        )
        .unwrap();
    let refused: [(Option<&str>, serde_json::Value, &str); 7] = [
        (
            None,
            serde_json::json!({"Image": "unit:1"}),
            "no command specified",
        ),
        (
            Some("web"),
            serde_json::json!({"Image": "unit:1", "Cmd": ["true"]}),
            "Conflict. The container name \"/web\" is already in use by container",
        ),
        (
            Some("no good"),
            serde_json::json!({"Image": "unit:1", "Cmd": ["true"]}),
            "Invalid container name (no good)",
        ),
        (
            None,
            serde_json::json!({"Image": "unit:1", "Cmd": ["true"],
                "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}),
            "unknown policy 'sometimes'",
        ),
        (
            None,
            serde_json::json!({"Image": "nosuchimage:1", "Cmd": ["true"]}),
            "No such image: nosuchimage:1",
        ),
        (
            None,
            serde_json::json!({"Image": "unit:1", "Cmd": ["true"],
                "HostConfig": {"NetworkMode": "container:nosuch"}}),
            "No such container: nosuch",
        ),
        (
            None,
            serde_json::json!({"Image": "unit:1", "Cmd": ["true"],
                "HostConfig": {"CapAdd": ["NOT_A_CAP"]}}),
            "NOT_A_CAP",
        ),
    ];
    for (name, body, says) in refused {
        let err = d.create(name, request(body.clone())).unwrap_err();
        assert!(err.to_string().contains(says), "{body}: {err}");
    }
    assert_eq!(d.all_ids(), std::slice::from_ref(&first.id));
    assert_eq!(folders(&d), [first.id]);
}

#[test]
fn the_none_log_driver_keeps_no_log_path() {
    let (_root, d) = daemon(None);
    let made = d
        .create(
            None,
            request(serde_json::json!({"Image": "unit:1", "Cmd": ["true"],
                "HostConfig": {"LogConfig": {"Type": "none"}}})),
        )
        .unwrap();
    assert_eq!(d.inspect(&made.id).unwrap().log_path, "");
}
