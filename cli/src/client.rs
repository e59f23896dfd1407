//! The Docker Engine API client: HTTP/1.1 over the daemon's unix socket, one
//! connection per request, versioned paths negotiated with `HEAD /_ping` as
//! moby's client does, and the attach hijack (`Upgrade: tcp`, expect 101).

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::PathBuf;

/// The newest API version this client speaks (docker 28.2's).
pub const DEFAULT_API_VERSION: &str = "1.50";
/// Default daemon address.
pub const DEFAULT_HOST: &str = "unix:///run/dockhand.sock";

#[derive(Debug)]
pub enum ClientError {
    /// Nothing listens on the socket.
    Connect(String),
    /// The daemon answered with an error status and `{"message": ...}`.
    Api { status: u16, message: String },
    /// Anything else (protocol, I/O, bad JSON, bad arguments).
    Other(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect(host) => write!(
                f,
                "Cannot connect to the Docker daemon at {host}. Is the docker daemon running?"
            ),
            ClientError::Api { message, .. } => write!(f, "Error response from daemon: {message}"),
            ClientError::Other(m) => f.write_str(m),
        }
    }
}

impl ClientError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Api { status: 404, .. })
    }
}

impl From<hyper::Error> for ClientError {
    fn from(e: hyper::Error) -> Self {
        ClientError::Other(e.to_string())
    }
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Other(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A request body streamed from a reader (import of a large tarball).
pub fn from_reader<R: tokio::io::AsyncRead + Send + Unpin + 'static>(r: R) -> Body {
    let s = futures_util::stream::unfold(r, |mut r| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Frame::data(Bytes::from(buf))), r))
            }
            Err(e) => Some((Err(e), r)),
        }
    });
    BodyExt::boxed_unsync(StreamBody::new(s))
}

/// Where a virtual host's Docker API socket is, inside it (and where docker's is).
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Resolve the daemon address as docker does: `-H`, then `DOCKER_HOST`, then the default.
pub fn resolve_host(flag: Option<&str>) -> String {
    resolve_host_with(flag, std::env::var("DOCKER_HOST").ok(), &|p| {
        std::path::Path::new(p).exists()
    })
}

/// `resolve_host` with the environment and the file system passed in. Without
/// `-H` or `DOCKER_HOST`, Dockhand's own socket, unless it is missing and
/// docker's is there (inside a virtual host, where this binary is `docker`).
pub fn resolve_host_with(
    flag: Option<&str>,
    env: Option<String>,
    exists: &dyn Fn(&str) -> bool,
) -> String {
    if let Some(h) = flag.filter(|h| !h.is_empty()) {
        return h.to_string();
    }
    if let Some(h) = env.filter(|h| !h.is_empty()) {
        return h;
    }
    let own = DEFAULT_HOST.trim_start_matches("unix://");
    if !exists(own) && exists(DOCKER_SOCKET) {
        return format!("unix://{DOCKER_SOCKET}");
    }
    DEFAULT_HOST.to_string()
}

