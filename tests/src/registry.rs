//! A real registry on loopback for pull/push tests: Debian's `docker-registry`
//! (distribution 2.8) on 127.0.0.1, with no auth, htpasswd Basic auth or token
//! auth (a token server of the harness issuing ES256 JWTs as auth.docker.io
//! does), behind a small recording proxy that can also corrupt, cut or truncate
//! chosen blobs; plus makers of OCI image layouts and `skopeo` to push them.
//!
//! ```no_run
//! use dockhand_tests::registry::{oci_image, Auth, Fault, ImageSpec, LayerSpec, Registry};
//! let reg = Registry::start(Auth::None);
//! let dir = tempfile::tempdir().unwrap();
//! let img = oci_image(dir.path(), &ImageSpec::busybox().layer(LayerSpec::random(1000)));
//! reg.push_layout(dir.path(), "lib/app:1");
//! reg.inject(&img.layers[1].digest, Fault::CutAfter(100));
//! // … `dockhand pull {reg.host()}/lib/app:1` must fail, then succeed …
//! assert_eq!(reg.blob_fetches(&img.layers[1].digest), 2);
//! ```
//!
//! Addresses: [`Registry::host`] is the proxy, what clients under test use
//! (every request there is recorded, faults apply). The harness's own helpers
//! ([`Registry::push_layout`], [`Registry::manifest`], [`Registry::get_blob`])
//! talk to the registry directly ([`Registry::direct_host`]): they are not
//! recorded and see no faults. Fetches are counted at the proxy rather than
//! from distribution's access log because the proxy records a request before
//! its response is sent, so a count read right after a client finishes is
//! exact, with no log flush to wait for.

mod http;
mod image;
mod proxy;
mod token;

pub use http::{http_request, percent_encode, Response};
pub use image::{
    busybox_path, oci_image, oci_index, sha256_digest, BuiltImage, BuiltIndex, BuiltLayer,
    Compression, ImageSpec, LayerSpec, MediaTypes,
};
pub use proxy::{Fault, ProxyRequest};
pub use token::{TokenRequest, EXPIRES_IN, ISSUER, SERVICE};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

/// Accept header of the helpers: every manifest type a registry may hold.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// How the registry authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may pull and push.
    None,
    /// htpasswd (bcrypt) Basic auth with one user.
    Basic { user: String, password: String },
    /// Bearer tokens from the harness's token server: the user gets every
    /// action asked; anonymous clients get pull only if `anonymous_pull`,
    /// else 401; wrong credentials get 401.
    Token {
        user: String,
        password: String,
        anonymous_pull: bool,
    },
}

impl Auth {
    /// Basic auth for `user`/`password`.
    pub fn basic(user: &str, password: &str) -> Auth {
        Auth::Basic {
            user: user.into(),
            password: password.into(),
        }
    }

    /// Token auth for `user`/`password`; anonymous clients get nothing.
    pub fn token(user: &str, password: &str) -> Auth {
        Auth::Token {
            user: user.into(),
            password: password.into(),
            anonymous_pull: false,
        }
    }

    /// Token auth for `user`/`password`; anonymous clients may pull (Docker Hub).
    pub fn token_anonymous_pull(user: &str, password: &str) -> Auth {
        Auth::Token {
            user: user.into(),
            password: password.into(),
            anonymous_pull: true,
        }
    }

    /// The user and password, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match self {
            Auth::None => None,
            Auth::Basic { user, password } | Auth::Token { user, password, .. } => {
                Some((user, password))
            }
        }
    }
}

/// The registry binary: `DOCKER_REGISTRY`, else `/usr/bin/docker-registry`.
pub fn registry_bin() -> PathBuf {
    std::env::var_os("DOCKER_REGISTRY")
        .map(Into::into)
        .unwrap_or_else(|| "/usr/bin/docker-registry".into())
}

/// Why registry tests cannot run here (`docker-registry` or `skopeo`
/// missing), or `None` when they can.
pub fn missing_tools() -> Option<String> {
    if !registry_bin().exists() {
        return Some(format!(
            "{} is missing (apt-get install docker-registry, or scripts/install-deps --test)",
            registry_bin().display()
        ));
    }
    let skopeo = Command::new("skopeo").arg("--version").output();
    if !skopeo.is_ok_and(|o| o.status.success()) {
        return Some("skopeo is missing (apt-get install skopeo)".into());
    }
    None
}

/// Skip a test visibly when `docker-registry` or `skopeo` is absent.
#[macro_export]
macro_rules! require_registry {
    () => {
        if let Some(why) = $crate::registry::missing_tools() {
            $crate::say_skipped(&why);
            return;
        }
    };
}

