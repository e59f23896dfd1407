//! `pull`, `push`, `login`, `logout`, and the credentials docker keeps in
//! `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`): the `auths` map
//! (`base64(user:password)` per registry key) and credential helpers
//! (`credsStore`, `credHelpers`: `docker-credential-NAME get|store|erase`).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use base64::Engine as _;
use clap::Args;
use engine::reference::Reference;
use engine::registry::endpoint::{auth_key, login_domain};
use engine::registry::AuthConfig;
use serde_json::{json, Value};

use crate::client::{body_stream, Client, Query};
use crate::commands::{CmdResult, Failure};
use crate::stream::{stdin_is_terminal, stdout_is_terminal};
use futures_util::StreamExt;

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Skip image verification (accepted; images are always verified)
    #[arg(long = "disable-content-trust", default_value_t = true)]
    pub disable_content_trust: bool,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Skip image signing (accepted; nothing is signed)
    #[arg(long = "disable-content-trust", default_value_t = true)]
    pub disable_content_trust: bool,
    #[arg(value_name = "NAME[:TAG]")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long, value_name = "string")]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long, value_name = "string")]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

fn fail(m: impl Into<String>) -> Failure {
    Failure::new(m, 1)
}

/// The empty auth config docker sends when it has no credentials: base64url("{}").
pub const EMPTY_AUTH: &str = "e30=";

// ----- config.json ---------------------------------------------------------

/// Where docker keeps its client config.
pub fn config_path() -> PathBuf {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .unwrap_or_else(|| PathBuf::from("/root/.docker"));
    dir.join("config.json")
}

fn read_config() -> Value {
    std::fs::read(config_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({}))
}

fn write_config(v: &Value) -> Result<(), String> {
    let path = config_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, text + "\n").map_err(|e| format!("{}: {e}", tmp.display()))?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The credential helper for `key`, if one is configured.
fn helper_for(cfg: &Value, key: &str) -> Option<String> {
    cfg["credHelpers"][key]
        .as_str()
        .or(cfg["credsStore"].as_str())
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

fn run_helper(helper: &str, action: &str, input: &str) -> Result<String, String> {
    let prog = format!("docker-credential-{helper}");
    let mut child = std::process::Command::new(&prog)
        .arg(action)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("error getting credentials - err: exec: \"{prog}\": {e}"))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The stored credentials for registry `key` (anonymous when none).
pub fn credentials_for(key: &str) -> AuthConfig {
    let cfg = read_config();
    if let Some(h) = helper_for(&cfg, key) {
        if let Ok(out) = run_helper(&h, "get", key) {
            if let Ok(v) = serde_json::from_str::<Value>(&out) {
                let user = v["Username"].as_str().unwrap_or("").to_string();
                let secret = v["Secret"].as_str().unwrap_or("").to_string();
                return if user == "<token>" {
                    AuthConfig {
                        identity_token: secret,
                        server_address: key.to_string(),
                        ..Default::default()
                    }
                } else {
                    AuthConfig {
                        username: user,
                        password: secret,
                        server_address: key.to_string(),
                        ..Default::default()
                    }
                };
            }
        }
        return AuthConfig::default();
    }
    let entry = &cfg["auths"][key];
    let mut a = AuthConfig {
        auth: entry["auth"].as_str().unwrap_or("").to_string(),
        identity_token: entry["identitytoken"].as_str().unwrap_or("").to_string(),
        server_address: key.to_string(),
        ..Default::default()
    };
    a.fill_from_auth();
    a.auth.clear();
    a
}

/// `X-Registry-Config` of a build: the credentials of every registry the
/// config names (`auths` and `credHelpers`), base64url JSON keyed by server, as
/// docker's CLI sends them; none when there are none.
pub fn registry_config_header() -> Option<String> {
    use base64::Engine as _;
    let cfg = read_config();
    let mut keys: Vec<String> = Vec::new();
    for section in ["auths", "credHelpers"] {
        if let Some(m) = cfg[section].as_object() {
            keys.extend(m.keys().cloned());
        }
    }
    keys.sort();
    keys.dedup();
    let mut all = serde_json::Map::new();
    for k in keys {
        let a = credentials_for(&k);
        if !a.is_anonymous() {
            all.insert(k, serde_json::to_value(&a).unwrap_or_default());
        }
    }
    if all.is_empty() {
        return None;
    }
    let json = serde_json::to_vec(&Value::Object(all)).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE.encode(json))
}

/// `X-Registry-Auth` for a reference (docker sends `{}` when anonymous).
pub fn auth_header_for(image: &str) -> String {
    let domain = Reference::parse(image)
        .map(|r| r.domain().to_string())
        .unwrap_or_else(|_| "docker.io".into());
    let a = credentials_for(&auth_key(&domain));
    if a.is_anonymous() {
        EMPTY_AUTH.to_string()
    } else {
        a.to_header()
    }
}

