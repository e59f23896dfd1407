//! What `dockhand serve` is told: the playground's limits and where its UI is, and
//! the config file (`--config FILE`, TOML or JSON) that says the same as the flags.
//!
//! The file is turned into flags (`max_sessions = 20` -> `--max-sessions 20`) that
//! the CLI parses before the command line's own, so a flag given on the command
//! line wins and every value goes through one parser. Keys are the flags' long
//! names, with `-` or `_`. The TOML file is real TOML (read by `toml_edit`) with
//! every key at the top level: strings, integers, floats, booleans and arrays of
//! those; tables, inline tables and dates have no flag to become and are refused.
//!
//! Durations and sizes are read by `shared::units`, as docker reads them. A
//! repeatable flag is a list: `preload = ["/srv/bundle", "/srv/extra.tar"]` is
//! `--preload /srv/bundle --preload /srv/extra.tar`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The playground's settings (the daemon's own come in `DaemonOptions`).
#[derive(Debug, Clone)]
pub struct PlaygroundOptions {
    /// `--listen`: where the UI, the playground API and the port proxy are served.
    pub listen: SocketAddr,
    /// `--ui`: the built bundle (`scripts/build-web`); `None`: a page that says so.
    pub ui_dir: Option<PathBuf>,
    /// `--title`: shown on the landing page.
    pub title: String,
    /// `--max-sessions`: sessions at once; more are answered "full" (503).
    pub max_sessions: u32,
    /// `--max-instances`: instances per session (409 beyond).
    pub max_instances: u32,
    /// `--max-total-instances`: instances on the server (503 beyond); 0: no cap
    /// beyond sessions x instances.
    pub max_total_instances: u32,
    /// `--max-terminals`: terminal tabs per instance.
    pub max_terminals: u32,
    /// `--session-ttl`, seconds.
    pub session_ttl: u64,
    /// `--idle-timeout`, seconds; 0: none.
    pub idle_timeout: u64,
    /// `--access-code`: needed to start a session when set.
    pub access_code: Option<String>,
    /// `--upload-limit`, bytes.
    pub upload_limit: u64,
    /// Bytes of output each terminal keeps for reconnects.
    pub replay_bytes: usize,
    /// The `expiring` notice comes this many seconds before the end.
    pub warn_before: u64,
    /// `--port-domain`: ports are also served at `NODE-PORT-SESSION.<domain>`,
    /// and the UI's port links use those host names.
    pub port_domain: Option<String>,
    /// `--trainer-code`: who knows it may open workshops.
    pub trainer_code: Option<String>,
    /// `--lessons DIR`, read and checked; the built-in course by default.
    pub lessons: std::sync::Arc<Vec<shared::lessons::Lesson>>,
    /// `--node-name`: one node of many behind `dockhand gateway`; its session
    /// and workshop ids start with the name's prefix
    /// (`shared::playground::cluster`).
    pub node_name: Option<String>,
    /// `--drain-deadline`, seconds: on SIGTERM take no new sessions and let the
    /// open ones run to their end for up to this long; 0: close them at once.
    pub drain_deadline: u64,
}

impl Default for PlaygroundOptions {
    fn default() -> Self {
        PlaygroundOptions {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            ui_dir: None,
            title: "Dockhand".into(),
            max_sessions: 100,
            max_instances: shared::playground::DEFAULT_MAX_INSTANCES,
            max_total_instances: 0,
            max_terminals: 4,
            session_ttl: 4 * 3600,
            idle_timeout: 3600,
            access_code: None,
            upload_limit: 50 << 20,
            replay_bytes: shared::playground::DEFAULT_REPLAY_BYTES,
            warn_before: 300,
            port_domain: None,
            trainer_code: None,
            lessons: crate::lessons::builtin_shared(),
            node_name: None,
            drain_deadline: 0,
        }
    }
}

impl PlaygroundOptions {
    /// Instances the whole server may run.
    pub fn instance_cap(&self) -> usize {
        match self.max_total_instances {
            0 => self.max_sessions as usize * self.max_instances as usize,
            n => n as usize,
        }
    }
}

/// A duration in whole seconds, rounded up, read as Go's `time.ParseDuration`
/// (`90s`, `30m`, `4h`, `1h30m`, `1.5h`), as the daemon's `--vhost-ttl` and
/// docker's duration flags are; a plain number is seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    // Plain seconds, as the playground always took them (`session_ttl = 3600`).
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    let hint = "use e.g. 90s, 30m, 4h or 1h30m";
    let d = shared::units::parse_duration(s).map_err(|e| format!("{e}: {hint}"))?;
    u64::try_from(d.ceil_secs())
        .map_err(|_| format!("invalid duration {s:?}: a duration must not be negative"))
}

