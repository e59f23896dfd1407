//! Reading pushed manifests: their effective media type, the blobs and
//! manifests they reference (checked as distribution does before a push is
//! accepted), their `subject`, and their descriptor in a referrers list.

use serde_json::{json, Map, Value};

use crate::error::{Code, RegistryError, Result};
use crate::reference::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The largest manifest accepted (distribution's limit).
pub const MAX_MANIFEST_SIZE: usize = 4 << 20;

/// What a pushed manifest needs to exist in the repository.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// The media type to store and serve (the push's Content-Type, or the
    /// manifest's own `mediaType` when the push had none).
    pub media_type: String,
    /// Blobs that must be in the repository.
    pub blobs: Vec<Digest>,
    /// Manifests that must be in the repository.
    pub manifests: Vec<Digest>,
    /// The `subject` (referrers API).
    pub subject: Option<Digest>,
}

fn invalid(detail: impl Into<String>) -> RegistryError {
    RegistryError::new(Code::ManifestInvalid).detail(detail.into())
}

fn base_type(ct: &str) -> &str {
    ct.split(';').next().unwrap_or("").trim()
}

fn descriptor_digest(d: &Value, what: &str) -> Result<Digest> {
    let s = d
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{what}: descriptor without a digest")))?;
    Digest::parse(s).ok_or_else(|| {
        RegistryError::new(Code::DigestInvalid).detail(format!("{what}: invalid digest {s:?}"))
    })
}

fn is_external_layer(d: &Value) -> bool {
    let mt = d.get("mediaType").and_then(Value::as_str).unwrap_or("");
    let has_urls = d
        .get("urls")
        .and_then(Value::as_array)
        .is_some_and(|u| !u.is_empty());
    has_urls
        && (mt.starts_with("application/vnd.oci.image.layer.nondistributable.")
            || mt.starts_with("application/vnd.docker.image.rootfs.foreign."))
}

/// Parses a pushed manifest given the push's Content-Type.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Parsed> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    let Some(obj) = v.as_object() else {
        return Err(invalid("manifest is not a JSON object"));
    };
    let body_type = obj.get("mediaType").and_then(Value::as_str);
    let header = content_type
        .map(base_type)
        .filter(|t| !t.is_empty() && *t != "application/json" && *t != "text/plain");
    let effective = match (header, body_type) {
        (Some(h), _) => h.to_string(),
        (None, Some(b)) => b.to_string(),
        (None, None) if obj.contains_key("manifests") => OCI_INDEX.to_string(),
        (None, None) => OCI_MANIFEST.to_string(),
    };
    if effective == DOCKER_SCHEMA1 || effective == DOCKER_SCHEMA1_SIGNED {
        return Err(invalid("schema1 manifests are not supported"));
    }
    let known = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
    if known.contains(&effective.as_str()) {
        if let Some(b) = body_type {
            if b != effective {
                return Err(invalid(format!(
                    "mediaType in manifest should be {effective:?} not {b:?}"
                )));
            }
        }
        if obj.get("schemaVersion").and_then(Value::as_i64) != Some(2) {
            return Err(invalid("schemaVersion must be 2"));
        }
    }
    let is_index = effective == OCI_INDEX || effective == DOCKER_LIST;
    let is_image = effective == OCI_MANIFEST || effective == DOCKER_MANIFEST;
    let mut p = Parsed {
        media_type: content_type
            .filter(|_| header.is_some())
            .unwrap_or(&effective)
            .to_string(),
        ..Default::default()
    };
    if is_image || (!is_index && (obj.contains_key("config") || obj.contains_key("layers"))) {
        match obj.get("config") {
            Some(c) => p.blobs.push(descriptor_digest(c, "config")?),
            None if is_image => return Err(invalid("manifest without a config")),
            None => {}
        }
        let layers = match obj.get("layers") {
            Some(Value::Array(l)) => l.as_slice(),
            Some(_) => return Err(invalid("layers is not an array")),
            None => &[],
        };
        for l in layers {
            let d = descriptor_digest(l, "layer")?;
            if !is_external_layer(l) {
                p.blobs.push(d);
            }
        }
    }
    if is_index || (!is_image && obj.contains_key("manifests")) {
        let ms = match obj.get("manifests") {
            Some(Value::Array(m)) => m.as_slice(),
            None if !is_index => &[],
            _ => return Err(invalid("manifests is not an array")),
        };
        for m in ms {
            p.manifests.push(descriptor_digest(m, "manifest")?);
        }
    }
    if let Some(s) = obj.get("subject") {
        p.subject = Some(descriptor_digest(s, "subject")?);
    }
    Ok(p)
}

