//! HTTP to registries: one [`Client`] per daemon (connection pools, cached
//! tokens, which scheme each insecure registry answered on), and a [`Session`]
//! per repository and set of credentials, which authorizes itself the way
//! Docker does: `GET /v2/`, then the challenge (Basic, or a Bearer token for
//! `repository:NAME:ACTIONS` from the realm), then every request with it.

use shared::sync::Locked;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use super::auth::{parse_challenge, AuthConfig, Challenge, TokenResponse};
use super::endpoint::{Endpoint, Insecure};
use super::{RegistryError, Result};

/// The daemon's registry settings (Docker's `registry-mirrors` and
/// `insecure-registries`).
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    pub mirrors: Vec<String>,
    pub insecure: Vec<Insecure>,
    /// The daemon's pull cache (clones share it).
    pub cache: Arc<super::cache::PullCache>,
    /// The machine's own credentials by registry key (`--registry-auth`, a
    /// docker `config.json`): used for pulls that come without credentials,
    /// so the cache pulls with the machine's account while virtual hosts see
    /// only the images.
    pub machine_auth: std::collections::BTreeMap<String, AuthConfig>,
    /// Resolve names on this runtime's threads instead of the caller's: a
    /// virtual host's client runs on a thread inside the host's network
    /// namespace, but names are the machine's to resolve (its resolver often
    /// listens on the machine's own loopback, as systemd-resolved's
    /// 127.0.0.53 does, which the host's network cannot reach).
    pub resolve_on: Option<tokio::runtime::Handle>,
}

impl RegistryOptions {
    /// Read the `auths` of a docker `config.json` as machine credentials.
    pub fn load_machine_auth(&mut self, path: &std::path::Path) -> Result<()> {
        let bytes = std::fs::read(path)
            .map_err(|e| RegistryError::InvalidParameter(format!("{}: {e}", path.display())))?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::InvalidParameter(format!("{}: {e}", path.display())))?;
        let Some(auths) = v["auths"].as_object() else {
            return Err(RegistryError::InvalidParameter(format!(
                "{}: no \"auths\" in it",
                path.display()
            )));
        };
        for (key, entry) in auths {
            let mut a: AuthConfig = serde_json::from_value(entry.clone()).unwrap_or_default();
            a.fill_from_auth();
            a.auth.clear();
            if !a.is_anonymous() {
                self.machine_auth.insert(key.clone(), a);
            }
        }
        Ok(())
    }

    /// The machine's credentials for registry `domain`, if any.
    pub fn machine_auth_for(&self, domain: &str) -> Option<&AuthConfig> {
        self.machine_auth.get(&super::endpoint::auth_key(domain))
    }

    /// The credentials to pull from `domain` with: the client's, or the
    /// machine's when the client sent none.
    pub fn pull_creds(&self, domain: &str, creds: &AuthConfig) -> AuthConfig {
        match self.machine_auth_for(domain) {
            Some(m) if creds.is_anonymous() => m.clone(),
            _ => creds.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    realm: String,
    service: String,
    scope: String,
    user: String,
}

/// The daemon's registry client.
pub struct Client {
    opts: RegistryOptions,
    /// Certificates checked against the system's roots.
    http: reqwest::Client,
    /// For insecure registries: certificates not checked.
    http_insecure: reqwest::Client,
    tokens: Mutex<HashMap<TokenKey, (String, Instant)>>,
    /// Insecure registries: the scheme that answered.
    schemes: Mutex<HashMap<String, &'static str>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("opts", &self.opts).finish()
    }
}

/// A resolver that looks names up on another runtime (see
/// [`RegistryOptions::resolve_on`]).
struct ResolveOn(tokio::runtime::Handle);

