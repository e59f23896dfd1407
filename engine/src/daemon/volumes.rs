//! The container side of volumes: the mount points a new container gets (moby's
//! `registerMountPoints` and `createContainerOSSpecificSettings`), the mounts its
//! runtime spec carries, the anonymous volumes `rm -v` and `--rm` take along, and
//! the volume API with its in-use checks (a volume is in use while any container
//! record, running or not, mounts it).

use super::Daemon;
use crate::container::Filters;
use crate::error::{Error, Result};
use crate::runtime::spec::SpecMount;
use crate::volume::{self, BindSource, MountPoint};
use serde_json::Value;
use shared::api::str_map;
use shared::api::{ContainerConfig, ContainerInspect, HostConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn mount_points_of(rec: &ContainerInspect) -> Vec<MountPoint> {
    rec.mounts
        .iter()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect()
}

/// `HostConfig.Tmpfs`: destination -> options.
fn tmpfs_of(hc: &HostConfig) -> BTreeMap<String, String> {
    hc.extra
        .get("Tmpfs")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        volume::clean_path(k),
                        v.as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `HostConfig.Mounts` (`--mount`).
fn api_mounts(hc: &HostConfig) -> Vec<Value> {
    hc.extra
        .get("Mounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// tmpfs options of a `--mount type=tmpfs` entry, in `--tmpfs` form.
fn api_tmpfs_options(m: &Value) -> String {
    let mut o = vec![];
    if m["ReadOnly"].as_bool().unwrap_or(false) {
        o.push("ro".to_string());
    }
    if let Some(n) = m["TmpfsOptions"]["SizeBytes"].as_i64().filter(|n| *n > 0) {
        o.push(format!("size={n}"));
    }
    if let Some(n) = m["TmpfsOptions"]["Mode"].as_u64().filter(|n| *n > 0) {
        o.push(format!("mode={n:o}"));
    }
    o.join(",")
}

impl Daemon {
    /// The mount points of a container being created, creating the volumes they
    /// name: `--volumes-from` first, then `Binds`, `--mount`, and last anonymous
    /// volumes for `Config.Volumes` (the image's `VOLUME`s and `-v /path`) whose
    /// destination nothing else (tmpfs included) covers.
    pub(super) fn mount_points(
        &self,
        hc: &HostConfig,
        config: &ContainerConfig,
    ) -> Result<Vec<MountPoint>> {
        let mut by_dst: BTreeMap<String, MountPoint> = BTreeMap::new();
        let volumes_from: Vec<String> = hc
            .extra
            .get("VolumesFrom")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        for spec in &volumes_from {
            let (name, rw) = volume::parse_volumes_from(spec)?;
            let other = self.inspect(&name)?;
            for mut mp in mount_points_of(&other) {
                if mp.kind == "tmpfs" {
                    continue;
                }
                if let Some(rw) = rw {
                    mp.rw = rw;
                    mp.mode = if rw { "rw".into() } else { "ro".into() };
                }
                by_dst.insert(mp.destination.clone(), mp);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for b in &hc.binds {
            let spec = volume::parse_bind(b)?;
            if !seen.insert(spec.destination.clone()) {
                return Err(Error::InvalidParameter(format!(
                    "Duplicate mount point: {}",
                    spec.destination
                )));
            }
            let mp = match spec.source {
                BindSource::Host(src) => MountPoint {
                    kind: "bind".into(),
                    source: volume::clean_path(&src),
                    destination: spec.destination.clone(),
                    propagation: volume::propagation_of(&spec.mode),
                    mode: spec.mode,
                    rw: spec.rw,
                    ..Default::default()
                },
                BindSource::Volume(name) => {
                    self.volumes
                        .create(Some(&name), BTreeMap::new(), BTreeMap::new())?;
                    MountPoint {
                        kind: "volume".into(),
                        source: self.volumes.data_path(&name).display().to_string(),
                        name,
                        destination: spec.destination.clone(),
                        driver: "local".into(),
                        mode: if spec.mode.is_empty() {
                            "z".into()
                        } else {
                            spec.mode
                        },
                        rw: spec.rw,
                        propagation: String::new(),
                    }
                }
            };
            by_dst.insert(mp.destination.clone(), mp);
        }
        for m in api_mounts(hc) {
            let kind = m["Type"].as_str().unwrap_or("volume").to_string();
            let target = m["Target"].as_str().unwrap_or_default();
            volume::check_destination(&kind, target)?;
            let dst = volume::clean_path(target);
            let rw = !m["ReadOnly"].as_bool().unwrap_or(false);
            let src = m["Source"].as_str().unwrap_or_default().to_string();
            let mp = match kind.as_str() {
                "bind" => {
                    // A virtual host's path is checked when the container starts.
                    let missing = self.virtual_ns().is_none() && std::fs::metadata(&src).is_err();
                    if !src.starts_with('/') || missing {
                        return Err(Error::InvalidParameter(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {src}"
                        )));
                    }
                    MountPoint {
                        kind,
                        source: src,
                        destination: dst,
                        rw,
                        propagation: volume::propagation_of(
                            m["BindOptions"]["Propagation"].as_str().unwrap_or(""),
                        ),
                        ..Default::default()
                    }
                }
                "volume" => {
                    // `--mount ...,volume-driver=local,volume-opt=K=V,volume-label=K=V`:
                    // used when the volume is created here, as Docker does.
                    let vo = &m["VolumeOptions"];
                    if let Some(d) = vo["DriverConfig"]["Name"]
                        .as_str()
                        .filter(|d| !d.is_empty() && *d != "local")
                    {
                        return Err(Error::NotFound(format!(
                            "error looking up volume plugin {d}: plugin \"{d}\" not found"
                        )));
                    }
                    let v = self.volumes.create(
                        Some(src.as_str()).filter(|s| !s.is_empty()),
                        str_map(&vo["Labels"]),
                        str_map(&vo["DriverConfig"]["Options"]),
                    )?;
                    if let Some(sub) = subpath_of(&m) {
                        check_subpath(sub)?;
                    }
                    let nocopy = m["VolumeOptions"]["NoCopy"].as_bool().unwrap_or(false);
                    MountPoint {
                        kind,
                        source: self.volumes.data_path(&v.name).display().to_string(),
                        name: v.name,
                        destination: dst,
                        driver: "local".into(),
                        mode: if nocopy { "nocopy".into() } else { "z".into() },
                        rw,
                        propagation: String::new(),
                    }
                }
                "tmpfs" => MountPoint {
                    kind,
                    destination: dst,
                    rw,
                    ..Default::default()
                },
                other => {
                    return Err(Error::InvalidParameter(format!(
                        "invalid mount config: mount type unknown: \"{other}\""
                    )))
                }
            };
            by_dst.insert(mp.destination.clone(), mp);
        }
        let tmpfs = tmpfs_of(hc);
        for dst in config.volumes.iter().flat_map(|v| v.keys()) {
            volume::check_destination("volume", dst)?;
            let dst = volume::clean_path(dst);
            if by_dst.contains_key(&dst) || tmpfs.contains_key(&dst) {
                continue;
            }
            let v = self
                .volumes
                .create(None, BTreeMap::new(), BTreeMap::new())?;
            by_dst.insert(
                dst.clone(),
                MountPoint {
                    kind: "volume".into(),
                    source: self.volumes.data_path(&v.name).display().to_string(),
                    name: v.name,
                    destination: dst,
                    driver: "local".into(),
                    mode: String::new(),
                    rw: true,
                    propagation: String::new(),
                },
            );
        }
        Ok(by_dst.into_values().collect())
    }

    /// The mounts the runtime makes, parents before children. A missing host
    /// directory of a `-v` bind is created, as Docker does.
    pub(super) fn runtime_mounts(&self, rec: &ContainerInspect) -> Result<Vec<SpecMount>> {
        let mut out = vec![];
        let api = api_mounts(&rec.host_config);
        for mp in mount_points_of(rec) {
            match mp.kind.as_str() {
                "bind" => {
                    let src = PathBuf::from(&mp.source);
                    let sock = self.virtual_ns().map(|v| v.socket.clone());
                    if let (Some(sock), true) = (
                        sock,
                        ["/var/run/docker.sock", "/run/docker.sock"].contains(&mp.source.as_str()),
                    ) {
                        // The virtual host's own API socket (sibling containers).
                        out.push(SpecMount {
                            kind: "bind".into(),
                            source: sock,
                            destination: mp.destination,
                            readonly: !mp.rw,
                            ..Default::default()
                        });
                        continue;
                    }
                    if self.virtual_ns().is_some() {
                        // A path of the virtual host: found (or made) in its mount
                        // namespace when the container starts.
                        out.push(SpecMount {
                            kind: "bind".into(),
                            source: src,
                            destination: mp.destination,
                            readonly: !mp.rw,
                            in_sandbox: true,
                            ..Default::default()
                        });
                        continue;
                    }
                    if std::fs::symlink_metadata(&src).is_err() {
                        std::fs::create_dir_all(&src).map_err(|e| {
                            Error::InvalidParameter(format!(
                                "error while creating mount source path '{}': {e}",
                                mp.source
                            ))
                        })?;
                    }
                    out.push(SpecMount {
                        kind: "bind".into(),
                        source: src,
                        destination: mp.destination,
                        readonly: !mp.rw,
                        ..Default::default()
                    });
                }
                "volume" => {
                    // Recreated if someone removed it by hand while unused.
                    let v =
                        self.volumes
                            .create(Some(&mp.name), BTreeMap::new(), BTreeMap::new())?;
                    let data = self.volumes.data_path(&mp.name);
                    // `VolumeOptions.Subpath`: a directory inside the volume,
                    // resolved without leaving it; it must exist, and nothing
                    // is copied up into it.
                    let subpath = api
                        .iter()
                        .find(|m| {
                            m["Type"] == "volume"
                                && volume::clean_path(m["Target"].as_str().unwrap_or_default())
                                    == mp.destination
                        })
                        .and_then(|m| subpath_of(m));
                    if let Some(sub) = subpath {
                        let base = match v.bind_device() {
                            Some(dev) => dev.path,
                            None => data.clone(),
                        };
                        out.push(SpecMount {
                            kind: "bind".into(),
                            source: volume_subpath(&base, sub)?,
                            destination: mp.destination,
                            readonly: !mp.rw,
                            options: String::new(),
                            copy_up: false,
                            in_sandbox: false,
                            must_exist: true,
                        });
                        continue;
                    }
                    if let Some(dev) = v.bind_device() {
                        // A bind volume is its device, a directory that is not
                        // ours: bound straight in (Docker mounts it on `_data`
                        // first), never created, chowned or removed. Inside a
                        // virtual host the path is one of the virtual host's.
                        let in_sandbox = self.virtual_ns().is_some();
                        if !in_sandbox {
                            dev.check(&data)?;
                        }
                        out.push(SpecMount {
                            kind: "bind".into(),
                            source: dev.path,
                            destination: mp.destination,
                            readonly: !mp.rw || dev.readonly,
                            options: String::new(),
                            copy_up: !mp.mode.split(',').any(|m| m == "nocopy"),
                            in_sandbox,
                            must_exist: true,
                        });
                        continue;
                    }
                    if self.virtual_ns().is_some()
                        && std::fs::metadata(&data)
                            .is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
                    {
                        // A fresh volume belongs to the virtual host's root.
                        self.chown_to_root(&data);
                    }
                    out.push(SpecMount {
                        kind: "bind".into(),
                        source: self.volumes.data_path(&mp.name),
                        destination: mp.destination,
                        readonly: !mp.rw,
                        options: String::new(),
                        copy_up: !mp.mode.split(',').any(|m| m == "nocopy"),
                        in_sandbox: false,
                        must_exist: false,
                    });
                }
                "tmpfs" => {
                    let options = api
                        .iter()
                        .find(|m| {
                            m["Type"] == "tmpfs"
                                && volume::clean_path(m["Target"].as_str().unwrap_or_default())
                                    == mp.destination
                        })
                        .map(api_tmpfs_options)
                        .unwrap_or_default();
                    out.push(SpecMount {
                        kind: "tmpfs".into(),
                        destination: mp.destination,
                        options,
                        ..Default::default()
                    });
                }
                _ => {}
            }
        }
        for (dst, options) in tmpfs_of(&rec.host_config) {
            out.push(SpecMount {
                kind: "tmpfs".into(),
                destination: dst,
                options,
                ..Default::default()
            });
        }
        out.sort_by_key(|m| m.destination.split('/').filter(|c| !c.is_empty()).count());
        Ok(out)
    }

    /// IDs of the containers whose records mount volume `name`.
    fn volume_users(&self, name: &str) -> Vec<String> {
        let st = self.lock();
        let mut ids: Vec<String> = st
            .values()
            .filter(|e| {
                mount_points_of(&e.rec)
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name)
            })
            .map(|e| e.rec.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// After a container is gone: its anonymous volumes that no one else uses.
    pub(super) fn remove_anonymous_volumes(&self, mounts: &[Value]) {
        for v in mounts {
            let Ok(mp) = serde_json::from_value::<MountPoint>(v.clone()) else {
                continue;
            };
            if mp.kind != "volume" || mp.name.is_empty() {
                continue;
            }
            let anonymous = self.volumes.get(&mp.name).is_ok_and(|r| r.anonymous());
            if anonymous && self.volume_users(&mp.name).is_empty() {
                if let Err(e) = self.volumes.remove(&mp.name) {
                    tracing::warn!("removing volume {}: {e}", mp.name);
                }
            }
        }
    }

    /// `POST /volumes/create`.
    pub fn volume_create(
        &self,
        name: Option<&str>,
        driver: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Value> {
        if let Some(d) = driver.filter(|d| !d.is_empty() && *d != "local") {
            return Err(Error::NotFound(format!(
                "error looking up volume plugin {d}: plugin \"{d}\" not found"
            )));
        }
        let r = self.volumes.create(name, labels, options)?;
        Ok(self.volumes.to_json(&r))
    }

    /// `GET /volumes/{name}`.
    pub fn volume_inspect(&self, name: &str) -> Result<Value> {
        let r = self.volumes.get(name)?;
        Ok(self.volumes.to_json(&r))
    }

    /// `GET /volumes`, with the `name`, `driver`, `label` and `dangling` filters.
    pub fn volume_list(&self, filters: &Filters) -> Result<Vec<Value>> {
        for k in filters.keys() {
            if !matches!(k.as_str(), "name" | "driver" | "label" | "dangling") {
                return Err(Error::InvalidParameter(format!("invalid filter '{k}'")));
            }
        }
        let mut out = vec![];
        for r in self.volumes.list()? {
            // Every label value must match (moby's `MatchKVList`).
            let ok = crate::filters::labels_pass(&r.labels, filters)
                && filters
                    .iter()
                    .filter(|(k, _)| k.as_str() != "label")
                    .all(|(k, vals)| {
                        vals.iter().any(|v| match k.as_str() {
                            "name" => r.name.contains(v.as_str()),
                            "driver" => v == "local",
                            "dangling" => {
                                let dangling = matches!(v.as_str(), "true" | "1");
                                self.volume_users(&r.name).is_empty() == dangling
                            }
                            _ => true,
                        })
                    });
            if ok {
                out.push(self.volumes.to_json(&r));
            }
        }
        Ok(out)
    }

    /// `DELETE /volumes/{name}`: refused while a container uses it; `force`
    /// only forgives a missing volume.
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        if let Err(e) = self.volumes.get(name) {
            return if force { Ok(()) } else { Err(e) };
        }
        let users = self.volume_users(name);
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(" ")
            )));
        }
        self.volumes.remove(name)
    }

    /// `POST /volumes/prune`: unused anonymous volumes, or every unused volume
    /// with the `all=true` filter. Returns the names and the bytes reclaimed.
    pub fn volume_prune(&self, filters: &Filters) -> Result<(Vec<String>, u64)> {
        crate::filters::check_keys(filters, &["all", "label", "label!"])
            .map_err(Error::InvalidParameter)?;
        let all = filters
            .get("all")
            .is_some_and(|v| v.iter().any(|x| matches!(x.as_str(), "true" | "1")));
        let mut deleted = vec![];
        let mut reclaimed = 0;
        for r in self.volumes.list()? {
            if !all && !r.anonymous() {
                continue;
            }
            if !crate::filters::labels_pass(&r.labels, filters)
                || !self.volume_users(&r.name).is_empty()
            {
                continue;
            }
            let size = crate::commit::dir_size(&self.volumes.data_path(&r.name));
            match self.volumes.remove(&r.name) {
                Ok(()) => {
                    reclaimed += size;
                    deleted.push(r.name);
                }
                Err(e) => tracing::warn!("prune skipped volume {}: {e}", r.name),
            }
        }
        Ok((deleted, reclaimed))
    }
}

/// `VolumeOptions.Subpath` of an API mount, when set.
fn subpath_of(m: &Value) -> Option<&str> {
    m["VolumeOptions"]["Subpath"]
        .as_str()
        .filter(|s| !s.is_empty())
}

/// moby's check (Go's `filepath.IsLocal`): relative, and not leaving the volume.
fn check_subpath(sub: &str) -> Result<()> {
    let mut depth: i32 = 0;
    for c in sub.split('/') {
        match c {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            break;
        }
    }
    if sub.starts_with('/') || depth < 0 || sub.contains('\0') {
        return Err(Error::InvalidParameter(format!(
            "invalid mount config for type \"volume\": subpath must be a relative path within the volume: {sub}"
        )));
    }
    Ok(())
}

/// The directory `sub` names inside the volume at `base`, symlinks on the way
/// resolved inside the volume (a link cannot lead out of it).
fn volume_subpath(base: &std::path::Path, sub: &str) -> Result<PathBuf> {
    check_subpath(sub)?;
    let root = crate::archive::in_root::Root::open(base, None)
        .map_err(|e| crate::error::IoError::new("open volume", base, e))?;
    let (resolved, _) = root.eval_symlinks(&format!("/{sub}")).map_err(|e| {
        Error::InvalidParameter(format!(
            "cannot access path {}: {e}",
            base.join(sub).display()
        ))
    })?;
    Ok(base.join(resolved.trim_start_matches('/')))
}

#[cfg(test)]
mod subpath_tests {
    use super::*;

    #[test]
    fn subpaths_stay_inside_the_volume() {
        for ok in ["subdir", "a/b", "a/../b", "./x", "a/"] {
            assert!(check_subpath(ok).is_ok(), "{ok}");
        }
        for bad in ["/etc", "..", "../x", "a/../../x"] {
            let e = check_subpath(bad).unwrap_err().to_string();
            assert!(
                e.contains("subpath must be a relative path within the volume"),
                "{e}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("vol/sub")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::os::unix::fs::symlink("/sub", dir.path().join("vol/abs")).unwrap();
        std::os::unix::fs::symlink("../../outside", dir.path().join("vol/up")).unwrap();
        let base = dir.path().join("vol");
        assert_eq!(volume_subpath(&base, "sub").unwrap(), base.join("sub"));
        // Links resolve inside the volume, whatever they say.
        assert_eq!(volume_subpath(&base, "abs").unwrap(), base.join("sub"));
        let e = volume_subpath(&base, "up").unwrap_err().to_string();
        assert!(e.contains("no such file"), "{e}");
        assert!(volume_subpath(&base, "missing").is_err());
    }
}
