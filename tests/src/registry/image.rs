//! Image makers: write OCI image layouts (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) from a spec, with no registry and no network. Tar streams
//! are deterministic (fixed owner and mtime) so the same spec gives the same
//! digests, except for random content.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// Fixed mtime of every tar entry and `created` of every config.
const MTIME: u64 = 1_700_000_000;
const CREATED: &str = "2023-11-14T22:13:20Z";

/// How a layer blob is compressed (its media type follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    /// A plain tar (`…layer.v1.tar` / `…rootfs.diff.tar`).
    None,
}

/// The family of media types an image is written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaTypes {
    /// `application/vnd.oci.image.*`.
    Oci,
    /// Docker's schema 2 (`application/vnd.docker.distribution.manifest.v2+json`,
    /// manifest lists); gzip or uncompressed layers only.
    Docker,
}

#[derive(Debug, Clone)]
enum Entry {
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
    },
    Dir {
        path: String,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
}

impl Entry {
    fn path(&self) -> &str {
        match self {
            Entry::File { path, .. } | Entry::Dir { path, .. } | Entry::Symlink { path, .. } => {
                path
            }
        }
    }
}

/// The content of one layer. Paths may start with `/`; missing parent
/// directories are added (mode 0755).
#[derive(Debug, Clone)]
pub struct LayerSpec {
    entries: Vec<Entry>,
    compression: Compression,
}

impl Default for LayerSpec {
    fn default() -> Self {
        LayerSpec::new()
    }
}

impl LayerSpec {
    /// An empty layer, gzip-compressed.
    pub fn new() -> LayerSpec {
        LayerSpec {
            entries: Vec::new(),
            compression: Compression::Gzip,
        }
    }

    /// A layer of these files (mode 0644).
    pub fn files(files: &[(&str, &[u8])]) -> LayerSpec {
        files
            .iter()
            .fold(LayerSpec::new(), |l, (p, d)| l.file(p, d))
    }

    /// A layer of one file `/random-<hex>.bin` of `n` random bytes: a layer no
    /// other test has.
    pub fn random(n: usize) -> LayerSpec {
        let tag: [u8; 8] = rand::random();
        LayerSpec::new().random_file(&format!("/random-{}.bin", hex::encode(tag)), n)
    }

    /// A layer holding the host's static busybox as `/bin/busybox`, every
    /// applet it lists as a symlink `/bin/NAME -> busybox` (so `/bin/sh`),
    /// `/tmp`, and a minimal `/etc/passwd` and `/etc/group`: with it an image
    /// can run (on this machine's architecture).
    pub fn busybox() -> LayerSpec {
        let bin = busybox_path();
        let data = std::fs::read(&bin)
            .unwrap_or_else(|e| panic!("read {}: {e} (install busybox-static)", bin.display()));
        let list = std::process::Command::new(&bin)
            .arg("--list")
            .output()
            .expect("busybox --list");
        let mut l = LayerSpec::new()
            .dir("/bin", 0o755)
            .file_mode("/bin/busybox", &data, 0o755);
        for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
            if applet != "busybox" && !applet.contains('/') {
                l = l.symlink(&format!("/bin/{applet}"), "busybox");
            }
        }
        l.dir("/tmp", 0o1777)
            .dir("/root", 0o700)
            .file(
                "/etc/passwd",
                b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
            )
            .file("/etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    }

    /// Add a file (mode 0644).
    pub fn file(self, path: &str, data: &[u8]) -> LayerSpec {
        self.file_mode(path, data, 0o644)
    }

    /// Add a file with this mode.
    pub fn file_mode(mut self, path: &str, data: &[u8], mode: u32) -> LayerSpec {
        self.entries.push(Entry::File {
            path: clean(path),
            data: data.to_vec(),
            mode,
        });
        self
    }

    /// Add a file of `n` random bytes.
    pub fn random_file(self, path: &str, n: usize) -> LayerSpec {
        let mut data = vec![0u8; n];
        rand::Rng::fill(&mut rand::thread_rng(), &mut data[..]);
        self.file(path, &data)
    }

    /// Add a directory.
    pub fn dir(mut self, path: &str, mode: u32) -> LayerSpec {
        self.entries.push(Entry::Dir {
            path: clean(path),
            mode,
        });
        self
    }

    /// Add a symlink `path -> target`.
    pub fn symlink(mut self, path: &str, target: &str) -> LayerSpec {
        self.entries.push(Entry::Symlink {
            path: clean(path),
            target: target.to_string(),
        });
        self
    }

    /// Set the compression (gzip by default).
    pub fn compression(mut self, c: Compression) -> LayerSpec {
        self.compression = c;
        self
    }

    /// The uncompressed tar stream of this layer.
    pub fn tar(&self) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut have: std::collections::HashSet<String> = std::collections::HashSet::new();
        let explicit: std::collections::HashSet<&str> = self
            .entries
            .iter()
            .filter(|e| matches!(e, Entry::Dir { .. }))
            .map(Entry::path)
            .collect();
        for e in &self.entries {
            // Parents first, unless the spec lists them itself.
            let parts: Vec<&str> = e.path().split('/').collect();
            for i in 1..parts.len() {
                let parent = parts[..i].join("/");
                if !explicit.contains(parent.as_str()) && have.insert(parent.clone()) {
                    append(
                        &mut b,
                        &Entry::Dir {
                            path: parent,
                            mode: 0o755,
                        },
                    );
                }
            }
            if have.insert(e.path().to_string()) || !matches!(e, Entry::Dir { .. }) {
                append(&mut b, e);
            }
        }
        b.into_inner().expect("finish tar")
    }
}