/// Query parameters, encoded like Go's `url.Values.Encode` (sorted by key).
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn new() -> Self {
        Query(Vec::new())
    }
    pub fn set(mut self, k: &str, v: impl Into<String>) -> Self {
        self.0.push((k.to_string(), v.into()));
        self
    }
    pub fn set_if(self, cond: bool, k: &str, v: impl Into<String>) -> Self {
        if cond {
            self.set(k, v)
        } else {
            self
        }
    }
    pub fn encode(&self) -> String {
        let mut items = self.0.clone();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

pub use shared::go::query_escape;

/// Go's `url.PathEscape` for one path segment (container and image names).
pub fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b':'
            | b'@'
            | b'&'
            | b'='
            | b'+'
            | b'$'
            | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[derive(Debug, Clone)]
pub struct Client {
    /// The address as the user gave it (for messages).
    pub host: String,
    socket: PathBuf,
    /// Negotiated API version, empty until `ping`.
    pub version: String,
    /// `Ostype` header of the ping.
    pub os_type: String,
}

impl Client {
    pub fn new(host: &str) -> Result<Client> {
        let socket = match host.strip_prefix("unix://") {
            Some(p) => PathBuf::from(p),
            None => {
                return Err(ClientError::Other(format!(
                    "unable to parse docker host `{host}`: only unix:// is supported"
                )))
            }
        };
        Ok(Client {
            host: host.to_string(),
            socket,
            version: String::new(),
            os_type: String::new(),
        })
    }

    async fn connect(&self) -> Result<hyper::client::conn::http1::SendRequest<Body>> {
        let stream = engine::unix_socket::connect(&self.socket)
            .await
            .map_err(|_| ClientError::Connect(self.host.clone()))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| ClientError::Connect(self.host.clone()))?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        Ok(sender)
    }

    fn url(&self, path: &str, query: &Query) -> String {
        let mut u = if self.version.is_empty() || path == "/_ping" {
            path.to_string()
        } else {
            format!("/v{}{}", self.version, path)
        };
        let q = query.encode();
        if !q.is_empty() {
            u.push('?');
            u.push_str(&q);
        }
        u
    }

    fn builder(&self, method: Method, path: &str, query: &Query) -> hyper::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(self.url(path, query))
            .header("Host", "api.moby.localhost")
            .header(
                "User-Agent",
                concat!(
                    "Docker-Client/dockhand-",
                    env!("CARGO_PKG_VERSION"),
                    " (linux)"
                ),
            )
    }

    /// `HEAD /_ping` (falling back to `GET`), then negotiate the API version.
    pub async fn ping(&mut self) -> Result<()> {
        let mut resp = self
            .send_raw(Method::HEAD, "/_ping", &Query::new(), Vec::new(), empty())
            .await?;
        if !resp.status().is_success() && resp.status() != StatusCode::NOT_FOUND {
            resp = self
                .send_raw(Method::GET, "/_ping", &Query::new(), Vec::new(), empty())
                .await?;
        }
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let server = header("Api-Version");
        self.os_type = header("Ostype");
        self.version = negotiate(&server);
        Ok(())
    }

    async fn send_raw(
        &self,
        method: Method,
        path: &str,
        query: &Query,
        headers: Vec<(&str, String)>,
        body: Body,
    ) -> Result<Response<Incoming>> {
        let mut sender = self.connect().await?;
        let mut b = self.builder(method, path, query);
        for (k, v) in headers {
            b = b.header(k, v);
        }
        let req = b
            .body(body)
            .map_err(|e| ClientError::Other(e.to_string()))?;
        Ok(sender.send_request(req).await?)
    }

    /// Send a request; an error status becomes `ClientError::Api`.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &Query,
        headers: Vec<(&str, String)>,
        body: Body,
    ) -> Result<Response<Incoming>> {
        let resp = self.send_raw(method, path, query, headers, body).await?;
        check(resp).await
    }

    pub async fn get(&self, path: &str, query: &Query) -> Result<Response<Incoming>> {
        self.request(Method::GET, path, query, Vec::new(), empty())
            .await
    }

    pub async fn post(&self, path: &str, query: &Query) -> Result<Response<Incoming>> {
        self.request(Method::POST, path, query, Vec::new(), empty())
            .await
    }

    pub async fn post_json<T: serde::Serialize>(
        &self,
        path: &str,
        query: &Query,
        body: &T,
    ) -> Result<Response<Incoming>> {
        let data = serde_json::to_vec(body).map_err(|e| ClientError::Other(e.to_string()))?;
        self.request(
            Method::POST,
            path,
            query,
            vec![("Content-Type", "application/json".to_string())],
            full(data),
        )
        .await
    }

    pub async fn delete(&self, path: &str, query: &Query) -> Result<Response<Incoming>> {
        self.request(Method::DELETE, path, query, Vec::new(), empty())
            .await
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str, query: &Query) -> Result<T> {
        let resp = self.get(path, query).await?;
        json_body(resp).await
    }

    /// `POST` with `Connection: Upgrade` / `Upgrade: tcp`; the daemon must answer
    /// `101 Switching Protocols`, after which the connection is a raw stream.
    pub async fn hijack(
        &self,
        path: &str,
        query: &Query,
        body: Option<Vec<u8>>,
    ) -> Result<TokioIo<hyper::upgrade::Upgraded>> {
        let mut sender = self.connect().await?;
        let mut b = self
            .builder(Method::POST, path, query)
            .header("Connection", "Upgrade")
            .header("Upgrade", "tcp");
        let body = match body {
            Some(data) => {
                b = b.header("Content-Type", "application/json");
                full(data)
            }
            None => empty(),
        };
        let req = b
            .body(body)
            .map_err(|e| ClientError::Other(e.to_string()))?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        if status.as_u16() >= 400 {
            return Err(error_from(resp).await);
        }
        if status != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ClientError::Other(format!(
                "unable to upgrade to tcp, received {}",
                status.as_u16()
            )));
        }
        let upgraded = hyper::upgrade::on(resp).await?;
        Ok(TokioIo::new(upgraded))
    }
}

