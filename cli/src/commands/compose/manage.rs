//! The rest of a project's lifecycle: `down` (containers, networks, volumes
//! and images), `start`, `stop`, `restart`, `rm`, and images: building a
//! service's (`build`, or when `up` finds it missing), `pull` and `push`.

use super::convert::{self, image_of};
use super::model::{Project, Service};
use super::{containers, esc, event, exists, name_of, select};
use crate::client::{Client, Query};
use crate::commands::container::run::pull_image;
use crate::commands::image::build::{build_to, BuildArgs as ImageBuildArgs};
use crate::commands::{CmdResult, Failure};
use clap::Args;
use futures_util::future::try_join_all;
use shared::api::ContainerSummary;
use std::collections::BTreeSet;

fn fail(m: impl Into<String>) -> Failure {
    Failure::new(m, 1)
}

#[derive(Args, Debug)]
pub struct DownArgs {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")
    #[arg(long, value_name = "string")]
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long = "timeout", value_name = "int")]
    pub timeout: Option<i64>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long = "timeout", value_name = "int")]
    pub timeout: Option<i64>,
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short = 's', long)]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct BuildArgs {
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Don't print anything to STDOUT
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set build-time variables for services
    #[arg(long = "build-arg", value_name = "stringArray")]
    pub build_args: Vec<String>,
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

pub(super) async fn ensure_image(
    client: &Client,
    project: &Project,
    name: &str,
    s: &Service,
    force: bool,
    no_build: bool,
) -> Result<(), Failure> {
    let image = image_of(&project.name, name, s);
    let present = exists(client, &format!("/images/{}/json", esc(&image))).await?;
    if s.build.is_some()
        && !no_build
        && (force || !present || s.pull_policy.as_deref() == Some("build"))
    {
        return build_one(client, project, name, s, &BuildArgs::default()).await;
    }
    if present && s.pull_policy.as_deref() != Some("always") {
        return Ok(());
    }
    if s.pull_policy.as_deref() == Some("never") {
        return Err(fail(format!(
            "pull_policy is \"never\" and image {image} is missing"
        )));
    }
    event("", name, "Pulling");
    let mut sink = std::io::sink();
    pull_image(client, &image, &mut sink).await.map_err(fail)?;
    event("", name, "Pulled");
    Ok(())
}

async fn build_one(
    client: &Client,
    project: &Project,
    name: &str,
    s: &Service,
    b: &BuildArgs,
) -> Result<(), Failure> {
    let Some(build) = &s.build else { return Ok(()) };
    let mut args: Vec<String> = build.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
    args.extend(b.build_args.iter().cloned());
    let a = ImageBuildArgs {
        tags: vec![image_of(&project.name, name, s)],
        file: build
            .dockerfile
            .as_ref()
            .map(|f| build.context.join(f).to_string_lossy().into_owned()),
        build_args: args,
        no_cache: b.no_cache,
        pull: b.pull,
        target: build.target.clone(),
        quiet: b.quiet,
        rm: true,
        progress: Some("plain".into()),
        context: build.context.to_string_lossy().into_owned(),
        ..Default::default()
    };
    let code = build_to(client, &a, &mut std::io::stderr(), false).await?;
    if code != 0 {
        return Err(Failure::new(
            format!("failed to build service {name:?}"),
            code,
        ));
    }
    event("Service", name, "Built");
    Ok(())
}

pub(super) async fn stop_remove_quiet(
    client: &Client,
    id: &str,
    timeout: Option<i64>,
) -> Result<(), Failure> {
    let q = Query::new().set_if(timeout.is_some(), "t", timeout.unwrap_or(0).to_string());
    let _ = client
        .post(&format!("/containers/{}/stop", esc(id)), &q)
        .await;
    client
        .delete(
            &format!("/containers/{}", esc(id)),
            &Query::new().set("force", "1"),
        )
        .await?;
    Ok(())
}

pub(super) async fn remove(
    client: &Client,
    c: &ContainerSummary,
    timeout: Option<i64>,
    volumes: bool,
) -> Result<(), Failure> {
    let name = name_of(c);
    if c.state == "running" || c.state == "paused" || c.state == "restarting" {
        event("Container", &name, "Stopping");
        let q = Query::new().set_if(timeout.is_some(), "t", timeout.unwrap_or(0).to_string());
        client
            .post(&format!("/containers/{}/stop", esc(&c.id)), &q)
            .await?;
        event("Container", &name, "Stopped");
    }
    event("Container", &name, "Removing");
    let q = Query::new().set("force", "1").set_if(volumes, "v", "1");
    match client
        .delete(&format!("/containers/{}", esc(&c.id)), &q)
        .await
    {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    event("Container", &name, "Removed");
    Ok(())
}

/// Bring `wanted` (all when empty) to the file's state, level by level.
pub async fn down(client: &Client, project: &Project, a: &DownArgs) -> CmdResult {
    if let Some(r) = &a.rmi {
        if r != "all" && r != "local" {
            return Err(fail(format!(
                "invalid --rmi option {r:?}: \"local\" or \"all\""
            )));
        }
    }
    let list = containers(client, &project.name, &[], true, None).await?;
    if !a.remove_orphans {
        let orphans = list.iter().any(|c| {
            c.labels
                .get(convert::SERVICE)
                .is_some_and(|s| !project.services.contains_key(s) && !project.files.is_empty())
        });
        if orphans {
            super::warn("Found orphan containers for this project: they are removed too (as with --remove-orphans).");
        }
    }
    try_join_all(list.iter().map(|c| remove(client, c, a.timeout, a.volumes))).await?;
    // Networks: the file's, and any other of the project (by label).
    let filters =
        serde_json::json!({ "label": [format!("{}={}", convert::PROJECT, project.name)] })
            .to_string();
    let labelled: Vec<serde_json::Value> = client
        .get_json("/networks", &Query::new().set("filters", filters.clone()))
        .await?;
    let mut nets: BTreeSet<String> = labelled
        .iter()
        .filter_map(|n| n["Name"].as_str().map(str::to_string))
        .collect();
    for n in project.networks.values().filter(|n| !n.external) {
        if exists(client, &format!("/networks/{}", esc(&n.name))).await? {
            nets.insert(n.name.clone());
        }
    }
    for n in nets {
        event("Network", &n, "Removing");
        match client
            .delete(&format!("/networks/{}", esc(&n)), &Query::new())
            .await
        {
            Ok(_) => event("Network", &n, "Removed"),
            Err(e) if e.is_not_found() => event("Network", &n, "Removed"),
            Err(e) => return Err(e.into()),
        }
    }
    if a.volumes {
        let resp: serde_json::Value = client
            .get_json("/volumes", &Query::new().set("filters", filters))
            .await?;
        let mut vols: BTreeSet<String> = resp["Volumes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v["Name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for v in project.volumes.values().filter(|v| !v.external) {
            if exists(client, &format!("/volumes/{}", esc(&v.name))).await? {
                vols.insert(v.name.clone());
            }
        }
        for v in vols {
            event("Volume", &v, "Removing");
            client
                .delete(&format!("/volumes/{}", esc(&v)), &Query::new())
                .await?;
            event("Volume", &v, "Removed");
        }
    }
    if let Some(r) = &a.rmi {
        let mut images: BTreeSet<String> = BTreeSet::new();
        for (name, s) in &project.services {
            if r == "all" || s.image.is_none() {
                images.insert(image_of(&project.name, name, s));
            }
        }
        for i in images {
            match client
                .delete(&format!("/images/{}", esc(&i)), &Query::new())
                .await
            {
                Ok(_) => event("Image", &i, "Removed"),
                Err(e) if e.is_not_found() => {}
                Err(e) => super::warn(&e.to_string()),
            }
        }
    }
    Ok(0)
}

pub async fn start(client: &Client, project: &Project, services: &[String]) -> CmdResult {
    let names = select(project, services)?;
    let list = containers(client, &project.name, &names, true, Some(false)).await?;
    if list.is_empty() {
        return Err(fail("service(s) not found or no containers to start"));
    }
    for c in list {
        let name = name_of(&c);
        event("Container", &name, "Starting");
        client
            .post(&format!("/containers/{}/start", esc(&c.id)), &Query::new())
            .await?;
        event("Container", &name, "Started");
    }
    Ok(0)
}

/// `stop`, and `restart` (`restart: true`).
pub async fn stop(client: &Client, project: &Project, a: &StopArgs, restart: bool) -> CmdResult {
    let names = select(project, &a.services)?;
    let list = containers(client, &project.name, &names, restart, Some(false)).await?;
    let q = Query::new().set_if(a.timeout.is_some(), "t", a.timeout.unwrap_or(0).to_string());
    try_join_all(list.iter().map(|c| {
        let q = q.clone();
        async move {
            let name = name_of(c);
            let (verb, doing, done) = if restart {
                ("restart", "Restarting", "Started")
            } else {
                ("stop", "Stopping", "Stopped")
            };
            event("Container", &name, doing);
            client
                .post(&format!("/containers/{}/{verb}", esc(&c.id)), &q)
                .await?;
            event("Container", &name, done);
            Ok::<_, Failure>(())
        }
    }))
    .await?;
    Ok(0)
}

pub async fn rm(client: &Client, project: &Project, a: &RmArgs) -> CmdResult {
    let names = select(project, &a.services)?;
    let mut list = containers(client, &project.name, &names, true, Some(false)).await?;
    if a.stop {
        for c in &list {
            if c.state == "running" {
                client
                    .post(&format!("/containers/{}/stop", esc(&c.id)), &Query::new())
                    .await?;
            }
        }
        list = containers(client, &project.name, &names, true, Some(false)).await?;
    }
    list.retain(|c| c.state != "running" && c.state != "paused" && c.state != "restarting");
    if list.is_empty() {
        eprintln!("No stopped containers");
        return Ok(0);
    }
    let names: Vec<String> = list.iter().map(name_of).collect();
    if !a.force && !crate::commands::confirm(&format!("Going to remove {}", names.join(", "))) {
        return Ok(0);
    }
    for c in &list {
        remove(client, c, None, a.volumes).await?;
    }
    Ok(0)
}

pub async fn build(client: &Client, project: &Project, a: &BuildArgs) -> CmdResult {
    for name in select(project, &a.services)? {
        let s = &project.services[name];
        build_one(client, project, name, s, a).await?;
    }
    Ok(0)
}

pub async fn pull(client: &Client, project: &Project, services: &[String]) -> CmdResult {
    let names = select(project, services)?;
    try_join_all(
        names
            .iter()
            .filter(|n| project.services[**n].image.is_some())
            .map(|name| async move {
                let image = image_of(&project.name, name, &project.services[*name]);
                event("", name, "Pulling");
                let mut sink = std::io::sink();
                match pull_image(client, &image, &mut sink).await {
                    Ok(()) => {
                        event("", name, "Pulled");
                        Ok(())
                    }
                    Err(e) if project.services[*name].build.is_some() => {
                        super::warn(&format!("{name}: {e}: it is built by `up`"));
                        Ok(())
                    }
                    Err(e) => Err(fail(e)),
                }
            }),
    )
    .await?;
    Ok(0)
}

pub async fn push(client: &Client, project: &Project, services: &[String]) -> CmdResult {
    for name in select(project, services)? {
        let s = &project.services[name];
        // Only images the project names: a built image without `image:` has a
        // local name only.
        if s.build.is_none() || s.image.is_none() {
            continue;
        }
        let image = image_of(&project.name, name, s);
        let a = crate::commands::image::registry::PushArgs {
            all_tags: false,
            quiet: false,
            disable_content_trust: true,
            name: image,
        };
        let code = crate::commands::image::registry::push(client, &a).await?;
        if code != 0 {
            return Ok(code);
        }
    }
    Ok(0)
}
