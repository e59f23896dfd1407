//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (new upload, monolithic
//! `?digest=` push, `?mount=&from=` cross-repository mount), `PATCH` (chunks,
//! in order), `PUT ?digest=` (finish), `GET` (status) and `DELETE` (cancel).

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use super::blobs::parse_digest;
use super::{empty, header_str, query, AppState};
use crate::body::{append, AppendError};
use crate::error::{Code, RegistryError, Result};
use crate::reference::{valid_name, Digest};
use crate::storage::HashState;

fn location(name: &str, uuid: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{uuid}")
}

/// The `Range` header value of an upload of `size` bytes (`0-<last>`).
fn range_value(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn progress_headers(name: &str, uuid: &str, size: u64) -> Vec<(&'static str, String)> {
    vec![
        ("location", location(name, uuid)),
        ("range", range_value(size)),
        ("docker-upload-uuid", uuid.to_string()),
    ]
}

fn created(name: &str, d: &Digest) -> Response {
    empty(
        StatusCode::CREATED,
        &[
            ("location", format!("/v2/{name}/blobs/{d}")),
            ("docker-content-digest", d.to_string()),
        ],
    )
}

fn upload_unknown(uuid: &str) -> RegistryError {
    RegistryError::new(Code::BlobUploadUnknown).detail(uuid.to_string())
}

/// `Content-Range: <start>-<end>` (also with a `bytes ` prefix).
fn parse_content_range(s: &str) -> Option<(u64, u64)> {
    let s = s.trim();
    let s = s
        .strip_prefix("bytes ")
        .or_else(|| s.strip_prefix("bytes="))
        .unwrap_or(s);
    let s = s.split('/').next()?;
    let (a, b) = s.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// Drops the in-memory slot of an upload that does not exist.
fn forget_unknown(st: &AppState, uuid: &str, e: &RegistryError) {
    if e.code() == Code::BlobUploadUnknown {
        st.storage.forget_upload(uuid);
    }
}

fn body_is_empty(body: &Body) -> bool {
    body.size_hint().exact() == Some(0)
}

/// Appends a request body to an upload whose lock is held; returns its new size.
async fn append_locked(
    st: &AppState,
    name: &str,
    uuid: &str,
    slot: &mut Option<HashState>,
    headers: &HeaderMap,
    body: Body,
) -> Result<u64> {
    let (n, u) = (name.to_string(), uuid.to_string());
    let size = st
        .storage
        .run(move |s| s.upload_size(&n, &u))
        .await?
        .ok_or_else(|| upload_unknown(uuid))?;
    let state = match slot.take() {
        Some(s) if s.size == size => s,
        _ => {
            let (n, u) = (name.to_string(), uuid.to_string());
            st.storage.run(move |s| s.rehash_upload(&n, &u)).await?
        }
    };
    let size = state.size;
    if let Some(cr) = header_str(headers, "content-range") {
        let Some((start, end)) = parse_content_range(cr) else {
            *slot = Some(state);
            return Err(RegistryError::new(Code::RangeInvalid).detail(cr.to_string()));
        };
        if start != size || end < start {
            *slot = Some(state);
            let mut e = RegistryError::new(Code::RangeInvalid)
                .detail(format!("expected a range starting at {size}, got {cr}"));
            for (k, v) in progress_headers(name, uuid, size) {
                e = e.header(header::HeaderName::from_static(k), &v);
            }
            return Err(e);
        }
        let cl = header_str(headers, "content-length").and_then(|v| v.parse::<u64>().ok());
        if cl.is_some_and(|cl| cl != end - start + 1) {
            *slot = Some(state);
            return Err(RegistryError::new(Code::SizeInvalid)
                .detail(format!("Content-Length does not match Content-Range {cr}")));
        }
    }
    if body_is_empty(&body) {
        *slot = Some(state);
        return Ok(size);
    }
    let (n, u) = (name.to_string(), uuid.to_string());
    let file = st
        .storage
        .run(move |s| s.open_upload_append(&n, &u))
        .await?;
    let (new_state, res) = append(body, file, state).await;
    let new_size = new_state.as_ref().map(|s| s.size);
    *slot = new_state;
    match res {
        Ok(()) => Ok(new_size.unwrap_or(size)),
        Err(AppendError::Body(e)) => Err(RegistryError::new(Code::BlobUploadInvalid).detail(e)),
        Err(AppendError::Io(e)) => Err(RegistryError::internal(e)),
    }
}

/// Finishes an upload whose lock is held: verifies the digest and commits.
async fn finish_locked(
    st: &AppState,
    name: &str,
    uuid: &str,
    slot: &mut Option<HashState>,
    d: &Digest,
) -> Result<Response> {
    let state = match slot.take() {
        Some(s) => s,
        None => {
            let (n, u) = (name.to_string(), uuid.to_string());
            st.storage.run(move |s| s.rehash_upload(&n, &u)).await?
        }
    };
    let (n, u) = (name.to_string(), uuid.to_string());
    if state.digest() != *d {
        st.storage.run(move |s| s.cancel_upload(&n, &u)).await?;
        return Err(RegistryError::new(Code::DigestInvalid).detail(format!(
            "digest {d} does not match the {} bytes uploaded ({})",
            state.size,
            state.digest()
        )));
    }
    let d2 = d.clone();
    st.storage
        .run(move |s| s.commit_upload(&n, &u, &d2))
        .await?;
    Ok(created(name, d))
}

pub(super) async fn start(st: &AppState, name: &str, req: Request) -> Result<Response> {
    let q = query(&req);
    if let Some(mount) = q.get("mount") {
        let d = parse_digest(mount)?;
        let from = q.get("from").filter(|f| !f.is_empty()).cloned();
        let (n, d2) = (name.to_string(), d.clone());
        let mounted = st
            .storage
            .run(move |s| {
                let available = match &from {
                    Some(f) if valid_name(f) => s.repo_blob_size(f, &d2)?.is_some(),
                    Some(_) => false,
                    None => s.blob_size(&d2)?.is_some(),
                };
                if available {
                    s.link_blob(&n, &d2)?;
                }
                Ok(available)
            })
            .await?;
        if mounted {
            return Ok(created(name, &d));
        }
    }
    let n = name.to_string();
    let uuid = st.storage.run(move |s| s.create_upload(&n)).await?;
    let digest = match q.get("digest") {
        Some(d) if !q.contains_key("mount") => Some(parse_digest(d)),
        _ => None,
    };
    let Some(d) = digest else {
        return Ok(empty(
            StatusCode::ACCEPTED,
            &progress_headers(name, &uuid, 0),
        ));
    };
    let d = match d {
        Ok(d) => d,
        Err(e) => {
            let (n, u) = (name.to_string(), uuid.clone());
            st.storage.run(move |s| s.cancel_upload(&n, &u)).await?;
            return Err(e);
        }
    };
    let slot = st.storage.upload_slot(&uuid);
    let mut guard = slot.lock().await;
    let (headers, body) = {
        let (parts, body) = req.into_parts();
        (parts.headers, body)
    };
    let res = match append_locked(st, name, &uuid, &mut guard, &headers, body).await {
        Ok(_) => finish_locked(st, name, &uuid, &mut guard, &d).await,
        Err(e) => Err(e),
    };
    if res.is_err() {
        let (n, u) = (name.to_string(), uuid.clone());
        st.storage.run(move |s| s.cancel_upload(&n, &u)).await?;
    }
    res
}

pub(super) async fn patch(st: &AppState, name: &str, uuid: &str, req: Request) -> Result<Response> {
    let slot = st.storage.upload_slot(uuid);
    let mut guard = slot.lock().await;
    let (parts, body) = req.into_parts();
    let size = append_locked(st, name, uuid, &mut guard, &parts.headers, body)
        .await
        .inspect_err(|e| forget_unknown(st, uuid, e))?;
    Ok(empty(
        StatusCode::ACCEPTED,
        &progress_headers(name, uuid, size),
    ))
}

pub(super) async fn put(st: &AppState, name: &str, uuid: &str, req: Request) -> Result<Response> {
    let q = query(&req);
    let d = match q.get("digest") {
        Some(d) => parse_digest(d)?,
        None => {
            return Err(RegistryError::new(Code::DigestInvalid).detail("digest parameter missing"))
        }
    };
    let slot = st.storage.upload_slot(uuid);
    let mut guard = slot.lock().await;
    let (parts, body) = req.into_parts();
    append_locked(st, name, uuid, &mut guard, &parts.headers, body)
        .await
        .inspect_err(|e| forget_unknown(st, uuid, e))?;
    finish_locked(st, name, uuid, &mut guard, &d).await
}

pub(super) async fn status(st: &AppState, name: &str, uuid: &str) -> Result<Response> {
    let (n, u) = (name.to_string(), uuid.to_string());
    let size = st
        .storage
        .run(move |s| s.upload_size(&n, &u))
        .await?
        .ok_or_else(|| upload_unknown(uuid))?;
    Ok(empty(
        StatusCode::NO_CONTENT,
        &progress_headers(name, uuid, size),
    ))
}

pub(super) async fn cancel(st: &AppState, name: &str, uuid: &str) -> Result<Response> {
    let slot = st.storage.upload_slot(uuid);
    let _guard = slot.lock().await;
    let (n, u) = (name.to_string(), uuid.to_string());
    if !st.storage.run(move |s| s.cancel_upload(&n, &u)).await? {
        return Err(upload_unknown(uuid));
    }
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-9"), Some((0, 9)));
        assert_eq!(parse_content_range("bytes 10-19/100"), Some((10, 19)));
        assert_eq!(parse_content_range("x"), None);
        assert_eq!(range_value(0), "0-0");
        assert_eq!(range_value(10), "0-9");
    }
}
