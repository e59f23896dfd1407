//! Images the machine makes without the internet, for the course's steps that
//! need them: `busybox` (busybox.rs), `registry:2` (this binary's registry server
//! on busybox, as distribution's `registry:2`: the same entrypoint script, config
//! path, volume and port) and `docker:latest`/`docker:cli` (busybox plus this
//! binary as `/usr/local/bin/docker`, with docker's entrypoint script). Each is
//! made on demand in the daemon that asks, and its history says how it was made.
//!
//! Their layers are deterministic: the same binaries give the same layers and
//! image IDs. The diff IDs of the layers made are listed in
//! `<data_root>/builtin-layers.json`; like the machine's own images, they are not
//! charged to a virtual host's disk.

use super::config::{encode_config, format_time, host_arch, host_os, to_oci_config};
use super::{ImageError, ImageStore, LayerInfo};
use crate::reference::Reference;
use crate::store::digest_string;
use chrono::{DateTime, Utc};
use oci_spec::image::{HistoryBuilder, ImageConfigurationBuilder, RootFsBuilder};
use shared::api::ContainerConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An image the machine can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Busybox,
    Registry,
    Docker,
}

impl Builtin {
    pub const ALL: [Builtin; 3] = [Builtin::Busybox, Builtin::Registry, Builtin::Docker];

    /// The repository, as `docker.io/library/NAME`.
    pub fn repository(self) -> &'static str {
        match self {
            Builtin::Busybox => "docker.io/library/busybox",
            Builtin::Registry => "docker.io/library/registry",
            Builtin::Docker => "docker.io/library/docker",
        }
    }

    /// The tags it is made under; the first is the one `pull` without a tag
    /// would not use, so `latest` is always among them.
    pub fn tags(self) -> &'static [&'static str] {
        match self {
            Builtin::Busybox => &["latest"],
            Builtin::Registry => &["2", "latest"],
            Builtin::Docker => &["latest", "cli"],
        }
    }

    /// The builtin image a reference names (by tag, not by digest), if any.
    pub fn for_reference(r: &Reference) -> Option<Builtin> {
        if r.digest().is_some() {
            return None;
        }
        let tag = r.explicit_tag().unwrap_or("latest");
        let name = r.full_name();
        Builtin::ALL
            .into_iter()
            .find(|b| b.repository() == name && b.tags().contains(&tag))
    }

    /// How `pull` reports it.
    pub fn made_from(self) -> &'static str {
        match self {
            Builtin::Busybox => "Made from the machine's static busybox",
            Builtin::Registry => "Made from the machine's busybox and Dockhand's registry",
            Builtin::Docker => "Made from the machine's busybox and Dockhand's docker CLI",
        }
    }
}

/// One step of a made image's history: a layer or only a config change.
struct Step {
    layer: Option<LayerInfo>,
    created_by: String,
    comment: String,
}

/// `registry:2`'s entrypoint, as distribution's image has it: a config file
/// means `registry serve FILE`, a subcommand means `registry SUBCOMMAND`.
const REGISTRY_ENTRYPOINT: &str = r#"#!/bin/sh

set -e

case "$1" in
    *.yaml|*.yml) set -- registry serve "$@" ;;
    serve|garbage-collect|help|-*) set -- registry "$@" ;;
esac

exec "$@"
"#;

/// The configuration `registry:2` ships (the keys Dockhand's registry reads).
const REGISTRY_CONFIG: &str = "version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: false
http:
  addr: :5000
";

/// `docker:cli`'s entrypoint: an option or a docker subcommand as the first
/// argument runs `docker` with the arguments; anything else runs as given.
const DOCKER_ENTRYPOINT: &str = r#"#!/bin/sh
set -eu

[ "$#" -gt 0 ] || set -- sh

# first arg is `-f` or `--some-option`
if [ "${1#-}" != "$1" ]; then
	set -- docker "$@"
fi

# if our command is a valid Docker subcommand, invoke it through Docker instead
if docker help "$1" > /dev/null 2>&1; then
	set -- docker "$@"