fn store_credentials(key: &str, a: &AuthConfig) -> Result<(), String> {
    let mut cfg = read_config();
    if let Some(h) = helper_for(&cfg, key) {
        let input = json!({"ServerURL": key, "Username": a.username, "Secret": a.password});
        return run_helper(&h, "store", &input.to_string()).map(|_| ());
    }
    if !cfg["auths"].is_object() {
        cfg["auths"] = json!({});
    }
    let raw = format!("{}:{}", a.username, a.password);
    cfg["auths"][key] = json!({ "auth": base64::engine::general_purpose::STANDARD.encode(raw) });
    write_config(&cfg)
}

// ----- progress --------------------------------------------------------------

/// Docker's `jsonmessage` display: a line per layer, redrawn in place on a
/// terminal (status and bar); elsewhere status lines only. Returns the last
/// `aux` object, or the stream's error.
pub async fn display_progress(
    resp: hyper::Response<hyper::body::Incoming>,
    out: &mut dyn Write,
    tty: bool,
) -> Result<Option<Value>, String> {
    let mut s = body_stream(resp);
    let mut buf = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut aux = None;
    let mut handle =
        |line: &[u8], ids: &mut Vec<String>, aux: &mut Option<Value>| -> Result<(), String> {
            let line = String::from_utf8_lossy(line);
            let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
                return Ok(());
            };
            if let Some(e) = v["errorDetail"]["message"].as_str().or(v["error"].as_str()) {
                return Err(e.to_string());
            }
            if let Some(a) = v.get("aux") {
                *aux = Some(a.clone());
                return Ok(());
            }
            if let Some(text) = v["stream"].as_str() {
                let _ = out.write_all(text.as_bytes());
                return Ok(());
            }
            let id = v["id"].as_str().unwrap_or("");
            let status = v["status"].as_str().unwrap_or("");
            let has_bar = !v["progressDetail"]["current"].is_null();
            if id.is_empty() {
                // A line of its own; layer lines above it are final.
                ids.clear();
                let _ = writeln!(out, "{status}");
                return Ok(());
            }
            if has_bar && !tty {
                return Ok(());
            }
            let text = match v["progress"].as_str().filter(|_| tty) {
                Some(p) => format!("{id}: {status} {p}"),
                None => format!("{id}: {status}"),
            };
            match ids.iter().position(|i| i == id).filter(|_| tty) {
                Some(pos) => {
                    let up = ids.len() - pos;
                    let _ = write!(out, "\x1b[{up}A\r\x1b[2K{text}\r\x1b[{up}B");
                }
                None => {
                    if tty {
                        ids.push(id.to_string());
                    }
                    let _ = writeln!(out, "{text}");
                }
            }
            let _ = out.flush();
            Ok(())
        };
    while let Some(chunk) = s.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            handle(&line, &mut ids, &mut aux)?;
        }
    }
    handle(&buf, &mut ids, &mut aux)?;
    Ok(aux)
}

/// `POST path` with the credentials for `image`, its progress on `out`
/// (redrawn in place when `tty`). Returns the last `aux` object.
pub async fn post_with_progress(
    client: &Client,
    path: &str,
    q: &Query,
    image: &str,
    out: &mut dyn Write,
    tty: bool,
) -> Result<Option<Value>, String> {
    let resp = client
        .request(
            hyper::Method::POST,
            path,
            q,
            vec![("X-Registry-Auth", auth_header_for(image))],
            crate::client::empty(),
        )
        .await
        .map_err(|e| e.to_string())?;
    display_progress(resp, out, tty).await
}

/// `pull` and `push`: progress on stdout unless `quiet`.
async fn registry_call(
    client: &Client,
    path: &str,
    q: &Query,
    image: &str,
    quiet: bool,
) -> Result<(), Failure> {
    let mut sink: Box<dyn Write> = if quiet {
        Box::new(std::io::sink())
    } else {
        Box::new(std::io::stdout())
    };
    post_with_progress(
        client,
        path,
        q,
        image,
        &mut sink,
        stdout_is_terminal() && !quiet,
    )
    .await
    .map(|_| ())
    .map_err(fail)
}

// ----- commands ----------------------------------------------------------------

