//! Credentials and challenges.
//!
//! A client hands the daemon its credentials as `X-Registry-Auth`: base64url
//! (padded or not) JSON of [`AuthConfig`]. A registry answers an unauthenticated
//! request with `401` and `WWW-Authenticate`: `Basic realm="..."` (send the
//! credentials as Basic auth) or `Bearer realm="...",service="...",scope="..."`
//! (fetch a token from the realm, with the credentials as Basic auth if any, and
//! send it as `Authorization: Bearer`).

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Docker's `AuthConfig` (`X-Registry-Auth`, `POST /auth`, `config.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// `base64(username:password)`, as in `config.json`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(
        default,
        rename = "serveraddress",
        skip_serializing_if = "String::is_empty"
    )]
    pub server_address: String,
    /// An OAuth refresh token the registry gave at login.
    #[serde(
        default,
        rename = "identitytoken",
        skip_serializing_if = "String::is_empty"
    )]
    pub identity_token: String,
    /// A bearer token to send as it is.
    #[serde(
        default,
        rename = "registrytoken",
        skip_serializing_if = "String::is_empty"
    )]
    pub registry_token: String,
}

/// An `X-Registry-Auth` header that does not decode; the client's to fix.
#[derive(Debug, thiserror::Error)]
pub enum AuthHeaderError {
    #[error("invalid X-Registry-Auth header: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("invalid X-Registry-Auth header: {0}")]
    Json(#[from] serde_json::Error),
}

impl AuthConfig {
    /// Decode `X-Registry-Auth` (base64url JSON; empty or `{}` is anonymous).
    pub fn from_header(value: &str) -> Result<AuthConfig, AuthHeaderError> {
        let v = value.trim();
        if v.is_empty() {
            return Ok(AuthConfig::default());
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(v.trim_end_matches('='))
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(v))?;
        let mut a: AuthConfig = serde_json::from_slice(&bytes)?;
        a.fill_from_auth();
        Ok(a)
    }

    /// The header value for these credentials.
    pub fn to_header(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }

    /// Split `auth` (`base64(user:pass)`) into username and password when
    /// those are empty.
    pub fn fill_from_auth(&mut self) {
        if self.username.is_empty() && !self.auth.is_empty() {
            if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(&self.auth) {
                let raw = String::from_utf8_lossy(&raw).into_owned();
                if let Some((u, p)) = raw.split_once(':') {
                    self.username = u.to_string();
                    self.password = p.to_string();
                }
            }
        }
    }

    /// Whether there is anything to authenticate with.
    pub fn is_anonymous(&self) -> bool {
        self.username.is_empty() && self.identity_token.is_empty() && self.registry_token.is_empty()
    }

    /// The `Authorization: Basic` value, if there are a username and password.
    pub fn basic(&self) -> Option<String> {
        (!self.username.is_empty()).then(|| {
            let raw = format!("{}:{}", self.username, self.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        })
    }
}

/// One `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parse a `WWW-Authenticate` value (the first challenge we understand).
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let v = value.trim();
    let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        });
    }
    None
}

/// `key="value", key=value` pairs (quoted values may hold commas and `\"`).
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' {
            i += 1;
        }
        let key = s[start..i].trim().to_string();
        if i >= b.len() {
            break;
        }
        i += 1;
        let mut val = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                val.push(b[i] as char);
                i += 1;
            }
            i += 1;
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            val = s[vs..i].trim().to_string();
        }
        if !key.is_empty() {
            out.push((key, val));
        }
    }
    out
}

/// A token endpoint's answer (`token` or the OAuth2 `access_token`).
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub access_token: String,
    /// Seconds; the spec's default is 60.
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: String,
}

impl TokenResponse {
    pub fn bearer(&self) -> &str {
        if self.token.is_empty() {
            &self.access_token
        } else {
            &self.token
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse_like_docker_hubs() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            })
        );
        let c = parse_challenge(
            r#"Bearer realm="http://127.0.0.1:1/t",scope="repository:a:pull,push""#,
        );
        assert!(
            matches!(c, Some(Challenge::Bearer { scope: Some(s), service: None, .. }) if s == "repository:a:pull,push")
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn registry_auth_headers_round_trip_and_accept_both_alphabets() {
        let a = AuthConfig {
            username: "u".into(),
            password: "p?>".into(),
            server_address: "localhost:5000".into(),
            ..Default::default()
        };
        let h = a.to_header();
        assert_eq!(AuthConfig::from_header(&h).unwrap(), a);
        let std = base64::engine::general_purpose::STANDARD
            .encode(br#"{"auth":"dTpw","serveraddress":"x"}"#);
        let b = AuthConfig::from_header(&std).unwrap();
        assert_eq!((b.username.as_str(), b.password.as_str()), ("u", "p"));
        assert!(AuthConfig::from_header("").unwrap().is_anonymous());
        let bad = AuthConfig::from_header("!!").unwrap_err();
        assert!(matches!(bad, AuthHeaderError::Base64(_)), "{bad}");
        let not_json = base64::engine::general_purpose::URL_SAFE.encode("[1]");
        let bad = AuthConfig::from_header(&not_json).unwrap_err();
        assert!(matches!(bad, AuthHeaderError::Json(_)), "{bad}");
        assert!(bad
            .to_string()
            .starts_with("invalid X-Registry-Auth header: "));
        assert_eq!(a.basic().unwrap(), "Basic dTpwPz4=");
    }
}