impl reqwest::dns::Resolve for ResolveOn {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let lookup = self.0.spawn(async move {
            tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map(|a| a.collect::<Vec<_>>())
        });
        Box::pin(async move {
            type BoxError = Box<dyn std::error::Error + Send + Sync>;
            let addrs = lookup.await.map_err(|e| Box::new(e) as BoxError)??;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn user_agent() -> String {
    format!("dockhand/{} (linux)", env!("CARGO_PKG_VERSION"))
}

impl Client {
    pub fn new(opts: RegistryOptions) -> Result<Client> {
        let resolve_on = opts.resolve_on.clone();
        let build = |insecure: bool| {
            let b = reqwest::Client::builder();
            let b = match &resolve_on {
                Some(h) => b.dns_resolver(Arc::new(ResolveOn(h.clone()))),
                None => b,
            };
            b.user_agent(user_agent())
                .connect_timeout(Duration::from_secs(15))
                .danger_accept_invalid_certs(insecure)
                // Redirects (blobs on a CDN) are followed; the Authorization header
                // is dropped on a change of host, as it must be.
                .redirect(reqwest::redirect::Policy::limited(10))
                .no_proxy()
                .build()
                .map_err(RegistryError::Client)
        };
        Ok(Client {
            opts,
            http: build(false)?,
            http_insecure: build(true)?,
            tokens: Mutex::new(HashMap::new()),
            schemes: Mutex::new(HashMap::new()),
        })
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.opts
    }

    /// A session on `ep` for `actions` (`pull` or `pull,push`) with `creds`.
    pub fn session<'a>(
        &'a self,
        ep: Endpoint,
        creds: AuthConfig,
        actions: &'static str,
    ) -> Session<'a> {
        Session {
            client: self,
            ep,
            creds,
            actions,
            authorization: Mutex::new(None),
        }
    }

    fn http_for(&self, insecure: bool) -> &reqwest::Client {
        if insecure {
            &self.http_insecure
        } else {
            &self.http
        }
    }

    /// A cached token, if still good for a few seconds.
    fn cached_token(&self, key: &TokenKey) -> Option<String> {
        let mut t = self.tokens.locked();
        match t.get(key) {
            Some((tok, until)) if *until > Instant::now() + Duration::from_secs(5) => {
                Some(tok.clone())
            }
            Some(_) => {
                t.remove(key);
                None
            }
            None => None,
        }
    }
}

/// Docker's text for a failed request: `Get "URL": cause`.
pub fn transport_error(method: &Method, url: &str, e: &reqwest::Error) -> RegistryError {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let dial = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        .unwrap_or_default();
    let text = match cause.downcast_ref::<std::io::Error>() {
        Some(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("dial tcp {dial}: connect: connection refused")
        }
        _ if e.is_timeout() => format!("dial tcp {dial}: i/o timeout"),
        // What a TLS handshake with a plain HTTP server ends in.
        _ if cause.to_string().contains("InvalidContentType") => {
            "http: server gave HTTP response to HTTPS client".to_string()
        }
        _ => cause.to_string(),
    };
    let m = method.as_str();
    let verb = format!("{}{}", &m[..1], m[1..].to_ascii_lowercase());
    RegistryError::Transport(format!("{verb} \"{url}\": {text}"))
}

/// The text of a registry's error answer, as Docker prints it:
/// `code in words: message` for each error of the spec's JSON body.
pub fn error_text(status: StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<One>,
    }
    #[derive(serde::Deserialize)]
    struct One {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    // Token servers answer `{"details": "..."}` (Docker Hub's auth service,
    // distribution's token servers).
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(d) = v["details"].as_str().filter(|d| !d.is_empty()) {
            let code = match status {
                StatusCode::UNAUTHORIZED => "unauthorized",
                StatusCode::FORBIDDEN => "denied",
                _ => "error",
            };
            return format!("{code}: {d}");
        }
    }
    if let Ok(e) = serde_json::from_slice::<Errors>(body) {
        let parts: Vec<String> = e
            .errors
            .iter()
            .map(|x| {
                let code = x.code.to_ascii_lowercase().replace('_', " ");
                if x.message.is_empty() {
                    code
                } else {
                    format!("{code}: {}", x.message)
                }
            })
            .collect();
        if !parts.is_empty() {
            return parts.join(", ");
        }
    }
    match status {
        StatusCode::UNAUTHORIZED => "unauthorized: authentication required".into(),
        StatusCode::FORBIDDEN => "denied: requested access to the resource is denied".into(),
        StatusCode::NOT_FOUND => "not found".into(),
        s => format!("unexpected status from the registry: {s}"),
    }
}

