//! The recording, fault-injecting reverse proxy in front of the registry.
//!
//! Each client connection carries one request: the proxy forwards its head with
//! `Connection: close` (the `Host` header untouched, so the registry's
//! `Location` URLs point back at the proxy), streams the request body on as it
//! comes, records the request as soon as the registry's response head arrives
//! (so a client can never finish reading before its request is counted), then
//! streams the response back, altered when a [`Fault`] is armed for it, and
//! closes the connection. Clients see `Connection: close` and reconnect.

use super::http::{read_head, Head};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A fault the proxy applies to a `GET` of a blob or manifest that the registry
/// answers with 200 or 206 and a `Content-Length` (except `Status`, which
/// answers at once without asking the registry, and applies to `PATCH`es of
/// uploads too, armed under the key `PATCH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Flip every bit of one byte in the middle of the body; length and
    /// headers stay, so only a digest check notices.
    Corrupt,
    /// Send the head (with the full `Content-Length`) and this many body bytes,
    /// then close the connection: the registry "died" mid-download.
    CutAfter(u64),
    /// Send a well-framed but short response: `Content-Length` and body cut to
    /// this many bytes. Only a size or digest check notices.
    Truncate(u64),
    /// Answer with this status (and a distribution-style error body) instead.
    Status(u16),
    /// Send the head and this many body bytes, then nothing (for at most 30 s):
    /// a download that hangs, for killing the client in the middle of it.
    StallAfter(u64),
    /// Forward the request without its `Range` header, as a registry that
    /// does not serve ranges: the answer is the whole blob, 200.
    IgnoreRange,
}

/// One request the proxy forwarded (or answered itself).
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    pub method: String,
    /// The request target: path and query.
    pub path: String,
    /// The status the client got (0 when the registry was unreachable). A
    /// TLS handshake (a client trying HTTPS first) shows as method `TLS`, 400.
    pub status: u16,
    /// Whether the request carried an `Authorization` header.
    pub authorized: bool,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The `Content-Range` header (a chunk of an upload), if any.
    pub content_range: Option<String>,
    /// The fault applied to this request, if one was.
    pub fault: Option<Fault>,
}

impl ProxyRequest {
    /// The path without its query.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or_default()
    }

    /// A `GET` of `/v2/NAME/blobs/<digest>` answered 200 or 206.
    pub fn is_blob_fetch(&self, digest: &str) -> bool {
        self.is_fetch("/blobs/", digest)
    }

    /// A `GET` of `/v2/NAME/manifests/<reference>` answered 200.
    pub fn is_manifest_fetch(&self, reference: &str) -> bool {
        self.is_fetch("/manifests/", reference)
    }

    fn is_fetch(&self, kind: &str, key: &str) -> bool {
        let p = self.path_only();
        self.method == "GET"
            && (self.status == 200 || self.status == 206)
            && p.rsplit_once(kind).is_some_and(|(_, k)| k == key)
    }
}

struct Armed {
    key: String,
    fault: Fault,
    left: usize,
}

struct State {
    backend: SocketAddr,
    log: Mutex<Vec<ProxyRequest>>,
    faults: Mutex<Vec<Armed>>,
    stop: AtomicBool,
}

impl State {
    /// The fault armed for this key, without using it up.
    fn peek(&self, key: &str) -> Option<Fault> {
        let faults = self.faults.lock().unwrap();
        faults
            .iter()
            .find(|a| a.key == key && a.left > 0)
            .map(|a| a.fault.clone())
    }

    fn consume(&self, key: &str) {
        let mut faults = self.faults.lock().unwrap();
        if let Some(a) = faults.iter_mut().find(|a| a.key == key && a.left > 0) {
            a.left -= 1;
        }
    }
}

