//! The daemon's configuration file, as dockerd's `daemon.json`: `--config-file`,
//! by default `/etc/dockhand/daemon.json` when it exists. It holds the registry
//! settings (`registry-mirrors`, `insecure-registries`); a directive given both
//! here and as a flag is refused, as dockerd refuses it. Directives of dockerd's
//! that Dockhand has no use for are reported and ignored, so that a trainer's
//! existing `daemon.json` works; a directive nobody knows is an error.

use std::path::Path;

use serde_json::{Map, Value};

/// Where the daemon looks when `--config-file` is not given.
pub const DEFAULT_PATH: &str = "/etc/dockhand/daemon.json";

/// dockerd's directives that Dockhand does not take (they are warned about).
const DOCKERD_ONLY: &[&str] = &[
    "allow-nondistributable-artifacts",
    "api-cors-header",
    "authorization-plugins",
    "bip",
    "bridge",
    "builder",
    "cgroup-parent",
    "containerd",
    "containerd-namespace",
    "data-root",
    "debug",
    "default-address-pools",
    "default-cgroupns-mode",
    "default-runtime",
    "default-shm-size",
    "default-ulimits",
    "dns",
    "dns-opts",
    "dns-search",
    "exec-opts",
    "exec-root",
    "experimental",
    "features",
    "fixed-cidr",
    "group",
    "hosts",
    "icc",
    "init",
    "ip",
    "ip-forward",
    "ip-masq",
    "ip6tables",
    "ipv6",
    "iptables",
    "labels",
    "live-restore",
    "log-driver",
    "log-format",
    "log-level",
    "log-opts",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "max-download-attempts",
    "mtu",
    "no-new-privileges",
    "pidfile",
    "runtimes",
    "seccomp-profile",
    "selinux-enabled",
    "shutdown-timeout",
    "storage-driver",
    "storage-opts",
    "tls",
    "tlscacert",
    "tlscert",
    "tlskey",
    "tlsverify",
    "userland-proxy",
    "userns-remap",
];

/// What the file says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DaemonFile {
    pub registry_mirrors: Option<Vec<String>>,
    pub insecure_registries: Option<Vec<String>>,
    /// Directives read and ignored, for the daemon's log.
    pub ignored: Vec<String>,
}

fn unable(path: &Path, why: impl std::fmt::Display) -> String {
    format!(
        "unable to configure the Docker daemon with file {}: {why}",
        path.display()
    )
}

/// Read `path`. A missing file is no configuration unless it was asked for
/// (`explicit`), as dockerd treats its default path.
pub fn load(path: &Path, explicit: bool) -> Result<DaemonFile, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).map_err(|e| unable(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            Ok(DaemonFile::default())
        }
        Err(e) => {
            // Go's words for the common cases, as dockerd prints them.
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                _ => e.to_string(),
            };
            Err(unable(path, format!("open {}: {why}", path.display())))
        }
    }
}

fn strings(key: &str, v: &Value) -> Result<Vec<String>, String> {
    let wrong = || {
        format!(
            "json: cannot unmarshal {} into Go struct field Config.{key} of type []string",
            kind(v)
        )
    };
    v.as_array()
        .ok_or_else(wrong)?
        .iter()
        .map(|s| s.as_str().map(String::from).ok_or_else(wrong))
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Parse the file's text.
pub fn parse(text: &str) -> Result<DaemonFile, String> {
    if text.trim().is_empty() {
        return Ok(DaemonFile::default());
    }
    let map: Map<String, Value> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut out = DaemonFile::default();
    let mut unknown = Vec::new();
    for (key, v) in &map {
        match key.as_str() {
            "registry-mirrors" => out.registry_mirrors = Some(strings(key, v)?),
            "insecure-registries" => out.insecure_registries = Some(strings(key, v)?),
            k if DOCKERD_ONLY.contains(&k) => out.ignored.push(k.to_string()),
            k => unknown.push(k.to_string()),
        }
    }
    if !unknown.is_empty() {
        return Err(format!(
            "the following directives don't match any configuration option: {}",
            unknown.join(", ")
        ));
    }
    Ok(out)
}

/// Fill `flag` (a list flag's values) from the file's `key`; both set is
/// dockerd's conflict error.
pub fn merge(
    path: &Path,
    key: &str,
    flag: &mut Vec<String>,
    file: Option<&Vec<String>>,
) -> Result<(), String> {
    match file {
        None => Ok(()),
        Some(f) if flag.is_empty() => {
            flag.clone_from(f);
            Ok(())
        }
        Some(f) => Err(unable(
            path,
            format!(
                "the following directives are specified both as a flag and in the configuration file: {key}: (from flag: [{}], from file: [{}])",
                flag.join(" "),
                f.join(" ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_directives_are_read_and_dockerds_others_ignored() {
        let f = parse(
            r#"{"registry-mirrors": ["https://mirror.example"], "insecure-registries": ["10.0.0.0/8", "reg:5000"], "log-driver": "json-file"}"#,
        )
        .unwrap();
        assert_eq!(
            f.registry_mirrors.as_deref(),
            Some(&["https://mirror.example".to_string()][..])
        );
        assert_eq!(f.insecure_registries.as_ref().map(Vec::len), Some(2));
        assert_eq!(f.ignored, ["log-driver"]);
        assert_eq!(parse("").unwrap(), DaemonFile::default());
    }

    #[test]
    fn unknown_directives_wrong_types_and_bad_json_are_dockerds_errors() {
        assert_eq!(
            parse(r#"{"registry-mirors": []}"#).unwrap_err(),
            "the following directives don't match any configuration option: registry-mirors"
                .replace("mirrors", "mirors")
        );
        assert_eq!(
            parse(r#"{"registry-mirrors": "https://m"}"#).unwrap_err(),
            "json: cannot unmarshal string into Go struct field Config.registry-mirrors of type []string"
        );
        assert!(parse("{").is_err());
    }

    #[test]
    fn a_directive_in_both_places_is_refused_and_a_missing_default_is_nothing() {
        let p = Path::new("/etc/dockhand/daemon.json");
        let mut flag = vec!["https://a".to_string()];
        let e = merge(
            p,
            "registry-mirrors",
            &mut flag,
            Some(&vec!["https://b".into()]),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "unable to configure the Docker daemon with file /etc/dockhand/daemon.json: the following directives are specified both as a flag and in the configuration file: registry-mirrors: (from flag: [https://a], from file: [https://b])"
        );
        let mut empty = Vec::new();
        merge(
            p,
            "registry-mirrors",
            &mut empty,
            Some(&vec!["https://b".into()]),
        )
        .unwrap();
        assert_eq!(empty, ["https://b"]);
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("daemon.json");
        assert_eq!(load(&missing, false).unwrap(), DaemonFile::default());
        assert!(load(&missing, true)
            .unwrap_err()
            .contains("no such file or directory"));
    }
}
