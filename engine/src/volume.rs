//! Volumes: a daemon's store of named and anonymous volumes (driver `local`), and
//! the parsing of `-v`/`Binds`, `--volumes-from` and `--tmpfs` into mount points.
//!
//! A volume is a directory `volumes/<name>/_data` under the daemon's directory, with
//! its record `volumes/<name>/volume.json` written atomically next to it. A
//! container's mount points are kept in its record in the shape `inspect` shows
//! (`Mounts`); the runtime bind-mounts their sources inside the container's own
//! mount namespace, so nothing is ever mounted on the host side.
//!
//! The local driver's options are checked as moby's `volume/local` does. A bind
//! volume (`-o type=none -o o=bind -o device=DIR`) is the directory `DIR`, which is
//! not ours: Docker mounts it on `_data`, we bind it straight into the container,
//! and removing the volume removes its record and its own directory only.
//! Removal never deletes across a mount point found inside a volume's directory.

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{mounts_at_or_under, read_json, remove_tree_on_one_mount, write_json_atomic};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::sync::Locked;
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

    /// The host directory a bind volume stands for (`-o o=bind -o device=DIR`):
    /// Docker's local driver mounts `device` on `_data` with the `o` flags.
    pub fn bind_device(&self) -> Option<BindDevice> {
        let flags: Vec<&str> = self
            .options
            .get("o")
            .map(|o| o.split(',').map(str::trim).collect())
            .unwrap_or_default();
        let device = self.options.get("device").filter(|d| !d.is_empty())?;
        let recursive = flags.contains(&"rbind");
        (recursive || flags.contains(&"bind")).then(|| BindDevice {
            path: PathBuf::from(device),
            recursive,
            readonly: flags.contains(&"ro"),
        })
    }
}

/// What a bind volume mounts: the device directory and the `o` flags that matter.
#[derive(Debug, Clone, PartialEq)]
pub struct BindDevice {
    pub path: PathBuf,
    /// `o=rbind`: mounts below the device come along.
    pub recursive: bool,
    /// `o=bind,ro`.
    pub readonly: bool,
}

impl BindDevice {
    /// The mount(2) flags Docker reports in its mount errors (MS_BIND, MS_REC,
    /// MS_RDONLY).
    fn flags(&self) -> u32 {
        let mut f = 0x1000;
        if self.recursive {
            f |= 0x4000;
        }
        if self.readonly {
            f |= 0x1;
        }
        f
    }

    /// The device checked when a container mounts the volume at `data`
    /// (its `_data`): an existing directory given by an absolute path, or
    /// Docker's mount error.
    pub fn check(&self, data: &Path) -> Result<()> {
        let fail = |why: String| {
            Error::Internal(format!(
                "error while mounting volume '{}': failed to mount local volume: mount {}:{}, flags: {:#x}: {why}",
                data.display(),
                self.path.display(),
                data.display(),
                self.flags()
            ))
        };
        if !self.path.is_absolute() {
            return Err(fail(
                "no such file or directory (the device must be an absolute path)".into(),
            ));
        }
        match std::fs::metadata(&self.path) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(fail("not a directory".into())),
            Err(e) => Err(fail(shared::go::io_text(&e))),
        }
    }
}

