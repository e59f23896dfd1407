//! `save`, `load` and `import`: images to and from tar archives (docker/cli 28
//! `image/save.go`, `load.go`, `import.go`; moby's `ImageImport`). `write_archive`
//! also writes `container export`'s archive.

use crate::client::{body_stream, from_reader, Client, Query};
use crate::commands::{CmdResult, Failure};
use crate::opts::io_text;
use crate::stream::{stdin_is_terminal, stdout_is_terminal};
use clap::Args;
use futures_util::StreamExt;
use serde_json::Value;
use std::io::Write;
use std::path::Path;

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "string")]
    pub output: Option<String>,
    /// Save only the given platform variant
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long, value_name = "string")]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Load only the given platform variant
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long, value_name = "string")]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

fn fail(msg: impl Into<String>) -> Failure {
    Failure::new(msg, 1)
}

/// Where an archive goes: `-o FILE` (written beside, then renamed, as docker's
/// `AtomicWriteFile`), else stdout unless that is a terminal.
pub async fn write_archive(
    resp: hyper::Response<hyper::body::Incoming>,
    output: Option<&str>,
) -> CmdResult {
    let mut s = body_stream(resp);
    match output.filter(|o| !o.is_empty() && *o != "-") {
        Some(path) => {
            let dst = Path::new(path);
            let dir = dst
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let name = dst
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
            let mut f = std::fs::File::create(&tmp).map_err(|e| {
                fail(format!(
                    "failed to save image: invalid output path: {}",
                    io_text(&e)
                ))
            })?;
            let res: Result<(), String> = async {
                while let Some(chunk) = s.next().await {
                    let chunk = chunk.map_err(|e| e.to_string())?;
                    f.write_all(&chunk).map_err(|e| io_text(&e))?;
                }
                f.sync_all().map_err(|e| io_text(&e))?;
                std::fs::rename(&tmp, dst).map_err(|e| io_text(&e))
            }
            .await;
            if let Err(e) = res {
                let _ = std::fs::remove_file(&tmp);
                return Err(fail(e));
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = s.next().await {
                let chunk = chunk.map_err(|e| fail(e.to_string()))?;
                out.write_all(&chunk).map_err(|e| fail(io_text(&e)))?;
            }
            out.flush().map_err(|e| fail(io_text(&e)))?;
        }
    }
    Ok(0)
}

pub fn refuse_terminal(output: Option<&str>) -> Result<(), Failure> {
    if output.is_none_or(|o| o.is_empty()) && stdout_is_terminal() {
        return Err(fail(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    Ok(())
}

/// `GET /images/get?names=...`
pub async fn save(client: &Client, a: &SaveArgs) -> CmdResult {
    refuse_terminal(a.output.as_deref())?;
    let mut q = Query::new();
    for i in &a.images {
        q = q.set("names", i.clone());
    }
    if let Some(p) = &a.platform {
        q = q.set("platform", p.clone());
    }
    let resp = client.get("/images/get", &q).await?;
    write_archive(resp, a.output.as_deref()).await
}

/// `POST /images/load`: JSON messages back; progress bars only on a terminal.
pub async fn load(client: &Client, a: &LoadArgs) -> CmdResult {
    let body = match a.input.as_deref().filter(|i| !i.is_empty()) {
        Some(path) => {
            let f = tokio::fs::File::open(path)
                .await
                .map_err(|e| fail(format!("open {path}: {}", io_text(&e))))?;
            from_reader(f)
        }
        None => {
            if stdin_is_terminal() {
                return Err(fail("requested load from stdin, but stdin is empty"));
            }
            from_reader(tokio::io::stdin())
        }
    };
    let tty = stdout_is_terminal();
    let q = Query::new().set_if(a.quiet || !tty, "quiet", "1");
    let resp = client
        .request(
            hyper::Method::POST,
            "/images/load",
            &q,
            vec![("Content-Type", "application/x-tar".to_string())],
            body,
        )
        .await?;
    let mut out = std::io::stdout();
    display_load(resp, &mut out, tty && !a.quiet)
        .await
        .map_err(fail)?;
    Ok(0)
}

/// docker's `jsonmessage.DisplayJSONMessagesStream` for load: `stream` text is
/// printed; on a terminal each layer's progress line is redrawn in place.
async fn display_load(
    resp: hyper::Response<hyper::body::Incoming>,
    out: &mut dyn Write,
    tty: bool,
) -> Result<(), String> {
    let mut s = body_stream(resp);
    let mut buf = Vec::new();
    // Progress lines by ID, in order of appearance, and where the cursor is.
    let mut ids: Vec<String> = Vec::new();
    let mut handle = |line: &[u8], ids: &mut Vec<String>| -> Result<(), String> {
        let line = String::from_utf8_lossy(line);
        let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
            return Ok(());
        };
        if let Some(e) = v["errorDetail"]["message"].as_str().or(v["error"].as_str()) {
            return Err(e.to_string());
        }
        if let Some(text) = v["stream"].as_str() {
            let _ = out.write_all(text.as_bytes());
            return Ok(());
        }
        let id = v["id"].as_str().unwrap_or("");
        let status = v["status"].as_str().unwrap_or("");
        if v["progressDetail"]["current"].is_null() {
            if !status.is_empty() {
                let _ = writeln!(out, "{status}");
            }
            return Ok(());
        }
        if !tty {
            return Ok(());
        }
        let progress = v["progress"].as_str().unwrap_or("");
        let text = format!("{id}: {status} {progress}");
        match ids.iter().position(|i| i == id) {
            Some(pos) => {
                // Move up to that line, redraw it, come back down.
                let up = ids.len() - pos;
                let _ = write!(out, "\x1b[{up}A\r\x1b[2K{text}\r\x1b[{up}B");
            }
            None => {
                ids.push(id.to_string());
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
            handle(&line, &mut ids)?;
        }
    }
    handle(&buf, &mut ids)
}

pub async fn import(client: &Client, a: &ImportArgs) -> CmdResult {
    if let Some(r) = &a.reference {
        if r.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(Failure::new(
                format!("invalid reference format: repository name ({r}) must be lowercase"),
                1,
            ));
        }
    }
    let (from_src, body) = if a.source == "-" {
        ("-".to_string(), from_reader(tokio::io::stdin()))
    } else if a.source.starts_with("http://") || a.source.starts_with("https://") {
        (a.source.clone(), crate::client::empty())
    } else {
        let f = tokio::fs::File::open(&a.source)
            .await
            .map_err(|e| Failure::new(format!("open {}: {}", a.source, io_text(&e)), 1))?;
        ("-".to_string(), from_reader(f))
    };
    let mut q = Query::new()
        .set("fromSrc", from_src)
        .set("repo", a.reference.clone().unwrap_or_default())
        .set("tag", "")
        .set("message", a.message.clone().unwrap_or_default())
        .set_if(
            a.platform.is_some(),
            "platform",
            a.platform.clone().unwrap_or_default(),
        );
    for c in &a.change {
        q = q.set("changes", c.clone());
    }
    let resp = client
        .request(hyper::Method::POST, "/images/create", &q, Vec::new(), body)
        .await?;
    let mut out = std::io::stdout();
    display_json_messages(resp, &mut out)
        .await
        .map_err(|e| Failure::new(e, 1))?;
    Ok(0)
}

/// Print a JSON progress stream (docker's `jsonmessage`, non-terminal form).
/// Returns the last `aux` object, or the stream's error message.
pub async fn display_json_messages(
    resp: hyper::Response<hyper::body::Incoming>,
    out: &mut dyn Write,
) -> Result<Option<Value>, String> {
    display_json_stream(resp, out).await.map_err(|(m, _)| m)
}

/// As [`display_json_messages`], the error with its `errorDetail.code` (a
/// build's failed step: the CLI exits with it).
pub async fn display_json_stream(
    resp: hyper::Response<hyper::body::Incoming>,
    out: &mut dyn Write,
) -> Result<Option<Value>, (String, Option<i64>)> {
    let mut s = body_stream(resp);
    let mut buf = Vec::new();
    let mut aux = None;
    let mut handle = |line: &[u8], aux: &mut Option<Value>| -> Result<(), (String, Option<i64>)> {
        let line = String::from_utf8_lossy(line);
        let line = line.trim();
        if line.is_empty() {
            return Ok(());
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return Ok(());
        };
        let code = v
            .get("errorDetail")
            .and_then(|d| d.get("code"))
            .and_then(Value::as_i64);
        if let Some(e) = v
            .get("errorDetail")
            .and_then(|d| d.get("message"))
            .and_then(Value::as_str)
        {
            return Err((e.to_string(), code));
        }
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            return Err((e.to_string(), code));
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
        let chunk = chunk.map_err(|e| (e.to_string(), None))?;
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            handle(&line, &mut aux)?;
        }
    }
    handle(&buf, &mut aux)?;
    Ok(aux)
}