/// `docker pull`.
pub async fn pull(client: &Client, a: &PullArgs) -> CmdResult {
    let r = Reference::parse(&a.name).map_err(|e| fail(e.to_string()))?;
    let mut stdout = std::io::stdout();
    if a.all_tags && (r.explicit_tag().is_some() || r.digest().is_some()) {
        return Err(fail("tag can't be used with --all-tags/-a"));
    }
    let tag = if a.all_tags {
        String::new()
    } else if let Some(d) = r.digest() {
        d.to_string()
    } else {
        match r.explicit_tag() {
            Some(t) => t.to_string(),
            None => {
                if !a.quiet {
                    let _ = writeln!(stdout, "Using default tag: latest");
                }
                "latest".into()
            }
        }
    };
    let q = Query::new()
        .set("fromImage", r.full_name())
        .set("tag", tag)
        .set_if(
            a.platform.is_some(),
            "platform",
            a.platform.clone().unwrap_or_default(),
        );
    registry_call(client, "/images/create", &q, &a.name, a.quiet).await?;
    let shown = if a.all_tags {
        r.full_name()
    } else {
        r.with_default_tag().canonical_string()
    };
    let _ = writeln!(stdout, "{shown}");
    Ok(0)
}

/// `docker push`.
pub async fn push(client: &Client, a: &PushArgs) -> CmdResult {
    let r = Reference::parse(&a.name).map_err(|e| fail(e.to_string()))?;
    if a.all_tags && r.explicit_tag().is_some() {
        return Err(fail("tag can't be used with --all-tags/-a"));
    }
    let mut stdout = std::io::stdout();
    let tag = match (a.all_tags, r.explicit_tag()) {
        (true, _) => String::new(),
        (false, Some(t)) => t.to_string(),
        (false, None) => {
            if !a.quiet {
                let _ = writeln!(stdout, "Using default tag: latest");
            }
            "latest".into()
        }
    };
    let path = format!("/images/{}/push", r.full_name());
    let q = Query::new().set("tag", tag);
    registry_call(client, &path, &q, &a.name, a.quiet).await?;
    if a.quiet {
        let _ = writeln!(stdout, "{}", r.with_default_tag().familiar_string());
    }
    Ok(0)
}

fn prompt(text: &str, echo: bool) -> Result<String, String> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{text}");
    let _ = err.flush();
    let stdin = std::io::stdin();
    let saved = if !echo && stdin_is_terminal() {
        use nix::sys::termios;
        let t = termios::tcgetattr(&stdin).ok();
        if let Some(t) = &t {
            let mut quiet = t.clone();
            quiet.local_flags.remove(termios::LocalFlags::ECHO);
            let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &quiet);
        }
        t
    } else {
        None
    };
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &t);
        let _ = writeln!(err);
    }
    r.map_err(|e| e.to_string())?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// `docker login [SERVER]`.
pub async fn login(client: &Client, a: &LoginArgs) -> CmdResult {
    let domain = login_domain(a.server.as_deref().unwrap_or(""));
    let key = auth_key(&domain);
    if a.password.is_some() && a.password_stdin {
        return Err(fail(
            "--password and --password-stdin are mutually exclusive",
        ));
    }
    if a.password_stdin && a.username.is_none() {
        return Err(fail("Must provide --username with --password-stdin"));
    }
    let username = match &a.username {
        Some(u) => u.clone(),
        None => prompt("Username: ", true).map_err(fail)?,
    };
    if username.is_empty() {
        return Err(fail("Error: Non-null Username Required"));
    }
    let password = if a.password_stdin {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| fail(e.to_string()))?;
        s.trim_end_matches(['\r', '\n']).to_string()
    } else if let Some(p) = &a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p.clone()
    } else {
        prompt("Password: ", false).map_err(fail)?
    };
    if password.is_empty() {
        return Err(fail("Error: Password Required"));
    }
    let body = AuthConfig {
        username: username.clone(),
        password: password.clone(),
        server_address: key.clone(),
        ..Default::default()
    };
    let resp = client.post_json("/auth", &Query::new(), &body).await?;
    let answer: Value = crate::client::json_body(resp).await.unwrap_or(json!({}));
    store_credentials(&key, &body).map_err(|e| fail(format!("Error saving credentials: {e}")))?;
    if helper_for(&read_config(), &key).is_none() {
        eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n",
            config_path().display()
        );
    }
    println!("{}", answer["Status"].as_str().unwrap_or("Login Succeeded"));
    Ok(0)
}

/// `docker logout [SERVER]`.
pub async fn logout(a: &LogoutArgs) -> CmdResult {
    let domain = login_domain(a.server.as_deref().unwrap_or(""));
    let key = auth_key(&domain);
    let mut cfg = read_config();
    if let Some(h) = helper_for(&cfg, &key) {
        println!("Removing login credentials for {key}");
        return run_helper(&h, "erase", &key).map(|_| 0).map_err(fail);
    }
    if cfg["auths"].get(&key).is_none() {
        println!("Not logged in to {key}");
        return Ok(0);
    }
    println!("Removing login credentials for {key}");
    if let Some(m) = cfg["auths"].as_object_mut() {
        m.remove(&key);
    }
    write_config(&cfg).map_err(fail)?;
    Ok(0)
}