/// Every digest a stored manifest references (config, layers, manifests;
/// not its subject), leniently: what garbage collection must keep.
pub fn references(bytes: &[u8]) -> Vec<Digest> {
    let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut add = |d: &Value| {
        if let Some(d) = d
            .get("digest")
            .and_then(Value::as_str)
            .and_then(Digest::parse)
        {
            out.push(d);
        }
    };
    if let Some(c) = v.get("config") {
        add(c);
    }
    for key in ["layers", "manifests", "blobs"] {
        for d in v.get(key).and_then(Value::as_array).into_iter().flatten() {
            add(d);
        }
    }
    out
}

/// The digests of the manifests an index lists.
pub fn index_children(bytes: &[u8]) -> Vec<Digest> {
    let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
        return Vec::new();
    };
    v.get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| Digest::parse(d.get("digest")?.as_str()?))
        .collect()
}

/// The `subject` digest of stored manifest bytes.
pub fn subject_of(bytes: &[u8]) -> Option<Digest> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    Digest::parse(v.get("subject")?.get("digest")?.as_str()?)
}

/// The descriptor of a referrer manifest in a referrers index.
pub fn referrer_descriptor(bytes: &[u8], d: &Digest, media_type: &str) -> Value {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let mut m = Map::new();
    let mt = v
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(media_type);
    m.insert("mediaType".into(), json!(mt));
    m.insert("digest".into(), json!(d.to_string()));
    m.insert("size".into(), json!(bytes.len()));
    let artifact_type = v
        .get("artifactType")
        .and_then(Value::as_str)
        .or_else(|| v.get("config")?.get("mediaType")?.as_str());
    if let Some(a) = artifact_type {
        m.insert("artifactType".into(), json!(a));
    }
    if let Some(a) = v.get("annotations").filter(|a| a.is_object()) {
        m.insert("annotations".into(), a.clone());
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        Digest::of(&[n]).to_string()
    }

    #[test]
    fn image_manifest_references() {
        let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "x", "digest": d(1), "size": 1},
            "layers": [{"mediaType": "l", "digest": d(2), "size": 1},
                {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar", "digest": d(3), "size": 1, "urls": ["http://x"]}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d(4), "size": 1}});
        let p = parse(m.to_string().as_bytes(), Some(OCI_MANIFEST)).expect("valid");
        assert_eq!(p.blobs.len(), 2);
        assert_eq!(p.subject.map(|s| s.to_string()), Some(d(4)));
        assert_eq!(p.media_type, OCI_MANIFEST);
    }

    #[test]
    fn media_type_rules() {
        let idx = json!({"schemaVersion": 2, "manifests": [{"digest": d(1), "size": 1, "mediaType": OCI_MANIFEST}]});
        let p = parse(idx.to_string().as_bytes(), None).expect("index");
        assert_eq!(p.media_type, OCI_INDEX);
        assert_eq!(p.manifests.len(), 1);
        let bad = json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": {"digest": d(1)}, "layers": []});
        assert_eq!(
            parse(bad.to_string().as_bytes(), Some(OCI_MANIFEST))
                .map(|_| ())
                .unwrap_err()
                .code(),
            Code::ManifestInvalid
        );
        assert!(parse(b"not json", None).is_err());
        let s1 = json!({"schemaVersion": 1});
        assert!(parse(s1.to_string().as_bytes(), Some(DOCKER_SCHEMA1)).is_err());
    }
}
