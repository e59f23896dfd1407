//! Reading values out of parsed YAML with the path of what is wrong, and the
//! small conversions several keys share (paths, command lines).

use super::super::load::{key_text, Seg};
use super::Problem;
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Split a command line as POSIX sh does (quotes and backslashes; no expansion).
pub fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated quote in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(format!("unterminated quote in {s:?}")),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated quote in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `dir/p` without `.` and with `..` applied, as Compose prints paths.
pub(super) fn abs(dir: &Path, p: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in dir.join(p).components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

pub(super) fn child(p: &[Seg], k: &str) -> Vec<Seg> {
    let mut v = p.to_vec();
    v.push(Seg::Key(k.to_string()));
    v
}

pub(super) fn child_i(p: &[Seg], i: usize) -> Vec<Seg> {
    let mut v = p.to_vec();
    v.push(Seg::Index(i));
    v
}

pub(super) fn get<'a>(m: &'a Mapping, k: &str) -> Option<&'a Value> {
    m.get(Value::String(k.to_string()))
}

pub(super) fn as_map<'a>(v: &'a Value, p: &[Seg]) -> Result<&'a Mapping, Problem> {
    match v {
        Value::Mapping(m) => Ok(m),
        _ => Err((p.to_vec(), "must be a mapping".into())),
    }
}

pub(super) fn list<'a>(v: &'a Value, p: &[Seg]) -> Result<&'a [Value], Problem> {
    match v {
        Value::Sequence(s) => Ok(s),
        _ => Err((p.to_vec(), "must be a list".into())),
    }
}

pub(super) fn as_str(v: &Value, p: &[Seg]) -> Result<String, Problem> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err((p.to_vec(), "must be a string".into())),
    }
}

/// A string, number or boolean as text.
pub(super) fn scalar(v: &Value, p: &[Seg]) -> Result<String, Problem> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err((p.to_vec(), "must be a string or a number".into())),
    }
}

pub(super) fn as_bool(v: &Value, p: &[Seg]) -> Result<bool, Problem> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if ["true", "false"].contains(&s.to_lowercase().as_str()) => {
            Ok(s.eq_ignore_ascii_case("true"))
        }
        _ => Err((p.to_vec(), "must be a boolean".into())),
    }
}

pub(super) fn as_i64(v: &Value, p: &[Seg]) -> Result<i64, Problem> {
    match v {
        Value::Number(n) if n.is_i64() => Ok(n.as_i64().unwrap_or_default()),
        Value::String(s) if s.trim().parse::<i64>().is_ok() => {
            Ok(s.trim().parse().unwrap_or_default())
        }
        _ => Err((p.to_vec(), "must be an integer".into())),
    }
}

pub(super) fn as_u32(v: &Value, p: &[Seg]) -> Result<u32, Problem> {
    let n = as_i64(v, p)?;
    u32::try_from(n).map_err(|_| (p.to_vec(), "must be a non-negative integer".into()))
}

pub(super) fn string_or_list(v: &Value, p: &[Seg]) -> Result<Vec<String>, Problem> {
    match v {
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| scalar(x, &child_i(p, i)))
            .collect(),
        Value::Null => Ok(vec![]),
        _ => Ok(vec![scalar(v, p)?]),
    }
}

/// `labels`, `args`: a map or a list of `K=V`.
pub(super) fn kv_map(v: &Value, p: &[Seg]) -> Result<BTreeMap<String, String>, Problem> {
    let mut out = BTreeMap::new();
    match v {
        Value::Mapping(m) => {
            for (k, val) in m {
                let k = key_text(k);
                let text = if val.is_null() {
                    String::new()
                } else {
                    scalar(val, &child(p, &k))?
                };
                out.insert(k, text);
            }
        }
        Value::Sequence(items) => {
            for (i, x) in items.iter().enumerate() {
                let e = scalar(x, &child_i(p, i))?;
                let (k, val) = e.split_once('=').unwrap_or((&e, ""));
                out.insert(k.to_string(), val.to_string());
            }
        }
        Value::Null => {}
        _ => {
            return Err((
                p.to_vec(),
                "must be a mapping or a list of KEY=VALUE strings".into(),
            ))
        }
    }
    Ok(out)
}
