//! What `dockhand serve` is told: the playground's limits and where its UI is, and
//! the config file (`--config FILE`, TOML or JSON) that says the same as the flags.
//!
//! The file is turned into flags (`max_sessions = 20` -> `--max-sessions 20`) that
//! the CLI parses before the command line's own, so a flag given on the command
//! line wins and every value goes through one parser. Keys are the flags' long
//! names, with `-` or `_`. The TOML accepted is the flat part of TOML: `key = value`
//! lines with strings, integers, floats, booleans and arrays of those; no tables.

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

/// A duration: plain seconds, or Go-like `90s`, `30m`, `4h`, `1h30m`, `2d`.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid duration {s:?}: use e.g. 90s, 30m, 4h or 1h30m");
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(bad()),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(bad)?;
        num.clear();
    }
    if !num.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// A size in bytes: `1048576`, `512k`, `10m`, `1g`, `10MB`, `10MiB` (binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid size {s:?}: use e.g. 10m or 1g");
    let t = s.trim().to_ascii_lowercase();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(bad()),
    };
    n.checked_mul(1 << shift).ok_or_else(bad)
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

fn parse_toml(text: &str) -> Result<Vec<(String, Value)>, String> {
    let mut out = vec![];
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = |e: String| format!("line {}: {e}", i + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            return Err(at(
                "tables are not supported: put every key at the top level".into(),
            ));
        }
        let (key, rest) = line
            .split_once('=')
            .ok_or_else(|| at("want key = value".into()))?;
        let key = key.trim().trim_matches('"').to_string();
        let mut p = TomlValue {
            s: rest.trim().as_bytes(),
            i: 0,
        };
        let value = p.value().map_err(at)?;
        p.skip_ws();
        if p.i < p.s.len() && p.s[p.i] != b'#' {
            return Err(at("unexpected text after the value".into()));
        }
        out.push((key, value));
    }
    Ok(out)
}

/// A cursor over one TOML value (and its trailing comment).
struct TomlValue<'a> {
    s: &'a [u8],
    i: usize,
}

impl TomlValue<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t') {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_ws();
        match self.s.get(self.i) {
            None => Err("missing value".into()),
            Some(b'"') => self.basic_string().map(Value::Str),
            Some(b'\'') => {
                let rest = &self.s[self.i + 1..];
                let end = rest
                    .iter()
                    .position(|&b| b == b'\'')
                    .ok_or("unterminated string")?;
                self.i += end + 2;
                Ok(Value::Str(String::from_utf8_lossy(&rest[..end]).into()))
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = vec![];
                loop {
                    self.skip_ws();
                    match self.s.get(self.i) {
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::List(items));
                        }
                        Some(b',') => self.i += 1,
                        None => return Err("unterminated list (lists must fit on one line)".into()),
                        _ => items.push(self.value()?),
                    }
                }
            }
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len()
                    && !matches!(self.s[self.i], b' ' | b'\t' | b',' | b']' | b'#')
                {
                    self.i += 1;
                }
                let word =
                    std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                match word {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    w if w.replace('_', "").parse::<f64>().is_ok() => {
                        Ok(Value::Str(w.replace('_', "")))
                    }
                    w => Err(format!("invalid value {w:?} (strings need quotes)")),
                }
            }
        }
    }

    fn basic_string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(&b) = self.s.get(self.i) {
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("unterminated string")?;
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'u' => {
                            let hex = self.s.get(self.i..self.i + 4).ok_or("bad \\u escape")?;
                            let cp =
                                u32::from_str_radix(std::str::from_utf8(hex).unwrap_or(""), 16)
                                    .map_err(|_| "bad \\u escape")?;
                            let c = char::from_u32(cp).ok_or("bad \\u escape")?;
                            out.extend_from_slice(c.to_string().as_bytes());
                            self.i += 4;
                        }
                        other => return Err(format!("unknown escape \\{}", other as char)),
                    }
                }
                _ => out.push(b),
            }
        }
        Err("unterminated string".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_and_go_units() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("30m").unwrap(), 1800);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration("2d").unwrap(), 172800);
        for bad in ["", "m", "10x", "1h30", "-5"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("10m").unwrap(), 10 << 20);
        assert_eq!(parse_size("10MB").unwrap(), 10 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("1q").is_err());
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
