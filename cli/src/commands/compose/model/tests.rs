use super::*;
use serde_yaml::Value;
use std::path::Path;

fn load(text: &str) -> Result<Project, Problem> {
    let v: Value = serde_yaml::from_str(text).unwrap();
    normalize(&v, "cmp", Path::new("/srv/cmp"), &[], &mut |_| {})
}

fn k(s: &str) -> Seg {
    Seg::Key(s.into())
}

#[test]
fn short_and_long_forms_become_one() {
    let p = load(
        r#"
services:
  web:
    image: busybox
    command: httpd -f -p "8080"
    environment: [A=1, "B=two words"]
    ports: ["8080:80", 9000, {target: 81, published: "8081", host_ip: 127.0.0.1, protocol: udp}]
    volumes: [data:/data:ro, ./site:/www, /cache, {type: tmpfs, target: /run/t}]
    networks: {front: {aliases: [www]}}
    depends_on: {db: {condition: service_healthy}}
    deploy: {replicas: 2, resources: {limits: {cpus: "0.5", memory: 64M, pids: 50}}}
    labels: {tier: front}
    stop_grace_period: 1m30s
  db:
    image: busybox
    environment: {X: 1, Y: "y"}
    healthcheck: {test: "test -f /ok", interval: 1s, retries: 3}
    depends_on: [web]
networks:
  front:
volumes:
  data:
"#,
    )
    .unwrap();
    let web = &p.services["web"];
    assert_eq!(
        web.command.as_deref(),
        Some(&["httpd".to_string(), "-f".into(), "-p".into(), "8080".into()][..])
    );
    assert_eq!(web.environment, ["A=1", "B=two words"]);
    assert_eq!(web.ports, ["8080:80", "9000", "127.0.0.1:8081:81/udp"]);
    let m = |kind, source: &str, target: &str, read_only| Mount {
        kind,
        source: source.into(),
        target: target.into(),
        read_only,
    };
    assert_eq!(
        web.volumes,
        [
            m(MountKind::Volume, "data", "/data", true),
            m(MountKind::Bind, "/srv/cmp/site", "/www", false),
            m(MountKind::Volume, "", "/cache", false),
            m(MountKind::Tmpfs, "", "/run/t", false),
        ]
    );
    assert_eq!(web.networks["front"], ["www"]);
    assert_eq!(web.depends_on["db"], Condition::Healthy);
    assert_eq!(
        (
            web.replicas,
            web.cpus.as_deref(),
            web.memory.as_deref(),
            web.pids_limit
        ),
        (2, Some("0.5"), Some("64M"), Some(50))
    );
    assert_eq!(web.stop_grace_period, Some(90));
    let db = &p.services["db"];
    assert_eq!(db.environment, ["X=1", "Y=y"]);
    assert_eq!(
        db.healthcheck.as_ref().unwrap().test,
        ["CMD-SHELL", "test -f /ok"]
    );
    assert_eq!(db.networks.keys().collect::<Vec<_>>(), ["default"]);
    assert_eq!(p.networks["default"].name, "cmp_default");
    assert_eq!(p.networks["front"].name, "cmp_front");
    assert_eq!(p.volumes["data"].name, "cmp_data");
}

#[test]
fn mistakes_name_the_field() {
    let e = load("services:\n  web:\n    imagee: busybox\n").unwrap_err();
    assert_eq!(
        e,
        (
            vec![k("services"), k("web"), k("imagee")],
            "additional property imagee is not allowed".into()
        )
    );
    let e = load("services:\n  web:\n    image: busybox\n    ports: [\"80a\"]\n").unwrap_err();
    assert_eq!(
        e.0,
        vec![k("services"), k("web"), k("ports"), Seg::Index(0)]
    );
    let e = load("services:\n  web:\n    image: busybox\n    volumes: [data:/d]\n").unwrap_err();
    assert!(e.1.contains("undefined volume data"), "{e:?}");
    let e = load("services:\n  web:\n    image: busybox\n    depends_on: [nope]\n").unwrap_err();
    assert!(e.1.contains("undefined service \"nope\""), "{e:?}");
    let e = load("services:\n  web:\n    build: {context: ., nope: 1}\n").unwrap_err();
    assert_eq!(e.0, vec![k("services"), k("web"), k("build"), k("nope")]);
    let e = load("services:\n  web: {}\n").unwrap_err();
    assert!(
        e.1.contains("neither an image nor a build context"),
        "{e:?}"
    );
    let e = load("services:\n  web:\n    image: b\n    restart: sometimes\n").unwrap_err();
    assert!(e.1.contains("invalid restart policy"), "{e:?}");
    let e = load("servics: {}\n").unwrap_err();
    assert_eq!(e.0, vec![k("servics")]);
}

