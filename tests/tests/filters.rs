//! moby's filter semantics on every list and prune endpoint: different keys
//! must all pass, values of one key are alternatives, except `label` (every
//! value must match) and `label!` (none may). Compose v1 lists a service's
//! containers with two label filters; OR-ing them listed the whole project.

use dockhand_tests::Daemon;

fn lines(s: String) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(String::from).collect();
    v.sort();
    v
}

#[test]
fn label_filters_must_all_match_on_every_list() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let p = "com.docker.compose.project";
    let s = "com.docker.compose.service";
    for (name, svc) in [("cmp-web-1", "web"), ("cmp-db-1", "db")] {
        d.cli(&[
            "run",
            "-d",
            "--name",
            name,
            "--label",
            &format!("{p}=cmp"),
            "--label",
            &format!("{s}={svc}"),
            "busybox",
            "sleep",
            "60",
        ])
        .ok();
    }
    d.cli(&["run", "-d", "--name", "loner", "busybox", "sleep", "60"])
        .ok();
    let ps = |filters: &[&str]| {
        let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        lines(d.cli(&args).ok())
    };
    let proj = format!("label={p}=cmp");
    assert_eq!(ps(&[&proj]), vec!["cmp-db-1", "cmp-web-1"]);
    assert_eq!(ps(&[&proj, &format!("label={s}=web")]), vec!["cmp-web-1"]);
    assert!(ps(&[&proj, &format!("label={s}=nosuch")]).is_empty());
    // Values of other keys stay alternatives.
    assert_eq!(
        ps(&["name=cmp-web", "name=loner"]),
        vec!["cmp-web-1", "loner"]
    );
    // before/since: created before or after the named container.
    assert_eq!(ps(&["since=cmp-web-1"]), vec!["cmp-db-1", "loner"]);
    assert_eq!(ps(&["before=cmp-db-1"]), vec!["cmp-web-1"]);
    assert_eq!(ps(&["since=cmp-web-1", "before=loner"]), vec!["cmp-db-1"]);

    // Images, networks and volumes alike.
    for (img, labels) in [("two", vec!["a=1", "b=2"]), ("one", vec!["a=1"])] {
        let mut args = vec!["commit".to_string()];
        for l in &labels {
            args.extend(["--change".into(), format!("LABEL {l}")]);
        }
        args.extend(["loner".into(), format!("{img}:latest")]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        d.cli(&args).ok();
        let mut net = vec!["network", "create"];
        let mut vol = vec!["volume", "create"];
        for l in &labels {
            net.extend(["--label", l]);
            vol.extend(["--label", l]);
        }
        net.push(img);
        vol.push(img);
        d.cli(&net).ok();
        d.cli(&vol).ok();
    }
    let both = ["--filter", "label=a=1", "--filter", "label=b=2"];
    let images = |extra: &[&str]| {
        let mut a = vec!["images", "--format", "{{.Repository}}"];
        a.extend(extra);
        lines(d.cli(&a).ok())
    };
    assert_eq!(images(&["--filter", "label=a=1"]), vec!["one", "two"]);
    assert_eq!(images(&both), vec!["two"]);
    // before/since of images, by creation time: the preloaded busybox is
    // older than both commits; "one" was committed after "two".
    assert_eq!(images(&["--filter", "before=two"]), vec!["busybox"]);
    assert_eq!(images(&["--filter", "since=busybox"]), vec!["one", "two"]);
    let mut a = vec!["network", "ls", "--format", "{{.Name}}"];
    a.extend(both);
    assert_eq!(lines(d.cli(&a).ok()), vec!["two"]);
    let mut a = vec!["volume", "ls", "-q"];
    a.extend(both);
    assert_eq!(lines(d.cli(&a).ok()), vec!["two"]);
    d.cli(&["rm", "-f", "cmp-web-1", "cmp-db-1", "loner"]).ok();
}

#[test]
fn prunes_remove_only_what_their_filters_name() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    for (name, label) in [
        ("keep1", "keep=yes"),
        ("drop1", "tier=x"),
        ("drop2", "tier=y"),
    ] {
        d.cli(&["run", "--name", name, "--label", label, "busybox", "true"])
            .ok();
    }
    // Only stopped containers with tier=x.
    d.cli(&["container", "prune", "-f", "--filter", "label=tier=x"])
        .ok();
    assert_eq!(
        lines(d.cli(&["ps", "-a", "--format", "{{.Names}}"]).ok()),
        vec!["drop2", "keep1"]
    );
    // label! spares what carries the label.
    d.cli(&["container", "prune", "-f", "--filter", "label!=keep"])
        .ok();
    assert_eq!(d.cli(&["ps", "-a", "--format", "{{.Names}}"]).ok(), "keep1");
    // Nothing is older than an hour here.
    d.cli(&["container", "prune", "-f", "--filter", "until=1h"])
        .ok();
    assert_eq!(d.cli(&["ps", "-a", "--format", "{{.Names}}"]).ok(), "keep1");
    let bad = d.cli(&["container", "prune", "-f", "--filter", "nope=1"]);
    assert_ne!(bad.code(), 0);
    assert!(
        bad.stderr().contains("invalid filter 'nope'"),
        "{}",
        bad.stderr()
    );

    d.cli(&["network", "create", "--label", "tier=x", "nx"])
        .ok();
    d.cli(&["network", "create", "nplain"]).ok();
    d.cli(&["network", "prune", "-f", "--filter", "label=tier=x"])
        .ok();
    let nets = d.cli(&["network", "ls", "--format", "{{.Name}}"]).ok();
    assert!(!nets.contains("nx") && nets.contains("nplain"), "{nets}");

    d.cli(&["commit", "--change", "LABEL tier=x", "keep1", "ix:latest"])
        .ok();
    d.cli(&["commit", "keep1", "iplain:latest"]).ok();
    d.cli(&["image", "prune", "-a", "-f", "--filter", "label=tier=x"])
        .ok();
    let imgs = d.cli(&["images", "--format", "{{.Repository}}"]).ok();
    assert!(
        !imgs.contains("ix") && imgs.contains("iplain") && imgs.contains("busybox"),
        "{imgs}"
    );
    d.cli(&["rm", "-f", "keep1"]).ok();
    d.cli(&["network", "rm", "nplain"]).ok();
}
