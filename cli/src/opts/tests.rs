use super::spec::parse_publish;
use super::*;
use clap::Parser;

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct T {
    #[command(flatten)]
    f: ContainerFlags,
}

fn flags(args: &[&str]) -> ContainerFlags {
    let mut v = vec!["x"];
    v.extend_from_slice(args);
    T::try_parse_from(v).unwrap().f
}

fn lookup(k: &str) -> Option<String> {
    (k == "HOME").then(|| "/root".to_string())
}

#[test]
fn env_file_parsing_matches_docker_kvfile() {
    let content = "\u{feff}# comment\n\nA=1\n  B=spaced \nHOME\nUNSET\nC=\n";
    let got = parse_kv_file("f", content, Some(&lookup)).unwrap();
    assert_eq!(got, vec!["A=1", "B=spaced ", "HOME=/root", "C="]);
    assert!(parse_kv_file("f", "BAD KEY\n", Some(&lookup)).is_err());
    assert!(parse_kv_file("f", "B =x\n", Some(&lookup)).is_err());
}

#[test]
fn volume_flags_fill_the_host_config() {
    let f = flags(&[
        "-v",
        "/h:/c:ro",
        "-v",
        "/anon",
        "--volumes-from",
        "other:ro",
        "--tmpfs",
        "/t:size=1m",
        "--tmpfs",
        "/u",
        "--mount",
        "type=tmpfs,dst=/m,tmpfs-size=1m,tmpfs-mode=1777",
        "busybox",
    ]);
    let v = serde_json::to_value(build_create(&f, true, &lookup).unwrap()).unwrap();
    assert_eq!(v["HostConfig"]["Binds"], json!(["/h:/c:ro"]));
    assert_eq!(v["Volumes"], json!({"/anon": {}}));
    assert_eq!(v["HostConfig"]["VolumesFrom"], json!(["other:ro"]));
    assert_eq!(v["HostConfig"]["Tmpfs"], json!({"/t": "size=1m", "/u": ""}));
    assert_eq!(
        v["HostConfig"]["Mounts"],
        json!([{"Type": "tmpfs", "Target": "/m",
                "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 1023}}])
    );
    assert!(
        parse_mount("type=bind,src=/a").is_err(),
        "target is required"
    );
    assert!(parse_mount("type=bind,src=/a,dst=/b,bogus=1").is_err());
}

#[test]
fn everything_after_the_image_is_the_command() {
    let f = flags(&["-e", "X=1", "--rm", "busybox", "sh", "-c", "echo hi", "-e"]);
    assert_eq!(f.image, "busybox");
    assert_eq!(f.command, vec!["sh", "-c", "echo hi", "-e"]);
    assert!(f.rm);
}

#[test]
fn create_body_carries_the_flags() {
    let f = flags(&[
        "-e",
        "HOME",
        "-e",
        "NOPE",
        "-ti",
        "--name",
        "web",
        "-p",
        "8080:80",
        "-v",
        "/data",
        "-v",
        "/h:/c:ro",
        "--entrypoint",
        "",
        "-l",
        "k=v",
        "--restart",
        "on-failure:3",
        "--init",
        "-h",
        "box",
        "alpine",
    ]);
    let r = build_create(&f, false, &lookup).unwrap();
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["Env"], json!(["HOME=/root", "NOPE"]));
    assert_eq!(v["Tty"], json!(true));
    assert_eq!(v["OpenStdin"], json!(true));
    assert_eq!(v["StdinOnce"], json!(true));
    assert_eq!(v["AttachStdin"], json!(true));
    assert_eq!(v["Entrypoint"], json!([""]));
    assert_eq!(v["Cmd"], Value::Null);
    assert_eq!(v["Hostname"], json!("box"));
    assert_eq!(v["Labels"], json!({"k": "v"}));
    assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}}));
    assert_eq!(v["Volumes"], json!({"/data": {}}));
    assert_eq!(v["HostConfig"]["Binds"], json!(["/h:/c:ro"]));
    assert_eq!(
        v["HostConfig"]["PortBindings"],
        json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]})
    );
    assert_eq!(
        v["HostConfig"]["RestartPolicy"],
        json!({"Name": "on-failure", "MaximumRetryCount": 3})
    );
    assert_eq!(v["HostConfig"]["Init"], json!(true));
    assert_eq!(v["HostConfig"]["NetworkMode"], json!("default"));
}