pub(crate) struct Proxy {
    addr: SocketAddr,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listen on a free port of 127.0.0.1, forwarding to `backend`.
    pub fn start(backend: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy on 127.0.0.1");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(State {
            backend,
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &st);
                });
            }
        });
        Proxy {
            addr,
            state,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn requests(&self) -> Vec<ProxyRequest> {
        self.state.log.lock().unwrap().clone()
    }

    pub fn inject(&self, key: &str, fault: Fault, times: usize) {
        self.state.faults.lock().unwrap().push(Armed {
            key: key.to_string(),
            fault,
            left: times,
        });
    }

    pub fn clear_faults(&self) {
        self.state.faults.lock().unwrap().clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The key faults are armed under: the last path segment of a `GET` of a blob
/// or a manifest (a digest, or a tag); `PATCH` for any chunk of an upload.
fn fault_key(method: &str, target: &str) -> Option<String> {
    let path = target.split('?').next()?;
    if method == "PATCH" && path.contains("/blobs/uploads/") {
        return Some("PATCH".into());
    }
    if method != "GET" || !(path.contains("/blobs/") || path.contains("/manifests/")) {
        return None;
    }
    path.rsplit('/').next().map(String::from)
}

fn serve(mut client: TcpStream, st: &State) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(300)))?;
    let mut buf = vec![0u8; 4096];
    let n = client.read(&mut buf)?;
    buf.truncate(n);
    if buf.first().is_some_and(|b| !b.is_ascii_uppercase()) {
        // A TLS ClientHello (clients try HTTPS first): answer as a plain HTTP
        // server does, so the client falls back to HTTP at once.
        st.log.lock().unwrap().push(ProxyRequest {
            method: "TLS".into(),
            path: String::new(),
            status: 400,
            authorized: false,
            range: None,
            content_range: None,
            fault: None,
        });
        client.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    let Some(mut head) = read_head(&mut client, &mut buf)? else {
        return Ok(());
    };
    let (method, target) = head.method_target();
    let mut record = ProxyRequest {
        method: method.clone(),
        path: target.clone(),
        status: 0,
        authorized: head.header("authorization").is_some(),
        range: head.header("range").map(String::from),
        content_range: head.header("content-range").map(String::from),
        fault: None,
    };
    let key = fault_key(&method, &target);
    let armed = key.as_deref().and_then(|k| st.peek(k));
    if let (Some(Fault::Status(code)), Some(k)) = (&armed, &key) {
        st.consume(k);
        record.status = *code;
        record.fault = armed.clone();
        st.log.lock().unwrap().push(record);
        let body =
            r#"{"errors":[{"code":"UNAVAILABLE","message":"fault injected by the test proxy"}]}"#;
        let resp = format!(
            "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        client.write_all(resp.as_bytes())?;
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    let mut up = match TcpStream::connect_timeout(&st.backend, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(e) => {
            // The registry is gone: the client sees its connection dropped.
            st.log.lock().unwrap().push(record);
            let _ = client.shutdown(Shutdown::Both);
            return Err(e);
        }
    };
    up.set_read_timeout(Some(Duration::from_secs(300)))?;
    for h in ["connection", "keep-alive", "proxy-connection"] {
        head.remove(h);
    }
    if armed == Some(Fault::IgnoreRange) {
        head.remove("range");
    }
    head.set("Connection", "close");
    up.write_all(&head.to_bytes())?;
    up.write_all(&buf)?;
    // The rest of the request body, as the client sends it. The thread ends when
    // the client's connection closes (we shut it down after the response).
    {
        let mut from = client.try_clone()?;
        let mut to = up.try_clone()?;
        std::thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
        });
    }
    let mut rbuf = Vec::new();
    let result = respond(&mut up, &mut rbuf, &mut client, st, record, key, armed);
    let _ = client.shutdown(Shutdown::Both);
    let _ = up.shutdown(Shutdown::Both);
    result
}

/// Read the registry's response and send it to the client, applying `armed`.
fn respond(
    up: &mut TcpStream,
    rbuf: &mut Vec<u8>,
    client: &mut TcpStream,
    st: &State,
    mut record: ProxyRequest,
    key: Option<String>,
    armed: Option<Fault>,
) -> io::Result<()> {
    let mut head: Head = loop {
        let Some(h) = read_head(up, rbuf)? else {
            st.log.lock().unwrap().push(record);
            return Ok(());
        };
        // Interim responses (100 Continue) pass through as they are.
        if (100..200).contains(&h.status()) && h.status() != 101 {
            client.write_all(&h.to_bytes())?;
            continue;
        }
        break h;
    };
    let status = head.status();
    let len = head.content_length();
    let applied = match (&armed, len) {
        (Some(f), Some(_)) if status == 200 || status == 206 => Some(f.clone()),
        _ => None,
    };
    if let (Some(_), Some(k)) = (&applied, &key) {
        st.consume(k);
    }
    record.status = status;
    record.fault = applied.clone();
    st.log.lock().unwrap().push(record);
    let len = len.unwrap_or(0);
    let body = io::Read::chain(&rbuf[..], up);
    match applied {
        None | Some(Fault::IgnoreRange) => {
            client.write_all(&head.to_bytes())?;
            let mut body = body;
            io::copy(&mut body, client)?;
        }
        Some(Fault::Corrupt) => {
            client.write_all(&head.to_bytes())?;
            pump(body, client, len, Some(len / 2))?;
        }
        Some(Fault::CutAfter(n)) => {
            client.write_all(&head.to_bytes())?;
            pump(body, client, n.min(len), None)?;
        }
        Some(Fault::StallAfter(n)) => {
            client.write_all(&head.to_bytes())?;
            pump(body, client, n.min(len), None)?;
            client.flush()?;
            let until = std::time::Instant::now() + Duration::from_secs(30);
            while std::time::Instant::now() < until && !st.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Some(Fault::Truncate(n)) => {
            let n = n.min(len);
            head.set("Content-Length", &n.to_string());
            client.write_all(&head.to_bytes())?;
            pump(body, client, n, None)?;
        }
        Some(Fault::Status(_)) => unreachable!("answered before forwarding"),
    }
    client.flush()
}

/// Copy `limit` bytes, flipping the byte at offset `flip`.
fn pump(mut from: impl Read, to: &mut impl Write, limit: u64, flip: Option<u64>) -> io::Result<()> {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut pos = 0u64;
    while pos < limit {
        let want = (limit - pos).min(chunk.len() as u64) as usize;
        let n = from.read(&mut chunk[..want])?;
        if n == 0 {
            break;
        }
        if let Some(f) = flip {
            if f >= pos && f < pos + n as u64 {
                chunk[(f - pos) as usize] ^= 0xff;
            }
        }
        to.write_all(&chunk[..n])?;
        pos += n as u64;
    }
    Ok(())
}