/// Requests to one repository of one registry with one set of credentials.
pub struct Session<'a> {
    client: &'a Client,
    pub ep: Endpoint,
    creds: AuthConfig,
    actions: &'static str,
    /// What to send as `Authorization` once authorized.
    authorization: Mutex<Option<String>>,
}

impl Session<'_> {
    /// Who the requests are made as (empty: anonymous).
    pub fn user(&self) -> &str {
        &self.creds.username
    }

    /// The daemon's pull cache.
    pub fn cache(&self) -> &super::cache::PullCache {
        &self.client.opts.cache
    }

    /// The scheme to use: https, unless the registry is insecure and only
    /// answers plain HTTP (found once per registry, then remembered).
    async fn scheme(&self) -> Result<&'static str> {
        if !self.ep.insecure {
            return Ok("https");
        }
        if let Some(s) = self.client.schemes.locked().get(&self.ep.host) {
            return Ok(s);
        }
        let http = self.client.http_for(true);
        let mut last = None;
        for scheme in ["https", "http"] {
            let url = format!("{scheme}://{}/v2/", self.ep.host);
            match http.get(&url).timeout(Duration::from_secs(15)).send().await {
                Ok(_) => {
                    self.client
                        .schemes
                        .locked()
                        .insert(self.ep.host.clone(), scheme);
                    return Ok(scheme);
                }
                Err(e) => last = Some(transport_error(&Method::GET, &url, &e)),
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::Internal("no scheme".into())))
    }

    /// `scheme://host/v2/`
    pub async fn base(&self) -> Result<String> {
        Ok(format!("{}://{}/v2/", self.scheme().await?, self.ep.host))
    }

    /// `scheme://host/v2/REPO/` + `rest`.
    pub async fn url(&self, rest: &str) -> Result<String> {
        Ok(format!("{}{}/{rest}", self.base().await?, self.ep.repo))
    }

    fn http(&self) -> &reqwest::Client {
        self.client.http_for(self.ep.insecure)
    }

    /// Ping `/v2/` and answer its challenge: after this every request carries
    /// the right `Authorization` (or none, for an open registry). With
    /// `login`, credentials that the registry refuses are an error even where
    /// anonymous access would do.
    pub async fn authorize(&self) -> Result<()> {
        let Some(challenge) = self.ping().await? else {
            return Ok(());
        };
        let value = match challenge {
            Some(Challenge::Basic) => self.creds.basic(),
            Some(Challenge::Bearer {
                realm,
                service,
                scope: _,
            }) => Some(format!(
                "Bearer {}",
                self.token(&realm, service.as_deref()).await?
            )),
            None => None,
        };
        *self.authorization.locked() = value;
        Ok(())
    }

    /// `GET /v2/`: None when the registry lets us in as we are, else the
    /// challenge of its `401` (None inside when it names none we know).
    async fn ping(&self) -> Result<Option<Option<Challenge>>> {
        let url = self.base().await?;
        let resp = self
            .http()
            .get(&url)
            .send()
            .await
            .map_err(|e| transport_error(&Method::GET, &url, &e))?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(None);
        }
        Ok(Some(
            resp.headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(parse_challenge),
        ))
    }

    /// A Bearer token for this repository and actions (cached until it expires).
    async fn token(&self, realm: &str, service: Option<&str>) -> Result<String> {
        if !self.creds.registry_token.is_empty() {
            return Ok(self.creds.registry_token.clone());
        }
        let scope = format!("repository:{}:{}", self.ep.repo, self.actions);
        let key = TokenKey {
            realm: realm.to_string(),
            service: service.unwrap_or_default().to_string(),
            scope: scope.clone(),
            user: self.creds.username.clone(),
        };
        if let Some(t) = self.client.cached_token(&key) {
            return Ok(t);
        }
        let mut req = self.http().get(realm).query(&[("scope", scope.as_str())]);
        if let Some(s) = service {
            req = req.query(&[("service", s)]);
        }
        if !self.creds.username.is_empty() {
            req = req
                .query(&[("account", self.creds.username.as_str())])
                .basic_auth(&self.creds.username, Some(&self.creds.password));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error(&Method::GET, realm, &e))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            let text = error_text(status, &body);
            return Err(
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    RegistryError::Unauthorized(format!("Get \"{realm}\": {text}"))
                } else {
                    RegistryError::Registry(format!("getting a token from {realm}: {text}"))
                },
            );
        }
        let t: TokenResponse = resp
            .json()
            .await
            .map_err(|e| RegistryError::Registry(format!("token from {realm}: {e}")))?;
        let tok = t.bearer().to_string();
        if tok.is_empty() {
            return Err(RegistryError::Registry(format!("{realm} gave no token")));
        }
        let ttl = Duration::from_secs(t.expires_in.unwrap_or(60).max(10));
        self.client
            .tokens
            .locked()
            .insert(key, (tok.clone(), Instant::now() + ttl));
        Ok(tok)
    }

    /// The headers of every request: `Authorization` once authorized.
    fn auth_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = self.authorization.locked().as_deref() {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(AUTHORIZATION, v);
            }
        }
        h
    }

    /// Send a request with a body that can be sent only once (a stream): no
    /// second try on a `401`.
    pub async fn send_once(
        &self,
        method: Method,
        url: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
        body: reqwest::Body,
    ) -> Result<reqwest::Response> {
        build(
            self.http()
                .request(method.clone(), url)
                .headers(self.auth_headers()),
        )
        .body(body)
        .send()
        .await
        .map_err(|e| transport_error(&method, url, &e))
    }

    /// Send a request (built by `build` from the client and the URL); a `401`
    /// (a token that expired) authorizes again and sends once more.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        for attempt in 0..2 {
            let req = build(
                self.http()
                    .request(method.clone(), url)
                    .headers(self.auth_headers()),
            );
            let resp = req
                .send()
                .await
                .map_err(|e| transport_error(&method, url, &e))?;
            if resp.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.authorize().await?;
                continue;
            }
            return Ok(resp);
        }
        Err(RegistryError::Internal("unreachable".into()))
    }
}

