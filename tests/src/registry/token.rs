//! A token server as distribution's `auth: token:` expects one (the protocol of
//! auth.docker.io): `GET /token?service=S&scope=repository:NAME:pull,push`
//! with optional Basic credentials, or `POST /token` with an OAuth2
//! `grant_type=password` form, answers
//! `{"token", "access_token", "expires_in", "issued_at"}` where the token is an
//! ES256 JWT whose header carries the signing certificate in `x5c`; the
//! registry's `rootcertbundle` is that same self-signed certificate, so
//! distribution verifies the chain (the leaf is itself a trusted root) and then
//! the signature with the certificate's key. Claims: `iss`, `sub` (the user, or
//! empty), `aud` (the service), `exp`, `nbf`, `iat`, `jti`, `access`.

use super::http::{query_pairs, read_head};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The `iss` claim, and the registry's `auth.token.issuer`.
pub const ISSUER: &str = "dockhand-test-token-issuer";
/// The `service` the registry announces, and the tokens' `aud`.
pub const SERVICE: &str = "dockhand-test-registry";
/// Lifetime of the tokens issued, in seconds (`expires_in`).
pub const EXPIRES_IN: u64 = 300;

/// One request the token server answered.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// `GET` (docker's basic flow) or `POST` (OAuth2 password grant).
    pub method: String,
    /// The user whose credentials came and were right; `None` for anonymous.
    pub user: Option<String>,
    /// The `service` parameter.
    pub service: Option<String>,
    /// The scopes asked, one per entry (e.g. `repository:lib/app:pull,push`).
    pub scopes: Vec<String>,
    /// 200 with a token, 401 for wrong or missing credentials.
    pub status: u16,
}

impl TokenRequest {
    /// Whether this request asked for `action` on repository `repo`.
    pub fn asked(&self, repo: &str, action: &str) -> bool {
        self.scopes.iter().any(|s| {
            parse_scope(s).is_some_and(|(t, n, actions)| {
                t == "repository" && n == repo && actions.iter().any(|a| a == action)
            })
        })
    }
}

/// `TYPE:NAME:ACTION,ACTION` (NAME may itself hold colons).
fn parse_scope(s: &str) -> Option<(String, String, Vec<String>)> {
    let (t, rest) = s.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let actions = actions
        .split(',')
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect();
    Some((t.to_string(), name.to_string(), actions))
}

struct Policy {
    user: String,
    password: String,
    anonymous_pull: bool,
}

struct State {
    policy: Policy,
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    rng: SystemRandom,
    log: Mutex<Vec<TokenRequest>>,
    stop: AtomicBool,
}

