//! The suite's HTTP client: what `github.com/bloodorangeio/reggie` v0.6.1 (on
//! `go-resty/resty` v2.7.0 and Go's `net/http`) does for the conformance
//! suite, on the harness's [`http_request`]:
//!
//! - `NewRequest(method, path, WithName/WithReference/WithDigest)`: `<name>`
//!   (the default namespace unless `WithName`), `<reference>` and `<digest>`
//!   are replaced when the value is not empty; the URL is the root URL, `/`,
//!   and the path without its leading `/`; `User-Agent:
//!   distribution-spec-conformance-tests`.
//! - A URL still holding a placeholder, or `///`, is refused before it is sent
//!   ("request is invalid"), as reggie's `validateRequest`.
//! - Query parameters (`SetQueryParam`) are sorted by key, escaped as Go's
//!   `url.QueryEscape`, and appended to a query the URL already has (`&`).
//! - `Accept` is sent only when the test set it (reggie's pre-request hook).
//! - The body is not sent with `GET` or `HEAD` (resty drops it); the wire
//!   `Content-Length` is always the body's length (Go ignores a
//!   `Content-Length` header a caller sets).
//! - Redirects (301, 302, 303, 307, 308 with a `Location`) are followed, at
//!   most 20 (resty's `FlexibleRedirectPolicy(20)`), as Go's client does: 301,
//!   302 and 303 turn a request other than `GET`/`HEAD` into a `GET` without
//!   body; `Authorization` is dropped when the host changes.
//! - A 401 with `WWW-Authenticate` is retried once with credentials (reggie's
//!   `retryRequestWithAuth`): `Basic` with the username and password, or
//!   `Bearer`: `GET realm?scope=…&service=…` with Basic credentials and
//!   `Accept: application/json`, then the request again with `Bearer` and the
//!   `token` (else `access_token`) of the answer. Nothing is cached: every
//!   request does it again.
//! - Only `http://` is spoken (the harness's client has no TLS).

use crate::registry::{http_request, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::ToSocketAddrs;

/// reggie's `User-Agent` as the suite configures it.
pub const USER_AGENT: &str = "distribution-spec-conformance-tests";

/// Most redirects followed (resty's `FlexibleRedirectPolicy(20)`).
const MAX_REDIRECTS: usize = 20;

/// A request being built, as `reggie.Request`.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Absolute URL, before query parameters are added.
    pub url: String,
    headers: Vec<(String, String)>,
    query: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Request {
    /// `SetHeader`: replaces a header of the same name.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// `SetQueryParam`: replaces a parameter of the same name.
    pub fn query(mut self, name: &str, value: &str) -> Request {
        self.query.insert(name.to_string(), value.to_string());
        self
    }

    /// `SetBody`.
    pub fn body(mut self, body: &[u8]) -> Request {
        self.body = body.to_vec();
        self
    }

    /// The URL as sent: query parameters appended as resty does.
    pub fn full_url(&self) -> String {
        if self.query.is_empty() {
            return self.url.clone();
        }
        let enc: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect();
        let enc = enc.join("&");
        let (before_fragment, fragment) = match self.url.split_once('#') {
            Some((a, b)) => (a.to_string(), Some(b.to_string())),
            None => (self.url.clone(), None),
        };
        let mut u = match before_fragment.split_once('?') {
            Some((p, q)) if !q.is_empty() => format!("{p}?{q}&{enc}"),
            Some((p, _)) => format!("{p}?{enc}"),
            None => format!("{before_fragment}?{enc}"),
        };
        if let Some(f) = fragment {
            u.push('#');
            u.push_str(&f);
        }
        u
    }
}

/// A response, with the request that got it (for messages).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `METHOD URL` of the last request sent (after redirects and auth).
    pub request_line: String,
}

impl Resp {
    /// `Header().Get(name)`: the first value, or "".
    pub fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// reggie's `GetRelativeLocation`: the path of `Location` (decoded, as
    /// Go's `url.URL.Path`, and escaped again as Go does when the URL is
    /// rebuilt) plus `?` and its raw query.
    pub fn relative_location(&self) -> String {
        let loc = self.header("Location");
        let Some(u) = parse_url_ref(&loc) else {
            return String::new();
        };
        let mut p = escape_path(&unescape(&u.path));
        if !u.query.is_empty() {
            p.push('?');
            p.push_str(&u.query);
        }
        p
    }