#[test]
fn detached_run_attaches_nothing() {
    let f = flags(&["-i", "busybox"]);
    let r = build_create(&f, true, &lookup).unwrap();
    assert!(!r.config.attach_stdout && !r.config.attach_stdin && !r.config.stdin_once);
    assert!(r.config.open_stdin);
}

#[test]
fn sizes_and_cpus_parse_like_docker() {
    assert_eq!(ram_in_bytes("512m").unwrap(), 512 << 20);
    assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
    assert_eq!(ram_in_bytes("1.5GB").unwrap(), 3 << 29);
    assert_eq!(ram_in_bytes("100").unwrap(), 100);
    assert_eq!(ram_in_bytes("32MiB").unwrap(), 32 << 20);
    assert_eq!(ram_in_bytes("1.5m").unwrap(), 3 << 19);
    assert_eq!(ram_in_bytes("1p").unwrap(), 1 << 50);
    assert_eq!(ram_in_bytes("lots").unwrap_err(), "invalid size: 'lots'");
    assert_eq!(ram_in_bytes("1q").unwrap_err(), "invalid suffix: 'q'");
    assert!(ram_in_bytes(" 1m").is_err(), "docker trims nothing");
    let f = flags(&["-m", "lots", "busybox"]);
    assert_eq!(
        build_create(&f, false, &lookup).unwrap_err(),
        "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"
    );
    assert_eq!(
        parse_mount("type=tmpfs,dst=/t,tmpfs-size=1q").unwrap_err(),
        "invalid value for tmpfs-size: 1q"
    );
    assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
    assert_eq!(parse_cpus("0.5").unwrap(), 500_000_000);
    assert!(parse_cpus("x").is_err());
}

#[test]
fn port_ranges_expand_like_docker() {
    let v = expand_publish("8000-8002:80-82").unwrap();
    let keys: Vec<&str> = v.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["80/tcp", "81/tcp", "82/tcp"]);
    assert_eq!(v[2].1["HostPort"], "8002");
    let v = expand_publish("127.0.0.1:9000-9001:90-91/udp").unwrap();
    assert_eq!(v[1].0, "91/udp");
    assert_eq!(v[1].1["HostIp"], "127.0.0.1");
    assert_eq!(expand_publish("7000-7001").unwrap().len(), 2);
    assert!(expand_publish("8000-8001:80-82").is_err());
}

#[test]
fn links_default_their_alias_to_the_name() {
    assert_eq!(normalize_link("db"), "db:db");
    assert_eq!(normalize_link("db:database"), "db:database");
}

#[test]
fn publish_specs() {
    assert_eq!(parse_publish("80").unwrap().0, "80/tcp");
    let (k, b) = parse_publish("127.0.0.1:53:53/udp").unwrap();
    assert_eq!(k, "53/udp");
    assert_eq!(b, json!({"HostIp": "127.0.0.1", "HostPort": "53"}));
    assert!(parse_publish("abc").is_err());
}

