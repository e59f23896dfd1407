//! `system df` and `system prune` (docker/cli 28 `system/df.go`, `system/prune.go`,
//! `formatter/disk_usage.go`).

use crate::client::{json_body, Client, Query};
use crate::commands::image::local::prune_images;
use crate::commands::{confirm, filters_json, CmdResult};
use crate::format::humanize::{human_size, human_size_with_precision};
use crate::format::table;
use clap::Args;
use serde_json::Value;
use std::collections::BTreeMap;

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
