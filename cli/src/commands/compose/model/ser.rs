//! The canonical forms `compose config` prints: a file Compose (and this) reads back.

use super::Condition;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::Serializer;
use std::collections::BTreeMap;

pub fn is_one(n: &u32) -> bool {
    *n == 1
}

pub fn networks<S: Serializer>(m: &BTreeMap<String, Vec<String>>, s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(m.len()))?;
    for (k, aliases) in m {
        if aliases.is_empty() {
            map.serialize_entry(k, &None::<()>)?;
        } else {
            let mut inner = BTreeMap::new();
            inner.insert("aliases", aliases);
            map.serialize_entry(k, &inner)?;
        }
    }
    map.end()
}

pub fn depends_on<S: Serializer>(m: &BTreeMap<String, Condition>, s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(m.len()))?;
    for (k, c) in m {
        let mut inner = BTreeMap::new();
        inner.insert("condition", c);
        map.serialize_entry(k, &inner)?;
    }
    map.end()
}

pub fn seconds<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) => s.serialize_str(&format!("{n}s")),
        None => s.serialize_none(),
    }
}

pub fn file_refs<S: Serializer>(v: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for (source, target) in v {
        let mut m = BTreeMap::new();
        m.insert("source", source);
        m.insert("target", target);
        seq.serialize_element(&m)?;
    }
    seq.end()
}
