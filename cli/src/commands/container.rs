//! Container commands: run, create, start, ps, logs, kill, stop, restart, rm,
//! wait, prune. Request order and query parameters follow docker/cli 28 and
//! moby's client so the daemon sees the traffic the real CLI sends.

use super::attach;
use super::{collect_errors, CmdResult, Failure};
use crate::client::{body_stream, json_body, path_escape, Client, ClientError, Query};
use crate::format::rows::{container_row, PS_DEFAULT, PS_DEFAULT_SIZE, PS_HEADERS};
use crate::format::{humanize, table};
use crate::opts::{build_create_env, ContainerFlags};
use crate::{signals, stream};
use clap::Args;
use futures_util::StreamExt;
use serde_json::Value;
use shared::api::{
    ContainerCreateRequest, ContainerInspect, ContainerSummary, IdResponse, WaitResponse,
};
use std::io::Write;

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub flags: ContainerFlags,
}

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_negative_numbers = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since timestamp or relative (e.g. 42m for 42 minutes)
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, value_name = "string", default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs before a timestamp or relative (e.g. 42m for 42 minutes)
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string")]
    pub signal: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string")]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "timeout",
        visible_alias = "time",
        value_name = "int",
        allow_negative_numbers = true
    )]
    pub timeout: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

fn cpath(id: &str, rest: &str) -> String {
    format!("/containers/{}{}", path_escape(id), rest)
}

/// docker/cli `reportError`: `docker: MSG` and, for usage-type errors, the help hint.
pub fn report_error(cmd: &str, msg: &str, with_help: bool) -> String {
    if with_help {
        format!("docker: {msg}\n\nRun 'docker {cmd} --help' for more information")
    } else {
        format!("docker: {msg}")
    }
}

/// docker/cli `runStartContainerErr`: 127 for a missing executable, 126 for one
/// that cannot be executed, 125 for any other daemon failure.
pub fn start_error_code(msg: &str) -> i32 {
    let m = msg
        .strip_prefix("Error response from daemon: ")
        .unwrap_or(msg);
    if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("system cannot find the file specified")
    {
        127
    } else if m.contains("permission denied")
        || m.contains("is a directory")
        || m.contains("cannot execute")
    {
        126
    } else {
        125
    }
}

/// `busybox` -> (`docker.io/library/busybox`, `latest`); the familiar
/// `busybox:latest` is what "Unable to find image" prints.
pub fn normalize_image_ref(image: &str) -> (String, String, String) {
    let (name, tag_or_digest) = match image.split_once('@') {
        Some((n, d)) => (n.to_string(), Some(d.to_string())),
        None => {
            let (n, t) = crate::format::rows::split_repo_tag(image);
            (n, t)
        }
    };
    let first = name.split('/').next().unwrap_or("");
    let has_domain =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_domain {
        name.clone()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let familiar = crate::format::rows::familiar_name(&full);
    let (tag, familiar_ref) = match (image.contains('@'), tag_or_digest) {
        (true, Some(d)) => (d.clone(), format!("{familiar}@{d}")),
        (_, Some(t)) => (t.clone(), format!("{familiar}:{t}")),
        (_, None) => ("latest".to_string(), format!("{familiar}:latest")),
    };
    (full, tag, familiar_ref)
}

/// Print a JSON progress stream (docker's `jsonmessage`, non-terminal form).
/// Returns the last `aux` object, or the stream's error message.
pub async fn display_json_messages(
    resp: hyper::Response<hyper::body::Incoming>,
    out: &mut dyn Write,
) -> Result<Option<Value>, String> {
    let mut s = body_stream(resp);
    let mut buf = Vec::new();
    let mut aux = None;
    let mut handle = |line: &[u8], aux: &mut Option<Value>| -> Result<(), String> {
        let line = String::from_utf8_lossy(line);
        let line = line.trim();
        if line.is_empty() {
            return Ok(());
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return Ok(());
        };
        if let Some(e) = v
            .get("errorDetail")
            .and_then(|d| d.get("message"))
            .and_then(Value::as_str)
        {
            return Err(e.to_string());
        }
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            return Err(e.to_string());
        }
        if let Some(a) = v.get("aux") {
            *aux = Some(a.clone());
            return Ok(());
        }
        let id = v.get("id").and_then(Value::as_str).unwrap_or("");
        let status = v.get("status").and_then(Value::as_str).unwrap_or("");
        let stream = v.get("stream").and_then(Value::as_str);
        if let Some(text) = stream {
            let _ = out.write_all(text.as_bytes());
            return Ok(());
        }
        if v.get("progressDetail")
            .and_then(|p| p.get("current"))
            .is_some()
        {
            // Progress bars are for terminals; docker prints nothing for them otherwise.
            return Ok(());
        }
        if !id.is_empty() {
            let _ = write!(out, "{id}: ");
        }
        let _ = writeln!(out, "{status}");
        Ok(())
    };
    while let Some(chunk) = s.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            handle(&line, &mut aux)?;
        }
    }
    handle(&buf, &mut aux)?;
    Ok(aux)
}

