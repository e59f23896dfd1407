//! Image commands: images/ls, history, tag, rmi, import. Queries follow moby's
//! client (`ImageList`, `ImageHistory`, `ImageTag`, `ImageRemove`, `ImageImport`).

use super::container::{display_json_messages, filters_json, normalize_image_ref};
use super::{collect_errors, CmdResult, Failure};
use crate::client::{from_reader, path_escape, Client, Query};
use crate::format::rows::{
    familiar_name, history_row, image_rows, split_repo_tag, HISTORY_DEFAULT, HISTORY_HEADERS,
    IMAGES_DEFAULT, IMAGES_DEFAULT_DIGESTS, IMAGES_HEADERS,
};
use crate::format::table;
use crate::opts::io_text;
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
