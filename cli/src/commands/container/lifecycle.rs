//! `kill`, `stop`, `restart`, `rm`, `wait`, `prune`, `pause`, `unpause` and
//! `rename` (docker/cli 28 `container/kill.go`, `stop.go`, `restart.go`, `rm.go`,
//! `wait.go`, `prune.go`, `pause.go`, `unpause.go`, `rename.go`).

use super::cpath;
use crate::client::{json_body, path_escape, Client, Query};
use crate::commands::{collect_errors, confirm, filters_json, CmdResult, Failure};
use crate::format::humanize;
use clap::Args;
use serde_json::Value;
use shared::api::WaitResponse;

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

#[derive(Args, Debug)]
pub struct ContainersArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub old: String,
    #[arg(value_name = "NEW_NAME")]
    pub new: String,
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

async fn each(client: &Client, a: &ContainersArgs, action: &str) -> CmdResult {
    let mut errs = Vec::new();
    for name in &a.containers {
        let path = format!("/containers/{}/{action}", path_escape(name));
        match client.post(&path, &Query::new()).await {
            Ok(_) => println!("{name}"),
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}

pub async fn pause(client: &Client, a: &ContainersArgs) -> CmdResult {
    each(client, a, "pause").await
}

pub async fn unpause(client: &Client, a: &ContainersArgs) -> CmdResult {
    each(client, a, "unpause").await
}

pub async fn rename(client: &Client, a: &RenameArgs) -> CmdResult {
    let (old, new) = (a.old.trim(), a.new.trim());
    if old.is_empty() || new.is_empty() {
        return Err(Failure::new(
            "Error: Neither old nor new names may be empty",
            1,
        ));
    }
    let q = Query::new().set("name", new);
    match client
        .post(&format!("/containers/{}/rename", path_escape(old)), &q)
        .await
    {
        Ok(_) => Ok(0),
        Err(e) => Err(Failure::new(
            format!("{e}\nError: failed to rename container named {old}"),
            1,
        )),
    }
}
