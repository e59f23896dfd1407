//! `docker search` (`GET /images/search`) as moby does it: Docker's v1 search
//! API, `GET <index>/v1/search?q=QUERY&n=LIMIT`, on Docker Hub's index
//! (`https://index.docker.io/v1/`) or on the registry the term names
//! (`127.0.0.1:5000/app` asks `127.0.0.1:5000` for `app`).
//!
//! - [`SearchTerm`]: which index and what to ask it (moby's
//!   `splitReposSearchTerm`; `library/` is dropped for Docker Hub).
//! - [`SearchFilters`]: `stars`, `is-official` and `is-automated`, applied by
//!   the daemon to what the index answered. `is-automated=true` finds nothing
//!   and `is_automated` is always `false` (Docker deprecated the field).
//! - An index other than Docker Hub's is pinged first (`/v1/_ping` over HTTPS,
//!   then plain HTTP if it is insecure, by [`endpoint::is_insecure`]).
//! - Credentials: Basic auth when there is a username (always, even empty, to
//!   a standalone registry over HTTPS). With an identity token (an OAuth
//!   refresh token) and a username: the `/v2/` challenge of the index, then a
//!   Bearer token for `registry:catalog:search` from its realm (OAuth
//!   `refresh_token` grant), or Basic for a Basic challenge.
//! - The limit (default 25, `1..=100`) is checked after the index answered its
//!   ping, as moby checks it; the results are not cut to it.
//!
//! Errors carry moby's texts: `invalid filter '...'`, `limit N is outside the
//! range of [1, 100]`, `invalid registry endpoint ...`, `Unexpected status code
//! N`, `error decoding registry search results: ...` (Go's JSON errors).

use std::collections::BTreeMap;

use base64::Engine as _;
use reqwest::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Map, Value};
use shared::api::SearchResult;

use super::auth::{parse_challenge, AuthConfig, Challenge, TokenResponse};
use super::client::{error_text, Client, Session};
use super::endpoint::{self, Endpoint};
use super::{RegistryError, Result};
use crate::reference::DEFAULT_DOMAIN;

/// Results asked for when the client names no limit.
pub const DEFAULT_LIMIT: i64 = 25;
/// Docker Hub's index host, where Hub searches go.
pub const HUB_INDEX_HOST: &str = "index.docker.io";
/// The scope of the token a search with an identity token asks for.
pub const SEARCH_SCOPE: &str = "registry:catalog:search";
/// The filters `GET /images/search` knows.
pub const FILTERS: [&str; 3] = ["is-automated", "is-official", "stars"];

fn invalid(msg: impl Into<String>) -> RegistryError {
    RegistryError::InvalidParameter(msg.into())
}

/// Which index a search term goes to, and what that index is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerm {
    /// `docker.io` for Docker Hub, else the registry's `host[:port]`.
    pub index: String,
    /// The `q` of the request.
    pub query: String,
}

impl SearchTerm {
    /// The first path component is a registry when it has a `.` or a `:` or
    /// is `localhost`; anything else is a Docker Hub search.
    pub fn parse(term: &str) -> SearchTerm {
        let (index, query) = match term.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first, rest)
            }
            _ => (DEFAULT_DOMAIN, term),
        };
        let index = if index == HUB_INDEX_HOST {
            DEFAULT_DOMAIN
        } else {
            index
        };
        let query = if index == DEFAULT_DOMAIN {
            query.strip_prefix("library/").unwrap_or(query)
        } else {
            query
        };
        SearchTerm {
            index: index.to_string(),
            query: query.to_string(),
        }
    }

    /// Docker Hub's index.
    pub fn is_hub(&self) -> bool {
        self.index == DEFAULT_DOMAIN
    }

    /// The key of the credentials for this index (`config.json`'s `auths`).
    pub fn auth_key(&self) -> String {
        if self.is_hub() {
            endpoint::HUB_AUTH_KEY.to_string()
        } else {
            self.index.clone()
        }
    }
}

/// The `filters` of a search, validated as moby validates them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilters {
    /// `is-automated=true`: nothing matches and the index is not asked (the
    /// other filters are then not looked at).
    pub automated_only: bool,
    /// `is-official=true|false`.
    pub official: Option<bool>,
    /// `stars=N`: the least stars a result may have (the largest N given).
    pub stars: Option<i64>,
}