/// moby `volume/local` `validateOpts` on Linux, in a fixed order: known keys
/// (`type`, `o`, `device`, `size`), a size needs quota support (which we do not
/// have), and `device`, `type` and `o` need each other. Then what Dockhand can
/// mount: without `type` and `device` the volume is a plain directory; with them
/// it must be a bind (`o=bind` or `o=rbind`).
pub fn validate_options(opts: &BTreeMap<String, String>) -> std::result::Result<(), String> {
    if opts.is_empty() {
        return Ok(());
    }
    if let Some(k) = opts
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "o" | "device" | "size"))
    {
        return Err(format!("invalid option: {k:?}"));
    }
    if let Some(v) = opts.get("size") {
        // moby's local driver reads it as RAMInBytes.
        match shared::units::ram_in_bytes(v) {
            Err(e) => return Err(e),
            Ok(n) if n > 0 => return Err("quota size requested but no quota support".into()),
            Ok(_) => {}
        }
    }
    for (opt, needs) in [
        ("device", &["type"][..]),
        ("type", &["device"][..]),
        ("o", &["device", "type"][..]),
    ] {
        if opts.contains_key(opt) {
            if let Some(n) = needs.iter().find(|n| !opts.contains_key(**n)) {
                return Err(format!("missing required option: {n:?}"));
            }
        }
    }
    let rec = VolumeRecord {
        options: opts.clone(),
        ..Default::default()
    };
    if opts.contains_key("device") && rec.bind_device().is_none() {
        return Err(format!(
            "mounting a device of type \"{}\" is not supported by Dockhand; a local volume with a device must be a bind mount of a host directory (-o type=none -o o=bind -o device=/path)",
            opts.get("type").map(String::as_str).unwrap_or_default()
        ));
    }
    Ok(())
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

/// Docker's local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, and no longer
/// than a file name can be (the volume's directory is named by it).
pub fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    n.len() >= 2
        && n.len() <= MAX_NAME
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The longest volume name: a file name's limit.
const MAX_NAME: usize = 255;

