//! Manifests as registries serve them: OCI image index and Docker manifest list
//! (one manifest per platform), OCI image manifest and Docker schema 2 (a config
//! and layers). Schema 1 is refused, as current Docker does.

use serde::Deserialize;

use super::{RegistryError, Result};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// What we ask for (`Accept`), most wanted first.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A content descriptor.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub urls: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    #[serde(default)]
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: String,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// An index / manifest list.
#[derive(Debug, Clone, Deserialize)]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

/// A fetched manifest of either kind.
#[derive(Debug, Clone)]
pub enum Manifest {
    Image(ImageManifest),
    Index(Index),
}

/// Parse `bytes` served with `content_type` (the media type inside the document
/// wins when the header is generic).
pub fn parse(bytes: &[u8], content_type: &str, name: &str) -> Result<Manifest> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default)]
        schema_version: u32,
        #[serde(default)]
        media_type: String,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::Registry(format!("invalid manifest for {name}: {e}")))?;
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let mt = if probe.media_type.is_empty() {
        ct
    } else {
        probe.media_type.as_str()
    };
    if probe.schema_version == 1 || mt == SCHEMA1 || mt == SCHEMA1_SIGNED {
        return Err(RegistryError::Unsupported(format!(
            "[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of {name} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2. More information at https://docs.docker.com/go/deprecated-image-specs/"
        )));
    }
    let bad =
        |e: serde_json::Error| RegistryError::Registry(format!("invalid manifest for {name}: {e}"));
    if mt == OCI_INDEX || mt == DOCKER_LIST || probe.manifests.is_some() {
        return Ok(Manifest::Index(serde_json::from_slice(bytes).map_err(bad)?));
    }
    if mt == OCI_MANIFEST || mt == DOCKER_MANIFEST || mt.is_empty() || ct.contains("json") {
        let m: ImageManifest = serde_json::from_slice(bytes).map_err(bad)?;
        return Ok(Manifest::Image(m));
    }
    Err(RegistryError::Unsupported(format!(
        "unsupported manifest media type {mt} for {name}"
    )))
}

/// A platform as `docker --platform` writes it: `os/arch[/variant]` (`linux`
/// may be left out: `amd64`, `arm64/v8`).
pub fn parse_platform(s: &str) -> Result<Platform> {
    let parts: Vec<&str> = s.trim().split('/').collect();
    let bad = || {
        RegistryError::InvalidParameter(format!(
            "\"{s}\": unknown operating system or architecture: invalid argument"
        ))
    };
    let is_os = |p: &str| {
        matches!(
            p,
            "linux"
                | "windows"
                | "darwin"
                | "freebsd"
                | "netbsd"
                | "openbsd"
                | "solaris"
                | "illumos"
                | "aix"
                | "plan9"
                | "js"
                | "wasip1"
                | "ios"
                | "android"
        )
    };
    let (os, arch, variant) = match parts.as_slice() {
        [a] if !a.is_empty() => ("linux", *a, None),
        [o, a] if is_os(o) => (*o, *a, None),
        [a, v] => ("linux", *a, Some(*v)),
        [o, a, v] => (*o, *a, Some(*v)),
        _ => return Err(bad()),
    };
    if os != "linux" || arch.is_empty() {
        return Err(bad());
    }
    let arch = match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "armhf" => "arm",
        a => a,
    };
    Ok(Platform {
        os: os.into(),
        architecture: arch.into(),
        variant: variant.map(str::to_string),
    })
}

/// The machine's platform (`linux/amd64`, `linux/arm64/v8`).
pub fn host_platform() -> Platform {
    let arch = crate::image::config::host_arch().to_string();
    let variant = (arch == "arm64").then(|| "v8".to_string());
    Platform {
        os: "linux".into(),
        architecture: arch,
        variant,
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The entry of `index` for `want`, as containerd's matcher picks it: same os
/// and architecture; a wanted variant must match (arm64's `v8` also matches no
/// variant); without a wanted variant the first entry of the architecture wins.
pub fn select<'a>(index: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    let candidates = index.manifests.iter().filter(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.os == want.os && p.architecture == want.architecture)
    });
    let mut first = None;
    for d in candidates {
        let got = d.platform.as_ref().and_then(|p| p.variant.as_deref());
        match (want.variant.as_deref(), got) {
            (Some(w), Some(g)) if w == g => return Some(d),
            (Some("v8"), None) if want.architecture == "arm64" => return Some(d),
            (Some(_), _) => {}
            (None, _) => {
                if first.is_none() {
                    first = Some(d);
                }
            }
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Index {
        serde_json::from_str(
            r#"{"manifests":[
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:a","size":1,"platform":{"os":"linux","architecture":"arm","variant":"v6"}},
              {"digest":"sha256:b","size":1,"platform":{"os":"linux","architecture":"arm","variant":"v7"}},
              {"digest":"sha256:c","size":1,"platform":{"os":"linux","architecture":"amd64"}},
              {"digest":"sha256:d","size":1,"platform":{"os":"linux","architecture":"arm64"}},
              {"digest":"sha256:e","size":1,"platform":{"os":"unknown","architecture":"unknown"}}
            ]}"#,
        )
        .unwrap()
    }

    #[test]
    fn the_platform_picks_its_entry_variant_included() {
        let i = index();
        let pick = |s: &str| select(&i, &parse_platform(s).unwrap()).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64").as_deref(), Some("sha256:c"));
        assert_eq!(pick("amd64").as_deref(), Some("sha256:c"));
        assert_eq!(pick("linux/arm/v7").as_deref(), Some("sha256:b"));
        assert_eq!(pick("linux/arm").as_deref(), Some("sha256:a"));
        assert_eq!(pick("linux/arm64/v8").as_deref(), Some("sha256:d"));
        assert_eq!(pick("linux/s390x"), None);
        assert!(parse_platform("windows/amd64").is_err());
        assert_eq!(
            parse_platform("linux/x86_64").unwrap().to_string(),
            "linux/amd64"
        );
    }

    #[test]
    fn kinds_are_told_apart_and_schema1_is_refused() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"x","digest":"sha256:c","size":2},"layers":[{"mediaType":"y","digest":"sha256:l","size":3}]}"#;
        assert!(
            matches!(parse(m, "application/json", "x").unwrap(), Manifest::Image(i) if i.layers.len() == 1)
        );
        let oci_no_mt =
            br#"{"schemaVersion":2,"config":{"digest":"sha256:c","size":2},"layers":[]}"#;
        assert!(matches!(
            parse(oci_no_mt, OCI_MANIFEST, "x").unwrap(),
            Manifest::Image(_)
        ));
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            parse(idx, OCI_INDEX, "x").unwrap(),
            Manifest::Index(_)
        ));
        let s1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        let e = parse(s1, SCHEMA1_SIGNED, "busybox")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("[DEPRECATION NOTICE]") && e.contains("busybox"),
            "{e}"
        );
    }
}
