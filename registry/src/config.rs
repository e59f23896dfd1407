//! Configuration: distribution's YAML file (the subset dockhand implements),
//! distribution's `REGISTRY_*` environment overrides, and defaults that
//! match the `registry:2` image.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use crate::log::Level;

/// The configuration file of the `registry:2` image; absent means defaults.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/docker/registry/config.yml";
/// The storage root of the `registry:2` image.
pub const DEFAULT_ROOT: &str = "/var/lib/registry";
/// The listen address of the `registry:2` image.
pub const DEFAULT_ADDR: &str = ":5000";

/// htpasswd authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Htpasswd {
    pub realm: String,
    pub path: PathBuf,
}

/// The registry's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `http.addr`: `host:port`, or `:port` for all interfaces.
    pub addr: String,
    /// `storage.filesystem.rootdirectory`.
    pub root: PathBuf,
    /// `storage.delete.enabled`.
    pub delete_enabled: bool,
    /// `auth.htpasswd`.
    pub htpasswd: Option<Htpasswd>,
    /// `log.level`.
    pub log_level: Level,
    /// Not `log.accesslog.disabled`.
    pub access_log: bool,
    /// `http.headers`: added to every response.
    pub headers: Vec<(String, String)>,
    /// `http.draingracetimeout`: how long in-flight requests may finish after a signal.
    pub drain_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: DEFAULT_ADDR.to_string(),
            root: PathBuf::from(DEFAULT_ROOT),
            delete_enabled: false,
            htpasswd: None,
            log_level: Level::Info,
            access_log: true,
            headers: Vec::new(),
            drain_timeout: Duration::ZERO,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The leaf keys an environment variable may set (`REGISTRY_` + path joined by `_`).
const ENV_KEYS: &[&[&str]] = &[
    &["version"],
    &["log", "level"],
    &["log", "accesslog", "disabled"],
    &["storage", "filesystem", "rootdirectory"],
    &["storage", "delete", "enabled"],
    &["http", "addr"],
    &["http", "draingracetimeout"],
    &["auth", "htpasswd", "realm"],
    &["auth", "htpasswd", "path"],
];

/// Keys that are accepted and have no effect here (dockhand has no cache, no
/// health checks, no notifications...): no warning for them.
const IGNORED_KEYS: &[&str] = &[
    "log.fields",
    "log.formatter",
    "log.hooks",
    "log.reportcaller",
    "storage.cache",
    "storage.maintenance",
    "storage.redirect",
    "storage.tag",
    "http.secret",
    "http.host",
    "http.prefix",
    "http.relativeurls",
    "http.debug",
    "http.http2",
    "health",
    "notifications",
    "validation",
    "compatibility",
    "redis",
    "proxy",
];

/// Where the configuration comes from and what overrides it.
#[derive(Debug, Default, Clone)]
pub struct LoadOptions {
    /// The file given on the command line (or `REGISTRY_CONFIGURATION_PATH`).
    pub path: Option<PathBuf>,
    /// `--addr`: wins over file and environment.
    pub addr: Option<String>,
    /// `--root`: wins over file and environment.
    pub root: Option<PathBuf>,
}

impl Config {
    /// Loads the configuration from the process environment; returns it with
    /// the warnings (unknown keys) to print.
    pub fn load(opts: &LoadOptions) -> Result<(Config, Vec<String>), ConfigError> {
        let env = |k: &str| std::env::var(k).ok();
        Self::load_with_env(opts, env)
    }

    /// [`Config::load`] with an explicit environment lookup (for tests).
    pub fn load_with_env(
        opts: &LoadOptions,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let path = opts
            .path
            .clone()
            .or_else(|| env("REGISTRY_CONFIGURATION_PATH").map(PathBuf::from));
        let text = match &path {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(t) => t,
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound
                        && p == Path::new(DEFAULT_CONFIG_PATH) =>
                {
                    String::new()
                }
                Err(e) => {
                    return Err(ConfigError(format!(
                        "configuration error: open {}: {e}",
                        p.display()
                    )))
                }
            },
            None => String::new(),
        };
        let (mut c, w) = Self::from_yaml(&text, env)?;
        if let Some(a) = &opts.addr {
            c.addr = a.clone();
        }
        if let Some(r) = &opts.root {
            c.root = r.clone();
        }
        Ok((c, w))
    }

    /// Parses YAML text and applies the environment overrides.
    pub fn from_yaml(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let mut doc: Value = if text.trim().is_empty() {
            Value::Mapping(Mapping::new())
        } else {
            serde_yaml::from_str(text)
                .map_err(|e| ConfigError(format!("configuration error: {e}")))?
        };
        if doc.is_null() {
            doc = Value::Mapping(Mapping::new());
        }
        if !doc.is_mapping() {
            return Err(ConfigError(
                "configuration error: not a YAML mapping".into(),
            ));
        }
        for keys in ENV_KEYS {
            let var = format!("REGISTRY_{}", keys.join("_").to_ascii_uppercase());
            if let Some(v) = env(&var) {
                let parsed = serde_yaml::from_str::<Value>(&v).unwrap_or(Value::String(v));
                let parsed = if parsed.is_null() {
                    Value::String(String::new())
                } else {
                    parsed
                };
                set_path(&mut doc, keys, parsed);
            }
        }
        let mut warnings = Vec::new();
        let c = extract(&doc, &mut warnings)?;
        Ok((c, warnings))
    }
}