fn clean(path: &str) -> String {
    path.trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

fn append(b: &mut tar::Builder<Vec<u8>>, e: &Entry) {
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    let r = match e {
        Entry::File { path, data, mode } => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(*mode);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, path, &data[..])
        }
        Entry::Dir { path, mode } => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(*mode);
            h.set_size(0);
            b.append_data(&mut h, format!("{path}/"), std::io::empty())
        }
        Entry::Symlink { path, target } => {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            b.append_link(&mut h, path, target)
        }
    };
    r.expect("append a tar entry");
}

/// The static busybox the busybox layer copies: `BUSYBOX`, else `/bin/busybox`.
pub fn busybox_path() -> std::path::PathBuf {
    std::env::var_os("BUSYBOX")
        .map(Into::into)
        .unwrap_or_else(|| "/bin/busybox".into())
}

/// One image: platform, config and layers.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    /// Bottom layer first.
    pub layers: Vec<LayerSpec>,
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub media_types: MediaTypes,
}

impl Default for ImageSpec {
    /// linux/amd64, no layers, `PATH` set, OCI media types.
    fn default() -> Self {
        ImageSpec {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
            layers: Vec::new(),
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            cmd: Vec::new(),
            entrypoint: Vec::new(),
            media_types: MediaTypes::Oci,
        }
    }
}

impl ImageSpec {
    /// An image for `os/arch[/variant]`, e.g. `linux/arm64/v8`.
    pub fn new(platform: &str) -> ImageSpec {
        let mut it = platform.split('/');
        ImageSpec {
            os: it.next().unwrap_or("linux").to_string(),
            architecture: it.next().unwrap_or("amd64").to_string(),
            variant: it.next().map(String::from),
            ..ImageSpec::default()
        }
    }

    /// A runnable image for this machine: the busybox layer and `Cmd ["sh"]`.
    pub fn busybox() -> ImageSpec {
        ImageSpec::default()
            .layer(LayerSpec::busybox())
            .cmd(&["sh"])
    }

    pub fn layer(mut self, l: LayerSpec) -> ImageSpec {
        self.layers.push(l);
        self
    }