/// The empty auth config docker sends when it has no credentials: base64url("{}").
pub const EMPTY_AUTH: &str = "e30=";

/// `POST /images/create?fromImage=&tag=`, progress to `out`.
pub async fn pull_image(client: &Client, image: &str, out: &mut dyn Write) -> Result<(), String> {
    let (full, tag, _) = normalize_image_ref(image);
    let q = Query::new().set("fromImage", full).set("tag", tag);
    super::registry::post_with_progress(client, "/images/create", &q, image, out, false)
        .await
        .map(|_| ())
}

/// `POST /containers/create?name=` and, on a missing image, pull then retry (the
/// docker CLI's `createContainer` with `--pull missing`).
async fn create_container(
    client: &Client,
    body: &ContainerCreateRequest,
    name: Option<&str>,
    pull: &str,
    quiet: bool,
) -> Result<String, String> {
    let q = Query::new().set_if(name.is_some(), "name", name.unwrap_or(""));
    let mut stderr = std::io::stderr();
    if pull == "always" {
        let mut sink: Box<dyn Write> = if quiet {
            Box::new(std::io::sink())
        } else {
            Box::new(std::io::stderr())
        };
        pull_image(client, &body.config.image, &mut sink).await?;
    }
    let resp = match client.post_json("/containers/create", &q, body).await {
        Ok(r) => r,
        Err(e) if e.is_not_found() && pull == "missing" => {
            let (_, _, familiar) = normalize_image_ref(&body.config.image);
            let _ = writeln!(stderr, "Unable to find image '{familiar}' locally");
            let mut sink: Box<dyn Write> = if quiet {
                Box::new(std::io::sink())
            } else {
                Box::new(std::io::stderr())
            };
            pull_image(client, &body.config.image, &mut sink).await?;
            client
                .post_json("/containers/create", &q, body)
                .await
                .map_err(|e| e.to_string())?
        }
        Err(e) => return Err(e.to_string()),
    };
    let created: IdResponse = json_body(resp).await.map_err(|e| e.to_string())?;
    for w in &created.warnings {
        let _ = writeln!(stderr, "WARNING: {w}");
    }
    Ok(created.id)
}

fn validate_pull(p: &str) -> Result<(), String> {
    match p {
        "always" | "missing" | "never" => Ok(()),
        _ => Err(format!(
            "invalid pull option: '{p}': must be one of \"always\", \"missing\" or \"never\""
        )),
    }
}

/// Send `POST /containers/{id}/wait` and return once the response headers are
/// in; the task yields the exit status (125 when waiting fails).
async fn wait_exit_or_removed(
    client: &Client,
    id: &str,
    auto_remove: bool,
) -> Result<tokio::task::JoinHandle<i32>, ClientError> {
    let cond = if auto_remove { "removed" } else { "next-exit" };
    let resp = client
        .post(&cpath(id, "/wait"), &Query::new().set("condition", cond))
        .await?;
    Ok(tokio::spawn(async move {
        match json_body::<WaitResponse>(resp).await {
            Ok(w) => {
                if let Some(e) = w.error.filter(|e| !e.message.is_empty()) {
                    eprintln!("Error waiting for container: {}", e.message);
                    return 125;
                }
                w.status_code as i32
            }
            Err(e) => {
                eprintln!("Error waiting for container: {e}");
                125
            }
        }
    }))
}

