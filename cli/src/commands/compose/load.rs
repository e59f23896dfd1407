//! Reading a Compose project as `docker compose` does: the files (`-f`, else
//! `compose.yaml` and its older names in this folder or a parent), the `.env`
//! file, variable interpolation (`$VAR`, `${VAR:-default}`, `${VAR:?error}`, …),
//! files merged in order, and the project name. YAML is parsed by `serde_yaml`;
//! errors carry the file, the line and the field (`services.web.ports[0]`), the
//! line found from the field's path in the file's text ([`locate`]).

use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The names `docker compose` looks for, in its order.
pub const FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// One step of a path into a Compose file.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path as Compose prints it: `services.web.ports[0]`.
pub fn path_text(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// An error in a Compose file: which file, where, what.
#[derive(Debug, Clone, PartialEq)]
pub struct FileError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub path: Vec<Seg>,
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if self.path.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", path_text(&self.path), self.message)
        }
    }
}

/// The 1-based line where `path` (or its longest prefix found) is written in a
/// YAML text of block mappings and sequences, as Compose files are.
pub fn locate(text: &str, path: &[Seg]) -> Option<usize> {
    deepest(text, path).map(|(_, line)| line)
}

/// How many steps of `path` are written in `text`, and the 1-based line of
/// the deepest one.
pub fn deepest(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    // (indent, what) for the keys and items open at the current line.
    let mut stack: Vec<(usize, Seg)> = Vec::new();
    // Items seen so far under each open sequence, by the sequence's parent depth.
    let mut counters: BTreeMap<usize, usize> = BTreeMap::new();
    let mut best: Option<(usize, usize)> = None;
    for (n, raw) in text.lines().enumerate() {
        let body = raw.trim_start();
        if body.is_empty() || body.starts_with('#') || body.starts_with("---") {
            continue;
        }
        let mut indent = raw.len() - body.len();
        let mut rest = body;
        loop {
            if let Some(item) = rest
                .strip_prefix('-')
                .filter(|r| r.is_empty() || r.starts_with(' '))
            {
                // A sequence item belongs to the deepest key indented less, or
                // at the same indent (`ports:\n- 80`).
                while stack.last().is_some_and(|(i, s)| {
                    *i > indent || (*i == indent && matches!(s, Seg::Index(_)))
                }) {
                    stack.pop();
                }
                let depth = stack.len();
                counters.retain(|d, _| *d <= depth);
                let idx = counters.entry(depth).or_insert(0);
                stack.push((indent, Seg::Index(*idx)));
                *idx += 1;
                record(&stack, path, n, &mut best);
                let after = item.trim_start();
                indent += rest.len() - after.len();
                rest = after;
                if rest.is_empty() {
                    break;
                }
                continue;
            }
            if let Some(key) = mapping_key(rest) {
                while stack.last().is_some_and(|(i, _)| *i >= indent) {
                    stack.pop();
                }
                counters.retain(|d, _| *d <= stack.len());
                stack.push((indent, Seg::Key(key)));
                record(&stack, path, n, &mut best);
            }
            break;
        }
    }
    best.map(|(depth, line)| (depth, line + 1))
}

fn record(stack: &[(usize, Seg)], path: &[Seg], line: usize, best: &mut Option<(usize, usize)>) {
    let here: Vec<&Seg> = stack.iter().map(|(_, s)| s).collect();
    if here.len() > path.len() || here.iter().zip(path).any(|(a, b)| *a != b) {
        return;
    }
    if best.is_none_or(|(len, _)| here.len() > len) {
        *best = Some((here.len(), line));
    }
}

/// `key:` or `key: value` (plain or quoted key) at the start of `s`.
fn mapping_key(s: &str) -> Option<String> {
    let (key, rest) = if let Some(q) = s.strip_prefix('"').or_else(|| s.strip_prefix('\'')) {
        let quote = s.as_bytes()[0] as char;
        let end = q.find(quote)?;
        (q[..end].to_string(), &q[end + 1..])
    } else {
        let end = s.find(':')?;
        (s[..end].trim_end().to_string(), &s[end..])
    };
    let rest = rest.trim_start();
    let after = rest.strip_prefix(':')?;
    (after.is_empty() || after.starts_with(' ') || after.starts_with('\t')).then_some(key)
}

/// The variables of a `.env` file (`KEY=VALUE`, comments, `export `, quotes).
pub fn parse_dotenv(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!(
                "line {}: unexpected character in variable name: {line:?}",
                n + 1
            ));
        };
        let k = k.trim();
        if k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
        {
            return Err(format!("line {}: invalid variable name {k:?}", n + 1));
        }
        let v = v.trim();
        let v = if let Some(q) = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            q.replace("\\n", "\n").replace("\\\"", "\"")
        } else if let Some(q) = v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            q.to_string()
        } else {
            // An unquoted value ends at ` #`.
            v.split(" #").next().unwrap_or("").trim_end().to_string()
        };
        out.push((k.to_string(), v));
    }
    Ok(out)
}