    pub fn cmd(mut self, c: &[&str]) -> ImageSpec {
        self.cmd = c.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn entrypoint(mut self, e: &[&str]) -> ImageSpec {
        self.entrypoint = e.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Add an `Env` entry (`KEY=VALUE`).
    pub fn env(mut self, kv: &str) -> ImageSpec {
        self.env.push(kv.to_string());
        self
    }

    pub fn media_types(mut self, m: MediaTypes) -> ImageSpec {
        self.media_types = m;
        self
    }

    /// `os/arch[/variant]`.
    pub fn platform(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// A layer as written.
#[derive(Debug, Clone)]
pub struct BuiltLayer {
    /// `sha256:…` of the (compressed) blob.
    pub digest: String,
    /// `sha256:…` of the uncompressed tar.
    pub diff_id: String,
    /// Size of the blob.
    pub size: u64,
    pub media_type: String,
}

/// An image as written: what a pull of it must reproduce.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub manifest_digest: String,
    pub manifest_media_type: String,
    /// The manifest's exact bytes.
    pub manifest: Vec<u8>,
    /// `sha256:…` of the config: the image ID Docker shows.
    pub config_digest: String,
    pub config: Vec<u8>,
    pub layers: Vec<BuiltLayer>,
    /// `os/arch[/variant]`.
    pub platform: String,
}

impl BuiltImage {
    pub fn layer_digests(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.digest.clone()).collect()
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }
}

/// An image index (manifest list) as written.
#[derive(Debug, Clone)]
pub struct BuiltIndex {
    pub digest: String,
    pub media_type: String,
    /// The index's exact bytes.
    pub manifest: Vec<u8>,
    /// Its images, in the order of the specs.
    pub images: Vec<BuiltImage>,
}

impl BuiltIndex {
    /// The image for `os/arch[/variant]`.
    pub fn image(&self, platform: &str) -> Option<&BuiltImage> {
        self.images.iter().find(|i| i.platform == platform)
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn write_blob(dir: &Path, data: &[u8]) -> String {
    let digest = sha256_digest(data);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("create blobs/sha256");
    std::fs::write(blobs.join(&digest[7..]), data).expect("write a blob");
    digest
}

/// Write `dir/oci-layout` and `dir/index.json` naming just `(media type,
/// digest, size)`.
fn write_layout(dir: &Path, media_type: &str, digest: &str, size: usize) {
    std::fs::create_dir_all(dir).expect("create the layout directory");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": media_type, "digest": digest, "size": size}],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).expect("index.json");
}

fn compress(data: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).expect("gzip");
            e.finish().expect("gzip")
        }
        Compression::Zstd => zstd::encode_all(data, 3).expect("zstd"),
        Compression::None => data.to_vec(),
    }
}

fn layer_media_type(m: MediaTypes, c: Compression) -> &'static str {
    match (m, c) {
        (MediaTypes::Oci, Compression::Gzip) => "application/vnd.oci.image.layer.v1.tar+gzip",
        (MediaTypes::Oci, Compression::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
        (MediaTypes::Oci, Compression::None) => "application/vnd.oci.image.layer.v1.tar",
        (MediaTypes::Docker, Compression::Gzip) => {
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        }
        (MediaTypes::Docker, Compression::None) => "application/vnd.docker.image.rootfs.diff.tar",
        (MediaTypes::Docker, Compression::Zstd) => {
            panic!("Docker media types have no zstd layer: use MediaTypes::Oci")
        }
    }
}

/// Write the blobs of one image (layers, config, manifest) into `dir/blobs`.
fn write_image_blobs(dir: &Path, spec: &ImageSpec) -> BuiltImage {
    let mut layers = Vec::new();
    for l in &spec.layers {
        let tar = l.tar();
        let blob = compress(&tar, l.compression);
        layers.push(BuiltLayer {
            digest: write_blob(dir, &blob),
            diff_id: sha256_digest(&tar),
            size: blob.len() as u64,
            media_type: layer_media_type(spec.media_types, l.compression).to_string(),
        });
    }
    let mut cfg = serde_json::Map::new();
    cfg.insert("Env".into(), serde_json::json!(spec.env));
    if !spec.entrypoint.is_empty() {
        cfg.insert("Entrypoint".into(), serde_json::json!(spec.entrypoint));
    }
    if !spec.cmd.is_empty() {
        cfg.insert("Cmd".into(), serde_json::json!(spec.cmd));
    }
    let mut config = serde_json::json!({
        "created": CREATED,
        "architecture": spec.architecture,
        "os": spec.os,
    });
    if let Some(v) = &spec.variant {
        config["variant"] = serde_json::json!(v);
    }
    config["config"] = serde_json::Value::Object(cfg);
    config["rootfs"] = serde_json::json!({
        "type": "layers",
        "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
    });
    config["history"] = serde_json::json!((0..layers.len())
        .map(|i| serde_json::json!({"created": CREATED, "created_by": format!("dockhand-tests layer {i}")}))
        .collect::<Vec<_>>());
    let config = serde_json::to_vec(&config).expect("config JSON");
    let config_digest = write_blob(dir, &config);
    let (manifest_type, config_type) = match spec.media_types {
        MediaTypes::Oci => (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json",
        ),
        MediaTypes::Docker => (
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.container.image.v1+json",
        ),
    };
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
        "layers": layers
            .iter()
            .map(|l| serde_json::json!({"mediaType": l.media_type, "digest": l.digest, "size": l.size}))
            .collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec(&manifest).expect("manifest JSON");
    BuiltImage {
        manifest_digest: write_blob(dir, &manifest),
        manifest_media_type: manifest_type.to_string(),
        manifest,
        config_digest,
        config,
        layers,
        platform: spec.platform(),
    }
}

/// Write an OCI image layout of one image into `dir` (created if needed);
/// its `index.json` names just this image.
pub fn oci_image(dir: &Path, spec: &ImageSpec) -> BuiltImage {
    let img = write_image_blobs(dir, spec);
    write_layout(
        dir,
        &img.manifest_media_type,
        &img.manifest_digest,
        img.manifest.len(),
    );
    img
}

/// Write an OCI image layout whose `index.json` names one image index (a
/// manifest list with Docker media types, after the first spec) of these
/// images, one per spec, each with its platform.
pub fn oci_index(dir: &Path, specs: &[ImageSpec]) -> BuiltIndex {
    assert!(!specs.is_empty(), "an index needs images");
    let images: Vec<BuiltImage> = specs.iter().map(|s| write_image_blobs(dir, s)).collect();
    let media_type = match specs[0].media_types {
        MediaTypes::Oci => "application/vnd.oci.image.index.v1+json",
        MediaTypes::Docker => "application/vnd.docker.distribution.manifest.list.v2+json",
    };
    let manifests: Vec<serde_json::Value> = specs
        .iter()
        .zip(&images)
        .map(|(s, i)| {
            let mut platform = serde_json::json!({"architecture": s.architecture, "os": s.os});
            if let Some(v) = &s.variant {
                platform["variant"] = serde_json::json!(v);
            }
            serde_json::json!({
                "mediaType": i.manifest_media_type,
                "digest": i.manifest_digest,
                "size": i.manifest.len(),
                "platform": platform,
            })
        })
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": manifests,
    });
    let manifest = serde_json::to_vec(&index).expect("index JSON");
    let digest = write_blob(dir, &manifest);
    write_layout(dir, media_type, &digest, manifest.len());
    BuiltIndex {
        digest,
        media_type: media_type.to_string(),
        manifest,
        images,
    }
}