pub(crate) struct TokenServer {
    addr: SocketAddr,
    cert_pem: String,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl TokenServer {
    /// Make a key and certificate and listen on a free port of 127.0.0.1.
    pub fn start(user: &str, password: &str, anonymous_pull: bool) -> TokenServer {
        let kp = rcgen::KeyPair::generate().expect("token signing key");
        let params = rcgen::CertificateParams::new(vec![ISSUER.to_string()]).expect("params");
        let cert = params
            .self_signed(&kp)
            .expect("self-signed token certificate");
        let rng = SystemRandom::new();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &kp.serialize_der(), &rng)
                .expect("load the token signing key");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the token server");
        let addr = listener.local_addr().expect("token server address");
        let state = Arc::new(State {
            policy: Policy {
                user: user.to_string(),
                password: password.to_string(),
                anonymous_pull,
            },
            key,
            cert_der: cert.der().to_vec(),
            rng,
            log: Mutex::new(Vec::new()),
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
        TokenServer {
            addr,
            cert_pem: cert.pem(),
            state,
            thread: Some(thread),
        }
    }

    /// The realm URL the registry sends clients to.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The certificate (PEM) for the registry's `rootcertbundle`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.log.lock().unwrap().clone()
    }

    /// A token for `user` granting `scopes` as asked, made in-process (not
    /// recorded): for the harness's own helpers.
    pub fn issue(&self, user: Option<&str>, scopes: &[String]) -> String {
        self.state.sign(user, scopes)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl State {
    /// A signed JWT granting the actions of `scopes`.
    fn sign(&self, user: Option<&str>, scopes: &[String]) -> String {
        let now = chrono::Utc::now().timestamp();
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|s| parse_scope(s))
            .map(|(t, name, actions)| serde_json::json!({"type": t, "name": name, "actions": actions}))
            .collect();
        let jti: [u8; 16] = rand::random();
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [STANDARD.encode(&self.cert_der)],
        });
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": user.unwrap_or(""),
            "aud": SERVICE,
            "exp": now + EXPIRES_IN as i64,
            "nbf": now - 1,
            "iat": now,
            "jti": hex::encode(jti),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .expect("sign the token");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    /// Decide on a request: `Ok(user)` or `Err(())` for 401; the granted scopes.
    fn decide(
        &self,
        creds: Option<(String, String)>,
        scopes: &[String],
    ) -> Result<(Option<String>, Vec<String>), ()> {
        match creds {
            Some((u, p)) if u == self.policy.user && p == self.policy.password => {
                Ok((Some(u), scopes.to_vec()))
            }
            Some(_) => Err(()),
            None if self.policy.anonymous_pull => {
                // Anonymous clients get pull and nothing else, as Docker Hub.
                let granted = scopes
                    .iter()
                    .filter_map(|s| parse_scope(s))
                    .map(|(t, n, actions)| {
                        let pull: Vec<&str> = actions
                            .iter()
                            .filter(|a| *a == "pull")
                            .map(String::as_str)
                            .collect();
                        format!("{t}:{n}:{}", pull.join(","))
                    })
                    .collect();
                Ok((None, granted))
            }
            None => Err(()),
        }
    }
}

fn basic_creds(value: &str) -> Option<(String, String)> {
    let b64 = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let raw = STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn serve(mut conn: TcpStream, st: &State) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut buf = Vec::new();
    let Some(head) = read_head(&mut conn, &mut buf)? else {
        return Ok(());
    };
    let (method, target) = head.method_target();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut params = query_pairs(query);
    let mut creds = head.header("authorization").and_then(basic_creds);
    if method == "POST" {
        let len = head.content_length().unwrap_or(0) as usize;
        while buf.len() < len {
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let form = query_pairs(&String::from_utf8_lossy(&buf[..len.min(buf.len())]));
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if get("grant_type").as_deref() == Some("password") {
            creds = Some((
                get("username").unwrap_or_default(),
                get("password").unwrap_or_default(),
            ));
        }
        params.extend(form);
    }
    if path != "/token" || !(method == "GET" || method == "POST") {
        return reply(&mut conn, 404, r#"{"details":"not found"}"#);
    }
    let service = params
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone());
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(String::from).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let mut record = TokenRequest {
        method,
        user: None,
        service,
        scopes: scopes.clone(),
        status: 401,
    };
    match st.decide(creds, &scopes) {
        Ok((user, granted)) => {
            let token = st.sign(user.as_deref(), &granted);
            record.user = user;
            record.status = 200;
            st.log.lock().unwrap().push(record);
            let body = serde_json::json!({
                "token": token,
                "access_token": token,
                "expires_in": EXPIRES_IN,
                "issued_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            });
            reply(&mut conn, 200, &body.to_string())
        }
        Err(()) => {
            st.log.lock().unwrap().push(record);
            reply(
                &mut conn,
                401,
                r#"{"details":"incorrect username or password"}"#,
            )
        }
    }
}

fn reply(conn: &mut TcpStream, status: u16, body: &str) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status == 401 {
        head.push_str("WWW-Authenticate: Basic realm=\"dockhand-test\"\r\n");
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.write_all(body.as_bytes())?;
    conn.flush()?;
    let _ = conn.shutdown(Shutdown::Both);
    Ok(())
}