/// Compose's interpolation of one string: `$$` is a `$`; `$VAR` and `${VAR}`;
/// `${VAR:-d}`/`${VAR-d}` (default when unset or empty / unset), `${VAR:?e}`/
/// `${VAR?e}` (error), `${VAR:+a}`/`${VAR+a}` (alternative). Unset variables
/// become empty strings, with a warning each (`warn`).
pub fn interpolate(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    warn: &mut dyn FnMut(&str),
) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek().map(|&(_, c)| c) {
            Some('$') => {
                chars.next();
                out.push('$');
            }
            Some('{') => {
                chars.next();
                let mut depth = 1;
                let mut inner = String::new();
                for (_, c) in chars.by_ref() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    inner.push(c);
                }
                if depth != 0 {
                    return Err(format!(
                        "invalid interpolation format for {s:?}: missing }}"
                    ));
                }
                out.push_str(&braced(&inner, s, lookup, warn)?);
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                let mut name = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c == '_' || c.is_ascii_alphanumeric() {
                        name.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push_str(&value_of(&name, lookup, warn));
            }
            _ => out.push('$'),
        }
    }
    Ok(out)
}

fn value_of(
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    warn: &mut dyn FnMut(&str),
) -> String {
    lookup(name).unwrap_or_else(|| {
        warn(&format!(
            "The \"{name}\" variable is not set. Defaulting to a blank string."
        ));
        String::new()
    })
}

fn braced(
    inner: &str,
    whole: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    warn: &mut dyn FnMut(&str),
) -> Result<String, String> {
    let end = inner
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(inner.len());
    let (name, op) = inner.split_at(end);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "invalid interpolation format for {whole:?}: \"${{{inner}}}\""
        ));
    }
    let value = lookup(name);
    let set = value.is_some();
    let nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    let nested = |arg: &str, warn: &mut dyn FnMut(&str)| interpolate(arg, lookup, warn);
    let (colon, rest) = match op.strip_prefix(':') {
        Some(r) => (true, r),
        None => (false, op),
    };
    let present = if colon { nonempty } else { set };
    match rest.chars().next() {
        None if !colon => Ok(value.unwrap_or_else(|| value_of(name, lookup, warn))),
        Some('-') => match present {
            true => Ok(value.unwrap_or_default()),
            false => nested(&rest[1..], warn),
        },
        Some('?') => match present {
            true => Ok(value.unwrap_or_default()),
            false => {
                let msg = nested(&rest[1..], warn)?;
                Err(format!(
                    "required variable {name} is missing a value: {msg}"
                ))
            }
        },
        Some('+') => match present {
            true => nested(&rest[1..], warn),
            false => Ok(String::new()),
        },
        _ => Err(format!(
            "invalid interpolation format for {whole:?}: \"${{{inner}}}\""
        )),
    }
}

/// Interpolate every string of a parsed file (keys stay as written), with the
/// path of any failure.
pub fn interpolate_value(
    v: &mut Value,
    path: &mut Vec<Seg>,
    lookup: &dyn Fn(&str) -> Option<String>,
    warn: &mut dyn FnMut(&str),
) -> Result<(), (Vec<Seg>, String)> {
    match v {
        Value::String(s) => {
            *s = interpolate(s, lookup, warn).map_err(|e| (path.clone(), e))?;
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                interpolate_value(item, path, lookup, warn)?;
                path.pop();
            }
        }
        Value::Mapping(m) => {
            for (k, item) in m.iter_mut() {
                path.push(Seg::Key(key_text(k)));
                interpolate_value(item, path, lookup, warn)?;
                path.pop();
            }
        }
        Value::Tagged(t) => interpolate_value(&mut t.value, path, lookup, warn)?,
        _ => {}
    }
    Ok(())
}