    /// reggie's `GetAbsoluteLocation`: `Location` as sent (when it parses).
    pub fn absolute_location(&self) -> String {
        let loc = self.header("Location");
        if parse_url_ref(&loc).is_some() {
            loc
        } else {
            String::new()
        }
    }

    /// The body as text (lossy), as resty's `String()`.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A short account of this exchange for failure messages.
    pub fn evidence(&self) -> String {
        let mut s = format!("{} -> {}", self.request_line, self.status);
        for (k, v) in &self.headers {
            if k.eq_ignore_ascii_case("date") {
                continue;
            }
            s.push_str(&format!("\n    {k}: {v}"));
        }
        if !self.body.is_empty() {
            s.push_str(&format!("\n    body: {}", snippet(&self.body, 600)));
        }
        s
    }
}

/// At most `max` bytes of `b` as text, marked when cut.
pub fn snippet(b: &[u8], max: usize) -> String {
    let t = String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned();
    let t = t.trim_end().replace('\n', "\n          ");
    if b.len() > max {
        format!("{t}… ({} bytes)", b.len())
    } else {
        t
    }
}

/// The client: reggie's `Client` with the suite's configuration.
#[derive(Debug, Clone)]
pub struct Client {
    /// The root URL without a trailing `/`.
    pub address: String,
    /// `OCI_NAMESPACE`: what `<name>` becomes by default.
    pub default_name: String,
    pub username: String,
    pub password: String,
    /// `OCI_AUTH_SCOPE`: the scope asked of a token server instead of the
    /// challenge's.
    pub auth_scope: String,
    /// `OCI_DEBUG`: print every exchange on stdout.
    pub debug: bool,
}

/// Names substituted into a path template.
#[derive(Debug, Clone, Default)]
pub struct Opts<'a> {
    pub name: &'a str,
    pub reference: &'a str,
    pub digest: &'a str,
}

impl Client {
    /// `NewRequest(method, path)` with no substitutions but `<name>`.
    pub fn new_request(&self, method: &str, path: &str) -> Request {
        self.request_with(method, path, Opts::default())
    }

    /// `NewRequest(method, path, opts...)`.
    pub fn request_with(&self, method: &str, path: &str, o: Opts) -> Request {
        let name = if o.name.is_empty() {
            self.default_name.as_str()
        } else {
            o.name
        };
        let mut p = path.to_string();
        for (k, v) in [
            ("<name>", name),
            ("<reference>", o.reference),
            ("<digest>", o.digest),
        ] {
            if !v.is_empty() {
                p = p.replace(k, v);
            }
        }
        let p = p.strip_prefix('/').unwrap_or(&p);
        Request {
            method: method.to_string(),
            url: format!("{}/{}", self.address, p),
            headers: vec![("User-Agent".into(), USER_AGENT.into())],
            query: BTreeMap::new(),
            body: Vec::new(),
        }
    }

