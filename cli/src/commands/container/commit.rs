//! `commit`, `export` and `diff`: a container's filesystem (docker/cli 28
//! `container/commit.go`, `export.go`, `diff.go`).

use crate::client::{json_body, path_escape, Client, Query};
use crate::commands::image::archive::{refuse_terminal, write_archive};
use crate::commands::image::normalize_image_ref;
use crate::commands::{CmdResult, Failure};
use crate::format::rows::familiar_name;
use clap::Args;
use serde_json::Value;

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

/// `GET /containers/{id}/export`
pub async fn export(client: &Client, a: &ExportArgs) -> CmdResult {
    refuse_terminal(a.output.as_deref())?;
    let path = format!("/containers/{}/export", path_escape(&a.container));
    let resp = client.get(&path, &Query::new()).await?;
    write_archive(resp, a.output.as_deref()).await
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
