//! A fake Docker search index for `docker search` tests (there is no internet
//! here): plain HTTP on a free port of 127.0.0.1, on the machine or inside a
//! network namespace (a virtual host's). It answers Docker's v1 search API as
//! Docker Hub's index does:
//!
//! - `GET /v1/_ping`: `{}` (the ping a daemon sends before searching it);
//! - `GET /v1/search?q=&n=`: `{"num_results","query","results"}` with the
//!   results it was given, or the status and body of [`SearchIndex::answer`];
//! - `GET /v2/`: 200 (open, so `login` succeeds), or after
//!   [`SearchIndex::require_token`] a `401` with a Bearer challenge whose realm
//!   is its `POST /token`, which gives that access token;
//! - a TLS handshake (a daemon tries HTTPS first) gets a plain `400`.
//!
//! Every request is recorded ([`SearchIndex::requests`]) before it is answered.
//!
//! ```no_run
//! use dockhand_tests::search_index::SearchIndex;
//! let idx = SearchIndex::start(serde_json::json!([{"name": "app", "star_count": 3}]));
//! // … `dockhand search {idx.host()}/app` …
//! let s = &idx.searches()[0];
//! assert_eq!(s.param("n"), Some("25"));
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the index received.
#[derive(Debug, Clone)]
pub struct IndexRequest {
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The query as sent (not decoded).
    pub raw_query: String,
    /// The query's pairs, decoded.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl IndexRequest {
    /// First header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// First query parameter of this name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body's form fields, decoded.
    pub fn form(&self) -> Vec<(String, String)> {
        pairs(&self.body)
    }
}

#[derive(Default)]
struct State {
    results: serde_json::Value,
    /// Instead of the results: a status and a body.
    answer: Option<(u16, Vec<u8>)>,
    /// `/v2/` challenges, and `/token` gives this token.
    token: Option<String>,
    requests: Vec<IndexRequest>,
}

/// The fake index; stopped on drop.
pub struct SearchIndex {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The service name of the Bearer challenge.
pub const SERVICE: &str = "fake-index";

impl SearchIndex {
    /// An index on the machine's loopback answering `results` (a JSON array
    /// of moby's `SearchResult`s).
    pub fn start(results: serde_json::Value) -> SearchIndex {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        Self::serve(l, results)
    }

    /// An index on the loopback of the network namespace `netns`
    /// (`/proc/PID/ns/net`): only that namespace reaches it.
    pub fn start_in(netns: &Path, results: serde_json::Value) -> SearchIndex {
        let path = netns.to_path_buf();
        // A socket belongs to the namespace it was made in; the thread that
        // makes it enters the namespace and ends.
        let l = std::thread::spawn(move || -> Result<TcpListener, String> {
            let f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            use std::os::fd::AsRawFd;
            // SAFETY: setns on this thread only, with a namespace fd we opened.
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error().to_string());
            }
            TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())
        })
        .join()
        .expect("the namespace thread")
        .unwrap_or_else(|e| panic!("listening in {}: {e}", netns.display()));
        Self::serve(l, results)
    }

    fn serve(l: TcpListener, results: serde_json::Value) -> SearchIndex {
        let port = l.local_addr().expect("local addr").port();
        l.set_nonblocking(true).expect("nonblocking");
        let state = Arc::new(Mutex::new(State {
            results,
            ..Default::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            // Not woken by a connection to itself: it may live in another
            // namespace, so it polls.
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match l.accept() {
                        Ok((s, _)) => {
                            let state = state.clone();
                            std::thread::spawn(move || handle(s, &state));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        SearchIndex {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`, the registry part of a search term.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Answer `/v1/search` with this status and body from now on.
    pub fn answer(&self, status: u16, body: &[u8]) {
        self.lock().answer = Some((status, body.to_vec()));
    }

    /// Challenge `/v2/` with a Bearer realm (`POST /token`) that gives
    /// `access_token`.
    pub fn require_token(&self, access_token: &str) {
        self.lock().token = Some(access_token.to_string());
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<IndexRequest> {
        self.lock().requests.clone()
    }

    /// The `GET /v1/search` requests so far.
    pub fn searches(&self) -> Vec<IndexRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path == "/v1/search")
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for SearchIndex {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Read one request; None for a TLS handshake or a broken connection.
fn read_request(s: &mut TcpStream) -> Option<IndexRequest> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if buf.first() == Some(&0x16) {
            return None;
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = s.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut body = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while body.len() < len {
        let n = s.read(&mut chunk).ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&chunk[..n]);
    }
    let (path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    Some(IndexRequest {
        method,
        path,
        query: pairs(&raw_query),
        raw_query,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn handle(mut s: TcpStream, state: &Mutex<State>) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(req) = read_request(&mut s) else {
        let _ = s.write_all(
            b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        );
        return;
    };
    let host = req.header("host").unwrap_or("127.0.0.1").to_string();
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    st.requests.push(req.clone());
    let json = |v: serde_json::Value| (200, v.to_string().into_bytes(), Vec::new());
    let (status, body, extra): (u16, Vec<u8>, Vec<String>) =
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/v1/_ping") => json(serde_json::json!({})),
            ("GET", "/v1/search") => match &st.answer {
                Some((status, body)) => (*status, body.clone(), Vec::new()),
                None => {
                    let results = st.results.clone();
                    json(serde_json::json!({
                        "num_results": results.as_array().map_or(0, Vec::len),
                        "query": req.param("q").unwrap_or_default(),
                        "results": results,
                    }))
                }
            },
            ("GET", "/v2/") => match &st.token {
                Some(_) => (
                    401,
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                        .to_vec(),
                    vec![format!(
                    "WWW-Authenticate: Bearer realm=\"http://{host}/token\",service=\"{SERVICE}\""
                )],
                ),
                None => json(serde_json::json!({})),
            },
            ("POST", "/token") => match &st.token {
                Some(t) => json(serde_json::json!({"access_token": t, "expires_in": 300})),
                None => (404, b"{}".to_vec(), Vec::new()),
            },
            _ => (404, b"404 page not found\n".to_vec(), Vec::new()),
        };
    drop(st);
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in extra {
        head.push_str(&h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(&body);
}