fi

exec "$@"
"#;

/// Modification time of a file in seconds (0 when unknown).
pub(super) fn mtime_of(path: &Path) -> u64 {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A header of a made layer's entry: owned by root, with the given time.
pub(super) fn tar_header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h
}

/// A deterministic layer: directories, files `(path, mode, bytes)` and
/// symlinks `(path, target)`, owned by root, all with `mtime`.
pub fn layer_tar(
    dirs: &[(&str, u32)],
    files: &[(&str, u32, &[u8])],
    symlinks: &[(&str, &str)],
    mtime: u64,
) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let header = |kind, mode, size| tar_header(kind, mode, size, mtime);
    for (d, mode) in dirs {
        let mut h = header(tar::EntryType::Directory, *mode, 0);
        b.append_data(&mut h, format!("{d}/"), std::io::empty())?;
    }
    for (path, mode, data) in files {
        let mut h = header(tar::EntryType::Regular, *mode, data.len() as u64);
        b.append_data(&mut h, path, *data)?;
    }
    for (path, target) in symlinks {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(&mut h, path, target)?;
    }
    b.into_inner()
}

/// The Dockhand binary `exe` as `/usr/local/bin/dockhand`, with `docker`
/// beside it pointing at it.
fn dockhand_layer(exe: &Path) -> Result<(Vec<u8>, u64), ImageError> {
    let bytes = std::fs::read(exe).map_err(|e| crate::error::IoError::new("read", exe, e))?;
    if super::busybox::elf_is_static(&bytes) != Some(true) {
        return Err(ImageError::Internal(format!(
            "{} is not a static executable, so it cannot run in an image: build the static binary (scripts/build)",
            exe.display()
        )));
    }
    let mtime = mtime_of(exe);
    let tar = layer_tar(
        &[
            ("usr", 0o755),
            ("usr/local", 0o755),
            ("usr/local/bin", 0o755),
        ],
        &[("usr/local/bin/dockhand", 0o755, &bytes)],
        &[("usr/local/bin/docker", "dockhand")],
        mtime,
    )
    .map_err(|source| ImageError::MakeLayer {
        what: "dockhand",
        source,
    })?;
    Ok((tar, mtime))
}

fn registry_layer(mtime: u64) -> Result<Vec<u8>, ImageError> {
    layer_tar(
        &[
            ("etc", 0o755),
            ("etc/docker", 0o755),
            ("etc/docker/registry", 0o755),
            ("var", 0o755),
            ("var/lib", 0o755),
            ("var/lib/registry", 0o755),
        ],
        &[
            ("entrypoint.sh", 0o755, REGISTRY_ENTRYPOINT.as_bytes()),
            (
                "etc/docker/registry/config.yml",
                0o644,
                REGISTRY_CONFIG.as_bytes(),
            ),
        ],
        &[("bin/registry", "/usr/local/bin/dockhand")],
        mtime,
    )
    .map_err(|source| ImageError::MakeLayer {
        what: "registry",
        source,
    })
}

fn docker_layer(mtime: u64) -> Result<Vec<u8>, ImageError> {
    layer_tar(
        &[
            ("usr", 0o755),
            ("usr/local", 0o755),
            ("usr/local/bin", 0o755),
        ],
        &[(
            "usr/local/bin/docker-entrypoint.sh",
            0o755,
            DOCKER_ENTRYPOINT.as_bytes(),
        )],
        &[],
        mtime,
    )
    .map_err(|source| ImageError::MakeLayer {
        what: "docker",
        source,
    })
}

/// Where the diff IDs of made layers are listed.
fn free_list_path(data_root: &Path) -> PathBuf {
    data_root.join("builtin-layers.json")
}

