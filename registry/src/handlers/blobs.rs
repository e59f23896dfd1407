//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`: blobs streamed from disk,
//! with single `Range` requests answered 206.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{empty, header_str, respond, AppState};
use crate::error::{Code, RegistryError, Result};
use crate::reference::Digest;

/// Parses a digest from the URL.
pub(super) fn parse_digest(s: &str) -> Result<Digest> {
    Digest::parse(s).ok_or_else(|| RegistryError::new(Code::DigestInvalid).detail(s.to_string()))
}

/// A single byte range of a `Range` header: `Ok(None)` when absent or not
/// understood (serve everything), `Err(())` when unsatisfiable.
#[allow(clippy::result_unit_err)]
pub fn parse_range(h: Option<&str>, size: u64) -> std::result::Result<Option<(u64, u64)>, ()> {
    let Some(spec) = h.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let Ok(s) = a.parse::<u64>() else {
            return Ok(None);
        };
        let e = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= s => e.min(size.saturating_sub(1)),
                Ok(_) => return Ok(None),
                Err(_) => return Ok(None),
            }
        };
        (s, e)
    };
    if size == 0 || start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

pub(super) async fn get(
    st: &AppState,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response> {
    let d = parse_digest(digest)?;
    let (n, d2) = (name.to_string(), d.clone());
    // One trip to the blocking pool: the link, the open, and the content of
    // a small blob.
    let (size, content) = st
        .storage
        .run(move |s| {
            let Some(mut file) = s.open_repo_blob(&n, &d2)? else {
                return Ok(None);
            };
            let size = file.metadata()?.len();
            let content = if head {
                Content::None
            } else if size <= crate::body::SMALL_BLOB {
                Content::Small(crate::body::read_small(&mut file, size)?)
            } else {
                Content::File(file)
            };
            Ok(Some((size, content)))
        })
        .await?
        .ok_or_else(|| RegistryError::new(Code::BlobUnknown).detail(d.to_string()))?;
    let common = vec![
        ("docker-content-digest", d.to_string()),
        ("etag", format!("\"{d}\"")),
        ("accept-ranges", "bytes".to_string()),
        ("cache-control", "max-age=31536000".to_string()),
        ("content-type", "application/octet-stream".to_string()),
    ];
    let range = match parse_range(header_str(headers, "range"), size) {
        Ok(r) => r,
        Err(()) => {
            return Err(RegistryError::new(Code::RangeInvalid).header(
                axum::http::header::CONTENT_RANGE,
                &format!("bytes */{size}"),
            ));
        }
    };
    let (status, start, len, mut h) = match range {
        Some((a, b)) => {
            let mut h = common;
            h.push(("content-range", format!("bytes {a}-{b}/{size}")));
            (StatusCode::PARTIAL_CONTENT, a, b - a + 1, h)
        }
        None => (StatusCode::OK, 0, size, common),
    };
    h.push(("content-length", len.to_string()));
    let body = match content {
        Content::None => Body::empty(),
        Content::Small(b) => Body::from(b.slice(start as usize..(start + len) as usize)),
        Content::File(f) => crate::body::file_body(f, start, len),
    };
    Ok(respond(status, &h, body))
}

/// What a `GET` sends: nothing (`HEAD`), a small blob read with its open,
/// or a larger blob's open file.
enum Content {
    None,
    Small(bytes::Bytes),
    File(std::fs::File),
}

pub(super) async fn delete(st: &AppState, name: &str, digest: &str) -> Result<Response> {
    if !st.delete_enabled {
        return Err(RegistryError::new(Code::Unsupported));
    }
    let d = parse_digest(digest)?;
    let (n, d2) = (name.to_string(), d.clone());
    if !st.storage.run(move |s| s.unlink_blob(&n, &d2)).await? {
        return Err(RegistryError::new(Code::BlobUnknown).detail(d.to_string()));
    }
    Ok(empty(
        StatusCode::ACCEPTED,
        &[("docker-content-digest", d.to_string())],
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-4"), 10), Ok(Some((0, 4))));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Ok(None));
        assert_eq!(parse_range(Some("items=0-1"), 10), Ok(None));
    }
}