    /// `client.Do(req)`: send, and on a 401 with a challenge retry once with
    /// credentials.
    pub fn run(&self, req: &Request) -> Result<Resp, String> {
        let url = req.full_url();
        validate(&url)?;
        let resp = self.execute(req, &url, None)?;
        if resp.status != 401 {
            return Ok(resp);
        }
        let challenge = resp.header("Www-Authenticate");
        if challenge.is_empty() {
            return Ok(resp);
        }
        let lower = challenge.to_ascii_lowercase();
        // reggie: `(?i).*(bearer|basic).*` keeps the last of the two words.
        let scheme = match (lower.rfind("bearer"), lower.rfind("basic")) {
            (Some(b), Some(s)) => {
                if b > s {
                    "bearer"
                } else {
                    "basic"
                }
            }
            (Some(_), None) => "bearer",
            (None, Some(_)) => "basic",
            (None, None) => return Err("something went wrong with authorization".into()),
        };
        if scheme == "basic" {
            let auth = basic(&self.username, &self.password);
            return self.execute(req, &url, Some(&auth));
        }
        let params = parse_challenge(&challenge);
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let realm = get("realm");
        let mut token_req = Request {
            method: "GET".into(),
            url: realm.clone(),
            headers: vec![
                ("Accept".into(), "application/json".into()),
                ("User-Agent".into(), USER_AGENT.into()),
            ],
            query: BTreeMap::new(),
            body: Vec::new(),
        }
        .query("service", &get("service"));
        if !self.auth_scope.is_empty() {
            token_req = token_req.query("scope", &self.auth_scope);
        } else if !get("scope").is_empty() {
            token_req = token_req.query("scope", &get("scope"));
        }
        let turl = token_req.full_url();
        let auth = basic(&self.username, &self.password);
        let tresp = self.execute(&token_req, &turl, Some(&auth))?;
        let v: serde_json::Value = serde_json::from_slice(&tresp.body).map_err(|e| {
            format!(
                "token answer from {realm} is not JSON ({e}): {}",
                tresp.evidence()
            )
        })?;
        let field = |k: &str| -> Result<String, String> {
            match json_get_ci(&v, k) {
                None | Some(serde_json::Value::Null) => Ok(String::new()),
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(format!("token answer: {k} is not a string: {other}")),
            }
        };
        if !v.is_object() && !v.is_null() {
            return Err(format!("token answer is not an object: {v}"));
        }
        let mut token = field("token")?;
        if token.is_empty() {
            token = field("access_token")?;
        }
        self.execute(req, &url, Some(&format!("Bearer {token}")))
    }

    /// One request and its redirects.
    fn execute(&self, req: &Request, url: &str, auth: Option<&str>) -> Result<Resp, String> {
        let mut method = req.method.clone();
        let mut url = url.to_string();
        let mut body = if matches!(method.as_str(), "GET" | "HEAD") {
            Vec::new()
        } else {
            req.body.clone()
        };
        let mut auth = auth.map(str::to_string);
        let first_host = parse_url(&url).map(|u| u.host).unwrap_or_default();
        for _ in 0..=MAX_REDIRECTS {
            let u = parse_url(&url).ok_or_else(|| format!("{method} {url}: not a URL"))?;
            if u.scheme != "http" {
                return Err(format!(
                    "{method} {url}: only http:// is supported by this runner"
                ));
            }
            let addr = resolve(&u.host)?;
            let mut headers: Vec<(&str, &str)> = req
                .headers
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length"))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            if let Some(a) = &auth {
                headers.push(("Authorization", a));
            }
            let target = if u.query.is_empty() {
                u.path.clone()
            } else {
                format!("{}?{}", u.path, u.query)
            };
            let target = if target.is_empty() {
                "/".to_string()
            } else {
                target
            };
            if self.debug {
                self.debug_request(&method, &url, &headers, &body);
            }
            let r: Response = http_request(&addr, &method, &target, &headers, &body)
                .map_err(|e| format!("{method} {url}: {e}"))?;
            let resp = Resp {
                status: r.status,
                headers: r.headers,
                body: r.body,
                request_line: format!("{method} {url}"),
            };
            if self.debug {
                self.debug_response(&resp);
            }
            let loc = resp.header("Location");
            if !matches!(resp.status, 301 | 302 | 303 | 307 | 308) || loc.is_empty() {
                return Ok(resp);
            }
            let next = resolve_reference(&url, &loc)
                .ok_or_else(|| format!("{method} {url}: bad redirect Location {loc:?}"))?;
            if matches!(resp.status, 301..=303) && method != "GET" && method != "HEAD" {
                method = "GET".into();
                body.clear();
            }
            let next_host = parse_url(&next).map(|u| u.host).unwrap_or_default();
            if next_host != first_host {
                auth = None;
            }
            url = next;
        }
        Err(format!(
            "{} {}: stopped after {MAX_REDIRECTS} redirects",
            req.method, req.url
        ))
    }

    fn debug_request(&self, method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "=============================================================================="
        );
        let _ = writeln!(out, "~~~ REQUEST ~~~\n{method}  {url}");
        for (k, v) in headers {
            let v = if k.eq_ignore_ascii_case("authorization") {
                redact(v)
            } else {
                v.to_string()
            };
            let _ = writeln!(out, "{k}: {v}");
        }
        if !body.is_empty() {
            let _ = writeln!(out, "BODY   :\n{}", snippet(body, 4096));
        }
    }

    fn debug_response(&self, r: &Resp) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "~~~ RESPONSE ~~~\nSTATUS : {}", r.status);
        for (k, v) in &r.headers {
            let v = if k.to_ascii_lowercase().contains("authorization") {
                redact(v)
            } else {
                v.clone()
            };
            let _ = writeln!(out, "{k}: {v}");
        }
        if !r.body.is_empty() {
            let _ = writeln!(out, "BODY   :\n{}", snippet(&r.body, 4096));
        }
    }
}