fn set_path(doc: &mut Value, keys: &[&str], v: Value) {
    let mut cur = doc;
    for (i, k) in keys.iter().enumerate() {
        if !cur.is_mapping() {
            *cur = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(m) = cur else { return };
        let key = Value::String((*k).to_string());
        if i + 1 == keys.len() {
            m.insert(key, v);
            return;
        }
        cur = m.entry(key).or_insert(Value::Mapping(Mapping::new()));
    }
}

fn get<'a>(doc: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(doc, |v, k| v.get(*k))
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn as_bool(v: &Value, what: &str) -> Result<bool, ConfigError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" | "" => Ok(false),
            _ => Err(ConfigError(format!(
                "configuration error: {what}: not a boolean: {s}"
            ))),
        },
        Value::Null => Ok(false),
        _ => Err(ConfigError(format!(
            "configuration error: {what}: not a boolean"
        ))),
    }
}

/// Go durations as distribution's config has them (`10s`, `1m30s`, `500ms`,
/// `2h`): Go's `time.ParseDuration`, from the one parser in `shared::units`.
/// `None` for what Go refuses and for negative durations.
pub fn parse_duration(s: &str) -> Option<Duration> {
    shared::units::parse_duration(s.trim()).ok()?.to_std()
}

/// Walks the mapping, warning for keys nobody reads.
fn warn_unknown(v: &Value, prefix: &str, known: &[&str], warnings: &mut Vec<String>) {
    let Value::Mapping(m) = v else { return };
    for (k, child) in m {
        let Some(k) = k.as_str() else { continue };
        let path = if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        };
        if IGNORED_KEYS.contains(&path.as_str()) {
            continue;
        }
        if known.contains(&path.as_str()) {
            continue;
        }
        let is_parent = known.iter().any(|p| p.starts_with(&format!("{path}.")));
        if is_parent {
            warn_unknown(child, &path, known, warnings);
        } else {
            warnings.push(format!("configuration: ignoring unknown key {path:?}"));
        }
    }
}

fn extract(doc: &Value, warnings: &mut Vec<String>) -> Result<Config, ConfigError> {
    const KNOWN: &[&str] = &[
        "version",
        "log.level",
        "log.accesslog.disabled",
        "storage.filesystem.rootdirectory",
        "storage.filesystem.maxthreads",
        "storage.delete.enabled",
        "http.addr",
        "http.net",
        "http.headers",
        "http.draingracetimeout",
        "auth.htpasswd.realm",
        "auth.htpasswd.path",
    ];
    warn_unknown(doc, "", KNOWN, warnings);
    let mut c = Config::default();
    if let Some(v) = get(doc, &["log", "level"]).and_then(as_string) {
        c.log_level = Level::parse(&v)
            .ok_or_else(|| ConfigError(format!("configuration error: invalid log level {v:?}")))?;
    }
    if let Some(v) = get(doc, &["log", "accesslog", "disabled"]) {
        c.access_log = !as_bool(v, "log.accesslog.disabled")?;
    }
    if let Some(Value::Mapping(storage)) = doc.get("storage") {
        for (k, _) in storage {
            let k = k.as_str().unwrap_or_default();
            let is_driver = !matches!(
                k,
                "filesystem" | "delete" | "cache" | "maintenance" | "redirect" | "tag"
            );
            if is_driver {
                return Err(ConfigError(format!(
                    "configuration error: storage driver {k:?} is not supported (only filesystem)"
                )));
            }
        }
    }
    if let Some(v) = get(doc, &["storage", "filesystem", "rootdirectory"]).and_then(as_string) {
        if !v.is_empty() {
            c.root = PathBuf::from(v);
        }
    }
    if let Some(v) = get(doc, &["storage", "delete", "enabled"]) {
        c.delete_enabled = as_bool(v, "storage.delete.enabled")?;
    }
    if let Some(v) = get(doc, &["http", "addr"]).and_then(as_string) {
        if !v.is_empty() {
            c.addr = v;
        }
    }
    if let Some(v) = get(doc, &["http", "net"]).and_then(as_string) {
        if !v.is_empty() && v != "tcp" {
            return Err(ConfigError(format!(
                "configuration error: http.net {v:?} is not supported (only tcp)"
            )));
        }
    }
    if let Some(v) = get(doc, &["http", "draingracetimeout"]).and_then(as_string) {
        c.drain_timeout = parse_duration(&v).ok_or_else(|| {
            ConfigError(format!(
                "configuration error: http.draingracetimeout: {v:?}"
            ))
        })?;
    }
    if let Some(Value::Mapping(h)) = get(doc, &["http", "headers"]) {
        for (k, v) in h {
            let Some(k) = k.as_str() else { continue };
            let vals: Vec<String> = match v {
                Value::Sequence(s) => s.iter().filter_map(as_string).collect(),
                other => as_string(other).into_iter().collect(),
            };
            for v in vals {
                c.headers.push((k.to_string(), v));
            }
        }
    }
    if let Some(Value::Mapping(auth)) = doc.get("auth") {
        for (k, _) in auth {
            let k = k.as_str().unwrap_or_default();
            if k != "htpasswd" {
                return Err(ConfigError(format!(
                    "configuration error: auth {k:?} is not supported (only htpasswd)"
                )));
            }
        }
    }
    if let Some(h) = get(doc, &["auth", "htpasswd"]) {
        let realm = get(h, &["realm"]).and_then(as_string).unwrap_or_default();
        let path = get(h, &["path"]).and_then(as_string).unwrap_or_default();
        if path.is_empty() {
            return Err(ConfigError(
                "configuration error: auth.htpasswd.path is required".into(),
            ));
        }
        c.htpasswd = Some(Htpasswd {
            realm: if realm.is_empty() {
                "basic-realm".into()
            } else {
                realm
            },
            path: PathBuf::from(path),
        });
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_go_reads_them() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["10", "2d", "", "-1s", "s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
