//! The Compose Specification's common part, normalised from the parsed YAML:
//! short and long syntaxes become one form (ports as `-p` values, volumes as
//! mounts, `environment` lists or maps as `KEY=VALUE`, `depends_on` lists or maps
//! with conditions), and every value is checked with the path of what is wrong.
//! Keys of the specification that Dockhand does not act on are reported as
//! warnings; keys outside it are errors, as in `docker compose`.

use super::load::{key_text, Seg};
use serde::Serialize;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A normalised project.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Project {
    pub name: String,
    #[serde(skip)]
    pub working_dir: PathBuf,
    #[serde(skip)]
    pub files: Vec<PathBuf>,
    pub services: BTreeMap<String, Service>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, FileObject>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, FileObject>,
    /// Services left out by `profiles`.
    #[serde(skip)]
    pub disabled: BTreeMap<String, Service>,
}

impl Project {
    /// A project with nothing in it yet (or known by its name alone).
    pub fn empty(name: &str, dir: &Path) -> Project {
        Project {
            name: name.to_string(),
            working_dir: dir.to_path_buf(),
            files: vec![],
            services: BTreeMap::new(),
            networks: BTreeMap::new(),
            volumes: BTreeMap::new(),
            configs: BTreeMap::new(),
            secrets: BTreeMap::new(),
            disabled: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Service {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_file: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    /// Network key and its aliases, in the order written.
    #[serde(serialize_with = "ser::networks")]
    pub networks: BTreeMap<String, Vec<String>>,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "ser::depends_on"
    )]
    pub depends_on: BTreeMap<String, Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// `deploy.replicas`, `scale`, else 1.
    #[serde(rename = "scale", skip_serializing_if = "ser::is_one")]
    pub replicas: u32,
    #[serde(rename = "mem_limit", skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser::seconds"
    )]
    pub stop_grace_period: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stdin_open: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<String>,
    /// Files mounted read-only: `configs` and `secrets` (source key, target).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "ser::file_refs"
    )]
    pub configs: Vec<(String, String)>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "ser::file_refs"
    )]
    pub secrets: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Build {
    pub context: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: MountKind,
    /// Volume key, host path (absolute), or empty (anonymous volume, tmpfs).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    pub target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Volume,
    Bind,
    Tmpfs,
}

/// A `depends_on` condition; written as its specification name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Started,
    Healthy,
    CompletedSuccessfully,
}

impl Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Condition {
    pub const ALL: [Condition; 3] = [
        Condition::Started,
        Condition::Healthy,
        Condition::CompletedSuccessfully,
    ];

