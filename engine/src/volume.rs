//! Volumes: the host's store of named and anonymous volumes (driver `local`), and
//! the parsing of `-v`/`Binds`, `--volumes-from` and `--tmpfs` into mount points.
//!
//! A volume is a directory `volumes/<name>/_data` under the host's directory, with
//! its record `volumes/<name>/volume.json` written atomically next to it. A
//! container's mount points are kept in its record in the shape `inspect` shows
//! (`Mounts`); the runtime bind-mounts their sources inside the container's own
//! mount namespace, so nothing is ever mounted on the host side.

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{read_json, write_json_atomic};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The label Docker puts on anonymous volumes (`rm -v`, `--rm` and the default
/// `volume prune` remove only these).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// One volume's record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeRecord {
    pub name: String,
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl VolumeRecord {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// A container's mount point, as `inspect` shows it under `Mounts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

/// What `-v SPEC` (an entry of `HostConfig.Binds`) asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum BindSource {
    /// An absolute host path.
    Host(String),
    /// A named volume.
    Volume(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BindSpec {
    pub source: BindSource,
    pub destination: String,
    pub rw: bool,
    /// The mode as written (`ro`, `rw`, `z`, ...), shown back by inspect.
    pub mode: String,
}

/// Docker's local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    n.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn invalid_name(n: &str) -> Error {
    Error::InvalidParameter(format!(
        "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    ))
}

pub fn check_destination(kind: &str, dst: &str) -> Result<()> {
    if !dst.starts_with('/') {
        return Err(Error::InvalidParameter(format!(
            "invalid mount config for type \"{kind}\": invalid mount path: '{dst}' mount path must be absolute"
        )));
    }
    if dst.trim_end_matches('/').is_empty() {
        return Err(Error::InvalidParameter(
            "invalid specification: destination can't be '/'".into(),
        ));
    }
    Ok(())
}

/// Whether a mode string (`ro`, `rw`, `z`, `Z`, propagation and `nocopy`,
/// comma separated) is one moby's linux parser accepts; returns read-write.
fn parse_mode(mode: &str, spec: &str) -> Result<bool> {
    let mut rw = true;
    for m in mode.split(',') {
        match m {
            "ro" => rw = false,
            "rw" | "z" | "Z" | "nocopy" | "private" | "rprivate" | "shared" | "rshared"
            | "slave" | "rslave" | "consistent" | "cached" | "delegated" => {}
            _ => {
                return Err(Error::InvalidParameter(format!(
                    "invalid mode: {mode} in spec {spec}"
                )))
            }
        }
    }
    Ok(rw)
}

/// moby `volume/mounts/linux_parser.go` `ParseMountRaw` for `SRC:DST[:MODE]`.
pub fn parse_bind(spec: &str) -> Result<BindSpec> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => {
            return Err(Error::InvalidParameter(format!(
                "invalid volume specification: '{spec}'"
            )))
        }
    };
    if src.is_empty() || dst.is_empty() {
        return Err(Error::InvalidParameter(format!(
            "invalid volume specification: '{spec}'"
        )));
    }
    let rw = if mode.is_empty() {
        true
    } else {
        parse_mode(mode, spec)?
    };
    let source = if src.starts_with('/') {
        BindSource::Host(src.to_string())
    } else if valid_name(src) {
        BindSource::Volume(src.to_string())
    } else {
        return Err(invalid_name(src));
    };
    let kind = if matches!(source, BindSource::Host(_)) {
        "bind"
    } else {
        "volume"
    };
    check_destination(kind, dst)?;
    Ok(BindSpec {
        source,
        destination: clean_path(dst),
        rw,
        mode: mode.to_string(),
    })
}

/// `--volumes-from CONTAINER[:ro|rw]`: the container and the forced mode, if any.
pub fn parse_volumes_from(spec: &str) -> Result<(String, Option<bool>)> {
    match spec.rsplit_once(':') {
        Some((c, "ro")) => Ok((c.to_string(), Some(false))),
        Some((c, "rw")) => Ok((c.to_string(), Some(true))),
        Some((_, m)) => Err(Error::InvalidParameter(format!("invalid mode: {m}"))),
        None => Ok((spec.to_string(), None)),
    }
}

/// A destination without a trailing slash or doubled slashes.
pub fn clean_path(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// The host's volumes.
pub struct VolumeStore {
    dir: PathBuf,
    /// Serializes create and remove (the records themselves are atomic files).
    lock: Mutex<()>,
}

impl VolumeStore {
    pub fn open(host_dir: &Path) -> Result<VolumeStore> {
        let dir = host_dir.join("volumes");
        std::fs::create_dir_all(&dir).ctx("create dir", &dir)?;
        Ok(VolumeStore {
            dir,
            lock: Mutex::new(()),
        })
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where a volume's data lives (what containers mount).
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    pub fn get(&self, name: &str) -> Result<VolumeRecord> {
        if !valid_name(name) {
            return Err(Error::NotFound(format!("get {name}: no such volume")));
        }
        read_json::<VolumeRecord>(&self.dir.join(name).join("volume.json"))?
            .ok_or_else(|| Error::NotFound(format!("get {name}: no such volume")))
    }

    /// Create a volume, or return the existing one of that name (as Docker does).
    /// `None` names an anonymous volume with a random 64-hex name.
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<VolumeRecord> {
        let _g = self.guard();
        let (name, labels) = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !valid_name(n) {
                    return Err(invalid_name(n));
                }
                (n.to_string(), labels)
            }
            None => {
                let bytes: [u8; 32] = rand::random();
                let mut labels = labels;
                labels.insert(ANONYMOUS_LABEL.into(), String::new());
                (hex::encode(bytes), labels)
            }
        };
        let dir = self.dir.join(&name);
        if let Some(rec) = read_json::<VolumeRecord>(&dir.join("volume.json"))? {
            return Ok(rec);
        }
        let data = dir.join("_data");
        std::fs::create_dir_all(&data).ctx("create dir", &data)?;
        let rec = VolumeRecord {
            name,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels,
            options,
        };
        // The record last: a crash before it leaves a directory that `list` ignores.
        write_json_atomic(&dir.join("volume.json"), &rec)?;
        Ok(rec)
    }

    pub fn list(&self) -> Result<Vec<VolumeRecord>> {
        let mut out = vec![];
        for e in std::fs::read_dir(&self.dir)
            .ctx("read dir", &self.dir)?
            .flatten()
        {
            match read_json::<VolumeRecord>(&e.path().join("volume.json")) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                Err(err) => tracing::warn!("skipping unreadable volume record: {err}"),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Delete a volume's record and data (the caller checked it is unused).
    pub fn remove(&self, name: &str) -> Result<()> {
        let _g = self.guard();
        self.get(name)?;
        let dir = self.dir.join(name);
        // Record first: a crash after this leaves a directory `list` ignores.
        let rec = dir.join("volume.json");
        std::fs::remove_file(&rec).ctx("remove", &rec)?;
        std::fs::remove_dir_all(&dir).ctx("remove", &dir)?;
        Ok(())
    }

    /// The Engine API's volume object.
    pub fn to_json(&self, r: &VolumeRecord) -> Value {
        json!({
            "CreatedAt": r.created_at,
            "Driver": "local",
            "Labels": r.labels,
            "Mountpoint": self.data_path(&r.name).display().to_string(),
            "Name": r.name,
            "Options": if r.options.is_empty() { Value::Null } else { json!(r.options) },
            "Scope": "local",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_like_mobys_linux_parser() {
        let b = parse_bind("/h/p:/c/p:ro").unwrap();
        assert_eq!(b.source, BindSource::Host("/h/p".into()));
        assert_eq!(b.destination, "/c/p");
        assert!(!b.rw);
        let v = parse_bind("data:/var/lib/x/").unwrap();
        assert_eq!(v.source, BindSource::Volume("data".into()));
        assert_eq!(v.destination, "/var/lib/x");
        assert!(v.rw);
        let e = parse_bind("rel/path:/x").unwrap_err().to_string();
        assert!(e.contains("includes invalid characters"), "{e}");
        let e = parse_bind("/h:rel").unwrap_err().to_string();
        assert!(e.contains("mount path must be absolute"), "{e}");
        let e = parse_bind("/h:/").unwrap_err().to_string();
        assert!(e.contains("destination can't be '/'"), "{e}");
        assert!(parse_bind("/h:/c:bogus").is_err());
        assert!(parse_bind("a:b:c:d").is_err());
    }

    #[test]
    fn volumes_from_takes_an_optional_mode() {
        assert_eq!(parse_volumes_from("web").unwrap(), ("web".into(), None));
        assert_eq!(
            parse_volumes_from("web:ro").unwrap(),
            ("web".into(), Some(false))
        );
        assert!(parse_volumes_from("web:zz").is_err());
    }

    #[test]
    fn store_creates_lists_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(dir.path()).unwrap();
        let a = s
            .create(Some("data"), BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert!(!a.anonymous());
        assert!(s.data_path("data").is_dir());
        let again = s
            .create(Some("data"), BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert_eq!(again.created_at, a.created_at);
        let anon = s.create(None, BTreeMap::new(), BTreeMap::new()).unwrap();
        assert!(anon.anonymous());
        assert_eq!(anon.name.len(), 64);
        assert_eq!(s.list().unwrap().len(), 2);
        s.remove("data").unwrap();
        assert!(s
            .get("data")
            .unwrap_err()
            .to_string()
            .contains("no such volume"));
        assert!(s
            .create(Some("a/b"), BTreeMap::new(), BTreeMap::new())
            .is_err());
    }
}
