//! The local image workflow: commit, save, load, export, diff, system df, and the
//! image and system prune commands. Flags, requests and output follow docker/cli
//! (`cli/command/{container,image,system}/*.go`).

use super::container::{confirm, filters_json, normalize_image_ref};
use super::{CmdResult, Failure};
use crate::client::{body_stream, from_reader, json_body, path_escape, Client, Query};
use crate::format::humanize::{human_size, human_size_with_precision};
use crate::format::rows::familiar_name;
use crate::format::table;
use crate::opts::io_text;
use crate::stream::{stdin_is_terminal, stdout_is_terminal};
use clap::Args;
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long, value_name = "string")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long, value_name = "string")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub pause: bool,
    /// Do not pause the container during commit
    #[arg(long = "no-pause")]
    pub no_pause: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

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
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "string")]
    pub output: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Args, Debug)]
pub struct DfArgs {
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
}

fn fail(msg: impl Into<String>) -> Failure {
    Failure::new(msg, 1)
}

/// `POST /commit`; prints the new image ID.
pub async fn commit(client: &Client, a: &CommitArgs) -> CmdResult {
    let mut q = Query::new().set("container", a.container.clone());
    if let Some(r) = a.reference.as_deref().filter(|r| !r.is_empty()) {
        if r.contains('@') {
            return Err(fail("refusing to create a tag with a digest reference"));
        }
        let (repo, tag) = crate::format::rows::split_repo_tag(r);
        if repo.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(fail(format!(
                "invalid reference format: repository name ({repo}) must be lowercase"
            )));
        }
        let (full, _, _) = normalize_image_ref(&repo);
        q = q
            .set("repo", familiar_name(&full))
            .set("tag", tag.unwrap_or_default());
    }
    q = q
        .set("comment", a.message.clone().unwrap_or_default())
        .set("author", a.author.clone().unwrap_or_default());
    for c in &a.change {
        q = q.set("changes", c.clone());
    }
    let pause = a.pause && !a.no_pause;
    q = q.set("pause", if pause { "1" } else { "0" });
    let v: Value = json_body(client.post("/commit", &q).await?).await?;
    println!("{}", v["Id"].as_str().unwrap_or_default());
    Ok(0)
}