/// Diff IDs (`sha256:..`) of the layers builtin images are made of: free of
/// charge for virtual hosts, as the machine's images are.
pub fn free_layers(data_root: &Path) -> BTreeSet<String> {
    std::fs::read(free_list_path(data_root))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn add_free_layers(data_root: &Path, layers: &[&LayerInfo]) -> Result<(), ImageError> {
    let mut all = free_layers(data_root);
    let before = all.len();
    all.extend(layers.iter().map(|l| digest_string(&l.diff_id)));
    if all.len() == before {
        return Ok(());
    }
    let path = free_list_path(data_root);
    let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    let bytes = serde_json::to_vec(&all).map_err(|source| ImageError::Encode {
        what: "the built-in layers' list",
        source,
    })?;
    std::fs::write(&tmp, bytes).map_err(|e| crate::error::IoError::new("write", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| crate::error::IoError::new("rename", &path, e))?;
    Ok(())
}

impl ImageStore {
    /// Make `b` and tag it under all its tags, unless the tag `tag` already
    /// names an image here. `exe` is this Dockhand binary (static), which the
    /// registry and docker images carry. Returns the new image's ID when it
    /// made one.
    pub fn ensure_builtin(
        &self,
        b: Builtin,
        tag: &str,
        exe: &Path,
    ) -> Result<Option<String>, ImageError> {
        let wanted = format!("{}:{tag}", b.repository());
        if self.lock_index().refs.contains_key(&wanted) {
            return Ok(None);
        }
        let (busybox, created) = self.busybox_layer()?;
        let busybox_step = Step {
            created_by: format!(
                "/bin/sh -c #(nop) ADD file:{} in / ",
                busybox.layer.diff_id.digest()
            ),
            comment: busybox.comment,
            layer: Some(busybox.layer),
        };
        let mut config = ContainerConfig {
            env: vec![PATH_ENV.to_string()],
            ..Default::default()
        };
        let steps = match b {
            Builtin::Busybox => {
                config.cmd = Some(vec!["sh".into()]);
                vec![busybox_step, nop("CMD [\"sh\"]")]
            }
            Builtin::Registry => {
                let (tar, mtime) = dockhand_layer(exe)?;
                let dockhand = self.register_layer(&mut &tar[..])?;
                let reg = self.register_layer(&mut &registry_layer(mtime)?[..])?;
                config.entrypoint = Some(vec!["/entrypoint.sh".into()]);
                config.cmd = Some(vec!["/etc/docker/registry/config.yml".into()]);
                config.exposed_ports = Some(BTreeMap::from([(
                    "5000/tcp".to_string(),
                    serde_json::json!({}),
                )]));
                config.volumes = Some(BTreeMap::from([(
                    "/var/lib/registry".to_string(),
                    serde_json::json!({}),
                )]));
                vec![
                    busybox_step,
                    dockhand_step(dockhand),
                    Step {
                        created_by: format!(
                            "COPY entrypoint.sh config.yml /bin/registry # buildkit (file:{})",
                            reg.diff_id.digest()
                        ),
                        comment: "Dockhand's registry as registry:2: /bin/registry serve /etc/docker/registry/config.yml".into(),
                        layer: Some(reg),
                    },
                    nop("VOLUME [/var/lib/registry]"),
                    nop("EXPOSE map[5000/tcp:{}]"),
                    nop("ENTRYPOINT [\"/entrypoint.sh\"]"),
                    nop("CMD [\"/etc/docker/registry/config.yml\"]"),
                ]
            }
            Builtin::Docker => {
                let (tar, mtime) = dockhand_layer(exe)?;
                let dockhand = self.register_layer(&mut &tar[..])?;
                let ep = self.register_layer(&mut &docker_layer(mtime)?[..])?;
                config.entrypoint = Some(vec!["docker-entrypoint.sh".into()]);
                config.cmd = Some(vec!["sh".into()]);
                vec![
                    busybox_step,
                    dockhand_step(dockhand),
                    Step {
                        created_by: format!(
                            "COPY docker-entrypoint.sh /usr/local/bin/ # buildkit (file:{})",
                            ep.diff_id.digest()
                        ),
                        comment: "docker's entrypoint: runs `docker ARGS` for a docker subcommand"
                            .into(),
                        layer: Some(ep),
                    },
                    nop("ENTRYPOINT [\"docker-entrypoint.sh\"]"),
                    nop("CMD [\"sh\"]"),
                ]
            }
        };
        let layers: Vec<&LayerInfo> = steps.iter().filter_map(|s| s.layer.as_ref()).collect();
        if b != Builtin::Busybox {
            add_free_layers(&self.data_root, &layers)?;
        }
        let id = self.add_made_image(&steps, &config, created)?;
        for t in b.tags() {
            self.tag(&id, &format!("{}:{t}", b.repository()))?;
        }
        Ok(Some(id))
    }

    /// Store the config of an image made of `steps` (bottom first).
    fn add_made_image(
        &self,
        steps: &[Step],
        config: &ContainerConfig,
        created: Option<DateTime<Utc>>,
    ) -> Result<String, ImageError> {
        let created = format_time(&created.unwrap_or_else(Utc::now));
        let mut history = Vec::new();
        let mut diff_ids = Vec::new();
        for s in steps {
            let mut h = HistoryBuilder::default()
                .created(created.clone())
                .created_by(s.created_by.clone());
            if !s.comment.is_empty() {
                h = h.comment(s.comment.clone());
            }
            match &s.layer {
                Some(l) => diff_ids.push(digest_string(&l.diff_id)),
                None => h = h.empty_layer(true),
            }
            history.push(h.build()?);
        }
        let rootfs = RootFsBuilder::default()
            .typ("layers")
            .diff_ids(diff_ids)
            .build()?;
        let oci = ImageConfigurationBuilder::default()
            .created(created)
            .architecture(host_arch())
            .os(host_os())
            .config(to_oci_config(config))
            .rootfs(rootfs)
            .history(history)
            .build()?;
        let bytes = encode_config(&oci, config, None).map_err(ImageError::Internal)?;
        self.add_image(&bytes, None)
    }
}

fn nop(instruction: &str) -> Step {
    Step {
        layer: None,
        created_by: format!("/bin/sh -c #(nop)  {instruction}"),
        comment: String::new(),
    }
}

fn dockhand_step(layer: LayerInfo) -> Step {
    Step {
        created_by: format!(
            "COPY dockhand /usr/local/bin/ # buildkit (file:{})",
            layer.diff_id.digest()
        ),
        comment: format!(
            "Dockhand {} (this machine's binary), also as /usr/local/bin/docker",
            env!("CARGO_PKG_VERSION")
        ),
        layer: Some(layer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn references_name_builtins_by_tag_only() {
        assert_eq!(
            Builtin::for_reference(&reference("registry:2")),
            Some(Builtin::Registry)
        );
        assert_eq!(
            Builtin::for_reference(&reference("registry")),
            Some(Builtin::Registry)
        );
        assert_eq!(
            Builtin::for_reference(&reference("docker:cli")),
            Some(Builtin::Docker)
        );
        assert_eq!(
            Builtin::for_reference(&reference("docker.io/library/busybox:latest")),
            Some(Builtin::Busybox)
        );
        assert_eq!(Builtin::for_reference(&reference("registry:3")), None);
        assert_eq!(Builtin::for_reference(&reference("busybox:1.36")), None);
        assert_eq!(Builtin::for_reference(&reference("me/registry:2")), None);
        assert_eq!(
            Builtin::for_reference(&reference(
                "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000"
            )),
            None
        );
    }

    #[test]
    fn layers_are_deterministic_with_symlinks() {
        let a = registry_layer(1_700_000_000).unwrap();
        assert_eq!(a, registry_layer(1_700_000_000).unwrap());
        let mut ar = tar::Archive::new(&a[..]);
        let entries: Vec<(String, tar::EntryType, Option<String>)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().entry_type(),
                    e.link_name().unwrap().map(|l| l.display().to_string()),
                )
            })
            .collect();
        assert!(entries.contains(&(
            "bin/registry".into(),
            tar::EntryType::Symlink,
            Some("/usr/local/bin/dockhand".into())
        )));
        assert!(entries
            .iter()
            .any(|(p, k, _)| p == "entrypoint.sh" && *k == tar::EntryType::Regular));
        assert!(entries.iter().any(|(p, _, _)| p == "var/lib/registry/"));
    }

    #[test]
    fn a_dynamic_binary_is_refused() {
        if let Ok(ls) = std::fs::canonicalize("/bin/ls") {
            let e = dockhand_layer(&ls).unwrap_err().to_string();
            assert!(e.contains("not a static executable"), "{e}");
        }
    }

    #[test]
    fn the_registry_and_docker_images_are_made_and_tagged() {
        crate::testing::require_root!();
        // Any static executable stands in for Dockhand's binary.
        let Some(exe) = super::super::busybox::BUSYBOX_PATHS
            .iter()
            .map(Path::new)
            .find(|p| p.is_file())
        else {
            eprintln!("no static busybox on this machine; skipped");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let s = ImageStore::open(dir.path(), "default").unwrap();
        let id = s
            .ensure_builtin(Builtin::Registry, "2", exe)
            .unwrap()
            .expect("made");
        assert_eq!(
            s.ensure_builtin(Builtin::Registry, "latest", exe).unwrap(),
            None,
            "both tags name it"
        );
        let r = s.resolve("registry:2").unwrap();
        assert_eq!(r.id, id);
        assert_eq!(
            r.config.entrypoint,
            Some(vec!["/entrypoint.sh".to_string()])
        );
        assert_eq!(
            r.config.cmd,
            Some(vec!["/etc/docker/registry/config.yml".to_string()])
        );
        assert!(r
            .config
            .volumes
            .as_ref()
            .unwrap()
            .contains_key("/var/lib/registry"));
        assert!(r
            .config
            .exposed_ports
            .as_ref()
            .unwrap()
            .contains_key("5000/tcp"));
        assert_eq!(r.layers.len(), 3);
        let top = &r.layers[2];
        assert_eq!(
            std::fs::read_link(top.join("bin/registry")).unwrap(),
            Path::new("/usr/local/bin/dockhand")
        );
        assert!(
            std::fs::read_to_string(top.join("etc/docker/registry/config.yml"))
                .unwrap()
                .contains("rootdirectory: /var/lib/registry")
        );
        let hist = s.history("registry:2").unwrap();
        assert!(hist
            .iter()
            .any(|h| h.comment.contains("Dockhand's registry")));
        assert!(hist.iter().any(|h| h.comment.contains("from the host's")));

        let docker = s
            .ensure_builtin(Builtin::Docker, "cli", exe)
            .unwrap()
            .expect("made");
        let d = s.resolve("docker:latest").unwrap();
        assert_eq!(d.id, docker);
        assert_eq!(d.config.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(
            std::fs::read_link(d.layers[1].join("usr/local/bin/docker")).unwrap(),
            Path::new("dockhand")
        );
        // The busybox and binary layers are shared, and free for virtual hosts.
        assert_eq!(d.layers[..2], r.layers[..2]);
        let free = free_layers(dir.path());
        assert_eq!(free.len(), 4, "{free:?}");
        // Made again elsewhere, the same binary gives the same image.
        let other = ImageStore::open(dir.path(), "other").unwrap();
        assert_eq!(
            other.ensure_builtin(Builtin::Registry, "2", exe).unwrap(),
            Some(id)
        );
    }

    #[test]
    fn free_layers_accumulate() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_layers(dir.path()).is_empty());
        let info = |c: char| LayerInfo {
            diff_id: crate::store::parse_digest(&format!("sha256:{}", c.to_string().repeat(64)))
                .unwrap(),
            size: 1,
            path: PathBuf::new(),
        };
        add_free_layers(dir.path(), &[&info('a')]).unwrap();
        add_free_layers(dir.path(), &[&info('a'), &info('b')]).unwrap();
        let all = free_layers(dir.path());
        assert_eq!(all.len(), 2);
        assert!(all.contains(&format!("sha256:{}", "b".repeat(64))));
    }
}
