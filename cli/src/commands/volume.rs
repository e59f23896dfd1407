//! `volume create|ls|inspect|rm|prune` (docker/cli 28 `cli/command/volume/*.go`).

use super::{collect_errors, CmdResult};
use crate::client::{json_body, path_escape, Client, Query};
use crate::format::humanize;
use crate::format::table::{render, Row};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Subcommand, Debug)]
pub enum VolumeCmd {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Specify volume name
    #[arg(long = "name", value_name = "string")]
    pub name_flag: Option<String>,
    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

fn kv_map(items: &[String]) -> serde_json::Map<String, Value> {
    items
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), Value::from(v))
        })
        .collect()
}

fn filter_query(filters: &[String]) -> Result<Query, String> {
    let f = super::filters_json(filters)?;
    Ok(Query::new().set_if(f.is_some(), "filters", f.unwrap_or_default()))
}

pub async fn run(client: &Client, cmd: &VolumeCmd) -> CmdResult {
    match cmd {
        VolumeCmd::Create(a) => {
            if let (Some(n), Some(f)) = (&a.name, &a.name_flag) {
                if n != f {
                    return Err(
                        "conflicting options: either specify --name or provide positional arg, not both"
                            .to_string()
                            .into(),
                    );
                }
            }
            let name = a.name.clone().or(a.name_flag.clone()).unwrap_or_default();
            let body = json!({
                "Name": name,
                "Driver": a.driver,
                "DriverOpts": kv_map(&a.opt),
                "Labels": kv_map(&a.label),
            });
            let resp = client
                .post_json("/volumes/create", &Query::new(), &body)
                .await?;
            let v: Value = json_body(resp).await?;
            println!("{}", v["Name"].as_str().unwrap_or_default());
            Ok(0)
        }
        VolumeCmd::Ls(a) => {
            let v: Value = client
                .get_json("/volumes", &filter_query(&a.filter)?)
                .await?;
            let mut list: Vec<Value> = v["Volumes"].as_array().cloned().unwrap_or_default();
            list.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
            if a.quiet {
                for v in &list {
                    println!("{}", v["Name"].as_str().unwrap_or_default());
                }
                return Ok(0);
            }
            let rows: Vec<Row> = list
                .iter()
                .map(|v| {
                    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                    let labels = v["Labels"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or_default()))
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_default();
                    Row::from([
                        ("Driver".to_string(), s("Driver")),
                        ("Name".to_string(), s("Name")),
                        ("Mountpoint".to_string(), s("Mountpoint")),
                        ("Scope".to_string(), s("Scope")),
                        ("Labels".to_string(), labels),
                    ])
                })
                .collect();
            let format = a
                .format
                .clone()
                .unwrap_or_else(|| "table {{.Driver}}\t{{.Name}}".into());
            let headers = [
                ("Driver", "DRIVER"),
                ("Name", "VOLUME NAME"),
                ("Mountpoint", "MOUNTPOINT"),
                ("Scope", "SCOPE"),
                ("Labels", "LABELS"),
            ];
            print!("{}", render(&format, &rows, &headers)?);
            Ok(0)
        }
        VolumeCmd::Inspect(a) => {
            super::system::inspect::inspect_each(
                client,
                "/volumes",
                &a.volumes,
                a.format.as_deref(),
            )
            .await
        }
        VolumeCmd::Rm(a) => {
            let mut errs = Vec::new();
            for n in &a.volumes {
                let q = Query::new().set_if(a.force, "force", "1");
                match client
                    .delete(&format!("/volumes/{}", path_escape(n)), &q)
                    .await
                {
                    Ok(_) => println!("{n}"),
                    Err(e) => errs.push(e.to_string()),
                }
            }
            collect_errors(errs)
        }
        VolumeCmd::Prune(a) => {
            let warning = if a.all {
                "WARNING! This will remove all local volumes not used by at least one container."
            } else {
                "WARNING! This will remove anonymous local volumes not used by at least one container."
            };
            if !a.force && !super::confirm(warning) {
                return Ok(0);
            }
            let mut filters = a.filter.clone();
            if a.all {
                filters.push("all=true".into());
            }
            let resp = client
                .post("/volumes/prune", &filter_query(&filters)?)
                .await?;
            let v: Value = json_body(resp).await?;
            let deleted: Vec<&str> = v["VolumesDeleted"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !deleted.is_empty() {
                let mut s = "Deleted Volumes:\n".to_string();
                for d in deleted {
                    s.push_str(d);
                    s.push('\n');
                }
                println!("{s}");
            }
            let space = v["SpaceReclaimed"].as_f64().unwrap_or(0.0);
            println!(
                "Total reclaimed space: {}",
                humanize::human_size_with_precision(space, 4)
            );
            Ok(0)
        }
    }
}