/// `docker login`: check `a` against its registry (`serveraddress`; Docker Hub
/// when empty), as Docker's `loginV2` does: `GET /v2/`, then the challenge
/// answered with the credentials (a token without scope for Bearer).
pub async fn login(client: &Client, a: &AuthConfig) -> Result<()> {
    let domain = super::endpoint::login_domain(&a.server_address);
    let host = if domain == crate::reference::DEFAULT_DOMAIN {
        super::endpoint::HUB_REGISTRY.to_string()
    } else {
        domain
    };
    let ep = Endpoint {
        insecure: super::endpoint::is_insecure(&host, &client.opts.insecure),
        host,
        repo: String::new(),
        mirror: false,
    };
    let s = client.session(ep, a.clone(), "pull");
    let url = s.base().await?;
    let http = s.http();
    let Some(challenge) = s.ping().await? else {
        return Ok(());
    };
    let failed = |status: StatusCode| {
        RegistryError::Unauthorized(format!(
            "login attempt to {url} failed with status: {status}"
        ))
    };
    match challenge {
        Some(Challenge::Bearer { realm, service, .. }) => {
            let mut req = http.get(&realm).query(&[("account", a.username.as_str())]);
            if let Some(sv) = &service {
                req = req.query(&[("service", sv.as_str())]);
            }
            let resp = req
                .basic_auth(&a.username, Some(&a.password))
                .send()
                .await
                .map_err(|e| transport_error(&Method::GET, &realm, &e))?;
            let status = resp.status();
            if status.is_success() {
                return Ok(());
            }
            let body = resp.bytes().await.unwrap_or_default();
            Err(RegistryError::Unauthorized(format!(
                "Get \"{url}\": {}",
                error_text(status, &body)
            )))
        }
        Some(Challenge::Basic) | None => {
            let resp = http
                .get(&url)
                .basic_auth(&a.username, Some(&a.password))
                .send()
                .await
                .map_err(|e| transport_error(&Method::GET, &url, &e))?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(failed(resp.status()))
            }
        }
    }
}