    /// The condition a specification name stands for.
    pub fn parse(name: &str) -> Option<Condition> {
        Condition::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The specification's name of the condition.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "service_started",
            Condition::Healthy => "service_healthy",
            Condition::CompletedSuccessfully => "service_completed_successfully",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Healthcheck {
    /// Docker's form: `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Network {
    /// The engine's name: `name:`, else `PROJECT_KEY`.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Volume {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A top-level config or secret from a file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileObject {
    pub file: PathBuf,
}

/// What is wrong, and where.
pub type Problem = (Vec<Seg>, String);

mod ser;
mod service;
#[cfg(test)]
mod tests;
mod values;

pub use values::shell_words;
use values::{abs, as_bool, as_map, as_str, child, get, kv_map};

const TOP_KEYS: &[&str] = &[
    "version", "name", "services", "networks", "volumes", "configs", "secrets", "include", "models",
];

/// Normalise a parsed (interpolated, merged) file. `dir` is the project folder;
/// `profiles` the active ones; `warn` gets what is ignored.
pub fn normalize(
    root: &Value,
    name: &str,
    dir: &Path,
    profiles: &[String],
    warn: &mut dyn FnMut(String),
) -> Result<Project, Problem> {
    let top = as_map(root, &[])?;
    for (k, _) in top {
        let key = key_text(k);
        if !TOP_KEYS.contains(&key.as_str()) && !key.starts_with("x-") {
            return Err((
                vec![Seg::Key(key.clone())],
                format!("additional property {key} is not allowed"),
            ));
        }
        if key == "version" {
            warn("the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion".into());
        }
        if key == "include" || key == "models" {
            warn(format!(
                "`{key}` is not supported by Dockhand and is ignored"
            ));
        }
    }
    let mut project = Project::empty(name, dir);
    let path = |k: &str| vec![Seg::Key(k.to_string())];
    if let Some(nets) = get(top, "networks") {
        for (k, v) in as_map(nets, &path("networks"))? {
            let key = key_text(k);
            let p = [path("networks"), vec![Seg::Key(key.clone())]].concat();
            project
                .networks
                .insert(key.clone(), network(v, &p, name, &key)?);
        }
    }
    if let Some(vols) = get(top, "volumes") {
        for (k, v) in as_map(vols, &path("volumes"))? {
            let key = key_text(k);
            let p = [path("volumes"), vec![Seg::Key(key.clone())]].concat();
            project
                .volumes
                .insert(key.clone(), volume(v, &p, name, &key)?);
        }
    }
    for (section, out) in [
        ("configs", &mut project.configs),
        ("secrets", &mut project.secrets),
    ] {
        if let Some(m) = get(top, section) {
            for (k, v) in as_map(m, &path(section))? {
                let key = key_text(k);
                let p = [path(section), vec![Seg::Key(key.clone())]].concat();
                let obj = as_map(v, &p)?;
                let Some(file) = get(obj, "file") else {
                    return Err((
                        p,
                        "only file-based configs and secrets are supported (`file:`)".into(),
                    ));
                };
                let fp = [p.clone(), vec![Seg::Key("file".into())]].concat();
                out.insert(
                    key,
                    FileObject {
                        file: abs(dir, &as_str(file, &fp)?),
                    },
                );
            }
        }
    }
    let Some(services) = get(top, "services") else {
        return Err((
            vec![],
            "no service selected: the file has no `services`".into(),
        ));
    };
    for (k, v) in as_map(services, &path("services"))? {
        let key = key_text(k);
        let p = [path("services"), vec![Seg::Key(key.clone())]].concat();
        let s = service::service(v, &p, dir, warn)?;
        let active = s.profiles.is_empty() || s.profiles.iter().any(|p| profiles.contains(p));
        if active {
            project.services.insert(key, s);
        } else {
            project.disabled.insert(key, s);
        }
    }
    check_references(&mut project)?;
    Ok(project)
}

/// Names that services use must exist; services without networks get `default`.
fn check_references(project: &mut Project) -> Result<(), Problem> {
    let uses_default = project.services.values().any(|s| s.networks.is_empty());
    if uses_default && !project.networks.contains_key("default") {
        project.networks.insert(
            "default".into(),
            Network {
                name: format!("{}_default", project.name),
                ..Default::default()
            },
        );
    }
    let all: Vec<String> = project
        .services
        .keys()
        .chain(project.disabled.keys())
        .cloned()
        .collect();
    for (name, s) in project.services.iter_mut() {
        let at = |k: &str| {
            vec![
                Seg::Key("services".into()),
                Seg::Key(name.clone()),
                Seg::Key(k.into()),
            ]
        };
        if s.networks.is_empty() {
            s.networks.insert("default".into(), vec![]);
        }
        for n in s.networks.keys() {
            if !project.networks.contains_key(n) {
                return Err((
                    at("networks"),
                    format!(
                        "service {name:?} refers to undefined network {n}: invalid compose project"
                    ),
                ));
            }
        }
        for m in &s.volumes {
            if m.kind == MountKind::Volume
                && !m.source.is_empty()
                && !project.volumes.contains_key(&m.source)
            {
                return Err((
                    at("volumes"),
                    format!(
                        "service {name:?} refers to undefined volume {}: invalid compose project",
                        m.source
                    ),
                ));
            }
        }
        for d in s.depends_on.keys() {
            if !all.contains(d) {
                return Err((at("depends_on"), format!("service {name:?} depends on undefined service {d:?}: invalid compose project")));
            }
        }
        for (k, _) in &s.configs {
            if !project.configs.contains_key(k) {
                return Err((
                    at("configs"),
                    format!(
                        "service {name:?} refers to undefined config {k}: invalid compose project"
                    ),
                ));
            }
        }
        for (k, _) in &s.secrets {
            if !project.secrets.contains_key(k) {
                return Err((
                    at("secrets"),
                    format!(
                        "service {name:?} refers to undefined secret {k}: invalid compose project"
                    ),
                ));
            }
        }
        if s.image.is_none() && s.build.is_none() {
            return Err((vec![Seg::Key("services".into()), Seg::Key(name.clone())], format!("service {name:?} has neither an image nor a build context specified: invalid compose project")));
        }
    }
    Ok(())
}

fn network(v: &Value, p: &[Seg], project: &str, key: &str) -> Result<Network, Problem> {
    let mut n = Network {
        name: format!("{project}_{key}"),
        ..Default::default()
    };
    if v.is_null() {
        return Ok(n);
    }
    let m = as_map(v, p)?;
    for (k, v) in m {
        let k = key_text(k);
        let kp = child(p, &k);
        match k.as_str() {
            "name" => n.name = as_str(v, &kp)?,
            "driver" => n.driver = Some(as_str(v, &kp)?),
            "external" => n.external = as_bool(v, &kp)?,
            "internal" => n.internal = as_bool(v, &kp)?,
            "labels" => n.labels = kv_map(v, &kp)?,
            "attachable" | "driver_opts" | "ipam" | "enable_ipv6" | "enable_ipv4" => {}
            _ if k.starts_with("x-") => {}
            _ => return Err((kp, format!("additional property {k} is not allowed"))),
        }
    }
    if n.external && !m.contains_key("name") {
        n.name = key.to_string();
    }
    Ok(n)
}

fn volume(v: &Value, p: &[Seg], project: &str, key: &str) -> Result<Volume, Problem> {
    let mut vol = Volume {
        name: format!("{project}_{key}"),
        ..Default::default()
    };
    if v.is_null() {
        return Ok(vol);
    }
    let m = as_map(v, p)?;
    for (k, v) in m {
        let k = key_text(k);
        let kp = child(p, &k);
        match k.as_str() {
            "name" => vol.name = as_str(v, &kp)?,
            "driver" => vol.driver = Some(as_str(v, &kp)?),
            "external" => vol.external = as_bool(v, &kp)?,
            "labels" => vol.labels = kv_map(v, &kp)?,
            "driver_opts" => {}
            _ if k.starts_with("x-") => {}
            _ => return Err((kp, format!("additional property {k} is not allowed"))),
        }
    }
    if vol.external && !m.contains_key("name") {
        vol.name = key.to_string();
    }
    Ok(vol)
}