/// `docker run`: create, attach, wait (headers), start, stream, exit status.
pub async fn run(client: &Client, a: &RunArgs) -> CmdResult {
    run_with(client, a, stream::Outputs::std()).await
}

/// `run` with the container's output sent to the given writers.
pub async fn run_with(client: &Client, a: &RunArgs, outputs: stream::Outputs) -> CmdResult {
    let f = &a.flags;
    validate_pull(&f.pull).map_err(|e| Failure::new(report_error("run", &e, true), 125))?;
    let mut body = build_create_env(f, a.detach)
        .map_err(|e| Failure::new(report_error("run", &e, true), 125))?;
    if !a.detach {
        attach::check_tty(body.config.attach_stdin, f.tty)?;
    }
    if f.tty {
        if let Some((h, w)) = stream::terminal_size() {
            body.host_config.console_size = Some([h as u32, w as u32]);
        }
    }
    let id = match create_container(client, &body, f.name.as_deref(), &f.pull, f.quiet).await {
        Ok(id) => id,
        Err(e) => {
            return Err(Failure::new(
                report_error("run", &e, true),
                start_error_code(&e),
            ))
        }
    };
    if a.sig_proxy {
        signals::forward_all(client, &id);
    }
    let cfg = &body.config;
    let attach = cfg.attach_stdout || cfg.attach_stderr || cfg.attach_stdin;
    if !attach {
        println!("{id}");
    }
    let detach_keys = a.detach_keys.clone().unwrap_or_default();
    let mut session = None;
    if attach {
        let q = attach::attach_query(cfg.attach_stdin, &detach_keys);
        let conn = client.hijack(&cpath(&id, "/attach"), &q, None).await?;
        let raw = attach::raw_terminal(f.tty, cfg.attach_stdin, a.sig_proxy);
        let mut s = attach::session(f.tty, cfg.attach_stdin, &detach_keys, raw);
        s.outputs = outputs;
        session = Some(tokio::spawn(stream::stream(conn, s)));
    }
    let mut status = wait_exit_or_removed(client, &id, f.rm).await?;
    if let Err(e) = client.post(&cpath(&id, "/start"), &Query::new()).await {
        // Aborting the session drops its raw-mode guard: the terminal is restored.
        if let Some(s) = session.take() {
            s.abort();
            let _ = s.await;
        }
        let msg = e.to_string();
        eprintln!("{}", report_error("run", &msg, false));
        if f.rm {
            let _ = status.await;
        }
        return Ok(start_error_code(&msg));
    }
    let Some(mut session) = session else {
        return Ok(0);
    };
    if f.tty && stream::stdout_is_terminal() {
        attach::monitor_tty_size(client, attach::Target::Container, &id).await;
    }
    tokio::select! {
        end = &mut session => match end {
            // The user typed the detach keys: the container keeps running.
            Ok(Ok(stream::End::Detached)) => Ok(0),
            Ok(Err(e)) => Err(Failure::new(e.to_string(), 1)),
            _ => Ok(status.await.unwrap_or(125)),
        },
        code = &mut status => {
            // Output may still be in flight: let the stream run to its end, unless
            // nothing but stdin was attached.
            if !cfg.attach_stdout && !cfg.attach_stderr {
                session.abort();
            }
            let _ = session.await;
            Ok(code.unwrap_or(125))
        }
    }
}

/// `docker create`: prints the new container's ID.
pub async fn create(client: &Client, a: &CreateArgs) -> CmdResult {
    let f = &a.flags;
    validate_pull(&f.pull).map_err(|e| Failure::new(report_error("create", &e, true), 125))?;
    let mut body = build_create_env(f, false)
        .map_err(|e| Failure::new(report_error("create", &e, true), 125))?;
    if f.tty {
        if let Some((h, w)) = stream::terminal_size() {
            body.host_config.console_size = Some([h as u32, w as u32]);
        }
    }
    let id = create_container(client, &body, f.name.as_deref(), &f.pull, f.quiet)
        .await
        .map_err(|e| Failure::new(e, 1))?;
    println!("{id}");
    Ok(0)
}

