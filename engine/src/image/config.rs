//! Image configs: the OCI `ImageConfiguration` as stored (its bytes are the image
//! ID), converted to and from the Engine API's `ContainerConfig`, plus manifests.
//!
//! Docker keeps `OnBuild` (and a top-level `comment`) in the config although OCI
//! has no field for them; they are read from and written to the JSON directly.
//! Encoded configs have sorted keys so the same image always gets the same ID.

use crate::store::{digest_string, sha256_of};
use chrono::{DateTime, SecondsFormat, Utc};
use oci_spec::image::{
    Arch, Config, ConfigBuilder, Descriptor, ImageConfiguration, ImageManifest,
    ImageManifestBuilder, MediaType, Os, Sha256Digest,
};
use serde_json::{Map, Value};
use shared::api::ContainerConfig;
use std::collections::{BTreeMap, HashMap};

/// A config as stored: the parsed OCI view, the raw JSON and the bytes.
#[derive(Debug, Clone)]
pub struct StoredConfig {
    pub oci: ImageConfiguration,
    pub raw: Value,
}

impl StoredConfig {
    /// Parse config bytes (docker's or OCI's).
    pub fn parse(bytes: &[u8]) -> Result<StoredConfig, String> {
        let raw: Value =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid image config: {e}"))?;
        let oci: ImageConfiguration = serde_json::from_value(raw.clone())
            .map_err(|e| format!("invalid image config: {e}"))?;
        Ok(StoredConfig { oci, raw })
    }

    /// Layer digests (diff IDs), bottom-most first.
    pub fn diff_ids(&self) -> Vec<String> {
        self.oci.rootfs().diff_ids().clone()
    }

    /// The run config in the Engine API's shape.
    pub fn container_config(&self) -> ContainerConfig {
        let mut c = from_oci_config(self.oci.config().as_ref());
        if let Some(ob) = self
            .raw
            .pointer("/config/OnBuild")
            .and_then(Value::as_array)
        {
            let v: Vec<String> = ob
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect();
            if !v.is_empty() {
                c.on_build = Some(v);
            }
        }
        c.healthcheck = self
            .raw
            .pointer("/config/Healthcheck")
            .and_then(|h| serde_json::from_value(h.clone()).ok());
        c.shell = self
            .raw
            .pointer("/config/Shell")
            .and_then(|h| serde_json::from_value(h.clone()).ok());
        c
    }

    pub fn created(&self) -> Option<DateTime<Utc>> {
        self.oci.created().as_deref().and_then(parse_time)
    }

    /// Docker's `Comment`: the top-level field, else the newest history comment.
    pub fn comment(&self) -> String {
        if let Some(c) = self.raw.get("comment").and_then(Value::as_str) {
            return c.to_string();
        }
        self.oci
            .history()
            .as_ref()
            .and_then(|h| h.last())
            .and_then(|h| h.comment().clone())
            .unwrap_or_default()
    }