/// `filters` as the Engine API sends them: `{"key":{"value":true}}`, or the
/// legacy `{"key":["value"]}`.
type FilterArgs = BTreeMap<String, BTreeMap<String, bool>>;

fn filter_args(json: &str) -> Result<FilterArgs> {
    if json.is_empty() {
        return Ok(FilterArgs::new());
    }
    type Sets = Option<BTreeMap<String, Option<BTreeMap<String, bool>>>>;
    type Lists = Option<BTreeMap<String, Option<Vec<String>>>>;
    if let Ok(m) = serde_json::from_str::<Sets>(json) {
        return Ok(m
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect());
    }
    if let Ok(m) = serde_json::from_str::<Lists>(json) {
        return Ok(m
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    v.unwrap_or_default()
                        .into_iter()
                        .map(|v| (v, true))
                        .collect(),
                )
            })
            .collect());
    }
    Err(invalid("invalid filter"))
}

/// A boolean filter: `1`/`true` or `0`/`false`, not both.
fn bool_filter(args: &FilterArgs, key: &str) -> Result<Option<bool>> {
    let Some(values) = args.get(key) else {
        return Ok(None);
    };
    if values.is_empty() {
        return Err(invalid(format!("invalid filter '{key}'")));
    }
    let set = |v: &str| values.get(v).copied().unwrap_or(false);
    let (no, yes) = (set("0") || set("false"), set("1") || set("true"));
    if no == yes {
        let given: Vec<&str> = values.keys().map(String::as_str).collect();
        return Err(invalid(format!(
            "invalid filter '{key}=[{}]'",
            given.join(" ")
        )));
    }
    Ok(Some(yes))
}

impl SearchFilters {
    /// Parse the `filters` query parameter (empty: none).
    pub fn parse(json: &str) -> Result<SearchFilters> {
        let args = filter_args(json)?;
        if let Some(k) = args.keys().find(|k| !FILTERS.contains(&k.as_str())) {
            return Err(invalid(format!("invalid filter '{k}'")));
        }
        let mut f = SearchFilters::default();
        if bool_filter(&args, "is-automated")? == Some(true) {
            f.automated_only = true;
            return Ok(f);
        }
        f.official = bool_filter(&args, "is-official")?;
        if let Some(values) = args.get("stars") {
            let mut least = 0;
            for v in values.keys() {
                let n =
                    go_atoi(v).map_err(|e| invalid(format!("invalid filter 'stars={v}': {e}")))?;
                least = least.max(n);
            }
            f.stars = Some(least);
        }
        Ok(f)
    }

    /// Whether a result passes.
    pub fn keep(&self, r: &SearchResult) -> bool {
        !self.automated_only
            && self.official.is_none_or(|o| o == r.is_official)
            && self.stars.is_none_or(|s| r.star_count >= s)
    }
}

use shared::go::quote as go_quote;

/// Go's `strconv.Atoi` (64-bit), with its error text.
pub fn go_atoi(s: &str) -> std::result::Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.Atoi: parsing {}: invalid syntax",
            go_quote(s)
        ));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {}: value out of range", go_quote(s)))
}

/// The `limit` query parameter (empty: the default).
pub fn parse_limit(v: &str) -> Result<i64> {
    if v.is_empty() {
        return Ok(0);
    }
    go_atoi(v).map_err(|e| invalid(format!("invalid limit specified: {e}")))
}

/// The limit sent to the index: 0 means the default; it must be `1..=100`.
pub fn check_limit(limit: i64) -> Result<i64> {
    let n = if limit == 0 { DEFAULT_LIMIT } else { limit };
    if !(1..=100).contains(&n) {
        return Err(invalid(format!(
            "limit {n} is outside the range of [1, 100]"
        )));
    }
    Ok(n)
}

pub use shared::go::query_escape;

/// One search, checked: filters parsed, no scheme in the term.
#[derive(Debug, Clone)]
pub struct Search {
    pub term: SearchTerm,
    /// As asked (0: the default); checked against the range when sent.
    pub limit: i64,
    pub filters: SearchFilters,
    pub creds: AuthConfig,
    /// Sent to the index with every request (the client's `X-Meta-*`).
    pub headers: Vec<(String, String)>,
}

