//! Downloads for a build: `ADD <url>` sources and `remote` contexts (a tarball
//! or a Dockerfile at a URL). They leave from the requesting daemon's own network
//! namespace, as its containers' traffic does: a virtual host's `localhost` is
//! its own and its egress policy applies; the machine's loopback is not reachable
//! through the daemon.

use crate::daemon::Daemon;
use futures_util::StreamExt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A downloaded file.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    /// The URL path's last component (moby's name for `ADD <url> dir/`).
    pub name: String,
    /// `Last-Modified`, as Unix seconds.
    pub mtime: Option<i64>,
    pub size: u64,
}

/// Why a download failed. What the URL or its server did is the client's
/// to fix ([`crate::ErrorKind::InvalidParameter`]); writing the file or
/// entering the daemon's network is the daemon's ([`crate::ErrorKind::Internal`]).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid URL {url}: {source}")]
    Url {
        url: String,
        #[source]
        source: url::ParseError,
    },
    #[error("cannot determine filename from url: {0}")]
    NoFileName(String),
    #[error("failed to GET {url}: {source}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("failed to GET {url} with status {status}: {body}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("{url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("downloading in the daemon's network: {0}")]
    Namespace(#[source] std::io::Error),
}

impl FetchError {
    /// Whose the failure is, for the API's status code.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            FetchError::Write { .. } | FetchError::Namespace(_) => crate::ErrorKind::Internal,
            _ => crate::ErrorKind::InvalidParameter,
        }
    }
}

/// The file name moby gives a download: the URL path's last component.
pub fn url_file_name(url: &str) -> Result<String, FetchError> {
    let u = reqwest::Url::parse(url).map_err(|source| FetchError::Url {
        url: url.to_string(),
        source,
    })?;
    let name = u
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_string))
        .unwrap_or_default();
    if name.is_empty() || name == "." || name == ".." {
        return Err(FetchError::NoFileName(url.to_string()));
    }
    Ok(name)
}

/// Download `url` into `dest` (at most `limit` bytes) from `daemon`'s network.
pub async fn fetch(
    daemon: &Daemon,
    url: &str,
    dest: &Path,
    limit: u64,
) -> Result<Fetched, FetchError> {
    let name = url_file_name(url)?;
    let netns = daemon
        .networks()
        .map(|n| n.netns().clone())
        .unwrap_or_default();
    let (url, dest2) = (url.to_string(), dest.to_path_buf());
    let (mtime, size) = netns
        .run_task("build-fetch", move || async move {
            download(&url, &dest2, limit).await
        })
        .await
        .map_err(FetchError::Namespace)??;
    Ok(Fetched {
        path: dest.to_path_buf(),
        name,
        mtime,
        size,
    })
}

async fn download(url: &str, dest: &Path, limit: u64) -> Result<(Option<i64>, u64), FetchError> {
    let request = |source| FetchError::Request {
        url: url.to_string(),
        source,
    };
    let write = |source| FetchError::Write {
        path: dest.to_path_buf(),
        source,
    };
    let client = reqwest::Client::builder().build().map_err(request)?;
    let resp = client.get(url).send().await.map_err(request)?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(FetchError::Status {
            url: url.to_string(),
            status,
            body: body.trim().to_string(),
        });
    }
    let mtime = resp
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| chrono::DateTime::parse_from_rfc2822(s).ok())
        .map(|t| t.timestamp());
    let mut f = std::fs::File::create(dest).map_err(write)?;
    let mut size = 0u64;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(request)?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
                limit,
            });
        }
        f.write_all(&chunk).map_err(write)?;
    }
    Ok((mtime, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_come_from_the_url_path() {
        assert_eq!(url_file_name("http://h/a/b.tar.gz").unwrap(), "b.tar.gz");
        assert_eq!(url_file_name("http://h/a/b?x=1").unwrap(), "b");
        let none = url_file_name("http://h/").unwrap_err();
        assert!(matches!(none, FetchError::NoFileName(_)), "{none}");
        assert_eq!(none.kind(), crate::ErrorKind::InvalidParameter);
        let bad = url_file_name("nonsense").unwrap_err();
        assert!(matches!(bad, FetchError::Url { .. }), "{bad}");
        assert!(
            bad.to_string().starts_with("invalid URL nonsense: "),
            "{bad}"
        );
    }
}