    pub fn docker_version(&self) -> String {
        self.raw
            .get("docker_version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

/// The OCI run config for an Engine API config.
pub fn to_oci_config(c: &ContainerConfig) -> Config {
    let mut b = ConfigBuilder::default();
    if !c.user.is_empty() {
        b = b.user(c.user.clone());
    }
    if let Some(p) = &c.exposed_ports {
        b = b.exposed_ports(p.keys().cloned().collect::<Vec<_>>());
    }
    if !c.env.is_empty() {
        b = b.env(c.env.clone());
    }
    if let Some(e) = &c.entrypoint {
        b = b.entrypoint(e.clone());
    }
    if let Some(cmd) = &c.cmd {
        b = b.cmd(cmd.clone());
    }
    if let Some(v) = &c.volumes {
        b = b.volumes(v.keys().cloned().collect::<Vec<_>>());
    }
    if !c.working_dir.is_empty() {
        b = b.working_dir(c.working_dir.clone());
    }
    if !c.labels.is_empty() {
        b = b.labels(
            c.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        );
    }
    if let Some(s) = &c.stop_signal {
        b = b.stop_signal(s.clone());
    }
    // Every field has a default, so building cannot fail.
    b.build().unwrap_or_default()
}

/// The Engine API config for an OCI run config.
pub fn from_oci_config(c: Option<&Config>) -> ContainerConfig {
    let Some(c) = c else {
        return ContainerConfig::default();
    };
    let to_map = |v: &Option<Vec<String>>| {
        v.as_ref().map(|v| {
            v.iter()
                .map(|k| (k.clone(), Value::Object(Map::new())))
                .collect::<BTreeMap<_, _>>()
        })
    };
    ContainerConfig {
        user: c.user().clone().unwrap_or_default(),
        exposed_ports: to_map(c.exposed_ports()),
        env: c.env().clone().unwrap_or_default(),
        cmd: c.cmd().clone(),
        entrypoint: c.entrypoint().clone(),
        volumes: to_map(c.volumes()),
        working_dir: c.working_dir().clone().unwrap_or_default(),
        labels: c
            .labels()
            .as_ref()
            .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        stop_signal: c.stop_signal().clone(),
        ..Default::default()
    }
}

/// Encode a config with Docker's extras and sorted keys.
/// Docker's config fields that OCI's lacks (`OnBuild`, `Healthcheck`, `Shell`)
/// come from `extra`.
pub fn encode_config(
    oci: &ImageConfiguration,
    extra: &ContainerConfig,
    comment: Option<&str>,
) -> Result<Vec<u8>, String> {
    let mut v = serde_json::to_value(oci).map_err(|e| e.to_string())?;
    if let Some(cfg) = v.get_mut("config").and_then(Value::as_object_mut) {
        if let Some(ob) = extra.on_build.as_ref().filter(|o| !o.is_empty()) {
            cfg.insert("OnBuild".into(), Value::from(ob.clone()));
        }
        if let Some(h) = &extra.healthcheck {
            cfg.insert(
                "Healthcheck".into(),
                serde_json::to_value(h).map_err(|e| e.to_string())?,
            );
        }
        if let Some(sh) = &extra.shell {
            cfg.insert("Shell".into(), Value::from(sh.clone()));
        }
    }
    if let (Some(c), Some(obj)) = (comment, v.as_object_mut()) {
        obj.insert("comment".into(), Value::from(c));
    }
    serde_json::to_vec(&sorted(v)).map_err(|e| e.to_string())
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The manifest of an image whose layers are stored uncompressed.
pub fn build_manifest(config: &[u8], layers: &[(Sha256Digest, u64)]) -> Result<Vec<u8>, String> {
    let cfg = Descriptor::new(
        MediaType::ImageConfig,
        config.len() as u64,
        sha256_of(config),
    );
    let layers: Vec<Descriptor> = layers
        .iter()
        .map(|(d, size)| Descriptor::new(MediaType::ImageLayer, *size, d.clone()))
        .collect();
    let m: ImageManifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(cfg)
        .layers(layers)
        .build()
        .map_err(|e| e.to_string())?;
    serde_json::to_vec(&m).map_err(|e| e.to_string())
}

/// The GOARCH of this machine.
pub fn host_arch() -> Arch {
    Arch::from(match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    })
}

pub fn host_os() -> Os {
    Os::Linux
}

/// Go's RFC3339Nano: fractional seconds without trailing zeros, `Z` for UTC.
pub fn format_time(t: &DateTime<Utc>) -> String {
    let s = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    match s.find('.') {
        Some(dot) => {
            let (head, frac) = s.split_at(dot);
            let digits = frac[1..].trim_end_matches('Z').trim_end_matches('0');
            if digits.is_empty() {
                format!("{head}Z")
            } else {
                format!("{head}.{digits}Z")
            }
        }
        None => s,
    }
}

pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `sha256:<hex>` of config bytes: the image ID.
pub fn image_id(config: &[u8]) -> String {
    digest_string(&sha256_of(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use oci_spec::image::{ImageConfigurationBuilder, RootFsBuilder};

    fn full_config() -> ContainerConfig {
        let mut c = ContainerConfig {
            user: "1000".into(),
            env: vec!["PATH=/bin".into()],
            cmd: Some(vec!["sh".into()]),
            entrypoint: Some(vec!["/init".into()]),
            working_dir: "/w".into(),
            stop_signal: Some("SIGINT".into()),
            ..Default::default()
        };
        c.labels.insert("a".into(), "b".into());
        c.exposed_ports = Some([("80/tcp".to_string(), Value::Object(Map::new()))].into());
        c.volumes = Some([("/data".to_string(), Value::Object(Map::new()))].into());
        c
    }

    #[test]
    fn container_config_round_trips_through_oci() {
        let c = full_config();
        assert_eq!(from_oci_config(Some(&to_oci_config(&c))), c);
        assert_eq!(from_oci_config(None), ContainerConfig::default());
    }

    #[test]
    fn encoding_is_deterministic_and_keeps_onbuild() {
        let mut c = full_config();
        for i in 0..20 {
            c.labels.insert(format!("k{i}"), "v".into());
        }
        let oci = ImageConfigurationBuilder::default()
            .config(to_oci_config(&c))
            .rootfs(
                RootFsBuilder::default()
                    .typ("layers")
                    .diff_ids(vec![])
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let extra = ContainerConfig {
            on_build: Some(vec!["RUN x".to_string()]),
            healthcheck: Some(shared::api::HealthConfig {
                test: vec!["CMD-SHELL".into(), "true".into()],
                interval: 5_000_000_000,
                ..Default::default()
            }),
            shell: Some(vec!["/bin/ash".into(), "-c".into()]),
            ..Default::default()
        };
        let a = encode_config(&oci, &extra, Some("imported")).unwrap();
        let b = encode_config(&oci, &extra, Some("imported")).unwrap();
        assert_eq!(a, b);
        let parsed = StoredConfig::parse(&a).unwrap();
        assert_eq!(parsed.container_config().healthcheck, extra.healthcheck);
        assert_eq!(parsed.container_config().shell, extra.shell);
        assert_eq!(
            parsed.raw.pointer("/config/Healthcheck/Interval"),
            Some(&serde_json::json!(5_000_000_000i64))
        );
        assert_eq!(
            parsed.container_config().on_build,
            Some(vec!["RUN x".to_string()])
        );
        assert_eq!(parsed.container_config().labels.len(), 21);
        assert_eq!(parsed.comment(), "imported");
        assert!(image_id(&a).starts_with("sha256:"));
    }

    #[test]
    fn times_format_as_go_rfc3339nano() {
        let t = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
        assert_eq!(format_time(&t), "2024-05-06T07:08:09Z");
        let t2 = t + chrono::Duration::nanoseconds(120_000_000);
        assert_eq!(format_time(&t2), "2024-05-06T07:08:09.12Z");
        assert_eq!(parse_time(&format_time(&t2)), Some(t2));
    }
}