#[test]
fn restart_policy_parses_like_docker_cli() {
    let p = |s: &str| parse_restart(s).map(|r| (r.name, r.maximum_retry_count));
    assert_eq!(p("no"), Ok(("no".into(), 0)));
    assert_eq!(p("always"), Ok(("always".into(), 0)));
    assert_eq!(p("unless-stopped"), Ok(("unless-stopped".into(), 0)));
    assert_eq!(p("on-failure"), Ok(("on-failure".into(), 0)));
    assert_eq!(p("on-failure:2"), Ok(("on-failure".into(), 2)));
    assert_eq!(p("on-failure:"), Ok(("on-failure".into(), 0)));
    assert_eq!(p(""), Ok((String::new(), 0)));
    // Names and counts are the daemon's to judge, as with docker.
    assert_eq!(p("sometimes"), Ok(("sometimes".into(), 0)));
    assert_eq!(p("always:3"), Ok(("always".into(), 3)));
    assert_eq!(
        p(":3").unwrap_err(),
        "invalid restart policy format: no policy provided before colon"
    );
    assert_eq!(
        p("on-failure:x").unwrap_err(),
        "invalid restart policy format: maximum retry count must be an integer"
    );
}

#[test]
fn restart_conflicts_with_rm() {
    let f = flags(&["--rm", "--restart", "always", "busybox"]);
    assert_eq!(
        build_create(&f, false, &lookup).unwrap_err(),
        "conflicting options: cannot specify both --restart and --rm"
    );
    let f = flags(&["--rm", "--restart", "no", "busybox"]);
    assert!(build_create(&f, false, &lookup).is_ok());
}

#[test]
fn health_flags_become_a_healthcheck_as_docker_reads_them() {
    let f = flags(&[
        "--health-cmd",
        "wget -q localhost",
        "--health-interval",
        "1s",
        "--health-retries",
        "2",
        "--health-start-period",
        "1m",
        "busybox",
    ]);
    let v = serde_json::to_value(build_create(&f, false, &lookup).unwrap()).unwrap();
    assert_eq!(
        v["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "wget -q localhost"], "Interval": 1_000_000_000i64,
               "StartPeriod": 60_000_000_000i64, "Retries": 2})
    );
    let f = flags(&["--no-healthcheck", "busybox"]);
    let v = serde_json::to_value(build_create(&f, false, &lookup).unwrap()).unwrap();
    assert_eq!(v["Healthcheck"], json!({"Test": ["NONE"]}));
    let f = flags(&["busybox"]);
    let v = serde_json::to_value(build_create(&f, false, &lookup).unwrap()).unwrap();
    assert!(v.get("Healthcheck").is_none());
    for (args, want) in [
        (
            &["--no-healthcheck", "--health-cmd", "x", "busybox"][..],
            "--no-healthcheck conflicts with --health-* options",
        ),
        (
            &["--health-interval", "-1s", "busybox"][..],
            "--health-interval cannot be negative",
        ),
        (
            &["--health-retries", "-1", "busybox"][..],
            "--health-retries cannot be negative",
        ),
        (
            &["--health-timeout", "x", "busybox"][..],
            "invalid argument \"x\" for \"--health-timeout\" flag: time: invalid duration \"x\"",
        ),
    ] {
        assert_eq!(
            build_create(&flags(args), false, &lookup).unwrap_err(),
            want
        );
    }
}

#[test]
fn log_driver_and_options_become_log_config() {
    let f = flags(&[
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=10k",
        "--log-opt",
        "max-file=3",
        "busybox",
    ]);
    let v = serde_json::to_value(build_create(&f, false, &lookup).unwrap()).unwrap();
    assert_eq!(
        v["HostConfig"]["LogConfig"],
        json!({"Type": "json-file", "Config": {"max-file": "3", "max-size": "10k"}})
    );
    let f = flags(&["busybox"]);
    let v = serde_json::to_value(build_create(&f, false, &lookup).unwrap()).unwrap();
    assert_eq!(
        v["HostConfig"]["LogConfig"],
        json!({"Type": "", "Config": {}})
    );
    let f = flags(&["--log-driver", "none", "--log-opt", "a=b", "busybox"]);
    assert_eq!(
        build_create(&f, false, &lookup).unwrap_err(),
        "invalid logging opts for driver none"
    );
}