/// Where an archive goes: `-o FILE` (written beside, then renamed, as docker's
/// `AtomicWriteFile`), else stdout unless that is a terminal.
async fn write_archive(
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

fn refuse_terminal(output: Option<&str>) -> Result<(), Failure> {
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

/// `GET /containers/{id}/export`
pub async fn export(client: &Client, a: &ExportArgs) -> CmdResult {
    refuse_terminal(a.output.as_deref())?;
    let path = format!("/containers/{}/export", path_escape(&a.container));
    let resp = client.get(&path, &Query::new()).await?;
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

/// `GET /containers/{id}/changes`
pub async fn diff(client: &Client, a: &DiffArgs) -> CmdResult {
    let path = format!("/containers/{}/changes", path_escape(&a.container));
    let rows: Option<Vec<Value>> = client.get_json(&path, &Query::new()).await?;
    for r in rows.unwrap_or_default() {
        let kind = match r["Kind"].as_u64() {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        println!("{kind} {}", r["Path"].as_str().unwrap_or(""));
    }
    Ok(0)
}

fn row(pairs: &[(&str, String)]) -> table::Row {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect::<BTreeMap<_, _>>()
}

const DF_DEFAULT: &str =
    "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const DF_HEADERS: &[(&str, &str)] = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];

/// go-units `HumanSize` (four significant digits), as the df summary prints.
fn df_size(n: i64) -> String {
    human_size_with_precision(n as f64, 4)
}

fn with_percent(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!("{} ({}%)", df_size(reclaimable), reclaimable * 100 / total)
    } else {
        df_size(reclaimable)
    }
}

/// The summary rows of `system df` (docker/cli `formatter/disk_usage.go`).
pub fn df_rows(v: &Value) -> Vec<table::Row> {
    let empty = Vec::new();
    let images = v["Images"].as_array().unwrap_or(&empty);
    let containers = v["Containers"].as_array().unwrap_or(&empty);
    let layers = v["LayersSize"].as_i64().unwrap_or(0);
    let active_images = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .count();
    let used: i64 = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .map(|i| i["Size"].as_i64().unwrap_or(0) - i["SharedSize"].as_i64().unwrap_or(0))
        .sum();
    let c_size: i64 = containers
        .iter()
        .map(|c| c["SizeRw"].as_i64().unwrap_or(0))
        .sum();
    let running = |c: &&Value| c["State"] == "running" || c["State"] == "paused";
    let c_active = containers.iter().filter(running).count();
    let c_reclaim: i64 = containers
        .iter()
        .filter(|c| !running(c))
        .map(|c| c["SizeRw"].as_i64().unwrap_or(0))
        .sum();
    vec![
        row(&[
            ("Type", "Images".into()),
            ("TotalCount", images.len().to_string()),
            ("Active", active_images.to_string()),
            ("Size", df_size(layers)),
            ("Reclaimable", with_percent(layers - used, layers)),
        ]),
        row(&[
            ("Type", "Containers".into()),
            ("TotalCount", containers.len().to_string()),
            ("Active", c_active.to_string()),
            ("Size", df_size(c_size)),
            ("Reclaimable", with_percent(c_reclaim, c_size)),
        ]),
        row(&[
            ("Type", "Local Volumes".into()),
            ("TotalCount", "0".into()),
            ("Active", "0".into()),
            ("Size", "0B".into()),
            ("Reclaimable", "0B".into()),
        ]),
        row(&[
            ("Type", "Build Cache".into()),
            ("TotalCount", "0".into()),
            ("Active", "0".into()),
            ("Size", "0B".into()),
            ("Reclaimable", "0B".into()),
        ]),
    ]
}

/// `GET /system/df`
pub async fn df(client: &Client, a: &DfArgs) -> CmdResult {
    let v: Value = client.get_json("/system/df", &Query::new()).await?;
    if a.verbose {
        return df_verbose(&v);
    }
    let format = match a.format.as_deref().unwrap_or("") {
        "" | "table" => DF_DEFAULT.to_string(),
        f => f.to_string(),
    };
    print!("{}", table::render(&format, &df_rows(&v), DF_HEADERS)?);
    Ok(0)
}

fn df_verbose(v: &Value) -> CmdResult {
    let empty = Vec::new();
    let mut out = String::from("Images space usage:\n\n");
    let mut text = String::from(
        "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS\n",
    );
    for i in v["Images"].as_array().unwrap_or(&empty) {
        let id = i["Id"].as_str().unwrap_or("");
        let short: String = id.trim_start_matches("sha256:").chars().take(12).collect();
        let size = i["Size"].as_i64().unwrap_or(0);
        let shared = i["SharedSize"].as_i64().unwrap_or(0);
        let created = crate::format::humanize::time_ago(i["Created"].as_i64().unwrap_or(0));
        let tags: Vec<String> = i["RepoTags"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        let pairs: Vec<(String, String)> = if tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            tags.iter()
                .map(|t| {
                    let (r, t) = crate::format::rows::split_repo_tag(t);
                    (r, t.unwrap_or_default())
                })
                .collect()
        };
        for (repo, tag) in pairs {
            text.push_str(&format!(
                "{repo}\t{tag}\t{short}\t{created}\t{}\t{}\t{}\t{}\n",
                human_size(size),
                human_size(shared),
                human_size(size - shared),
                i["Containers"].as_i64().unwrap_or(0)
            ));
        }
    }
    out.push_str(&table::align(&text));
    out.push_str("\nContainers space usage:\n\n");
    let mut text =
        String::from("CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES\n");
    for c in v["Containers"].as_array().unwrap_or(&empty) {
        let id: String = c["Id"].as_str().unwrap_or("").chars().take(12).collect();
        let name = c["Names"][0].as_str().unwrap_or("").trim_start_matches('/');
        let cmd = c["Command"].as_str().unwrap_or("");
        let cmd = crate::format::rows::ellipsis(cmd, 20);
        text.push_str(&format!(
            "{id}\t{}\t\"{cmd}\"\t0\t{}\t{}\t{}\t{name}\n",
            c["Image"].as_str().unwrap_or(""),
            human_size(c["SizeRw"].as_i64().unwrap_or(0)),
            crate::format::humanize::time_ago(c["Created"].as_i64().unwrap_or(0)),
            c["Status"].as_str().unwrap_or(""),
        ));
    }
    out.push_str(&table::align(&text));
    out.push_str("\nLocal Volumes space usage:\n\n");
    out.push_str(&table::align("VOLUME NAME\tLINKS\tSIZE\n"));
    out.push_str("\nBuild cache usage: 0B\n\n");
    out.push_str(&table::align(
        "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n",
    ));
    print!("{out}");
    Ok(0)
}

/// `POST /images/prune`; the report text (without the total line) and the space.
async fn prune_images(
    client: &Client,
    all: bool,
    filter: &[String],
) -> Result<(String, f64), Failure> {
    let mut filters = filter.to_vec();
    if all {
        filters.push("dangling=false".into());
    } else {
        filters.push("dangling=true".into());
    }
    let f = filters_json(&filters)?;
    let q = Query::new().set_if(f.is_some(), "filters", f.unwrap_or_default());
    let report: Value = json_body(client.post("/images/prune", &q).await?).await?;
    let mut out = String::new();
    let rows = report["ImagesDeleted"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !rows.is_empty() {
        out.push_str("Deleted Images:\n");
        for r in rows {
            if let Some(u) = r["Untagged"].as_str() {
                out.push_str(&format!("untagged: {u}\n"));
            }
            if let Some(d) = r["Deleted"].as_str() {
                out.push_str(&format!("deleted: {d}\n"));
            }
        }
    }
    Ok((out, report["SpaceReclaimed"].as_f64().unwrap_or(0.0)))
}

/// `docker image prune`
pub async fn image_prune(client: &Client, a: &ImagePruneArgs) -> CmdResult {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let (out, space) = prune_images(client, a.all, &a.filter).await?;
    if !out.is_empty() {
        println!("{out}");
    }
    println!(
        "Total reclaimed space: {}",
        human_size_with_precision(space, 4)
    );
    Ok(0)
}

/// `docker system prune`: containers, networks, with `--volumes` anonymous
/// volumes, images (and nothing for the build cache, which this engine does not
/// keep yet).
pub async fn system_prune(client: &Client, a: &SystemPruneArgs) -> CmdResult {
    if !a.force {
        let mut warning = String::from(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
        );
        if a.volumes {
            warning.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        if a.all {
            warning.push_str("  - all images without at least one container associated to them\n");
        } else {
            warning.push_str("  - all dangling images\n");
        }
        warning.push_str("  - unused build cache\n");
        if !confirm(&warning) {
            return Ok(0);
        }
    }
    let f = filters_json(&a.filter)?;
    let q = Query::new().set_if(f.is_some(), "filters", f.clone().unwrap_or_default());
    let mut total = 0.0;
    let report: Value = json_body(client.post("/containers/prune", &q).await?).await?;
    let deleted: Vec<&str> = report["ContainersDeleted"]
        .as_array()
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
    total += report["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    // Networks: only when the daemon has the endpoint.
    if let Ok(resp) = client.post("/networks/prune", &q).await {
        if let Ok(r) = json_body::<Value>(resp).await {
            let nets: Vec<&str> = r["NetworksDeleted"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !nets.is_empty() {
                let mut s = "Deleted Networks:\n".to_string();
                for n in nets {
                    s.push_str(n);
                    s.push('\n');
                }
                println!("{s}");
            }
        }
    }
    // Volumes: anonymous ones not used by a container (docker's default).
    if a.volumes {
        let r: Value = json_body(client.post("/volumes/prune", &q).await?).await?;
        let vols: Vec<&str> = r["VolumesDeleted"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !vols.is_empty() {
            let mut s = "Deleted Volumes:\n".to_string();
            for v in vols {
                s.push_str(v);
                s.push('\n');
            }
            println!("{s}");
        }
        total += r["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    }
    let (out, space) = prune_images(client, a.all, &a.filter).await?;
    if !out.is_empty() {
        println!("{out}");
    }
    total += space;
    println!(
        "Total reclaimed space: {}",
        human_size_with_precision(total, 4)
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_summary_counts_shared_layers_once() {
        let v = serde_json::json!({
            "LayersSize": 1000,
            "Images": [
                {"Size": 800, "SharedSize": 600, "Containers": 1},
                {"Size": 800, "SharedSize": 600, "Containers": 0},
            ],
            "Containers": [
                {"SizeRw": 10, "State": "exited"},
                {"SizeRw": 30, "State": "running"},
            ],
        });
        let rows = df_rows(&v);
        assert_eq!(rows[0]["TotalCount"], "2");
        assert_eq!(rows[0]["Active"], "1");
        assert_eq!(rows[0]["Size"], "1kB");
        assert_eq!(rows[0]["Reclaimable"], "800B (80%)");
        assert_eq!(rows[1]["Size"], "40B");
        assert_eq!(rows[1]["Reclaimable"], "10B (25%)");
    }
}
