//! `docker cp`'s API (moby's `router/container/copy.go`):
//! `HEAD /containers/{id}/archive?path=` answers the stat of a path in the
//! `X-Docker-Container-Path-Stat` header (base64 of its JSON); `GET` adds the
//! tar of the path, streamed from a blocking thread; `PUT ...&noOverwriteDirNonDir=
//! &copyUIDGID=` extracts a tar (plain, gzip, bzip2 or xz) into a directory.
//! The body of a `PUT` is spooled to a scratch file of the host first, so no
//! container mount waits on a slow client and every answer finds the client
//! listening. The engine side is
//! `engine::daemon::archive_path`.

use super::archive::{spool_body, streamed_body};
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use engine::archive::in_root::PathStat;
use engine::daemon::ExtractRequest;

/// The header that carries the stat.
pub const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
}

/// moby's `ArchiveFormValues`: a path is required.
fn path_of(q: &[(String, String)]) -> ApiResult<String> {
    match param(q, "path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::bad_request("bad parameter: pathcannot be empty")),
    }
}

/// moby's `httputils.BoolValue`.
fn go_bool(v: Option<&str>) -> bool {
    let s = v.unwrap_or("").trim().to_ascii_lowercase();
    !matches!(s.as_str(), "" | "0" | "no" | "false" | "none")
}

fn stat_header(stat: &PathStat) -> ApiResult<String> {
    let json = serde_json::to_vec(stat).map_err(internal)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(json))
}

/// `HEAD /containers/{id}/archive?path=`
pub async fn head(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let path = path_of(&q)?;
    let daemon = st.daemon.clone();
    let stat = tokio::task::spawn_blocking(move || daemon.archive_stat(&id, &path))
        .await
        .map_err(internal)??;
    Ok(([(STAT_HEADER, stat_header(&stat)?)], ()).into_response())
}

/// `GET /containers/{id}/archive?path=`
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let path = path_of(&q)?;
    let daemon = st.daemon.clone();
    let (stat, source) = tokio::task::spawn_blocking(move || daemon.archive_open(&id, &path))
        .await
        .map_err(internal)??;
    let header = stat_header(&stat)?;
    let body = streamed_body(move |w| source.write_to(w));
    Ok((
        [
            (STAT_HEADER, header),
            ("Content-Type", "application/x-tar".to_string()),
        ],
        body,
    )
        .into_response())
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`
pub async fn put(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    body: Body,
) -> ApiResult<Response> {
    let path = path_of(&q)?;
    let req = ExtractRequest {
        copy_uid_gid: go_bool(param(&q, "copyUIDGID")),
        no_overwrite_dir_non_dir: go_bool(param(&q, "noOverwriteDirNonDir")),
    };
    // The whole body first, even for an unknown container: a client still
    // sending when the answer comes (and the connection closes) would see a
    // broken pipe instead of the answer.
    let spool = spool_body(&st, body).await?;
    let daemon = st.daemon.clone();
    tokio::task::spawn_blocking(move || -> ApiResult<()> {
        let mut f = spool;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0)).map_err(internal)?;
        let input = engine::archive::decompressed(f)?;
        Ok(daemon.extract_to_dir(&id, &path, req, input)?)
    })
    .await
    .map_err(internal)??;
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_read_as_mobys() {
        for v in ["1", "true", "True", "yes", " on "] {
            assert!(go_bool(Some(v)), "{v}");
        }
        for v in ["", "0", "false", "FALSE", "no", "none"] {
            assert!(!go_bool(Some(v)), "{v}");
        }
        assert!(!go_bool(None));
    }

    #[test]
    fn a_path_is_required() {
        let e = path_of(&[("path".into(), String::new())]).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "bad parameter: pathcannot be empty");
        assert_eq!(path_of(&[("path".into(), "/x".into())]).unwrap(), "/x");
    }

    #[test]
    fn the_stat_header_is_base64_json_in_mobys_field_order() {
        let s = PathStat {
            name: "abs".into(),
            size: 4,
            mode: 134218239,
            mtime: "2026-12-05T00:20:24Z".into(),
            link_target: "/etc".into(),
        };
        let h = stat_header(&s).unwrap();
        let json = base64::engine::general_purpose::STANDARD.decode(h).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"name":"abs","size":4,"mode":134218239,"mtime":"2026-12-05T00:20:24Z","linkTarget":"/etc"}"#
        );
    }
}