/// The suite's log redaction of credentials: keep the scheme, hide the rest.
fn redact(v: &str) -> String {
    match v.split_once(' ') {
        Some((scheme, _)) => format!("{scheme} *****"),
        None => "*****".into(),
    }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// reggie's `validateRequest`: `<name>|<reference>|<digest>|<session_id>|//{2,}`.
fn validate(url: &str) -> Result<(), String> {
    for bad in ["<name>", "<reference>", "<digest>", "<session_id>", "///"] {
        if url.contains(bad) {
            return Err(format!("request is invalid: {url}"));
        }
    }
    Ok(())
}

/// reggie's `parseAuthHeader`: `([a-zA-z]+)="(.+?)"` pairs.
fn parse_challenge(h: &str) -> Vec<(String, String)> {
    let b = h.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // `[a-zA-z]` also takes `[\]^_` and the backquote.
    let is_key = |c: u8| (b'A'..=b'z').contains(&c);
    while i < b.len() {
        if !is_key(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_key(b[i]) {
            i += 1;
        }
        if i + 1 < b.len() && b[i] == b'=' && b[i + 1] == b'"' {
            let vstart = i + 2;
            // `.+?"`: at least one character, then the next quote.
            if let Some(rel) = h.get(vstart + 1..).and_then(|s| s.find('"')) {
                let vend = vstart + 1 + rel;
                out.push((h[start..i].to_string(), h[vstart..vend].to_string()));
                i = vend + 1;
                continue;
            }
            i += 2;
        }
    }
    out
}

/// Go's `encoding/json` matches object keys case-insensitively when no key
/// matches exactly.
pub fn json_get_ci<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    let o = v.as_object()?;
    o.get(key).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.bytes() {
        if c.is_ascii_alphanumeric() || b"-_.~".contains(&c) {
            out.push(c as char);
        } else if c == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Go's path escaping when a URL is rebuilt from a decoded path.
fn escape_path(s: &str) -> String {
    let mut out = String::new();
    for c in s.bytes() {
        if c.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Decode `%XX` escapes (not `+`: this is a path).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parts of a URL or a relative reference.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UrlParts {
    pub scheme: String,
    /// `host:port` (empty in a relative reference).
    pub host: String,
    pub path: String,
    pub query: String,
}

/// Parse an absolute URL (`scheme://host/path?query`).
pub fn parse_url(s: &str) -> Option<UrlParts> {
    let (scheme, rest) = s.split_once("://")?;
    let mut u = parse_url_ref(&format!("//{rest}"))?;
    u.scheme = scheme.to_ascii_lowercase();
    Some(u)
}

/// Parse a URL reference as Go's `url.Parse` would accept it: absolute,
/// network-path (`//host/p`) or a path, with an optional query; the fragment
/// is dropped.
fn parse_url_ref(s: &str) -> Option<UrlParts> {
    if s.chars().any(|c| c.is_control()) {
        return None;
    }
    let s = s.split('#').next().unwrap_or_default();
    let mut u = UrlParts::default();
    let rest = if let Some((scheme, rest)) = s.split_once("://").filter(|(sc, _)| {
        !sc.is_empty()
            && sc
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    }) {
        u.scheme = scheme.to_ascii_lowercase();
        format!("//{rest}")
    } else {
        s.to_string()
    };
    let (before_q, query) = match rest.split_once('?') {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (rest.clone(), String::new()),
    };
    u.query = query;
    if let Some(auth_path) = before_q.strip_prefix("//") {
        match auth_path.find('/') {
            Some(i) => {
                u.host = auth_path[..i].to_string();
                u.path = auth_path[i..].to_string();
            }
            None => u.host = auth_path.to_string(),
        }
    } else {
        u.path = before_q;
    }
    Some(u)
}

/// Resolve `reference` against `base` (both as URLs), as a redirect does.
fn resolve_reference(base: &str, reference: &str) -> Option<String> {
    let b = parse_url(base)?;
    let r = parse_url_ref(reference)?;
    let q = |q: &str| {
        if q.is_empty() {
            String::new()
        } else {
            format!("?{q}")
        }
    };
    if !r.scheme.is_empty() {
        return Some(reference.split('#').next().unwrap_or_default().to_string());
    }
    if !r.host.is_empty() {
        return Some(format!(
            "{}://{}{}{}",
            b.scheme,
            r.host,
            r.path,
            q(&r.query)
        ));
    }
    let path = if r.path.starts_with('/') {
        r.path
    } else {
        let dir = b.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        format!("{dir}/{}", r.path)
    };
    Some(format!("{}://{}{}{}", b.scheme, b.host, path, q(&r.query)))
}

/// `host:port` to an address the harness's client takes (the first address).
fn resolve(host: &str) -> Result<String, String> {
    let with_port = if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !host.ends_with(']')
    {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let mut addrs = with_port
        .to_socket_addrs()
        .map_err(|e| format!("resolve {host}: {e}"))?;
    addrs
        .next()
        .map(|a| a.to_string())
        .ok_or_else(|| format!("resolve {host}: no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client {
            address: "http://127.0.0.1:5000".into(),
            default_name: "ns/repo".into(),
            username: String::new(),
            password: String::new(),
            auth_scope: String::new(),
            debug: false,
        }
    }

    #[test]
    fn urls_as_reggie_and_resty_build_them() {
        let c = client();
        let r = c.request_with(
            "GET",
            "/v2/<name>/blobs/<digest>",
            Opts {
                digest: "sha256:ab",
                ..Default::default()
            },
        );
        assert_eq!(
            r.full_url(),
            "http://127.0.0.1:5000/v2/ns/repo/blobs/sha256:ab"
        );
        let r = c
            .new_request("PUT", "/v2/ns/repo/blobs/uploads/u1?_state=x%3D")
            .query("digest", "sha256:ab");
        assert_eq!(
            r.full_url(),
            "http://127.0.0.1:5000/v2/ns/repo/blobs/uploads/u1?_state=x%3D&digest=sha256%3Aab"
        );
        let r = c
            .new_request("GET", "/v2/<name>/tags/list")
            .query("n", "4")
            .query("last", "a b/c");
        assert_eq!(
            r.full_url(),
            "http://127.0.0.1:5000/v2/ns/repo/tags/list?last=a+b%2Fc&n=4"
        );
        // An empty reference leaves the placeholder: refused.
        let r = c.request_with(
            "DELETE",
            "/v2/<name>/manifests/<reference>",
            Opts::default(),
        );
        assert!(validate(&r.full_url()).is_err());
        assert!(validate("http://h//v2/").is_ok());
        assert!(validate("http://h///v2/").is_err());
    }

    #[test]
    fn locations_and_challenges() {
        let resp = |loc: &str| Resp {
            status: 202,
            headers: vec![("Location".into(), loc.into())],
            body: vec![],
            request_line: String::new(),
        };
        assert_eq!(
            resp("http://127.0.0.1:5000/v2/a/b/blobs/uploads/u?_state=s%2B").relative_location(),
            "/v2/a/b/blobs/uploads/u?_state=s%2B"
        );
        assert_eq!(
            resp("/v2/a/blobs/uploads/u%3Ax").relative_location(),
            "/v2/a/blobs/uploads/u:x"
        );
        assert_eq!(resp("").relative_location(), "");
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="http://t/token",service="reg",scope="repository:a/b:pull,push""#
            ),
            vec![
                ("realm".to_string(), "http://t/token".to_string()),
                ("service".to_string(), "reg".to_string()),
                ("scope".to_string(), "repository:a/b:pull,push".to_string())
            ]
        );
        assert_eq!(
            resolve_reference("http://h:1/v2/a/blobs/x", "/other?q=1").unwrap(),
            "http://h:1/other?q=1"
        );
        assert_eq!(
            resolve_reference("http://h:1/v2/a/blobs/x", "http://g:2/y").unwrap(),
            "http://g:2/y"
        );
    }
}