/// `GET /distribution/NAME/json`: the descriptor `r` resolves to on its
/// registry and the platforms it offers.
pub async fn inspect(
    client: &Client,
    r: &crate::reference::Reference,
    creds: AuthConfig,
) -> Result<serde_json::Value> {
    use super::manifest::{self, Manifest};
    let ep = super::endpoint::registry_endpoint(r, &client.opts.insecure);
    let s = client.session(ep, creds, "pull");
    s.authorize().await?;
    let wanted = r.digest().or(r.tag()).unwrap_or("latest").to_string();
    let (bytes, ctype, digest) = super::pull::get_manifest(&s, &wanted, r).await?;
    let m = manifest::parse(&bytes, &ctype, &r.familiar_name())?;
    let media_type = match &m {
        Manifest::Index(_) if ctype.contains("docker") => manifest::DOCKER_LIST,
        Manifest::Index(_) => manifest::OCI_INDEX,
        Manifest::Image(i) if !i.media_type.is_empty() => i.media_type.as_str(),
        Manifest::Image(_) => manifest::OCI_MANIFEST,
    }
    .to_string();
    let platforms: Vec<serde_json::Value> = match &m {
        Manifest::Index(i) => i
            .manifests
            .iter()
            .filter_map(|d| d.platform.as_ref())
            .map(|p| {
                let mut v = serde_json::json!({"architecture": p.architecture, "os": p.os});
                if let Some(var) = &p.variant {
                    v["variant"] = serde_json::json!(var);
                }
                v
            })
            .collect(),
        Manifest::Image(_) => vec![serde_json::json!({
            "architecture": manifest::host_platform().architecture,
            "os": "linux",
        })],
    };
    Ok(serde_json::json!({
        "Descriptor": {"mediaType": media_type, "digest": digest, "size": bytes.len()},
        "Platforms": platforms,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_credentials_come_from_a_docker_config() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config.json");
        std::fs::write(
            &f,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"Y2xhc3M6cHc="},"reg.lan:5000":{}}}"#,
        )
        .unwrap();
        let mut o = RegistryOptions::default();
        o.load_machine_auth(&f).unwrap();
        let a = o.machine_auth_for("docker.io").unwrap();
        assert_eq!((a.username.as_str(), a.password.as_str()), ("class", "pw"));
        assert!(
            o.machine_auth_for("reg.lan:5000").is_none(),
            "empty entries are no credentials"
        );
        std::fs::write(&f, "{}").unwrap();
        assert!(RegistryOptions::default().load_machine_auth(&f).is_err());
    }

    #[test]
    fn registry_errors_read_as_dockers() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            error_text(StatusCode::NOT_FOUND, body),
            "manifest unknown: manifest unknown"
        );
        assert_eq!(
            error_text(StatusCode::UNAUTHORIZED, b""),
            "unauthorized: authentication required"
        );
        assert_eq!(
            error_text(
                StatusCode::UNAUTHORIZED,
                br#"{"details":"incorrect username or password"}"#
            ),
            "unauthorized: incorrect username or password"
        );
    }
}
