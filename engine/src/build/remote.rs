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

/// The file name moby gives a download: the URL path's last component.
pub fn url_file_name(url: &str) -> Result<String, String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("invalid URL {url}: {e}"))?;
    let name = u
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_string))
        .unwrap_or_default();
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("cannot determine filename from url: {url}"));
    }
    Ok(name)
}

/// Download `url` into `dest` (at most `limit` bytes) from `daemon`'s network.
pub async fn fetch(daemon: &Daemon, url: &str, dest: &Path, limit: u64) -> Result<Fetched, String> {
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
        .map_err(|e| format!("downloading in the daemon's network: {e}"))??;
    Ok(Fetched {
        path: dest.to_path_buf(),
        name,
        mtime,
        size,
    })
}

async fn download(url: &str, dest: &Path, limit: u64) -> Result<(Option<i64>, u64), String> {
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("failed to GET {url}: {e}"))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(format!(
            "failed to GET {url} with status {status}: {}",
            body.trim()
        ));
    }
    let mtime = resp
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| chrono::DateTime::parse_from_rfc2822(s).ok())
        .map(|t| t.timestamp());
    let mut f = std::fs::File::create(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut size = 0u64;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("reading {url}: {e}"))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(format!("{url} is larger than {limit} bytes"));
        }
        f.write_all(&chunk)
            .map_err(|e| format!("{}: {e}", dest.display()))?;
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
        assert!(url_file_name("http://h/").is_err());
        assert!(url_file_name("nonsense").is_err());
    }
}