impl Search {
    /// `term`, `limit` and `filters` as `GET /images/search` has them.
    pub fn new(term: &str, limit: i64, filters: &str, creds: AuthConfig) -> Result<Search> {
        let filters = SearchFilters::parse(filters)?;
        if !filters.automated_only && term.contains("://") {
            return Err(invalid(format!(
                "invalid repository name: repository name ({term}) should not have a scheme"
            )));
        }
        Ok(Search {
            term: SearchTerm::parse(term),
            limit,
            filters,
            creds,
            headers: Vec::new(),
        })
    }

    /// The registry domain whose network the search leaves from (`docker.io`
    /// for Docker Hub).
    pub fn domain(&self) -> &str {
        &self.term.index
    }

    /// Ask the index and filter its answer.
    pub async fn run(&self, client: &Client) -> Result<Vec<SearchResult>> {
        if self.filters.automated_only {
            return Ok(Vec::new());
        }
        let found = self.ask(client).await?;
        Ok(found
            .into_iter()
            .filter(|r| self.filters.keep(r))
            .map(|mut r| {
                r.is_automated = false;
                r
            })
            .collect())
    }

    fn with_headers(&self, mut b: RequestBuilder) -> RequestBuilder {
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        b
    }

    /// A request with this search's headers and no retry on a `401` (the
    /// session is never authorized: every header is ours).
    async fn send(
        &self,
        s: &Session<'_>,
        method: Method,
        url: &str,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
        body: Vec<u8>,
    ) -> Result<reqwest::Response> {
        s.send_once(method, url, |b| build(self.with_headers(b)), body.into())
            .await
    }