/// A running `docker-registry` with its proxy and token server; all stopped and
/// removed on drop (also when the test panics).
pub struct Registry {
    dir: tempfile::TempDir,
    auth: Auth,
    backend: SocketAddr,
    child: Option<Child>,
    proxy: proxy::Proxy,
    token: Option<token::TokenServer>,
}

impl Registry {
    /// Start a registry with this auth on a free port of 127.0.0.1, storage in
    /// a temporary directory, and wait until `GET /v2/` answers (200 or 401).
    /// Panics when the tools are missing: guard with `require_registry!()`.
    pub fn start(auth: Auth) -> Registry {
        if let Some(why) = missing_tools() {
            panic!("{why}");
        }
        let dir = tempfile::Builder::new()
            .prefix("dockhand-registry-")
            .tempdir()
            .expect("tempdir");
        let backend = free_port();
        let token = match &auth {
            Auth::Token {
                user,
                password,
                anonymous_pull,
            } => Some(token::TokenServer::start(user, password, *anonymous_pull)),
            _ => None,
        };
        let auth_yaml = match &auth {
            Auth::None => String::new(),
            Auth::Basic { user, password } => {
                // Apache's htpasswd -B writes `$2y$`; distribution takes it.
                let hash = bcrypt::hash_with_result(password, 5)
                    .expect("bcrypt")
                    .format_for_version(bcrypt::Version::TwoY);
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, format!("{user}:{hash}\n")).expect("htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: dockhand-test-realm\n    path: {}\n",
                    file.display()
                )
            }
            Auth::Token { .. } => {
                let ts = token.as_ref().expect("token server");
                let file = dir.path().join("token-cert.pem");
                std::fs::write(&file, ts.cert_pem()).expect("token certificate");
                format!(
                    "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                    ts.realm(),
                    file.display()
                )
            }
        };
        let secret: [u8; 16] = rand::random();
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: {backend}\n  secret: {secret}\n\
             {auth_yaml}",
            storage = dir.path().join("storage").display(),
            secret = hex::encode(secret),
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("registry config");
        let mut cmd = Command::new(registry_bin());
        cmd.arg("serve").arg(&config_path);
        let log = dir.path().join("registry.log");
        let mut child = crate::spawn_logged(cmd, &log);
        let addr = backend.to_string();
        crate::wait_ready(&mut child, &log, Duration::from_secs(20), || {
            http_request(&addr, "GET", "/v2/", &[], b"")
                .is_ok_and(|r| r.status == 200 || r.status == 401)
        });
        Registry {
            proxy: proxy::Proxy::start(backend),
            dir,
            auth,
            backend,
            child: Some(child),
            token,
        }
    }

    /// `127.0.0.1:PORT` of the proxy: what clients under test pull from and
    /// push to (`{host}/repo:tag`). Recorded; faults apply.
    pub fn host(&self) -> String {
        self.proxy.addr().to_string()
    }

    /// `127.0.0.1:PORT` of the registry itself, bypassing the proxy.
    pub fn direct_host(&self) -> String {
        self.backend.to_string()
    }

    /// The auth this registry was started with.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The configured user and password, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.auth.credentials()
    }

    /// The registry's temporary directory (config, storage, `registry.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the registry logged (its stdout and stderr, access log included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// An `Authorization` header value for `scope` (e.g.
    /// `repository:lib/app:pull`; empty for `/v2/`) with the configured
    /// credentials: `Basic …`, `Bearer …` (made in-process, not recorded by the
    /// token server), or `None` without auth.
    pub fn authorization(&self, scope: &str) -> Option<String> {
        match &self.auth {
            Auth::None => None,
            Auth::Basic { user, password } => Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{user}:{password}"))
            )),
            Auth::Token { user, .. } => {
                let scopes: Vec<String> = (!scope.is_empty())
                    .then(|| scope.to_string())
                    .into_iter()
                    .collect();
                let ts = self.token.as_ref().expect("token server");
                Some(format!("Bearer {}", ts.issue(Some(user), &scopes)))
            }
        }
    }

    /// `GET path` (`/v2/…`) through the proxy, authorized for the repository
    /// the path names (pull), with [`MANIFEST_ACCEPT`] for manifests, as a
    /// client would: recorded, faults apply.
    pub fn get(&self, path: &str) -> Response {
        self.request(&self.host(), path, &[])
    }

    /// `GET path` straight from the registry, as [`Registry::get`] does.
    pub fn get_direct(&self, path: &str) -> Response {
        self.request(&self.direct_host(), path, &[])
    }

    fn request(&self, addr: &str, path: &str, extra: &[(&str, &str)]) -> Response {
        // distribution answers 404 for an OCI manifest unless it is accepted.
        let mut extra = extra.to_vec();
        if path.contains("/manifests/")
            && !extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("accept"))
        {
            extra.push(("Accept", MANIFEST_ACCEPT));
        }
        let scope = repo_of(path)
            .map(|r| format!("repository:{r}:pull"))
            .unwrap_or_default();
        let auth = self.authorization(&scope);
        let mut headers = extra;
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        http_request(addr, "GET", path, &headers, b"")
            .unwrap_or_else(|e| panic!("GET {path} at {addr}: {e}\n{}", self.log_tail(40)))
    }

    /// The manifest `repo:reference` (tag or digest) straight from the
    /// registry: its exact bytes and its `Content-Type`. Panics unless 200.
    pub fn manifest(&self, repo: &str, reference: &str) -> (Vec<u8>, String) {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let r = self.get_direct(&path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        let ct = r.header("content-type").unwrap_or_default().to_string();
        (r.body, ct)
    }

    /// The blob `digest` of `repo` straight from the registry. Panics unless
    /// 200 and complete.
    pub fn get_blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let r = self.get_direct(&path);
        assert!(
            r.status == 200 && r.complete,
            "GET {path}: {} {}",
            r.status,
            r.text()
        );
        r.body
    }

    /// Push the OCI layout `layout` (from [`oci_image`] or [`oci_index`]) as
    /// `repo:tag` with `skopeo copy --all --preserve-digests`, straight to the
    /// registry with the configured credentials: the registry then holds the
    /// layout's manifest (or index), config and layers under the same digests.
    pub fn push_layout(&self, layout: &Path, reference: &str) {
        let mut cmd = Command::new("skopeo");
        cmd.args([
            "--insecure-policy",
            "copy",
            "--all",
            "--preserve-digests",
            "--retry-times",
            "2",
        ])
        .arg("--dest-tls-verify=false");
        match self.credentials() {
            Some((u, p)) => cmd.arg("--dest-creds").arg(format!("{u}:{p}")),
            None => cmd.arg("--dest-no-creds"),
        };
        cmd.arg(format!("oci:{}", layout.display()))
            .arg(format!("docker://{}/{reference}", self.direct_host()))
            .env(
                "REGISTRY_AUTH_FILE",
                self.dir.path().join("skopeo-auth.json"),
            );
        let run = crate::run_with(cmd, None);
        assert_eq!(
            run.code(),
            0,
            "skopeo copy {} -> {reference} failed\nstdout: {}\nstderr: {}\n{}",
            layout.display(),
            run.stdout(),
            run.stderr(),
            self.log_tail(40)
        );
    }

    /// Every request the proxy saw, in order of response.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        self.proxy.requests()
    }

    /// How many `GET`s of blob `digest` the proxy forwarded with 200 or 206
    /// (cut or corrupted ones included; `HEAD`s and refused ones not).
    pub fn blob_fetches(&self, digest: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.is_blob_fetch(digest))
            .count()
    }

    /// How many `GET`s of manifest `reference` (tag or digest) got 200.
    pub fn manifest_fetches(&self, reference: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.is_manifest_fetch(reference))
            .count()
    }

    /// Apply `fault` to every later `GET` through the proxy of the blob or
    /// manifest whose last path segment is `key` (a digest, or a tag).
    pub fn inject(&self, key: &str, fault: Fault) {
        self.proxy.inject(key, fault, usize::MAX);
    }

    /// Apply `fault` to the next `times` such `GET`s only (then serve them
    /// intact): for retry tests.
    pub fn inject_times(&self, key: &str, fault: Fault, times: usize) {
        self.proxy.inject(key, fault, times);
    }

    /// Remove every armed fault.
    pub fn clear_faults(&self) {
        self.proxy.clear_faults();
    }

    /// Every request the token server answered (empty without token auth).
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.token
            .as_ref()
            .map(|t| t.requests())
            .unwrap_or_default()
    }

    /// Whether some token request asked for `action` (`pull`, `push`) on
    /// repository `repo`.
    pub fn token_scope_asked(&self, repo: &str, action: &str) -> bool {
        self.token_requests().iter().any(|t| t.asked(repo, action))
    }

    /// Kill the registry process: from then on the proxy drops every
    /// connection without an answer, as an unreachable registry.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log_tail(&self, n: usize) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- registry.log (tail) ---\n{}",
            lines[lines.len().saturating_sub(n)..].join("\n")
        )
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail(60));
            eprintln!("--- requests through the proxy ---");
            for r in self.requests() {
                eprintln!("{} {} -> {} {:?}", r.method, r.path, r.status, r.fault);
            }
        }
        self.kill();
    }
}

/// The repository a `/v2/NAME/(blobs|manifests|tags)/…` path names.
fn repo_of(path: &str) -> Option<&str> {
    let rest = path.split('?').next()?.strip_prefix("/v2/")?;
    ["/blobs/", "/manifests/", "/tags/"]
        .iter()
        .find_map(|k| rest.rfind(k).map(|i| &rest[..i]))
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address")
}
