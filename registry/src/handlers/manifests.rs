//! `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`: manifests
//! stored as pushed, checked for their blobs and manifests as distribution
//! does, with tags and the referrers index kept up to date.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;

use super::{empty, header_str, respond, AppState};
use crate::error::{Code, RegistryError, Result};
use crate::manifest::{self, MAX_MANIFEST_SIZE};
use crate::reference::{valid_tag, Digest, Reference};

/// Parses the `<reference>` of the URL.
fn parse_reference(s: &str) -> Result<Reference> {
    if Digest::looks_like(s) {
        return Digest::parse(s)
            .map(Reference::Digest)
            .ok_or_else(|| RegistryError::new(Code::DigestInvalid).detail(s.to_string()));
    }
    if valid_tag(s) {
        return Ok(Reference::Tag(s.to_string()));
    }
    Err(RegistryError::new(Code::TagInvalid).detail(s.to_string()))
}

fn manifest_unknown(reference: &str) -> RegistryError {
    RegistryError::new(Code::ManifestUnknown).detail(serde_json::json!({ "Tag": reference }))
}

/// The digest a reference names in the repository, if any.
async fn resolve(st: &AppState, name: &str, r: &Reference) -> Result<Option<Digest>> {
    match r {
        Reference::Digest(d) => Ok(Some(d.clone())),
        Reference::Tag(t) => {
            let (n, t) = (name.to_string(), t.clone());
            Ok(st.storage.run(move |s| s.resolve_tag(&n, &t)).await?)
        }
    }
}

pub(super) async fn get(
    st: &AppState,
    name: &str,
    reference: &str,
    head: bool,
) -> Result<Response> {
    // A name that cannot be a tag names no manifest: 404, as distribution
    // answers and the spec's "manifest not found" requires.
    let r = match parse_reference(reference) {
        Err(_) if !Digest::looks_like(reference) => return Err(manifest_unknown(reference)),
        r => r?,
    };
    let d = resolve(st, name, &r)
        .await?
        .ok_or_else(|| manifest_unknown(reference))?;
    let n = name.to_string();
    let m = st
        .storage
        .run(move |s| s.read_manifest(&n, &d))
        .await?
        .ok_or_else(|| manifest_unknown(reference))?;
    let headers = [
        ("content-type", m.media_type.clone()),
        ("content-length", m.bytes.len().to_string()),
        ("docker-content-digest", m.digest.to_string()),
        ("etag", format!("\"{}\"", m.digest)),
    ];
    let body = if head {
        Body::empty()
    } else {
        Body::from(m.bytes)
    };
    Ok(respond(StatusCode::OK, &headers, body))
}

pub(super) async fn put(
    st: &AppState,
    name: &str,
    reference: &str,
    req: Request,
) -> Result<Response> {
    let r = parse_reference(reference)?;
    let content_type = header_str(req.headers(), "content-type").map(str::to_string);
    let bytes: Bytes = axum::body::to_bytes(req.into_body(), MAX_MANIFEST_SIZE)
        .await
        .map_err(|e| {
            RegistryError::new(Code::TooLarge)
                .message("manifest too large")
                .detail(format!("at most {MAX_MANIFEST_SIZE} bytes: {e}"))
        })?;
    let parsed = manifest::parse(&bytes, content_type.as_deref())?;
    let d = Digest::of(&bytes);
    if let Reference::Digest(want) = &r {
        if *want != d {
            return Err(RegistryError::new(Code::DigestInvalid)
                .detail(format!("manifest digest {d} does not match {want}")));
        }
    }
    let n = name.to_string();
    let (blobs, manifests) = (parsed.blobs.clone(), parsed.manifests.clone());
    let missing = st
        .storage
        .run(move |s| {
            let mut missing = Vec::new();
            for b in &blobs {
                if s.repo_blob_size(&n, b)?.is_none() {
                    missing.push(b.clone());
                }
            }
            for m in &manifests {
                if !s.has_manifest(&n, m) {
                    missing.push(m.clone());
                }
            }
            Ok(missing)
        })
        .await?;
    if !missing.is_empty() {
        return Err(RegistryError::many(
            missing
                .iter()
                .map(|m| RegistryError::new(Code::ManifestBlobUnknown).detail(m.to_string()))
                .collect(),
        ));
    }
    let (n, d2, media_type, subject) = (
        name.to_string(),
        d.clone(),
        parsed.media_type.clone(),
        parsed.subject.clone(),
    );
    let tag = match &r {
        Reference::Tag(t) => Some(t.clone()),
        Reference::Digest(_) => None,
    };
    st.storage
        .run(move |s| {
            s.put_manifest(&n, &d2, &bytes, &media_type)?;
            if let Some(subject) = &subject {
                s.add_referrer(&n, subject, &d2)?;
            }
            if let Some(t) = &tag {
                s.tag(&n, t, &d2)?;
            }
            Ok(())
        })
        .await?;
    let mut headers = vec![
        ("location", format!("/v2/{name}/manifests/{d}")),
        ("docker-content-digest", d.to_string()),
    ];
    if let Some(s) = &parsed.subject {
        headers.push(("oci-subject", s.to_string()));
    }
    Ok(empty(StatusCode::CREATED, &headers))
}

pub(super) async fn delete(st: &AppState, name: &str, reference: &str) -> Result<Response> {
    if !st.delete_enabled {
        return Err(RegistryError::new(Code::Unsupported));
    }
    let r = parse_reference(reference)?;
    let n = name.to_string();
    let found = match r {
        Reference::Digest(d) => st.storage.run(move |s| s.delete_manifest(&n, &d)).await?,
        Reference::Tag(t) => st.storage.run(move |s| s.untag(&n, &t)).await?,
    };
    if !found {
        return Err(manifest_unknown(reference));
    }
    Ok(empty(StatusCode::ACCEPTED, &[]))
}