fn invalid_name(n: &str) -> Error {
    if n.len() > MAX_NAME {
        let shown: String = n.chars().take(64).collect();
        return Error::InvalidParameter(format!(
            "create {shown}...: the volume name is longer than {MAX_NAME} characters"
        ));
    }
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

/// The propagation a bind's mode asks for (the last one named), moby's
/// default `rprivate` otherwise. It is recorded for inspect; the container's
/// root is private, so a shared or slave mode does not reach the machine.
pub fn propagation_of(mode: &str) -> String {
    mode.split(',')
        .rfind(|m| {
            matches!(
                *m,
                "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
            )
        })
        .unwrap_or("rprivate")
        .to_string()
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

/// Whether a volume directory without a record may be used for a new volume:
/// absent, or what a create that died before writing the record leaves (an
/// empty `_data`, a temporary record file).
fn leftover_of_ours(dir: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return true;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    meta.is_dir()
        && entries.flatten().all(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name == "_data" {
                e.file_type().is_ok_and(|t| t.is_dir())
                    && std::fs::read_dir(e.path()).is_ok_and(|mut d| d.next().is_none())
            } else {
                name.starts_with(".volume.json.tmp")
            }
        })
}

/// A daemon's volumes.
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
        self.lock.locked()
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
        validate_options(&options)
            .map_err(|e| Error::InvalidParameter(format!("create {name}: {e}")))?;
        if !leftover_of_ours(&dir) {
            // Somebody else's directory: taking it over would let `volume rm`
            // delete what it holds.
            return Err(Error::Conflict(format!(
                "create {name}: {} exists and is not a volume Dockhand made; not taking it over",
                dir.display()
            )));
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

    /// Delete a volume's record and its directory (the caller checked it is
    /// unused). A bind volume's device is not in that directory and stays as it
    /// is. Nothing is deleted across a mount point: a filesystem mounted at or
    /// under the volume's directory is somebody else's, and the removal is
    /// refused (the volume stays) until it is unmounted.
    pub fn remove(&self, name: &str) -> Result<()> {
        let _g = self.guard();
        let record = self.get(name)?;
        let dir = self.dir.join(name);
        let refuse = |at: &Path| {
            Error::Conflict(format!(
                "remove {name}: {} is a mount point: Dockhand does not delete across a mount point; unmount it first",
                at.display()
            ))
        };
        if let Some(m) = mounts_at_or_under(&dir).first() {
            return Err(refuse(m));
        }
        // Record first: a crash after this leaves a directory `list` ignores.
        let rec = dir.join("volume.json");
        std::fs::remove_file(&rec).ctx("remove", &rec)?;
        if let Err(e) = remove_tree_on_one_mount(&dir) {
            // Mounted meanwhile, or not removable: the volume stays listed.
            if let Err(w) = write_json_atomic(&rec, &record) {
                tracing::warn!("restoring the record of volume {name}: {w}");
            }
            let mounted = mounts_at_or_under(&dir);
            return Err(match mounted.first() {
                Some(m) => refuse(m),
                None => e.into(),
            });
        }
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
    fn a_binds_propagation_is_the_last_one_named() {
        assert_eq!(propagation_of(""), "rprivate");
        assert_eq!(propagation_of("rw"), "rprivate");
        assert_eq!(propagation_of("rw,rshared"), "rshared");
        assert_eq!(propagation_of("slave,ro,rslave"), "rslave");
    }

    #[test]
    fn names_longer_than_a_file_name_are_refused_as_bad_input() {
        let long = "v".repeat(256);
        assert!(valid_name(&"v".repeat(255)) && !valid_name(&long));
        let e = parse_bind(&format!("{long}:/x")).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter(_)), "{e}");
        assert!(e.to_string().contains("longer than 255"), "{e}");
    }

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

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn local_driver_options_are_checked_as_moby_does() {
        let bind = opts(&[("type", "none"), ("o", "bind"), ("device", "/srv/x")]);
        assert_eq!(validate_options(&bind), Ok(()));
        assert_eq!(validate_options(&BTreeMap::new()), Ok(()));
        assert_eq!(validate_options(&opts(&[("size", "0")])), Ok(()));
        let e = validate_options(&opts(&[("foo", "1"), ("type", "none")]));
        assert_eq!(e.unwrap_err(), r#"invalid option: "foo""#);
        let e = validate_options(&opts(&[("type", "none"), ("o", "bind")]));
        assert_eq!(e.unwrap_err(), r#"missing required option: "device""#);
        let e = validate_options(&opts(&[("device", "/x"), ("o", "bind")]));
        assert_eq!(e.unwrap_err(), r#"missing required option: "type""#);
        let e = validate_options(&opts(&[("size", "10m")]));
        assert_eq!(e.unwrap_err(), "quota size requested but no quota support");
        let e = validate_options(&opts(&[("size", "lots")]));
        assert_eq!(e.unwrap_err(), "invalid size: 'lots'");
        // What Dockhand cannot mount is refused up front, not at start.
        let e = validate_options(&opts(&[("type", "tmpfs"), ("device", "tmpfs")]));
        assert!(e.unwrap_err().contains("not supported by Dockhand"));
    }

    #[test]
    fn a_bind_volume_is_its_device() {
        let rec = |o: &[(&str, &str)]| VolumeRecord {
            options: opts(o),
            ..Default::default()
        };
        let d = rec(&[("type", "none"), ("o", "bind"), ("device", "/srv/x")])
            .bind_device()
            .unwrap();
        assert_eq!(d.path, Path::new("/srv/x"));
        assert!(!d.recursive && !d.readonly);
        let d = rec(&[("type", "none"), ("o", "rbind,ro"), ("device", "/srv/x")])
            .bind_device()
            .unwrap();
        assert!(d.recursive && d.readonly);
        assert_eq!(d.flags(), 0x5001);
        assert!(rec(&[]).bind_device().is_none());
        assert!(rec(&[("type", "ext4"), ("device", "/dev/sdb1")])
            .bind_device()
            .is_none());
        // Mounting a missing device fails with Docker's words (and so its
        // CLI's exit code 127 for "no such file or directory").
        let dir = tempfile::tempdir().unwrap();
        let missing = BindDevice {
            path: dir.path().join("gone"),
            recursive: false,
            readonly: false,
        };
        let e = missing
            .check(Path::new("/v/_data"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "error while mounting volume '/v/_data': failed to mount local volume: mount "
            ),
            "{e}"
        );
        assert!(
            e.ends_with(":/v/_data, flags: 0x1000: no such file or directory"),
            "{e}"
        );
        std::fs::write(dir.path().join("file"), "").unwrap();
        let file = BindDevice {
            path: dir.path().join("file"),
            ..missing.clone()
        };
        assert!(file
            .check(Path::new("/d"))
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
        let ok = BindDevice {
            path: dir.path().to_path_buf(),
            ..missing
        };
        ok.check(Path::new("/d")).unwrap();
    }

    #[test]
    fn removing_a_bind_volume_leaves_its_device_alone() {
        let dir = tempfile::tempdir().unwrap();
        let device = dir.path().join("device");
        std::fs::create_dir_all(device.join("sub")).unwrap();
        std::fs::write(device.join("sub/f"), "precious").unwrap();
        let s = VolumeStore::open(&dir.path().join("host")).unwrap();
        let e = s
            .create(Some("bad"), BTreeMap::new(), opts(&[("foo", "1")]))
            .unwrap_err()
            .to_string();
        assert_eq!(e, r#"create bad: invalid option: "foo""#);
        assert!(s.get("bad").is_err(), "nothing is made for refused options");
        let o = opts(&[
            ("type", "none"),
            ("o", "bind"),
            ("device", device.to_str().unwrap()),
        ]);
        let v = s.create(Some("bv"), BTreeMap::new(), o.clone()).unwrap();
        assert_eq!(v.options, o);
        assert_eq!(v.bind_device().unwrap().path, device);
        let j = s.to_json(&v);
        assert_eq!(j["Mountpoint"], s.data_path("bv").display().to_string());
        assert_eq!(j["Options"]["device"], device.display().to_string());
        s.remove("bv").unwrap();
        assert!(!dir.path().join("host/volumes/bv").exists());
        assert_eq!(
            std::fs::read_to_string(device.join("sub/f")).unwrap(),
            "precious"
        );
    }

    #[test]
    fn a_foreign_directory_in_the_store_is_neither_listed_nor_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(dir.path()).unwrap();
        let foreign = dir.path().join("volumes/theirs");
        std::fs::create_dir_all(foreign.join("_data")).unwrap();
        std::fs::write(foreign.join("_data/f"), "x").unwrap();
        assert!(s.list().unwrap().is_empty());
        assert!(s.get("theirs").is_err());
        let e = s
            .create(Some("theirs"), BTreeMap::new(), BTreeMap::new())
            .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Conflict);
        assert!(s.remove("theirs").is_err());
        assert!(foreign.join("_data/f").exists());
        assert!(!foreign.join("volume.json").exists());
        // What a create that died before its record leaves is ours to reuse.
        let ours = dir.path().join("volumes/crashed");
        std::fs::create_dir_all(ours.join("_data")).unwrap();
        std::fs::write(ours.join(".volume.json.tmp1"), "").unwrap();
        s.create(Some("crashed"), BTreeMap::new(), BTreeMap::new())
            .unwrap();
        s.remove("crashed").unwrap();
        assert!(!ours.exists());
    }

    /// Needs root (mount(2)); skipped visibly without it.
    #[test]
    fn a_volume_with_a_mount_inside_is_not_removed() {
        use nix::mount::{mount, umount2, MntFlags, MsFlags};
        let dir = tempfile::tempdir().unwrap();
        let foreign = dir.path().join("foreign");
        std::fs::create_dir_all(&foreign).unwrap();
        std::fs::write(foreign.join("f"), "theirs").unwrap();
        let s = VolumeStore::open(&dir.path().join("host")).unwrap();
        s.create(Some("mv"), BTreeMap::new(), BTreeMap::new())
            .unwrap();
        let data = s.data_path("mv");
        if let Err(e) = mount(
            Some(&foreign),
            &data,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        ) {
            eprintln!("SKIPPED: cannot bind mount ({e}); run as root");
            return;
        }
        struct Unmount(PathBuf);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = umount2(&self.0, MntFlags::MNT_DETACH);
            }
        }
        let guard = Unmount(data.clone());
        let e = s.remove("mv").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Conflict);
        assert!(e.to_string().contains("is a mount point"), "{e}");
        assert_eq!(
            std::fs::read_to_string(foreign.join("f")).unwrap(),
            "theirs"
        );
        assert!(s.get("mv").is_ok(), "the volume stays until unmounted");
        drop(guard);
        s.remove("mv").unwrap();
        assert_eq!(
            std::fs::read_to_string(foreign.join("f")).unwrap(),
            "theirs"
        );
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
