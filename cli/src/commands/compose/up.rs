//! Bringing a project up: networks and volumes first, then services in
//! dependency order (services of one level side by side, as Compose does),
//! each waiting for its `depends_on` conditions; containers whose definition
//! changed are recreated, extra replicas removed. Also `create` and `--wait`.

use super::convert::{self, config_hash, container_name, create_request};
use super::manage::{ensure_image, remove, stop_remove_quiet};
use super::model::{Condition, Project, Service};
use super::{containers, esc, event, exists, name_of, number_of, select, view};
use crate::client::{json_body, Client, Query};
use crate::commands::{CmdResult, Failure};
use clap::Args;
use futures_util::future::try_join_all;
use shared::api::{ContainerInspect, ContainerSummary, IdResponse};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Args, Debug, Default)]
pub struct UpArgs {
    /// Detached mode: Run containers in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long = "no-build")]
    pub no_build: bool,
    /// Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Wait for services to be running|healthy. Implies detached mode.
    #[arg(long)]
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy
    #[arg(long = "wait-timeout", value_name = "int")]
    pub wait_timeout: Option<u64>,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Don't start the services after creating them
    #[arg(long = "no-start")]
    pub no_start: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Use this timeout in seconds for container shutdown when attached or when containers are already running
    #[arg(short = 't', long = "timeout", value_name = "int")]
    pub timeout: Option<i64>,
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// Scale SERVICE to NUM instances
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

fn fail(m: impl Into<String>) -> Failure {
    Failure::new(m, 1)
}

/// `--scale web=3` as a map.
fn scales(list: &[String]) -> Result<BTreeMap<String, u32>, Failure> {
    list.iter()
        .map(|s| {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| fail(format!("invalid --scale {s:?}: SERVICE=NUM")))?;
            let n = v
                .parse::<u32>()
                .map_err(|_| fail(format!("invalid --scale {s:?}: NUM must be a number")))?;
            Ok((k.to_string(), n))
        })
        .collect()
}