/// docker 28 negotiates down to the daemon's version (1.24 without a header).
pub fn negotiate(server: &str) -> String {
    if server.is_empty() {
        return "1.24".to_string();
    }
    if version_less(server, DEFAULT_API_VERSION) {
        server.to_string()
    } else {
        DEFAULT_API_VERSION.to_string()
    }
}

pub fn version_less(a: &str, b: &str) -> bool {
    let p = |s: &str| {
        s.split('.')
            .map(|x| x.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    p(a) < p(b)
}

async fn error_from(resp: Response<Incoming>) -> ClientError {
    let status = resp.status().as_u16();
    let body = match resp.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return ClientError::Other(e.to_string()),
    };
    let message = match serde_json::from_slice::<shared::api::ErrorResponse>(&body) {
        Ok(e) => e.message,
        Err(_) => {
            let text = String::from_utf8_lossy(&body).trim().to_string();
            if text.is_empty() {
                format!(
                    "{} {}",
                    status,
                    StatusCode::from_u16(status)
                        .map(|s| s.canonical_reason().unwrap_or(""))
                        .unwrap_or("")
                )
                .trim()
                .to_string()
            } else {
                text
            }
        }
    };
    ClientError::Api { status, message }
}

async fn check(resp: Response<Incoming>) -> Result<Response<Incoming>> {
    if resp.status().as_u16() >= 400 {
        Err(error_from(resp).await)
    } else {
        Ok(resp)
    }
}

pub async fn body_bytes(resp: Response<Incoming>) -> Result<Bytes> {
    Ok(resp.into_body().collect().await?.to_bytes())
}

pub async fn json_body<T: DeserializeOwned>(resp: Response<Incoming>) -> Result<T> {
    let b = body_bytes(resp).await?;
    serde_json::from_slice(&b)
        .map_err(|e| ClientError::Other(format!("error decoding response: {e}")))
}

/// The body as a stream of chunks (logs, progress).
pub fn body_stream(resp: Response<Incoming>) -> BoxStream<'static, Result<Bytes>> {
    let body = resp.into_body();
    futures_util::stream::unfold(body, |mut body| async move {
        loop {
            match body.frame().await {
                None => return None,
                Some(Err(e)) => return Some((Err(ClientError::from(e)), body)),
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        return Some((Ok(d), body));
                    }
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_sorted_and_escaped_like_go() {
        let q = Query::new()
            .set("tag", "latest")
            .set("fromImage", "my image/x")
            .set("changes", "CMD [\"sh\"]");
        assert_eq!(
            q.encode(),
            "changes=CMD+%5B%22sh%22%5D&fromImage=my+image%2Fx&tag=latest"
        );
    }

    #[test]
    fn negotiation_goes_down_never_up() {
        assert_eq!(negotiate(""), "1.24");
        assert_eq!(negotiate("1.43"), "1.43");
        assert_eq!(negotiate("1.51"), DEFAULT_API_VERSION);
        assert!(version_less("1.9", "1.10"));
    }

    #[test]
    fn host_resolution_prefers_flag() {
        assert_eq!(resolve_host(Some("unix:///x.sock")), "unix:///x.sock");
        assert!(Client::new("tcp://1.2.3.4:2375").is_err());
    }

    #[test]
    fn host_resolution_falls_back_to_dockers_socket_only_when_ours_is_missing() {
        let env = || Some("unix:///env.sock".to_string());
        let only_docker = |p: &str| p == "/var/run/docker.sock";
        let both = |p: &str| p == "/var/run/docker.sock" || p == "/run/dockhand.sock";
        let none = |_: &str| false;
        // -H and DOCKER_HOST win over any socket on disk.
        assert_eq!(
            resolve_host_with(Some("unix:///x.sock"), env(), &only_docker),
            "unix:///x.sock"
        );
        assert_eq!(
            resolve_host_with(None, env(), &only_docker),
            "unix:///env.sock"
        );
        assert_eq!(
            resolve_host_with(Some(""), Some(String::new()), &only_docker),
            "unix:///var/run/docker.sock"
        );
        assert_eq!(resolve_host_with(None, None, &both), DEFAULT_HOST);
        // Neither exists: our own, so the error names the socket we expect.
        assert_eq!(resolve_host_with(None, None, &none), DEFAULT_HOST);
    }

    #[test]
    fn connect_error_text_is_dockers() {
        let e = ClientError::Connect("unix:///run/dockhand.sock".into());
        assert_eq!(
            e.to_string(),
            "Cannot connect to the Docker daemon at unix:///run/dockhand.sock. Is the docker daemon running?"
        );
    }
}