    /// `/v1/_ping`: whether the registry says it is standalone (the default).
    async fn ping(&self, s: &Session<'_>, base: &str) -> Result<bool> {
        let url = format!("{base}/v1/_ping");
        let resp = self.send(s, Method::GET, &url, |b| b, Vec::new()).await?;
        if let Some(v) = resp
            .headers()
            .get("X-Docker-Registry-Standalone")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
        {
            return Ok(v == "1" || v.eq_ignore_ascii_case("true"));
        }
        let body = resp.bytes().await.unwrap_or_default();
        Ok(serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["standalone"].as_bool())
            .unwrap_or(true))
    }

    /// The index to ask: Docker Hub's as it is; another registry once it
    /// answered a ping, over HTTPS or (insecure registries) plain HTTP.
    async fn open<'a>(&self, client: &'a Client) -> Result<Index<'a>> {
        let creds = self.creds.clone();
        if self.term.is_hub() {
            let ep = Endpoint {
                host: HUB_INDEX_HOST.into(),
                repo: String::new(),
                insecure: false,
                mirror: false,
            };
            return Ok(Index {
                session: client.session(ep, creds, "pull"),
                base: format!("https://{HUB_INDEX_HOST}"),
                basic_always: false,
            });
        }
        let host = self.term.index.clone();
        let insecure = endpoint::is_insecure(&host, &client.options().insecure);
        let ep = Endpoint {
            host: host.clone(),
            repo: String::new(),
            insecure,
            mirror: false,
        };
        let session = client.session(ep, creds, "pull");
        let https = format!("https://{host}");
        if let Err(e) = reqwest::Url::parse(&https) {
            return Err(invalid(format!("parse \"{https}\": {e}")));
        }
        let first = match self.ping(&session, &https).await {
            Ok(standalone) => {
                return Ok(Index {
                    session,
                    base: https,
                    basic_always: standalone,
                })
            }
            Err(e) => e,
        };
        if !insecure {
            return Err(invalid(format!(
                "invalid registry endpoint {https}/v1/: {first}. If this private registry supports only HTTP or HTTPS with an unknown CA certificate, please add `--insecure-registry {host}` to the daemon's arguments. In the case of HTTPS, if you have access to the registry's CA certificate, no need for the flag; simply place the CA certificate at /etc/docker/certs.d/{host}/ca.crt"
            )));
        }
        let http = format!("http://{host}");
        match self.ping(&session, &http).await {
            Ok(_) => Ok(Index {
                session,
                base: http,
                basic_always: false,
            }),
            Err(second) => Err(invalid(format!(
                "invalid registry endpoint \"{http}/v1/\". HTTPS attempt: {first}. HTTP attempt: {second}"
            ))),
        }
    }

    /// With an identity token: the challenge of the index's `/v2/` (None
    /// when it lets anyone in).
    async fn v2_challenge(&self, idx: &Index<'_>) -> Result<Option<Challenge>> {
        let url = format!("{}/v2/", idx.base);
        let resp = self
            .send(&idx.session, Method::GET, &url, |b| b, Vec::new())
            .await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(None);
        }
        Ok(resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(parse_challenge))
    }

    /// A token for [`SEARCH_SCOPE`] from `realm`, the identity token as the
    /// OAuth refresh token. Errors read as the failed search request's.
    async fn search_token(
        &self,
        idx: &Index<'_>,
        realm: &str,
        service: Option<&str>,
        search_url: &str,
    ) -> Result<String> {
        let failed =
            |text: String| RegistryError::Registry(format!("Get \"{search_url}\": {text}"));
        // Go's `url.Values.Encode`: keys sorted.
        let form = [
            ("client_id", "docker"),
            ("grant_type", "refresh_token"),
            ("refresh_token", self.creds.identity_token.as_str()),
            ("scope", SEARCH_SCOPE),
            ("service", service.unwrap_or_default()),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", query_escape(v)))
        .collect::<Vec<_>>()
        .join("&");
        let resp = self
            .send(
                &idx.session,
                Method::POST,
                realm,
                |b| b.header(CONTENT_TYPE, "application/x-www-form-urlencoded"),
                form.into_bytes(),
            )
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if !status.is_success() {
            return Err(failed(error_text(status, &body)));
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| failed(format!("unable to decode token response: {e}")))?;
        Ok(t.bearer().to_string())
    }

    /// `GET /v1/search` on the index, its answer decoded.
    async fn ask(&self, client: &Client) -> Result<Vec<SearchResult>> {
        let idx = self.open(client).await?;
        let creds = &self.creds;
        let oauth = !creds.identity_token.is_empty() && !creds.username.is_empty();
        let challenge = if oauth {
            self.v2_challenge(&idx).await?
        } else {
            None
        };
        let limit = check_limit(self.limit)?;
        let url = format!(
            "{}/v1/search?q={}&n={limit}",
            idx.base,
            query_escape(&self.term.query)
        );
        let basic = || {
            let raw = format!("{}:{}", creds.username, creds.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        };
        let authorization = match challenge {
            Some(Challenge::Bearer { realm, service, .. }) => Some(format!(
                "Bearer {}",
                self.search_token(&idx, &realm, service.as_deref(), &url)
                    .await?
            )),
            Some(Challenge::Basic) if creds.password.is_empty() => {
                return Err(RegistryError::Registry(format!(
                    "Get \"{url}\": no basic auth credentials"
                )))
            }
            Some(Challenge::Basic) => Some(basic()),
            None if oauth => None,
            None if idx.basic_always || !creds.username.is_empty() => Some(basic()),
            None => None,
        };
        let resp = self
            .send(
                &idx.session,
                Method::GET,
                &url,
                |b| {
                    let b = b.header("X-Docker-Token", "true");
                    match &authorization {
                        Some(a) => b.header(reqwest::header::AUTHORIZATION, a.as_str()),
                        None => b,
                    }
                },
                Vec::new(),
            )
            .await?;
        let status = resp.status();
        if status != StatusCode::OK {
            return Err(RegistryError::Registry(format!(
                "Unexpected status code {}",
                status.as_u16()
            )));
        }
        let body = resp.bytes().await.map_err(|e| {
            RegistryError::Registry(format!("error decoding registry search results: {e}"))
        })?;
        decode_results(&body).map_err(|e| {
            RegistryError::Registry(format!("error decoding registry search results: {e}"))
        })
    }
}

mod decode;

pub use decode::decode_results;
use decode::*;

#[cfg(test)]
mod tests;