#[test]
fn profiles_leave_services_out_unless_active() {
    let text = "services:\n  web: {image: a}\n  debug: {image: b, profiles: [dev]}\n";
    let v: Value = serde_yaml::from_str(text).unwrap();
    let p = normalize(&v, "cmp", Path::new("/x"), &[], &mut |_| {}).unwrap();
    assert_eq!(p.services.keys().collect::<Vec<_>>(), ["web"]);
    assert!(p.disabled.contains_key("debug"));
    let p = normalize(&v, "cmp", Path::new("/x"), &["dev".into()], &mut |_| {}).unwrap();
    assert_eq!(p.services.len(), 2);
}

#[test]
fn ignored_keys_warn_and_external_objects_keep_their_names() {
    let text = "version: '3'\nservices:\n  web: {image: a, logging: {driver: none}, networks: [ext]}\nnetworks:\n  ext: {external: true}\nvolumes:\n  v: {external: true, name: shared}\n";
    let v: Value = serde_yaml::from_str(text).unwrap();
    let mut warnings = vec![];
    let p = normalize(&v, "cmp", Path::new("/x"), &[], &mut |w| warnings.push(w)).unwrap();
    assert_eq!(p.networks["ext"].name, "ext");
    assert_eq!(p.volumes["v"].name, "shared");
    assert!(!p.networks.contains_key("default"));
    assert!(
        warnings.iter().any(|w| w.contains("version")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("services.web.logging")),
        "{warnings:?}"
    );
}

#[test]
fn config_prints_a_file_that_reads_back_the_same() {
    let text = r#"
services:
  web:
    image: busybox
    command: httpd -f
    ports: ["8080:80"]
    volumes: [data:/data:ro, ./www:/www, {type: tmpfs, target: /t}]
    networks: {front: {aliases: [www]}, back: null}
    depends_on: {db: {condition: service_healthy}}
    deploy: {replicas: 2, resources: {limits: {memory: 64M, cpus: "0.5"}}}
    stop_grace_period: 1m30s
    configs: [conf]
    healthcheck: {test: "true", interval: 1s}
  db: {image: busybox, environment: {A: "1"}}
networks: {front: {}, back: {}}
volumes: {data: {}}
configs: {conf: {file: ./c.txt}}
"#;
    let first = load(text).unwrap();
    let printed = serde_yaml::to_string(&first).unwrap();
    let v: Value = serde_yaml::from_str(&printed).unwrap();
    let again = normalize(&v, "cmp", Path::new("/srv/cmp"), &[], &mut |_| {}).unwrap();
    assert_eq!(again.services, first.services, "{printed}");
    assert_eq!(again.networks, first.networks, "{printed}");
    assert_eq!(again.volumes, first.volumes, "{printed}");
}

#[test]
fn commands_split_as_sh_does() {
    assert_eq!(
        shell_words(r#"sh -c 'echo "a b"' x\ y "q\"d""#).unwrap(),
        ["sh", "-c", "echo \"a b\"", "x y", "q\"d"]
    );
    assert_eq!(shell_words("  ").unwrap(), Vec::<String>::new());
    assert!(shell_words("echo 'open").is_err());
}

#[test]
fn configs_and_secrets_are_files_mounted_where_compose_puts_them() {
    let text = "services:\n  web: {image: a, configs: [conf], secrets: [{source: pw, target: db_pw}]}\nconfigs:\n  conf: {file: ./app.conf}\nsecrets:\n  pw: {file: ./pw.txt}\n";
    let p = load(text).unwrap();
    let web = &p.services["web"];
    assert_eq!(web.configs, [("conf".to_string(), "/conf".to_string())]);
    assert_eq!(
        web.secrets,
        [("pw".to_string(), "/run/secrets/db_pw".to_string())]
    );
    assert_eq!(p.configs["conf"].file, Path::new("/srv/cmp/app.conf"));
}
