//! A service as the engine's create request: the service's keys become the same
//! flags `docker run` takes (so ports, mounts, limits and health checks are read
//! by one parser, `opts.rs`), then the list forms that flags cannot carry
//! (`entrypoint`, `command` and `healthcheck.test` as lists) are set directly,
//! with the labels Compose puts on what it creates.

use super::model::{MountKind, Project, Service};
use crate::opts::{build_create, ContainerFlags};
use sha2::{Digest, Sha256};
use shared::api::ContainerCreateRequest;

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const VERSION: &str = "com.docker.compose.version";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";

/// The Compose version our labels claim (Compose's own version scheme).
pub const COMPOSE_VERSION: &str = "2.39.1";

/// `PROJECT-SERVICE-N`, as Compose v2 names containers.
pub fn container_name(project: &str, service: &str, number: u32) -> String {
    format!("{project}-{service}-{number}")
}

/// The image a service runs: `image:`, else the one `build` makes (`PROJECT-SERVICE`).
pub fn image_of(project: &str, name: &str, s: &Service) -> String {
    s.image
        .clone()
        .unwrap_or_else(|| format!("{project}-{name}"))
}

/// A digest of the service's definition: a container whose label differs is
/// recreated by `up`.
pub fn config_hash(s: &Service) -> String {
    let mut s = s.clone();
    s.replicas = 1;
    let text = serde_json::to_string(&s).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// What a container of `name` is created with. `number` is its replica number
/// (`None` for a one-off of `compose run`); `first_net` the network it is
/// created on (the others are connected after); `publish` the ports it
/// publishes (`-p` values: a service's own, or a one-off's `-p`).
pub fn create_request(
    project: &Project,
    name: &str,
    s: &Service,
    number: Option<u32>,
    first_net: &str,
    publish: &[String],
) -> Result<ContainerCreateRequest, String> {
    let mut f = ContainerFlags {
        image: image_of(&project.name, name, s),
        env: s.environment.clone(),
        env_file: s
            .env_file
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
        workdir: s.working_dir.clone(),
        user: s.user.clone(),
        hostname: s.hostname.clone(),
        tty: s.tty,
        interactive: s.stdin_open,
        init: s.init,
        privileged: s.privileged,
        read_only: s.read_only,
        restart: s.restart.clone().unwrap_or_else(|| "no".into()),
        publish: publish.to_vec(),
        expose: s.expose.clone(),
        tmpfs: s.tmpfs.clone(),
        cap_add: s.cap_add.clone(),
        cap_drop: s.cap_drop.clone(),
        dns: s.dns.clone(),
        add_host: s.extra_hosts.clone(),
        memory: s.memory.clone(),
        cpus: s.cpus.clone(),
        pids_limit: s.pids_limit,
        stop_signal: s.stop_signal.clone(),
        stop_timeout: s.stop_grace_period,
        pull: "missing".into(),
        network: Some(first_net.to_string()),
        ..Default::default()
    };
    for m in &s.volumes {
        let ro = if m.read_only { ",readonly" } else { "" };
        f.mount.push(match m.kind {
            MountKind::Tmpfs => format!("type=tmpfs,target={}", m.target),
            MountKind::Volume if m.source.is_empty() => {
                format!("type=volume,target={}{ro}", m.target)
            }
            MountKind::Volume => {
                let vol = &project.volumes[&m.source];
                format!("type=volume,source={},target={}{ro}", vol.name, m.target)
            }
            MountKind::Bind => format!("type=bind,source={},target={}{ro}", m.source, m.target),
        });
    }
    for (key, target) in &s.configs {
        let file = &project.configs[key].file;
        f.mount.push(format!(
            "type=bind,source={},target={target},readonly",
            file.display()
        ));
    }
    for (key, target) in &s.secrets {
        let file = &project.secrets[key].file;
        f.mount.push(format!(
            "type=bind,source={},target={target},readonly",
            file.display()
        ));
    }
    if let Some(h) = &s.healthcheck {
        f.health_interval = h.interval.clone();
        f.health_timeout = h.timeout.clone();
        f.health_retries = h.retries;
        f.health_start_period = h.start_period.clone();
        f.health_start_interval = h.start_interval.clone();
        f.no_healthcheck = h.test.first().map(String::as_str) == Some("NONE");
    }
    let detach = true;
    let mut body = build_create(&f, detach, &crate::opts::os_lookup)?;
    body.config.entrypoint = s.entrypoint.clone();
    body.config.cmd = s.command.clone();
    if let (Some(h), Some(cfg)) = (&s.healthcheck, body.config.healthcheck.as_mut()) {
        if !h.test.is_empty() {
            cfg.test = h.test.clone();
        }
    } else if let Some(h) = s.healthcheck.as_ref().filter(|h| !h.test.is_empty()) {
        body.config.healthcheck = Some(shared::api::HealthConfig {
            test: h.test.clone(),
            ..Default::default()
        });
    }
    // One-offs are not aliased under the service's name (Compose neither).
    let mut labels = s.labels.clone();
    labels.insert(PROJECT.into(), project.name.clone());
    labels.insert(SERVICE.into(), name.into());
    labels.insert(
        ONEOFF.into(),
        if number.is_some() { "False" } else { "True" }.into(),
    );
    labels.insert(NUMBER.into(), number.unwrap_or(1).to_string());
    labels.insert(
        WORKING_DIR.into(),
        project.working_dir.to_string_lossy().into_owned(),
    );
    labels.insert(
        CONFIG_FILES.into(),
        project
            .files
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(","),
    );
    labels.insert(CONFIG_HASH.into(), config_hash(s));
    labels.insert(VERSION.into(), COMPOSE_VERSION.into());
    if !s.depends_on.is_empty() {
        let deps: Vec<String> = s
            .depends_on
            .iter()
            .map(|(d, c)| format!("{d}:{}:false", c.as_str()))
            .collect();
        labels.insert(DEPENDS_ON.into(), deps.join(","));
    }
    body.config.labels.extend(labels);
    // The first network's endpoint: the service's name and its aliases.
    let net = &project.networks[first_net];
    let mut aliases = vec![name.to_string()];
    aliases.extend(s.networks.get(first_net).cloned().unwrap_or_default());
    if number.is_none() {
        aliases.clear();
    }
    body.host_config.network_mode = net.name.clone();
    body.networking_config = Some(serde_json::json!({
        "EndpointsConfig": { net.name.clone(): { "Aliases": aliases } }
    }));
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::super::model::normalize;
    use super::*;
    use std::path::Path;

    fn project(text: &str) -> Project {
        let v: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
        let mut p = normalize(&v, "cmp", Path::new("/srv/cmp"), &[], &mut |_| {}).unwrap();
        p.files = vec!["/srv/cmp/compose.yaml".into()];
        p
    }

    #[test]
    fn a_service_becomes_the_request_compose_sends() {
        let p = project(
            r#"
services:
  web:
    image: busybox
    entrypoint: [sh, -c]
    command: ["httpd -f -p 80"]
    ports: ["8080:80"]
    volumes: [data:/data, ./www:/www:ro]
    networks: {front: {aliases: [www]}, back: {}}
    healthcheck: {test: [CMD, wget, -q, localhost], interval: 2s, retries: 4}
    deploy: {resources: {limits: {memory: 64M, cpus: "0.5"}}}
    restart: unless-stopped
    labels: [tier=front]
networks: {front: {}, back: {}}
volumes: {data: {}}
"#,
        );
        let s = &p.services["web"];
        let body = create_request(&p, "web", s, Some(1), "back", &s.ports).unwrap();
        let c = &body.config;
        assert_eq!(c.image, "busybox");
        assert_eq!(
            c.entrypoint.as_deref(),
            Some(&["sh".to_string(), "-c".into()][..])
        );
        assert_eq!(c.cmd.as_deref(), Some(&["httpd -f -p 80".to_string()][..]));
        let h = c.healthcheck.as_ref().unwrap();
        assert_eq!(h.test, ["CMD", "wget", "-q", "localhost"]);
        assert_eq!((h.interval, h.retries), (2_000_000_000, 4));
        assert_eq!(c.labels[PROJECT], "cmp");
        assert_eq!(c.labels[SERVICE], "web");
        assert_eq!(c.labels[ONEOFF], "False");
        assert_eq!(c.labels[NUMBER], "1");
        assert_eq!(c.labels["tier"], "front");
        assert_eq!(c.labels[CONFIG_FILES], "/srv/cmp/compose.yaml");
        assert_eq!(c.labels[CONFIG_HASH], config_hash(s));
        let hc = serde_json::to_value(&body.host_config).unwrap();
        assert_eq!(hc["NetworkMode"], "cmp_back");
        assert_eq!(hc["Memory"], 64 * 1024 * 1024);
        assert_eq!(hc["NanoCpus"], 500_000_000);
        assert_eq!(hc["RestartPolicy"]["Name"], "unless-stopped");
        assert!(hc["PortBindings"]["80/tcp"].is_array(), "{hc}");
        let mounts = hc["Mounts"].as_array().unwrap();
        assert_eq!(mounts[0]["Source"], "cmp_data");
        assert_eq!(mounts[1]["Source"], "/srv/cmp/www");
        assert_eq!(mounts[1]["ReadOnly"], true);
        let ep = &body.networking_config.as_ref().unwrap()["EndpointsConfig"]["cmp_back"];
        assert_eq!(ep["Aliases"], serde_json::json!(["web"]));
        let front = create_request(&p, "web", s, Some(1), "front", &s.ports).unwrap();
        let ep = &front.networking_config.as_ref().unwrap()["EndpointsConfig"]["cmp_front"];
        assert_eq!(ep["Aliases"], serde_json::json!(["web", "www"]));
    }

    #[test]
    fn one_offs_publish_nothing_and_say_so() {
        let p = project("services:\n  web: {image: busybox, ports: ['8080:80']}\n");
        let body = create_request(&p, "web", &p.services["web"], None, "default", &[]).unwrap();
        assert_eq!(body.config.labels[ONEOFF], "True");
        let hc = serde_json::to_value(&body.host_config).unwrap();
        assert!(
            hc["PortBindings"].as_object().is_none_or(|m| m.is_empty()),
            "{hc}"
        );
    }

    #[test]
    fn a_changed_service_has_another_hash_and_replicas_do_not_count() {
        let p = project("services:\n  web: {image: busybox}\n");
        let mut s = p.services["web"].clone();
        let h = config_hash(&s);
        s.replicas = 3;
        assert_eq!(config_hash(&s), h);
        s.environment.push("A=1".into());
        assert_ne!(config_hash(&s), h);
    }
}