/// A size in bytes as go-units' `RAMInBytes` reads it (docker's `-m`): `1048576`,
/// `512k`, `1.5m`, `10MB`, `10MiB`, `1g` (binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    shared::units::ram_in_bytes(s)
        .map(|n| n as u64)
        .map_err(|e| format!("invalid size {s:?}: {e}: use e.g. 10m or 1g"))
}

/// The UI bundle to serve: `explicit` (which must hold `index.html`), else
/// `<dir of the executable>/../share/dockhand/ui`, else `./target/ui`.
pub fn find_ui_dir(explicit: Option<&Path>, exe: &Path) -> Result<Option<PathBuf>, String> {
    if let Some(dir) = explicit {
        if dir.join("index.html").is_file() {
            return Ok(Some(dir.to_path_buf()));
        }
        return Err(format!(
            "--ui {}: no index.html there (build the UI with scripts/build-web {})",
            dir.display(),
            dir.display()
        ));
    }
    let mut candidates = vec![];
    if let Some(bin_dir) = exe.parent() {
        candidates.push(bin_dir.join("../share/dockhand/ui"));
    }
    candidates.push(PathBuf::from("target/ui"));
    Ok(candidates
        .into_iter()
        .find(|d| d.join("index.html").is_file())
        .map(|d| d.canonicalize().unwrap_or(d)))
}

/// A scalar or list value of the config file.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Bool(bool),
    List(Vec<Value>),
}

/// The config file as command-line flags, in file order. JSON when the file name
/// ends in `.json` or the text starts with `{`, TOML otherwise.
pub fn config_file_args(text: &str, path: &Path) -> Result<Vec<String>, String> {
    let json = path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    let pairs = if json {
        parse_json(text)
    } else {
        parse_toml(text)
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut args = vec![];
    for (key, value) in pairs {
        let flag = key.replace('_', "-");
        if flag == "config" {
            return Err(format!(
                "{}: a config file cannot name another one",
                path.display()
            ));
        }
        if flag.is_empty() || !flag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!("{}: invalid key {key:?}", path.display()));
        }
        push_flag(&mut args, &flag, &value).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(args)
}

fn push_flag(args: &mut Vec<String>, flag: &str, value: &Value) -> Result<(), String> {
    match value {
        Value::Bool(true) => args.push(format!("--{flag}")),
        Value::Bool(false) => {}
        Value::Str(s) => {
            args.push(format!("--{flag}"));
            args.push(s.clone());
        }
        Value::List(items) => {
            for item in items {
                if matches!(item, Value::List(_)) {
                    return Err(format!("{flag}: lists of lists are not supported"));
                }
                push_flag(args, flag, item)?;
            }
        }
    }
    Ok(())
}

fn from_json(key: &str, v: &serde_json::Value) -> Result<Value, String> {
    Ok(match v {
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Number(n) => Value::Str(n.to_string()),
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Array(a) => Value::List(
            a.iter()
                .map(|x| from_json(key, x))
                .collect::<Result<_, _>>()?,
        ),
        _ => return Err(format!("{key}: want a string, number, boolean or list")),
    })
}

fn parse_json(text: &str) -> Result<Vec<(String, Value)>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let obj = v.as_object().ok_or("the top level must be an object")?;
    obj.iter()
        .map(|(k, v)| Ok((k.clone(), from_json(k, v)?)))
        .collect()
}