/// `docker start [-a] [-i]`.
pub async fn start(client: &Client, a: &StartArgs) -> CmdResult {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(Failure::new(
                "you cannot start and attach multiple containers at once",
                1,
            ));
        }
        let name = &a.containers[0];
        let c: ContainerInspect = client
            .get_json(&cpath(name, "/json"), &Query::new())
            .await?;
        let tty = c.config.tty;
        if !tty {
            signals::forward_all(client, &c.id);
        }
        let stdin = a.interactive && c.config.open_stdin;
        let detach_keys = a.detach_keys.clone().unwrap_or_default();
        let q = attach::attach_query(stdin, &detach_keys);
        let conn = client.hijack(&cpath(&c.id, "/attach"), &q, None).await?;
        let raw = attach::raw_terminal(tty, stdin, !tty);
        let mut session = tokio::spawn(stream::stream(
            conn,
            attach::session(tty, stdin, &detach_keys, raw),
        ));
        let status = wait_exit_or_removed(client, &c.id, c.host_config.auto_remove).await?;
        if let Err(e) = client.post(&cpath(&c.id, "/start"), &Query::new()).await {
            session.abort();
            let _ = (&mut session).await;
            if c.host_config.auto_remove {
                let _ = status.await;
            }
            return Err(e.into());
        }
        if tty && stream::stdout_is_terminal() {
            attach::monitor_tty_size(client, attach::Target::Container, &c.id).await;
        }
        return match session.await {
            Ok(Ok(stream::End::Detached)) => Ok(0),
            Ok(Err(e)) => Err(Failure::new(e.to_string(), 1)),
            _ => Ok(status.await.unwrap_or(125)),
        };
    }
    let mut failed = Vec::new();
    for name in &a.containers {
        match client.post(&cpath(name, "/start"), &Query::new()).await {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("{e}");
                failed.push(name.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(Failure::new(
            format!("failed to start containers: {}", failed.join(", ")),
            1,
        ))
    }
}

/// `key=value` filters as the daemon's JSON `filters` (`{"key":{"value":true}}`).
pub fn filters_json(filters: &[String]) -> Result<Option<String>, String> {
    if filters.is_empty() {
        return Ok(None);
    }
    // Go's encoder sorts map keys.
    let mut m: std::collections::BTreeMap<String, std::collections::BTreeMap<String, bool>> =
        Default::default();
    for f in filters {
        let Some((k, v)) = f.split_once('=') else {
            return Err("bad format of filter (expected name=value)".to_string());
        };
        let k = k.trim().to_lowercase();
        m.entry(k).or_default().insert(v.trim().to_string(), true);
    }
    serde_json::to_string(&m)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The format `ps` renders with (docker's `NewContainerFormat`).
pub fn ps_format(format: Option<&str>, quiet: bool, size: bool) -> String {
    match format.unwrap_or("") {
        "" | "table" => {
            if quiet {
                "{{.ID}}".to_string()
            } else if size {
                PS_DEFAULT_SIZE.to_string()
            } else {
                PS_DEFAULT.to_string()
            }
        }
        "raw" => "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\nnames: {{.Names}}\nlabels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n".to_string(),
        f => f.to_string(),
    }
}

pub async fn ps(client: &Client, a: &PsArgs) -> CmdResult {
    let format = ps_format(a.format.as_deref(), a.quiet, a.size);
    let size = a.size || (a.format.is_some() && format.contains(".Size"));
    let limit = if a.latest { 1 } else { a.last };
    let filters = filters_json(&a.filter)?;
    let q = Query::new()
        .set_if(a.all, "all", "1")
        .set_if(limit > 0, "limit", limit.to_string())
        .set_if(size, "size", "1")
        .set_if(filters.is_some(), "filters", filters.unwrap_or_default());
    let list: Vec<ContainerSummary> = client.get_json("/containers/json", &q).await?;
    let rows: Vec<_> = list.iter().map(|c| container_row(c, !a.no_trunc)).collect();
    let out = table::render(&format, &rows, PS_HEADERS)?;
    print!("{out}");
    Ok(0)
}

/// docker's `timetypes.GetTimestamp`: Go durations are relative to now, dates and
/// RFC 3339 times become unix seconds, anything else is passed on.
pub fn get_timestamp(value: &str, now_unix: f64) -> String {
    if let Some(d) = parse_go_duration(value) {
        let t = now_unix - d;
        return format!("{}.{:09}", t.floor() as i64, ((t - t.floor()) * 1e9) as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return format!("{}.{:09}", t.and_utc().timestamp(), 0);
        }
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S") {
        return format!("{}.{:09}", t.and_utc().timestamp(), 0);
    }
    value.to_string()
}

/// Go's `time.ParseDuration` (seconds as f64); `None` if it is not one.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return if s == "0" { Some(0.0) } else { None };
    }
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(if neg { -total } else { total })
}

pub async fn logs(client: &Client, a: &LogsArgs) -> CmdResult {
    let c: ContainerInspect = client
        .get_json(&cpath(&a.container, "/json"), &Query::new())
        .await?;
    let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    let q = Query::new()
        .set("stdout", "1")
        .set("stderr", "1")
        .set_if(
            a.since.is_some(),
            "since",
            a.since
                .as_deref()
                .map(|s| get_timestamp(s, now))
                .unwrap_or_default(),
        )
        .set_if(
            a.until.is_some(),
            "until",
            a.until
                .as_deref()
                .map(|s| get_timestamp(s, now))
                .unwrap_or_default(),
        )
        .set_if(a.timestamps, "timestamps", "1")
        .set_if(a.details, "details", "1")
        .set_if(a.follow, "follow", "1")
        .set("tail", a.tail.clone());
    let resp = client.get(&cpath(&a.container, "/logs"), &q).await?;
    let mut s = body_stream(resp);
    let mut sink = stream::OutputSink::new(c.config.tty, std::io::stdout(), std::io::stderr());
    while let Some(chunk) = s.next().await {
        let chunk = chunk?;
        if sink.push(&chunk).is_err() {
            break;
        }
    }
    Ok(0)
}

pub async fn kill(client: &Client, a: &KillArgs) -> CmdResult {
    let mut errs = Vec::new();
    for name in &a.containers {
        let q = Query::new().set_if(
            a.signal.is_some(),
            "signal",
            a.signal.clone().unwrap_or_default(),
        );
        match client.post(&cpath(name, "/kill"), &q).await {
            Ok(_) => println!("{name}"),
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}

fn stop_query(a: &StopArgs) -> Query {
    Query::new()
        .set_if(
            a.signal.is_some(),
            "signal",
            a.signal.clone().unwrap_or_default(),
        )
        .set_if(a.timeout.is_some(), "t", a.timeout.unwrap_or(0).to_string())
}

pub async fn stop(client: &Client, a: &StopArgs) -> CmdResult {
    let mut errs = Vec::new();
    for name in &a.containers {
        match client.post(&cpath(name, "/stop"), &stop_query(a)).await {
            Ok(_) => println!("{name}"),
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}

pub async fn restart(client: &Client, a: &StopArgs) -> CmdResult {
    let mut errs = Vec::new();
    for name in &a.containers {
        match client.post(&cpath(name, "/restart"), &stop_query(a)).await {
            Ok(_) => println!("{name}"),
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}

pub async fn rm(client: &Client, a: &RmArgs) -> CmdResult {
    let mut errs = Vec::new();
    for name in &a.containers {
        let name = name.trim_matches('/');
        if name.is_empty() {
            errs.push("Container name cannot be empty".to_string());
            continue;
        }
        let q = Query::new()
            .set_if(a.volumes, "v", "1")
            .set_if(a.link, "link", "1")
            .set_if(a.force, "force", "1");
        match client.delete(&cpath(name, ""), &q).await {
            Ok(_) => println!("{name}"),
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}

pub async fn wait(client: &Client, a: &WaitArgs) -> CmdResult {
    let mut errs = Vec::new();
    for name in &a.containers {
        let r = match client.post(&cpath(name, "/wait"), &Query::new()).await {
            Ok(resp) => json_body::<WaitResponse>(resp).await,
            Err(e) => Err(e),
        };
        match r {
            Ok(w) => match w.error.filter(|e| !e.message.is_empty()) {
                Some(e) => errs.push(e.message),
                None => println!("{}", w.status_code),
            },
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}

/// Ask docker's prune question on stdin; true for "y"/"yes".
pub fn confirm(warning: &str) -> bool {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
}

pub async fn prune(client: &Client, a: &PruneArgs) -> CmdResult {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let filters = filters_json(&a.filter)?;
    let q = Query::new().set_if(filters.is_some(), "filters", filters.unwrap_or_default());
    let report: Value = json_body(client.post("/containers/prune", &q).await?).await?;
    let deleted: Vec<&str> = report
        .get("ContainersDeleted")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !deleted.is_empty() {
        let mut s = "Deleted Containers:\n".to_string();
        for d in deleted {
            s.push_str(d);
            s.push('\n');
        }
        println!("{s}");
    }
    let space = report
        .get("SpaceReclaimed")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    println!(
        "Total reclaimed space: {}",
        humanize::human_size_with_precision(space, 4)
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_dockers_exit_codes() {
        let e = |m: &str| start_error_code(&format!("Error response from daemon: {m}"));
        assert_eq!(
            e("failed to create task: exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(e("exec /x: no such file or directory"), 127);
        assert_eq!(e("exec /etc/hosts: permission denied"), 126);
        assert_eq!(
            e("Conflict. The container name \"/a\" is already in use"),
            125
        );
    }

    #[test]
    fn run_error_text_is_docker_28s() {
        assert_eq!(
            report_error("run", "Error response from daemon: boom", true),
            "docker: Error response from daemon: boom\n\nRun 'docker run --help' for more information"
        );
        assert_eq!(report_error("run", "x", false), "docker: x");
    }

    #[test]
    fn image_refs_normalize_like_docker() {
        assert_eq!(
            normalize_image_ref("busybox"),
            (
                "docker.io/library/busybox".into(),
                "latest".into(),
                "busybox:latest".into()
            )
        );
        assert_eq!(
            normalize_image_ref("me/app:1.0"),
            ("docker.io/me/app".into(), "1.0".into(), "me/app:1.0".into())
        );
        assert_eq!(
            normalize_image_ref("localhost:5000/app"),
            (
                "localhost:5000/app".into(),
                "latest".into(),
                "localhost:5000/app:latest".into()
            )
        );
    }

    #[test]
    fn filters_become_dockers_json() {
        let f = filters_json(&["status=exited".into(), "label=a=b".into()])
            .unwrap()
            .unwrap();
        assert_eq!(f, r#"{"label":{"a=b":true},"status":{"exited":true}}"#);
        assert!(filters_json(&["nope".into()]).is_err());
    }

    #[test]
    fn ps_format_selection() {
        assert_eq!(ps_format(None, true, false), "{{.ID}}");
        assert_eq!(ps_format(Some("table"), false, true), PS_DEFAULT_SIZE);
        assert_eq!(ps_format(Some("{{.Names}}"), true, false), "{{.Names}}");
    }

    #[test]
    fn since_accepts_durations_and_dates() {
        assert_eq!(get_timestamp("10m", 1000.0), "400.000000000");
        assert_eq!(get_timestamp("1h30m", 10000.0), "4600.000000000");
        assert_eq!(
            get_timestamp("1970-01-02T00:00:00Z", 0.0),
            "86400.000000000"
        );
        assert_eq!(get_timestamp("1700000000", 0.0), "1700000000");
        assert_eq!(parse_go_duration("1.5s"), Some(1.5));
        assert_eq!(parse_go_duration("abc"), None);
    }
}