/// A mapping key as text (numbers and booleans as YAML writes them).
pub fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// Merge `over` into `base` as `-f a -f b` does for maps: keys merge
/// recursively, anything else is replaced.
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// The compose file in `dir` or the nearest parent, as `docker compose` finds it.
pub fn find_file(dir: &Path) -> Option<PathBuf> {
    let mut d = Some(dir);
    while let Some(here) = d {
        for name in FILE_NAMES {
            let p = here.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
        d = here.parent();
    }
    None
}

/// Compose's normalisation of a project name: lower case, only `a-z0-9_-`, and
/// starting with a letter or digit.
pub fn normalize_project_name(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect::<String>()
        .trim_start_matches(['_', '-'])
        .to_string()
}

/// A name given with `-p` or `name:` must already be valid.
pub fn check_project_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid project name {name:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    fn interp(s: &str, pairs: &[(&str, &str)]) -> Result<String, String> {
        let mut warnings = vec![];
        interpolate(s, &env(pairs), &mut |w| warnings.push(w.to_string()))
    }

    #[test]
    fn interpolation_follows_composes_rules() {
        let e = [("A", "1"), ("EMPTY", "")];
        assert_eq!(interp("x$A-${A}y", &e).unwrap(), "x1-1y");
        assert_eq!(interp("$$A costs $$5", &e).unwrap(), "$A costs $5");
        assert_eq!(interp("${B:-8080}", &e).unwrap(), "8080");
        assert_eq!(interp("${EMPTY:-d}|${EMPTY-d}", &e).unwrap(), "d|");
        assert_eq!(
            interp("${A:+on}|${B:+on}|${EMPTY+set}", &e).unwrap(),
            "on||set"
        );
        assert_eq!(interp("${B:-${A}0}", &e).unwrap(), "10");
        assert_eq!(interp("$B", &e).unwrap(), "");
        assert_eq!(interp("cost: $", &e).unwrap(), "cost: $");
        let err = interp("${B:?set B first}", &e).unwrap_err();
        assert_eq!(err, "required variable B is missing a value: set B first");
        assert!(interp("${A", &e).unwrap_err().contains("missing }"));
        assert!(interp("${1A}", &e).is_err());
        assert!(interp("${A/x}", &e).is_err());
    }

    #[test]
    fn unset_variables_warn_as_compose_does() {
        let mut warnings = vec![];
        let out =
            interpolate("${NOPE}x", &env(&[]), &mut |w| warnings.push(w.to_string())).unwrap();
        assert_eq!(out, "x");
        assert_eq!(
            warnings,
            ["The \"NOPE\" variable is not set. Defaulting to a blank string."]
        );
    }

    #[test]
    fn dotenv_files_read_as_compose_reads_them() {
        let vars = parse_dotenv(
            "# comment\nA=1\nexport B = two words \nC=\"quoted # not a comment\"\nD='single'\nE=x # comment\nF=\n",
        )
        .unwrap();
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("two words"));
        assert_eq!(get("C"), Some("quoted # not a comment"));
        assert_eq!(get("D"), Some("single"));
        assert_eq!(get("E"), Some("x"));
        assert_eq!(get("F"), Some(""));
        assert!(parse_dotenv("novalue\n").unwrap_err().starts_with("line 1"));
    }

    #[test]
    fn paths_are_found_on_their_lines() {
        let text = "name: x\nservices:\n  web:\n    image: busybox\n    ports:\n      - \"8080:80\"\n      - target: 81\n        published: 8081\n  db:\n    environment:\n    - A=1\n    - B=2\n";
        let k = |s: &str| Seg::Key(s.into());
        assert_eq!(
            locate(text, &[k("services"), k("web"), k("image")]),
            Some(4)
        );
        assert_eq!(
            locate(text, &[k("services"), k("web"), k("ports"), Seg::Index(0)]),
            Some(6)
        );
        assert_eq!(
            locate(
                text,
                &[
                    k("services"),
                    k("web"),
                    k("ports"),
                    Seg::Index(1),
                    k("published")
                ]
            ),
            Some(8)
        );
        assert_eq!(
            locate(
                text,
                &[k("services"), k("db"), k("environment"), Seg::Index(1)]
            ),
            Some(12)
        );
        // A path not written ends at its longest prefix.
        assert_eq!(locate(text, &[k("services"), k("db"), k("nope")]), Some(9));
        assert_eq!(
            path_text(&[k("services"), k("web"), k("ports"), Seg::Index(1)]),
            "services.web.ports[1]"
        );
    }

    #[test]
    fn later_files_override_earlier_ones_key_by_key() {
        let mut a: Value =
            serde_yaml::from_str("services:\n  web:\n    image: a\n    ports: ['1:1']\n").unwrap();
        let b: Value =
            serde_yaml::from_str("services:\n  web:\n    ports: ['2:2']\n  db:\n    image: d\n")
                .unwrap();
        merge(&mut a, b);
        let want: Value = serde_yaml::from_str(
            "services:\n  web:\n    image: a\n    ports: ['2:2']\n  db:\n    image: d\n",
        )
        .unwrap();
        assert_eq!(a, want);
    }

    #[test]
    fn project_names_normalise_like_composes() {
        assert_eq!(normalize_project_name("My App.v2"), "myappv2");
        assert_eq!(normalize_project_name("_x-1"), "x-1");
        assert!(check_project_name("web_1-a").is_ok());
        assert!(check_project_name("Web").is_err());
        assert!(check_project_name("-x").is_err());
        assert!(check_project_name("").is_err());
    }
}