/// A TOML file's top-level keys, in file order. Tables (`[serve]`, dotted keys,
/// inline tables) have no flag to become, so they are refused.
fn parse_toml(text: &str) -> Result<Vec<(String, Value)>, String> {
    let doc = text
        .parse::<toml_edit::Document>()
        .map_err(|e| toml_error(text, &e))?;
    let mut out = vec![];
    for (key, item) in doc.iter() {
        let value = match item {
            toml_edit::Item::Value(v) => from_toml(key, v)?,
            toml_edit::Item::None => continue,
            toml_edit::Item::Table(_) | toml_edit::Item::ArrayOfTables(_) => {
                let line = table_line(text, key)
                    .map(|n| format!("line {n}: "))
                    .unwrap_or_default();
                return Err(format!(
                    "{line}tables are not supported: put every key at the top level"
                ));
            }
        };
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn from_toml(key: &str, v: &toml_edit::Value) -> Result<Value, String> {
    use toml_edit::Value as T;
    Ok(match v {
        T::String(s) => Value::Str(s.value().clone()),
        T::Integer(n) => Value::Str(n.value().to_string()),
        T::Float(f) => Value::Str(f.value().to_string()),
        T::Boolean(b) => Value::Bool(*b.value()),
        T::Array(a) => Value::List(
            a.iter()
                .map(|x| from_toml(key, x))
                .collect::<Result<_, _>>()?,
        ),
        T::Datetime(_) | T::InlineTable(_) => {
            return Err(format!(
                "{key}: want a string, number, boolean or list (strings need quotes)"
            ))
        }
    })
}

/// toml_edit's complaint as `line L, column C: what`, with a hint for the most
/// common slip, an unquoted string.
fn toml_error(text: &str, e: &toml_edit::TomlError) -> String {
    let what = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let Some(span) = e.span() else {
        return what;
    };
    let start = span.start.min(text.len());
    let (before, after) = text.split_at(start);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rsplit('\n').next().unwrap_or("");
    let column = line_start.chars().count() + 1;
    // A value that starts as no TOML value does was most likely meant as a string.
    let whole_line = format!("{line_start}{}", after.split('\n').next().unwrap_or(""));
    let unquoted = whole_line.split_once('=').is_some_and(|(_, v)| {
        let v = v.trim_start();
        !v.is_empty() && !v.starts_with(['"', '\'', '[', '{', '#'])
    });
    let hint = if unquoted && !what.contains("duplicate key") {
        " (strings need quotes)"
    } else {
        ""
    };
    format!("line {line}, column {column}: {what}{hint}")
}

/// The line (from 1) where top-level `key` becomes a table: its `[key` header,
/// or its first dotted `key.x = ` line.
fn table_line(text: &str, key: &str) -> Option<usize> {
    let is_header = |l: &str| {
        let name = l.trim_start_matches('[').trim_start();
        let name = name.strip_prefix('"').unwrap_or(name);
        name.strip_prefix(key).is_some_and(|rest| {
            rest.trim_start_matches('"')
                .trim_start()
                .starts_with(['.', ']'])
        })
    };
    let is_dotted = |l: &str| {
        let name = l.strip_prefix('"').unwrap_or(l);
        name.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start_matches('"').trim_start().starts_with('.'))
    };
    text.lines()
        .map(str::trim_start)
        .position(|l| {
            if l.starts_with('[') {
                is_header(l)
            } else {
                is_dotted(l)
            }
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_go_durations_in_whole_seconds() {
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("30m").unwrap(), 1800);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration("1.5h").unwrap(), 5400);
        assert_eq!(parse_duration("500ms").unwrap(), 1);
        assert_eq!(parse_duration("0").unwrap(), 0);
        // Plain seconds, as before.
        assert_eq!(parse_duration("90").unwrap(), 90);
        for bad in ["", "m", "10x", "1h30", "-5", "-5m", "2d", " 1h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_duration("2d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"2d\": use e.g. 90s, 30m, 4h or 1h30m"
        );
        assert!(parse_duration("-5m").unwrap_err().contains("negative"));
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("10m").unwrap(), 10 << 20);
        assert_eq!(parse_size("10MB").unwrap(), 10 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5m").unwrap(), 3 << 19);
        assert_eq!(parse_size("1p").unwrap(), 1 << 50);
        assert!(parse_size("ten").is_err());
        assert_eq!(
            parse_size("1q").unwrap_err(),
            "invalid size \"1q\": invalid suffix: 'q': use e.g. 10m or 1g"
        );
        assert!(parse_size("-1m").is_err());
    }

    #[test]
    fn toml_and_json_files_become_the_same_flags() {
        let toml = r#"
# the trainer's settings
listen = "127.0.0.1:9000"   # loopback only
max_sessions = 20
max-instances = 3
session_ttl = "2h"
no_networking = false
access_code = "s3cr\"et"
egress-registry = ["10.0.0.1:5000", '10.0.0.2:5000']
"#;
        let json = r#"{"listen": "127.0.0.1:9000", "max_sessions": 20, "max-instances": 3,
            "session_ttl": "2h", "no_networking": false, "access_code": "s3cr\"et",
            "egress-registry": ["10.0.0.1:5000", "10.0.0.2:5000"]}"#;
        let want: Vec<String> = [
            "--listen",
            "127.0.0.1:9000",
            "--max-sessions",
            "20",
            "--max-instances",
            "3",
            "--session-ttl",
            "2h",
            "--access-code",
            "s3cr\"et",
            "--egress-registry",
            "10.0.0.1:5000",
            "--egress-registry",
            "10.0.0.2:5000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(config_file_args(toml, Path::new("p.toml")).unwrap(), want);
        assert_eq!(config_file_args(json, Path::new("p.json")).unwrap(), want);
        let on = config_file_args("no_networking = true", Path::new("p.toml")).unwrap();
        assert_eq!(on, vec!["--no-networking"]);
    }

    #[test]
    fn preload_lists_become_one_flag_per_path() {
        let want = ["--preload", "/srv/bundle", "--preload", "/srv/more.tar"];
        let toml = "preload = [\"/srv/bundle\", \"/srv/more.tar\"]\n";
        assert_eq!(config_file_args(toml, Path::new("p.toml")).unwrap(), want);
        let json = r#"{"preload": ["/srv/bundle", "/srv/more.tar"]}"#;
        assert_eq!(config_file_args(json, Path::new("p.json")).unwrap(), want);
        let one = config_file_args("preload = \"/srv/bundle\"", Path::new("p.toml")).unwrap();
        assert_eq!(one, ["--preload", "/srv/bundle"]);
    }

    #[test]
    fn config_files_refuse_tables_bare_words_and_nesting() {
        let p = Path::new("p.toml");
        assert!(config_file_args("[serve]\nlisten = \"x\"", p)
            .unwrap_err()
            .contains("line 1: tables are not supported"));
        assert!(config_file_args("listen = 0.0.0.0:8080", p)
            .unwrap_err()
            .contains("strings need quotes"));
        assert!(config_file_args("config = \"other.toml\"", p)
            .unwrap_err()
            .contains("cannot name another"));
        assert!(config_file_args("{\"x\": {\"y\": 1}}", Path::new("p.json")).is_err());
        assert!(config_file_args("a = \"open", p).is_err());
        let e = config_file_args("title = \"x\"\n\n[serve]\nlisten = \"x\"", p).unwrap_err();
        assert!(e.contains("line 3: tables are not supported"), "{e}");
        let e = config_file_args("title = \"x\"\nserve.listen = \"x\"", p).unwrap_err();
        assert!(e.contains("line 2: tables are not supported"), "{e}");
        let e = config_file_args("listen = { host = \"x\" }", p).unwrap_err();
        assert!(e.contains("listen: want a string"), "{e}");
        let e = config_file_args("title = \"x\"\nlisten = localhost", p).unwrap_err();
        assert!(e.starts_with("p.toml: line 2, column 10: "), "{e}");
        assert!(e.contains("strings need quotes"), "{e}");
        let e = config_file_args("a = 1\na = 2", p).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        assert!(config_file_args("egress-registry = [[\"a\"]]", p)
            .unwrap_err()
            .contains("lists of lists"));
    }

    #[test]
    fn toml_files_are_real_toml() {
        let p = Path::new("p.toml");
        let text = "egress-registry = [\n  \"a:5000\",  # first\n  'b:5000',\n]\n\
                    title = \"\"\"Class\nB\"\"\"\nmax_sessions = 1_000\nratio = 0.5\n";
        assert_eq!(
            config_file_args(text, p).unwrap(),
            [
                "--egress-registry",
                "a:5000",
                "--egress-registry",
                "b:5000",
                "--title",
                "Class\nB",
                "--max-sessions",
                "1000",
                "--ratio",
                "0.5"
            ]
        );
    }

    #[test]
    fn ui_dir_must_hold_an_index_and_defaults_fall_back_quietly() {
        let d = tempfile::tempdir().unwrap();
        let exe = d.path().join("bin/dockhand");
        std::fs::create_dir(d.path().join("bin")).unwrap();
        assert!(find_ui_dir(Some(d.path()), &exe).is_err());
        let ui = d.path().join("share/dockhand/ui");
        std::fs::create_dir_all(&ui).unwrap();
        std::fs::write(ui.join("index.html"), "<!doctype html>").unwrap();
        assert_eq!(find_ui_dir(Some(&ui), &exe).unwrap(), Some(ui.clone()));
        let found = find_ui_dir(None, &exe).unwrap().unwrap();
        assert_eq!(found, ui.canonicalize().unwrap());
    }
}
