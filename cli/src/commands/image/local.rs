//! The images a daemon has: `images`/`ls`, `history`, `tag`, `rmi` and `image
//! prune`. Queries follow moby's client (`ImageList`, `ImageHistory`, `ImageTag`,
//! `ImageRemove`, `ImagesPrune`).

use super::normalize_image_ref;
use crate::client::{json_body, path_escape, Client, Query};
use crate::commands::{collect_errors, confirm, filters_json, CmdResult, Failure};
use crate::format::humanize::human_size_with_precision;
use crate::format::rows::{
    familiar_name, history_row, image_rows, split_repo_tag, HISTORY_DEFAULT, HISTORY_HEADERS,
    IMAGES_DEFAULT, IMAGES_DEFAULT_DIGESTS, IMAGES_HEADERS,
};
use crate::format::table;
use clap::Args;
use serde_json::Value;
use shared::api::{HistoryItem, ImageSummary};

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// List multi-platform images as a tree (not supported)
    #[arg(long, hide = true)]
    pub tree: bool,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
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

fn ipath(name: &str, rest: &str) -> String {
    format!("/images/{}{}", path_escape(name), rest)
}

/// The format `images` renders with (docker's `NewImageFormat`): `--digests`
/// adds the DIGEST column to a table format that has none.
pub fn images_format(format: Option<&str>, quiet: bool, digests: bool) -> String {
    match format.unwrap_or("") {
        "" | "table" => {
            if quiet {
                "{{.ID}}".into()
            } else if digests {
                IMAGES_DEFAULT_DIGESTS.into()
            } else {
                IMAGES_DEFAULT.into()
            }
        }
        f if digests && f.starts_with("table") && !f.contains("{{.Digest}}") => {
            format!("{f}\t{{{{.Digest}}}}")
        }
        f => f.to_string(),
    }
}

pub async fn images(client: &Client, a: &ImagesArgs) -> CmdResult {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.reference {
        filters.push(format!("reference={r}"));
    }
    let filters = filters_json(&filters)?;
    let q = Query::new().set_if(a.all, "all", "1").set_if(
        filters.is_some(),
        "filters",
        filters.unwrap_or_default(),
    );
    let list: Vec<ImageSummary> = client.get_json("/images/json", &q).await?;
    let format = images_format(a.format.as_deref(), a.quiet, a.digests);
    let need_digest = a.digests || format.contains("{{.Digest}}");
    let mut rows = image_rows(&list, !a.no_trunc, a.digests, need_digest);
    if a.quiet && a.format.is_none() {
        // One line per image, not per tag.
        rows.dedup_by(|x, y| x["ID"] == y["ID"]);
    }
    print!("{}", table::render(&format, &rows, IMAGES_HEADERS)?);
    Ok(0)
}

pub async fn history(client: &Client, a: &HistoryArgs) -> CmdResult {
    let q = Query::new();
    let items: Vec<HistoryItem> = client.get_json(&ipath(&a.image, "/history"), &q).await?;
    let format = match a.format.as_deref().unwrap_or("") {
        "" | "table" if a.quiet => "{{.ID}}".to_string(),
        "" | "table" => HISTORY_DEFAULT.to_string(),
        f => f.to_string(),
    };
    let rows: Vec<_> = items
        .iter()
        .map(|h| history_row(h, !a.no_trunc, a.human))
        .collect();
    print!("{}", table::render(&format, &rows, HISTORY_HEADERS)?);
    Ok(0)
}

/// `repo` and `tag` for `POST /images/{id}/tag`: familiar name, tag `latest` by default.
pub fn tag_query(target: &str) -> Result<Query, String> {
    if target.contains('@') {
        return Err("refusing to create a tag with a digest reference".into());
    }
    let (repo, tag) = split_repo_tag(target);
    if repo.is_empty() || repo.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "invalid reference format: repository name ({repo}) must be lowercase"
        ));
    }
    let (full, _, _) = normalize_image_ref(&repo);
    Ok(Query::new()
        .set("repo", familiar_name(&full))
        .set("tag", tag.unwrap_or_else(|| "latest".into())))
}

pub async fn tag(client: &Client, a: &TagArgs) -> CmdResult {
    let q = tag_query(&a.target)?;
    client.post(&ipath(&a.source, "/tag"), &q).await?;
    Ok(0)
}

pub async fn rmi(client: &Client, a: &RmiArgs) -> CmdResult {
    let mut errs = Vec::new();
    for name in &a.images {
        let q = Query::new()
            .set_if(a.force, "force", "1")
            .set_if(a.no_prune, "noprune", "1");
        match client.delete(&ipath(name, ""), &q).await {
            Ok(resp) => {
                let items: Vec<Value> = crate::client::json_body(resp).await?;
                for it in items {
                    if let Some(u) = it.get("Untagged").and_then(Value::as_str) {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = it.get("Deleted").and_then(Value::as_str) {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}

/// `POST /images/prune`; the report text (without the total line) and the space.
pub async fn prune_images(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_defaults_to_latest_and_familiar_names() {
        assert_eq!(
            tag_query("myimg").unwrap().encode(),
            "repo=myimg&tag=latest"
        );
        assert_eq!(
            tag_query("localhost:5000/app:v2").unwrap().encode(),
            "repo=localhost%3A5000%2Fapp&tag=v2"
        );
        assert_eq!(
            tag_query("docker.io/library/x:1").unwrap().encode(),
            "repo=x&tag=1"
        );
        assert!(tag_query("Upper").is_err());
    }

    #[test]
    fn images_format_selection() {
        assert_eq!(images_format(None, true, false), "{{.ID}}");
        assert_eq!(
            images_format(Some("table"), false, true),
            IMAGES_DEFAULT_DIGESTS
        );
        // As docker's NewImageFormat: a table without the column gets it.
        assert_eq!(
            images_format(Some("table {{.ID}}"), false, true),
            "table {{.ID}}\t{{.Digest}}"
        );
        assert_eq!(
            images_format(Some("table {{.Digest}}"), false, true),
            "table {{.Digest}}"
        );
        assert_eq!(images_format(Some("{{.ID}}"), false, true), "{{.ID}}");
    }
}
