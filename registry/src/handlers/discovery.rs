//! Content discovery: `GET /v2/<name>/tags/list`, `GET /v2/_catalog` (both
//! paginated with `n`/`last` and a `Link: <...>; rel="next"` header) and
//! `GET /v2/<name>/referrers/<digest>` (an OCI image index, `?artifactType=`).

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::blobs::parse_digest;
use super::{json, AppState};
use crate::error::{Code, RegistryError, Result};
use crate::manifest::{referrer_descriptor, OCI_INDEX};

/// Distribution's cap on catalog pages.
const CATALOG_MAX_ENTRIES: usize = 1000;

/// A page of a sorted list: the entries after `last`, at most `n`, and
/// whether more follow.
fn paginate(all: Vec<String>, n: Option<usize>, last: Option<&str>) -> (Vec<String>, bool) {
    let rest: Vec<String> = match last {
        Some(l) if !l.is_empty() => all.into_iter().filter(|t| t.as_str() > l).collect(),
        _ => all,
    };
    match n {
        Some(n) if rest.len() > n => (rest.into_iter().take(n).collect(), true),
        _ => (rest, false),
    }
}

fn page_params(q: &HashMap<String, String>) -> (Option<usize>, Option<String>) {
    let n = q.get("n").and_then(|n| n.parse::<usize>().ok());
    (n, q.get("last").cloned())
}

fn link(path: &str, page: &[String], n: Option<usize>) -> Vec<(&'static str, String)> {
    match (page.last(), n) {
        (Some(l), Some(n)) => vec![("link", format!("<{path}?last={l}&n={n}>; rel=\"next\""))],
        _ => Vec::new(),
    }
}

pub(super) async fn tags(
    st: &AppState,
    name: &str,
    q: &HashMap<String, String>,
) -> Result<Response> {
    let n = name.to_string();
    let all = st
        .storage
        .run(move |s| s.tags(&n))
        .await?
        .ok_or_else(|| RegistryError::new(Code::NameUnknown).detail(json!({ "name": name })))?;
    let (n, last) = page_params(q);
    let (page, more) = paginate(all, n, last.as_deref());
    let extra = if more {
        link(&format!("/v2/{name}/tags/list"), &page, n)
    } else {
        Vec::new()
    };
    Ok(json(
        StatusCode::OK,
        "application/json",
        &json!({ "name": name, "tags": page }),
        &extra,
    ))
}

pub(super) async fn catalog(st: &AppState, q: &HashMap<String, String>) -> Result<Response> {
    let all = st.storage.run(|s| s.repositories()).await?;
    let (n, last) = page_params(q);
    let n = Some(n.unwrap_or(CATALOG_MAX_ENTRIES).min(CATALOG_MAX_ENTRIES));
    let (page, more) = paginate(all, n, last.as_deref());
    let extra = if more {
        link("/v2/_catalog", &page, n)
    } else {
        Vec::new()
    };
    Ok(json(
        StatusCode::OK,
        "application/json",
        &json!({ "repositories": page }),
        &extra,
    ))
}

pub(super) async fn referrers(
    st: &AppState,
    name: &str,
    digest: &str,
    q: &HashMap<String, String>,
) -> Result<Response> {
    let subject = parse_digest(digest)?;
    let filter = q.get("artifactType").cloned().filter(|a| !a.is_empty());
    let n = name.to_string();
    let descriptors: Vec<Value> = st
        .storage
        .run(move |s| {
            let mut out = Vec::new();
            for d in s.referrers(&n, &subject)? {
                if let Some(m) = s.read_manifest(&n, &d)? {
                    out.push(referrer_descriptor(&m.bytes, &d, &m.media_type));
                }
            }
            Ok(out)
        })
        .await?;
    let descriptors: Vec<Value> = match &filter {
        Some(f) => descriptors
            .into_iter()
            .filter(|d| d.get("artifactType").and_then(Value::as_str) == Some(f.as_str()))
            .collect(),
        None => descriptors,
    };
    let extra = if filter.is_some() {
        vec![("oci-filters-applied", "artifactType".to_string())]
    } else {
        Vec::new()
    };
    Ok(json(
        StatusCode::OK,
        OCI_INDEX,
        &json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors }),
        &extra,
    ))
}

#[cfg(test)]
mod tests {
    use super::paginate;

    #[test]
    fn pages() {
        let all: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            paginate(all.clone(), Some(2), None),
            (vec!["a".into(), "b".into()], true)
        );
        assert_eq!(
            paginate(all.clone(), Some(2), Some("b")),
            (vec!["c".into()], false)
        );
        assert_eq!(paginate(all.clone(), None, Some("a")).0.len(), 2);
        assert_eq!(paginate(all, Some(0), None), (vec![], true));
    }
}