/// The services in start order, level by level; an error on a cycle.
pub fn levels(
    project: &Project,
    wanted: &[&str],
    with_deps: bool,
) -> Result<Vec<Vec<String>>, Failure> {
    let mut chosen: BTreeSet<String> = wanted.iter().map(|s| s.to_string()).collect();
    if with_deps {
        let mut todo: Vec<String> = chosen.iter().cloned().collect();
        while let Some(s) = todo.pop() {
            if let Some(svc) = project.services.get(&s) {
                for d in svc.depends_on.keys() {
                    if project.services.contains_key(d) && chosen.insert(d.clone()) {
                        todo.push(d.clone());
                    }
                }
            }
        }
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = vec![];
    while done.len() < chosen.len() {
        let level: Vec<String> = chosen
            .iter()
            .filter(|s| !done.contains(*s))
            .filter(|s| {
                project.services[*s]
                    .depends_on
                    .keys()
                    .all(|d| done.contains(d) || !chosen.contains(d))
            })
            .cloned()
            .collect();
        if level.is_empty() {
            let left: Vec<&String> = chosen.iter().filter(|s| !done.contains(*s)).collect();
            return Err(fail(format!(
                "dependency cycle detected: {}",
                left.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        done.extend(level.iter().cloned());
        out.push(level);
    }
    Ok(out)
}

/// Create the project's networks and volumes that are missing.
pub async fn ensure_resources(
    client: &Client,
    project: &Project,
    services: &[String],
) -> Result<(), Failure> {
    let used_nets: BTreeSet<&String> = services
        .iter()
        .filter_map(|s| project.services.get(s))
        .flat_map(|s| s.networks.keys())
        .collect();
    for (key, net) in &project.networks {
        if !used_nets.contains(key) {
            continue;
        }
        if exists(client, &format!("/networks/{}", esc(&net.name))).await? {
            continue;
        }
        if net.external {
            return Err(fail(format!(
                "network {} declared as external, but could not be found",
                net.name
            )));
        }
        event("Network", &net.name, "Creating");
        let mut labels = net.labels.clone();
        labels.insert(convert::NETWORK.into(), key.clone());
        labels.insert(convert::PROJECT.into(), project.name.clone());
        labels.insert(convert::VERSION.into(), convert::COMPOSE_VERSION.into());
        let body = serde_json::json!({
            "Name": net.name,
            "Driver": net.driver.clone().unwrap_or_else(|| "bridge".into()),
            "Internal": net.internal,
            "Labels": labels,
        });
        client
            .post_json("/networks/create", &Query::new(), &body)
            .await?;
        event("Network", &net.name, "Created");
    }
    let used_vols: BTreeSet<&String> = services
        .iter()
        .filter_map(|s| project.services.get(s))
        .flat_map(|s| s.volumes.iter().map(|m| &m.source))
        .collect();
    for (key, vol) in &project.volumes {
        if !used_vols.contains(key) {
            continue;
        }
        if exists(client, &format!("/volumes/{}", esc(&vol.name))).await? {
            continue;
        }
        if vol.external {
            return Err(fail(format!("external volume \"{}\" not found", vol.name)));
        }
        event("Volume", &format!("\"{}\"", vol.name), "Creating");
        let mut labels = vol.labels.clone();
        labels.insert(convert::VOLUME.into(), key.clone());
        labels.insert(convert::PROJECT.into(), project.name.clone());
        labels.insert(convert::VERSION.into(), convert::COMPOSE_VERSION.into());
        let body = serde_json::json!({
            "Name": vol.name,
            "Driver": vol.driver.clone().unwrap_or_else(|| "local".into()),
            "Labels": labels,
        });
        client
            .post_json("/volumes/create", &Query::new(), &body)
            .await?;
        event("Volume", &format!("\"{}\"", vol.name), "Created");
    }
    Ok(())
}

/// Build the service's image if it has a `build` and (`force` or) the image is missing.
async fn inspect(client: &Client, id: &str) -> Result<ContainerInspect, Failure> {
    Ok(client
        .get_json(&format!("/containers/{}/json", esc(id)), &Query::new())
        .await?)
}

/// Wait until `dep`'s containers meet `cond`.
async fn wait_for(
    client: &Client,
    project: &Project,
    dep: &str,
    cond: Condition,
) -> Result<(), Failure> {
    if cond == Condition::Started {
        return Ok(());
    }
    let list = containers(client, &project.name, &[dep], true, Some(false)).await?;
    for c in list {
        let name = name_of(&c);
        event("Container", &name, "Waiting");
        loop {
            let i = inspect(client, &c.id).await?;
            match cond {
                Condition::Healthy => {
                    let Some(h) = &i.state.health else {
                        return Err(fail(format!(
                            "container {name} has no healthcheck configured"
                        )));
                    };
                    match h.status.as_str() {
                        "healthy" => {
                            event("Container", &name, "Healthy");
                            break;
                        }
                        "unhealthy" => {
                            return Err(fail(format!(
                                "dependency failed to start: container {name} is unhealthy"
                            )))
                        }
                        _ if !i.state.running && !i.state.restarting => {
                            return Err(fail(format!(
                                "dependency failed to start: container {name} exited ({})",
                                i.state.exit_code
                            )))
                        }
                        _ => {}
                    }
                }
                Condition::CompletedSuccessfully => {
                    if !i.state.running && !i.state.restarting && i.state.status != "created" {
                        if i.state.exit_code != 0 {
                            return Err(fail(format!(
                                "service {dep:?} didn't complete successfully: exit {}",
                                i.state.exit_code
                            )));
                        }
                        event("Container", &name, "Exited");
                        break;
                    }
                }
                Condition::Started => break,
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    }
    Ok(())
}

struct Converge<'a> {
    project: &'a Project,
    scale: BTreeMap<String, u32>,
    force_recreate: bool,
    no_recreate: bool,
    start: bool,
    build: bool,
    no_build: bool,
    timeout: Option<i64>,
}

impl Converge<'_> {
    /// One service: image, dependencies, then each replica created, recreated or
    /// started, and replicas beyond the scale removed.
    async fn service(&self, client: &Client, name: &str) -> Result<(), Failure> {
        let project = self.project;
        let s = &project.services[name];
        ensure_image(client, project, name, s, self.build, self.no_build).await?;
        if self.start {
            for (dep, cond) in &s.depends_on {
                if project.services.contains_key(dep) {
                    wait_for(client, project, dep, *cond).await?;
                }
            }
        }
        let want = self.scale.get(name).copied().unwrap_or(s.replicas);
        let existing = containers(client, &project.name, &[name], true, Some(false)).await?;
        let hash = config_hash(s);
        let mut by_number: BTreeMap<u32, ContainerSummary> = BTreeMap::new();
        for c in existing {
            let n = number_of(&c);
            if n > want || by_number.contains_key(&n) {
                remove(client, &c, self.timeout, false).await?;
            } else {
                by_number.insert(n, c);
            }
        }
        for n in 1..=want {
            let current = by_number.remove(&n);
            let (id, cname) = match current {
                Some(c) => {
                    let same = c.labels.get(convert::CONFIG_HASH) == Some(&hash);
                    if (same || self.no_recreate) && !self.force_recreate {
                        if c.state == "running" {
                            event("Container", &name_of(&c), "Running");
                            continue;
                        }
                        let cname = name_of(&c);
                        (c.id, cname)
                    } else {
                        let old = name_of(&c);
                        event("Container", &old, "Recreate");
                        stop_remove_quiet(client, &c.id, self.timeout).await?;
                        let made = self.create(client, name, s, n).await?;
                        event("Container", &old, "Recreated");
                        made
                    }
                }
                None => {
                    let cname = self.new_name(name, s, n);
                    event("Container", &cname, "Creating");
                    let made = self.create(client, name, s, n).await?;
                    event("Container", &cname, "Created");
                    made
                }
            };
            if self.start {
                event("Container", &cname, "Starting");
                client
                    .post(&format!("/containers/{}/start", esc(&id)), &Query::new())
                    .await?;
                event("Container", &cname, "Started");
            }
        }
        Ok(())
    }

    async fn create(
        &self,
        client: &Client,
        name: &str,
        s: &Service,
        n: u32,
    ) -> Result<(String, String), Failure> {
        let project = self.project;
        let nets: Vec<&String> = s.networks.keys().collect();
        let first = nets.first().map(|s| s.as_str()).unwrap_or("default");
        let body = create_request(project, name, s, Some(n), first, &s.ports).map_err(fail)?;
        let cname = self.new_name(name, s, n);
        let q = Query::new().set("name", cname.clone());
        let resp = client.post_json("/containers/create", &q, &body).await?;
        let created: IdResponse = json_body(resp).await?;
        for w in &created.warnings {
            super::warn(w);
        }
        for net in nets.iter().skip(1) {
            let mut aliases = vec![name.to_string()];
            aliases.extend(s.networks[*net].iter().cloned());
            let body = serde_json::json!({
                "Container": created.id,
                "EndpointConfig": { "Aliases": aliases },
            });
            let engine_name = &project.networks[*net].name;
            client
                .post_json(
                    &format!("/networks/{}/connect", esc(engine_name)),
                    &Query::new(),
                    &body,
                )
                .await?;
        }
        Ok((created.id, cname))
    }

    /// The name of replica `n`: `container_name`, else `PROJECT-SERVICE-N`.
    fn new_name(&self, name: &str, s: &Service, n: u32) -> String {
        s.container_name
            .clone()
            .unwrap_or_else(|| container_name(&self.project.name, name, n))
    }
}

async fn converge(
    client: &Client,
    c: &Converge<'_>,
    wanted: &[&str],
    with_deps: bool,
) -> Result<Vec<String>, Failure> {
    let levels = levels(c.project, wanted, with_deps)?;
    let all: Vec<String> = levels.iter().flatten().cloned().collect();
    ensure_resources(client, c.project, &all).await?;
    for level in &levels {
        try_join_all(level.iter().map(|s| c.service(client, s))).await?;
    }
    Ok(all)
}

async fn orphans(client: &Client, project: &Project, remove_them: bool) -> Result<(), Failure> {
    let list = containers(client, &project.name, &[], true, Some(false)).await?;
    let orphans: Vec<&ContainerSummary> = list
        .iter()
        .filter(|c| {
            c.labels
                .get(convert::SERVICE)
                .is_none_or(|s| !project.services.contains_key(s))
        })
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    if remove_them {
        for c in orphans {
            remove(client, c, None, false).await?;
        }
    } else {
        let names: Vec<String> = orphans.iter().map(|c| name_of(c)).collect();
        super::warn(&format!(
            "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(" ")
        ));
    }
    Ok(())
}

pub async fn up(client: &Client, project: &Project, a: &UpArgs) -> CmdResult {
    let wanted = select(project, &a.services)?;
    orphans(client, project, a.remove_orphans).await?;
    let c = Converge {
        project,
        scale: scales(&a.scale)?,
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        start: !a.no_start,
        build: a.build,
        no_build: a.no_build,
        timeout: a.timeout,
    };
    let started = converge(client, &c, &wanted, !a.no_deps).await?;
    if a.no_start {
        return Ok(0);
    }
    if a.wait {
        let names: Vec<&str> = started.iter().map(String::as_str).collect();
        return wait_ready(client, project, &names, a.wait_timeout).await;
    }
    if a.detach {
        return Ok(0);
    }
    let names: Vec<&str> = started.iter().map(String::as_str).collect();
    view::attach_logs(client, project, &names, a.timeout).await
}

/// `up --wait`: every container running, and healthy where it has a check.
async fn wait_ready(
    client: &Client,
    project: &Project,
    services: &[&str],
    timeout: Option<u64>,
) -> CmdResult {
    let deadline = timeout.map(|t| std::time::Instant::now() + std::time::Duration::from_secs(t));
    let list = containers(client, &project.name, services, true, Some(false)).await?;
    for c in &list {
        let name = name_of(c);
        event("Container", &name, "Waiting");
        loop {
            let i = inspect(client, &c.id).await?;
            let health = i.state.health.as_ref().map(|h| h.status.as_str());
            match (i.state.running, health) {
                (true, None) => {
                    event("Container", &name, "Running");
                    break;
                }
                (true, Some("healthy")) => {
                    event("Container", &name, "Healthy");
                    break;
                }
                (_, Some("unhealthy")) => {
                    return Err(fail(format!("container {name} is unhealthy")))
                }
                (false, _) if i.state.status == "exited" => {
                    return Err(fail(format!(
                        "container {name} exited ({})",
                        i.state.exit_code
                    )))
                }
                _ => {}
            }
            if deadline.is_some_and(|d| std::time::Instant::now() > d) {
                return Err(fail(
                    "timeout waiting for the project to be running|healthy",
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    }
    Ok(0)
}

pub async fn create(client: &Client, project: &Project, a: &CreateArgs) -> CmdResult {
    let wanted = select(project, &a.services)?;
    let c = Converge {
        project,
        scale: scales(&a.scale)?,
        force_recreate: a.force_recreate,
        no_recreate: false,
        start: false,
        build: a.build,
        no_build: false,
        timeout: None,
    };
    converge(client, &c, &wanted, true).await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn project(text: &str) -> Project {
        let v: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
        super::super::model::normalize(&v, "cmp", Path::new("/x"), &[], &mut |_| {}).unwrap()
    }

    #[test]
    fn services_start_after_what_they_depend_on() {
        let p = project("services:\n  web: {image: a, depends_on: [api]}\n  api: {image: a, depends_on: {db: {condition: service_healthy}}}\n  db: {image: a}\n  other: {image: a}\n");
        let l = levels(&p, &["web", "api", "db", "other"], true).unwrap();
        assert_eq!(
            l,
            vec![
                vec!["db".to_string(), "other".into()],
                vec!["api".into()],
                vec!["web".into()]
            ]
        );
        // Asking for web brings its dependencies, unless --no-deps.
        assert_eq!(
            levels(&p, &["web"], true).unwrap().concat(),
            ["db", "api", "web"]
        );
        assert_eq!(levels(&p, &["web"], false).unwrap().concat(), ["web"]);
    }

    #[test]
    fn a_cycle_is_refused() {
        let p = project(
            "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
        );
        let e = levels(&p, &["a", "b"], true).unwrap_err();
        assert_eq!(e.message, "dependency cycle detected: a, b");
    }

    #[test]
    fn scale_flags_are_checked() {
        assert_eq!(scales(&["web=3".into()]).unwrap()["web"], 3);
        assert!(scales(&["web".into()]).is_err());
        assert!(scales(&["web=x".into()]).is_err());
    }
}
