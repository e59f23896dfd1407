//! `dockhand serve` for tests: a server on its own temporary data root and
//! socket, with bridges, chains and subnets of its own (tests run side by side
//! with each other and with a developer's server), listening on a free loopback
//! port. Dropping it stops the server (which removes its sessions' instances)
//! and then removes whatever is left: virtual hosts (through a cleanup daemon on
//! the same data root), processes, mounts, cgroups, bridges and chains.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace's root folder.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The UI bundle: `DOCKHAND_UI`, else `target/ui`, built with `scripts/build-web`
/// when missing.
pub fn ui_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("DOCKHAND_UI") {
        return PathBuf::from(p);
    }
    let dir = workspace().join("target/ui");
    if !dir.join("index.html").exists() {
        let st = Command::new(workspace().join("scripts/build-web"))
            .arg(&dir)
            .status()
            .expect("run scripts/build-web");
        assert!(st.success(), "scripts/build-web failed");
    }
    dir
}

/// What the browser tests need: node with playwright-core installed in
/// `tests/e2e`, and Chromium. `None` (after printing why) when absent.
pub fn browser_runner() -> Option<(PathBuf, PathBuf)> {
    let chromium =
        PathBuf::from(std::env::var_os("CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()));
    if !chromium.exists() {
        eprintln!(
            "SKIPPED: no Chromium at {} (apt-get install chromium)",
            chromium.display()
        );
        return None;
    }
    let node = ["/usr/bin/node", "/usr/local/bin/node"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    let Some(node) = node else {
        crate::say_skipped("node is not installed (apt-get install nodejs npm)");
        return None;
    };
    let e2e = workspace().join("tests/e2e");
    if !e2e.join("node_modules/playwright-core").exists() {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&e2e)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            crate::say_skipped("playwright-core is not installed (npm ci in tests/e2e failed)");
            return None;
        }
    }
    Some((node, chromium))
}

/// [`run_browser_with`] without extra environment.
pub fn run_browser(
    serve: &Serve,
    node: &Path,
    chromium: &Path,
    script: &str,
    mode: &str,
    limit: Duration,
) -> (String, bool) {
    run_browser_with(serve, node, chromium, script, mode, limit, &[])
}

/// Run the Playwright script `tests/e2e/SCRIPT` in `mode` against `serve`,
/// with `env` added to its environment; its output, and whether
/// it passed. Killed after `limit`.
pub fn run_browser_with(
    serve: &Serve,
    node: &std::path::Path,
    chromium: &std::path::Path,
    script: &str,
    mode: &str,
    limit: Duration,
    env: &[(&str, &str)],
) -> (String, bool) {
    let url = serve.url();
    run_browser_at(
        &url,
        serve.dir.path(),
        node,
        chromium,
        script,
        mode,
        limit,
        env,
    )
}

/// [`run_browser_with`] against the playground at `url` (a gateway's), with
/// its log in `log_dir`.
#[allow(clippy::too_many_arguments)]
pub fn run_browser_at(
    url: &str,
    log_dir: &Path,
    node: &std::path::Path,
    chromium: &std::path::Path,
    script: &str,
    mode: &str,
    limit: Duration,
    env: &[(&str, &str)],
) -> (String, bool) {
    let e2e = workspace().join("tests/e2e");
    let artifacts = workspace().join("target/e2e-artifacts");
    let out_path = log_dir.join(format!("browser-{script}-{mode}.log"));
    let out = std::fs::File::create(&out_path).expect("browser log");
    let mut child = Command::new(node)
        .arg(e2e.join(script))
        .arg(mode)
        .current_dir(&e2e)
        .env("DOCKHAND_URL", url)
        .env("E2E_ARTIFACTS", &artifacts)
        .env("CHROMIUM", chromium)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("start node");
    let deadline = Instant::now() + limit;
    let ok = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (std::fs::read_to_string(&out_path).unwrap_or_default(), ok)
}

/// The binary the server runs: `DOCKHAND_BIN`, else the static build of
/// `scripts/build` when there is one (a virtual host's init needs a static
/// binary), else the workspace's debug build.
pub fn serve_bin() -> PathBuf {
    if std::env::var_os("DOCKHAND_BIN").is_none() {
        let musl = workspace().join("target/x86_64-unknown-linux-musl/release/dockhand");
        if musl.exists() {
            return musl;
        }
    }
    crate::bin()
}

/// A running `dockhand serve`.
pub struct Serve {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub socket: PathBuf,
    /// Where it listens: `ip` (127.0.0.1 unless started with
    /// [`Serve::start_at`]) and `port`.
    pub ip: std::net::Ipv4Addr,
    pub port: u16,
    tag: String,
    n: usize,
    extra: Vec<String>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Serve {
    /// Start a server with the default limits plus `extra` flags.
    pub fn start(extra: &[&str]) -> Serve {
        Serve::start_at(std::net::Ipv4Addr::LOCALHOST, free_port(), extra)
    }

    /// Start a server listening on `ip:port` (a loopback address).
    pub fn start_at(ip: std::net::Ipv4Addr, port: u16, extra: &[&str]) -> Serve {
        let dir = tempfile::Builder::new()
            .prefix("dockhand-serve-")
            .tempdir()
            .expect("tempdir");
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let n = (std::process::id() as usize + k * 7) % 240;
        let tag = format!(
            "{:04x}",
            (std::process::id() as usize * 31 + k * 17 + 0x5a5) & 0xffff
        );
        let mut s = Serve {
            root: dir.path().join("root"),
            socket: dir.path().join("dockhand.sock"),
            dir,
            ip,
            port,
            tag,
            n,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        s.spawn();
        s
    }

    /// The daemon's flags: data root, socket, and names and subnets of this server.
    fn daemon_args(&self) -> Vec<String> {
        let (t, n) = (&self.tag, self.n);
        vec![
            "--data-root".into(),
            self.root.display().to_string(),
            "-H".into(),
            format!("unix://{}", self.socket.display()),
            "--bridge".into(),
            format!("dhv{t}"),
            "--bip".into(),
            format!("10.19.{n}.1/24"),
            "--default-address-pool".into(),
            format!("base=10.18.{}.0/20,size=24", (n % 16) * 16),
            "--iptables-chain-prefix".into(),
            format!("DH-S{t}"),
            "--network-bridge-prefix".into(),
            format!("dhw{t}"),
            "--playground-bridge".into(),
            format!("dhp{t}"),
            "--playground-subnet".into(),
            format!("10.{}.0.0/16", 20 + n % 40),
            "--playground-chain-prefix".into(),
            format!("DH-P{t}"),
            "--session-bridge-prefix".into(),
            format!("dhs{t}-"),
        ]
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(serve_bin());
        cmd.arg("serve")
            .args(self.daemon_args())
            .arg("--listen")
            .arg(format!("{}:{}", self.ip, self.port))
            .arg("--ui")
            .arg(ui_dir())
            .args(&self.extra);
        let log = self.dir.path().join("serve.log");
        let mut child = crate::spawn_logged(cmd, &log);
        crate::wait_ready(&mut child, &log, Duration::from_secs(30), || {
            self.http("GET", "/api/config", None, "").0 == 200
        });
        self.child = Some(child);
    }

    /// The playground's address.
    pub fn addr(&self) -> std::net::SocketAddr {
        (self.ip, self.port).into()
    }

    /// SIGTERM without waiting (a drain).
    pub fn sigterm(&self) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
    }

    /// Whether the server process has ended.
    pub fn has_exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))))
    }

    /// SIGKILL the server, as a machine that dies: nothing of its own is
    /// cleaned up until the value is dropped.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}:{}", self.ip, self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The server process's resident memory, KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }

    /// `dockhand host exec VHOST sh -c SCRIPT` on the server's socket (a
    /// virtual host's shell, whose docker CLI talks to its own daemon): its
    /// stdout, trimmed. Panics when the script fails.
    pub fn in_vhost(&self, vhost: &str, script: &str) -> String {
        let out = self.cli(&["host", "exec", vhost, "sh", "-c", script]);
        assert!(
            out.status.success(),
            "{script}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A workshop opened with `trainer_code`: (id, join code, trainer's
    /// token). Panics when refused.
    pub fn workshop(&self, trainer_code: &str) -> (String, String, String) {
        let (st, body) = self.http(
            "POST",
            "/api/workshops",
            None,
            &format!(r#"{{"trainer_code":"{trainer_code}"}}"#),
        );
        assert_eq!(st, 201, "{body}");
        (
            json_str(&body, "id"),
            json_str(&body, "join_code"),
            json_str(&body, "token"),
        )
    }

    /// A session that joins the workshop whose join code is `code` as
    /// `name`: (id, token). Panics when refused.
    pub fn join_workshop(&self, code: &str, name: &str) -> (String, String) {
        let (st, body) = self.http(
            "POST",
            "/api/sessions",
            None,
            &format!(r#"{{"workshop":"{code}","name":"{name}"}}"#),
        );
        assert_eq!(st, 201, "{body}");
        (json_str(&body, "id"), json_str(&body, "token"))
    }

    /// One HTTP/1.1 request to the playground: (status, body); status 0 when the
    /// server cannot be reached.
    pub fn http(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
        http_at(self.addr(), method, path, token, body)
    }

    /// A new session with its first instance (node1): (session id, token).
    /// Panics when either is refused.
    pub fn session_with_instance(&self) -> (String, String) {
        let (st, body) = self.http("POST", "/api/sessions", None, "{}");
        assert_eq!(st, 201, "{body}");
        let (id, token) = (json_str(&body, "id"), json_str(&body, "token"));
        let (st, body) = self.http(
            "POST",
            &format!("/api/sessions/{id}/instances"),
            Some(&token),
            "",
        );
        assert_eq!(st, 201, "{body}\n{}", self.log());
        (id, token)
    }

    /// One HTTP/1.1 request to the Docker API socket.
    pub fn docker_api(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        match std::os::unix::net::UnixStream::connect(&self.socket) {
            Ok(s) => {
                let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
                request(
                    s,
                    method,
                    path,
                    &["Content-Type: application/json".into()],
                    body.as_bytes(),
                )
            }
            Err(_) => (0, String::new()),
        }
    }

    /// Upload raw bytes (`X-Dockhand-Token` auth): (status, body).
    pub fn upload(&self, path: &str, token: &str, data: &[u8]) -> (u16, String) {
        let s = std::net::TcpStream::connect(self.addr()).expect("connect");
        let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
        request(
            s,
            "POST",
            path,
            &[format!("X-Dockhand-Token: {token}")],
            data,
        )
    }

    /// Run our CLI against the server's Docker API socket.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(serve_bin())
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run the CLI")
    }

    /// Names of the virtual hosts on the server's data root.
    pub fn vhost_records(&self) -> Vec<String> {
        std::fs::read_dir(self.root.join("vhosts"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let p = e.path();
                if p.extension()? != "json" {
                    return None;
                }
                Some(p.file_stem()?.to_string_lossy().into_owned())
            })
            .collect()
    }

    /// SIGTERM and wait for the server to finish (it closes every session).
    pub fn shutdown(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Mounts under this server's folder.
    pub fn leftover_mounts(&self) -> Vec<String> {
        crate::mounts_under(self.dir.path())
    }

    /// Session bridges of this server still present.
    pub fn leftover_session_bridges(&self) -> Vec<String> {
        links()
            .into_iter()
            .filter(|l| l.starts_with(&format!("dhs{}-", self.tag)))
            .collect()
    }

    fn cleanup(&mut self) {
        // Virtual hosts the server did not remove: a daemon on the same data root
        // adopts them, and removes them on request.
        if !self.vhost_records().is_empty() {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.path().join("cleanup.log"))
                .ok();
            let mut cmd = Command::new(serve_bin());
            cmd.arg("daemon")
                .args(self.daemon_args())
                .stdin(Stdio::null());
            if let Some(l) = log {
                cmd.stdout(l.try_clone().map(Stdio::from).unwrap_or(Stdio::null()))
                    .stderr(Stdio::from(l));
            }
            if let Ok(mut d) = cmd.spawn() {
                let deadline = Instant::now() + Duration::from_secs(20);
                while Instant::now() < deadline && self.docker_api("GET", "/_ping", "").0 != 200 {
                    std::thread::sleep(Duration::from_millis(50));
                }
                for name in self.vhost_records() {
                    self.docker_api("DELETE", &format!("/dockhand/hosts/{name}"), "");
                }
                // SAFETY: kill(2) on our own child's pid.
                unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline && !matches!(d.try_wait(), Ok(Some(_))) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = d.kill();
                let _ = d.wait();
            }
        }
        // Processes that mention our folder (monitors), then mounts, cgroups, network.
        let needle = self.dir.path().to_string_lossy().into_owned();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if pid != std::process::id() as i32 && String::from_utf8_lossy(&cmd).contains(&needle) {
                // SAFETY: kill(2) with a pid read from /proc.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let mut mounts = self.leftover_mounts();
        mounts.reverse();
        for m in mounts {
            let _ = Command::new("umount").args(["-l", &m]).output();
        }
        if let Ok(prefix) = std::fs::read_to_string(self.root.join("cgroup-prefix")) {
            for d in crate::cgroup_dirs(prefix.trim()) {
                let _ = std::fs::remove_dir(d);
            }
        }
        let cleanup = workspace().join("scripts/net-cleanup");
        let t = &self.tag;
        let _ = Command::new(&cleanup)
            .args([format!("DH-S{t}"), format!("DH-P{t}")])
            .output();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.shutdown();
        self.cleanup();
    }
}

fn links() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// One HTTP/1.1 request to a playground (or a gateway) at `addr`, with the
/// session token when given: (status, body); status 0 when nothing answers.
pub fn http_at(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let headers: Vec<String> = token
        .map(|t| format!("X-Dockhand-Token: {t}"))
        .into_iter()
        .collect();
    http_with(addr, method, path, &headers, body)
}

/// [`http_at`] with any headers (`Name: value`; a `Host:` replaces localhost).
pub fn http_with(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[String],
    body: &str,
) -> (u16, String) {
    match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Ok(s) => {
            let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
            request(s, method, path, headers, body.as_bytes())
        }
        Err(_) => (0, String::new()),
    }
}

/// A minimal HTTP/1.1 client: one request, `Connection: close`, the whole answer.
fn request<S: Read + Write>(
    mut s: S,
    method: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
) -> (u16, String) {
    let host = if headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        ""
    } else {
        "Host: localhost\r\n"
    };
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\n{host}Connection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    if s.write_all(head.as_bytes()).is_err() || s.write_all(body).is_err() {
        return (0, String::new());
    }
    let mut raw = vec![];
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let Some((head, rest)) = text.split_once("\r\n\r\n") else {
        return (0, text);
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// The value of `key` in a flat JSON object text (tests only).
pub fn json_str(body: &str, key: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v[key].as_str().map(String::from))
        .unwrap_or_default()
}

/// A WebSocket client for the playground's sockets, enough for tests: text
/// and binary frames from the server (never masked), masked frames to it.
pub struct WebSocket(std::net::TcpStream);

impl WebSocket {
    /// Connects to `path` (with its query) on `serve`; panics unless the
    /// server switches protocols.
    pub fn open(serve: &Serve, path: &str) -> WebSocket {
        WebSocket::open_at(serve.addr(), path)
    }

    /// [`WebSocket::open`] to whatever listens at `addr` (a gateway).
    pub fn open_at(addr: std::net::SocketAddr, path: &str) -> WebSocket {
        WebSocket::try_open_at(addr, path).unwrap_or_else(|head| panic!("{path}: {head}"))
    }

    /// The socket, or the answer's head when the server does not switch
    /// protocols.
    pub fn try_open_at(addr: std::net::SocketAddr, path: &str) -> Result<WebSocket, String> {
        let mut s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).map_err(|e| e.to_string())?;
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head);
        if !head.starts_with("HTTP/1.1 101") {
            return Err(head.into_owned());
        }
        Ok(WebSocket(s))
    }

    /// The next frame: (opcode, payload); None when the socket closes or is
    /// silent past the read timeout.
    pub fn next_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut h = [0u8; 2];
        self.0.read_exact(&mut h).ok()?;
        let mut len = u64::from(h[1] & 0x7f);
        if len == 126 {
            let mut l = [0u8; 2];
            self.0.read_exact(&mut l).ok()?;
            len = u64::from(u16::from_be_bytes(l));
        } else if len == 127 {
            let mut l = [0u8; 8];
            self.0.read_exact(&mut l).ok()?;
            len = u64::from_be_bytes(l);
        }
        let mut data = vec![0u8; len as usize];
        self.0.read_exact(&mut data).ok()?;
        Some((h[0] & 0x0f, data))
    }

    /// The next text message as JSON (binary frames skipped); None when the
    /// socket closes.
    pub fn next_json(&mut self) -> Option<serde_json::Value> {
        loop {
            match self.next_frame()? {
                (1, data) => return serde_json::from_slice(&data).ok(),
                (8, _) => return None,
                _ => continue,
            }
        }
    }

    /// Sends a masked frame with `opcode` (1 text, 2 binary).
    pub fn send(&mut self, opcode: u8, data: &[u8]) {
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        let mut f = vec![0x80 | opcode];
        if data.len() < 126 {
            f.push(0x80 | data.len() as u8);
        } else {
            f.push(0x80 | 126);
            f.extend_from_slice(&(data.len() as u16).to_be_bytes());
        }
        f.extend_from_slice(&mask);
        f.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.0.write_all(&f).unwrap();
    }

    /// Terminal output (binary frames) until `text` is in it, within 20 s;
    /// all of it.
    pub fn output_until(&mut self, text: &str) -> String {
        let mut all = String::new();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) && !all.contains(text) {
            match self.next_frame() {
                Some((2, data)) => all.push_str(&String::from_utf8_lossy(&data)),
                Some((8, _)) | None => break,
                Some(_) => {}
            }
        }
        all
    }

    /// Sets how long a read waits.
    pub fn set_timeout(&self, d: Duration) {
        self.0.set_read_timeout(Some(d)).unwrap();
    }
}
