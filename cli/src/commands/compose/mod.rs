//! `docker compose` (and `docker-compose`): the Compose Specification's common
//! part on our engine, through the same Docker API any client uses. `load` reads
//! the files, `model` normalises them, `convert` turns a service into a create
//! request with Compose's labels (so Compose v1/v2 and this see each other's
//! projects), `up` brings a project up and down, `view` shows it (`ps`, `logs`,
//! `config`, `ls`), `exec_run` runs commands in it.

pub mod convert;
mod exec_run;
pub mod load;
mod manage;
pub mod model;
mod up;
mod view;

use crate::client::{path_escape, Client, Query};
use crate::commands::{CmdResult, Failure};
use clap::{Args, Subcommand};
use load::{FileError, Seg};
use model::Project;
use serde_yaml::Value;
use shared::api::ContainerSummary;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ComposeArgs {
    /// Compose configuration files
    #[arg(short = 'f', long = "file", value_name = "stringArray")]
    pub files: Vec<String>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "string")]
    pub project_name: Option<String>,
    /// Specify an alternate working directory (default: the path of the first
    /// specified Compose file)
    #[arg(long = "project-directory", value_name = "string")]
    pub project_directory: Option<String>,
    /// Specify an alternate environment file
    #[arg(long = "env-file", value_name = "stringArray")]
    pub env_file: Vec<String>,
    /// Specify a profile to enable
    #[arg(long = "profile", value_name = "stringArray")]
    pub profiles: Vec<String>,
    /// Set type of progress output (auto, tty, plain, json, quiet)
    #[arg(long, value_name = "string")]
    pub progress: Option<String>,
    #[command(subcommand)]
    pub cmd: ComposeCmd,
}

#[derive(Subcommand, Debug)]
pub enum ComposeCmd {
    /// Create and start containers
    Up(up::UpArgs),
    /// Stop and remove containers, networks
    Down(manage::DownArgs),
    /// Creates containers for a service
    Create(up::CreateArgs),
    /// Start services
    Start(ServicesArgs),
    /// Stop services
    Stop(manage::StopArgs),
    /// Restart service containers
    Restart(manage::StopArgs),
    /// Removes stopped service containers
    Rm(manage::RmArgs),
    /// List containers
    Ps(view::PsArgs),
    /// View output from containers
    Logs(view::LogsArgs),
    /// Execute a command in a running container
    Exec(exec_run::ExecArgs),
    /// Run a one-off command on a service
    Run(exec_run::RunArgs),
    /// Build or rebuild services
    Build(manage::BuildArgs),
    /// Pull service images
    Pull(ServicesArgs),
    /// Push service images
    Push(ServicesArgs),
    /// Parse, resolve and render compose file in canonical format
    #[command(visible_alias = "convert")]
    Config(view::ConfigArgs),
    /// List running compose projects
    Ls(view::LsArgs),
    /// Show the Docker Compose version information
    Version(VersionArgs),
}

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Shows only Compose's version number
    #[arg(long)]
    pub short: bool,
}

#[derive(Args, Debug)]
pub struct ServicesArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

pub async fn run(client: &Client, a: &ComposeArgs) -> CmdResult {
    match &a.cmd {
        ComposeCmd::Ls(l) => view::ls(client, l).await,
        ComposeCmd::Version(v) => {
            if v.short {
                println!("{}", convert::COMPOSE_VERSION);
            } else {
                println!(
                    "Docker Compose version v{} (Dockhand {})",
                    convert::COMPOSE_VERSION,
                    env!("CARGO_PKG_VERSION")
                );
            }
            Ok(0)
        }
        ComposeCmd::Config(c) => view::config(a, c),
        cmd => {
            let project = load_project(a, !needs_file(cmd))?;
            match cmd {
                ComposeCmd::Up(u) => up::up(client, &project, u).await,
                ComposeCmd::Down(d) => manage::down(client, &project, d).await,
                ComposeCmd::Create(c) => up::create(client, &project, c).await,
                ComposeCmd::Start(s) => manage::start(client, &project, &s.services).await,
                ComposeCmd::Stop(s) => manage::stop(client, &project, s, false).await,
                ComposeCmd::Restart(s) => manage::stop(client, &project, s, true).await,
                ComposeCmd::Rm(r) => manage::rm(client, &project, r).await,
                ComposeCmd::Ps(p) => view::ps(client, &project, p).await,
                ComposeCmd::Logs(l) => view::logs(client, &project, l).await,
                ComposeCmd::Exec(e) => exec_run::exec(client, &project, e).await,
                ComposeCmd::Run(r) => exec_run::run(client, &project, r).await,
                ComposeCmd::Build(b) => manage::build(client, &project, b).await,
                ComposeCmd::Pull(s) => manage::pull(client, &project, &s.services).await,
                ComposeCmd::Push(s) => manage::push(client, &project, &s.services).await,
                ComposeCmd::Ls(_) | ComposeCmd::Config(_) | ComposeCmd::Version(_) => Ok(0),
            }
        }
    }
}

/// Commands that work on a project known by name alone (`-p NAME`), from the
/// labels of what exists, as Compose's do.
fn needs_file(cmd: &ComposeCmd) -> bool {
    !matches!(
        cmd,
        ComposeCmd::Down(_)
            | ComposeCmd::Ps(_)
            | ComposeCmd::Logs(_)
            | ComposeCmd::Stop(_)
            | ComposeCmd::Start(_)
            | ComposeCmd::Restart(_)
            | ComposeCmd::Rm(_)
            | ComposeCmd::Exec(_)
    )
}

/// Print a warning as Compose does.
pub fn warn(msg: &str) {
    eprintln!("WARN[0000] {msg}");
}

/// Read, interpolate, merge and normalise the project's files. With
/// `optional`, a missing file is fine when `-p` names the project.
pub fn load_project(a: &ComposeArgs, optional: bool) -> Result<Project, Failure> {
    let cwd = std::env::current_dir().map_err(|e| Failure::new(e.to_string(), 1))?;
    let mut files: Vec<PathBuf> = a.files.iter().map(|f| cwd.join(f)).collect();
    if files.is_empty() {
        if let Ok(list) = std::env::var("COMPOSE_FILE") {
            files = list
                .split(':')
                .filter(|s| !s.is_empty())
                .map(|f| cwd.join(f))
                .collect();
        }
    }
    if files.is_empty() {
        match load::find_file(&cwd) {
            Some(f) => files.push(f),
            None => {
                if let (true, Some(name)) = (optional, a.project_name.as_deref()) {
                    return Ok(Project::empty(name, &cwd));
                }
                return Err(Failure::new("no configuration file provided: not found", 1));
            }
        }
    }
    let dir = match &a.project_directory {
        Some(d) => cwd.join(d),
        None => files[0]
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or(cwd.clone()),
    };
    // `.env` of the project folder (or --env-file); the shell's variables win.
    let mut dotenv: BTreeMap<String, String> = BTreeMap::new();
    let env_files: Vec<PathBuf> = if a.env_file.is_empty() {
        vec![dir.join(".env")]
    } else {
        a.env_file.iter().map(|f| cwd.join(f)).collect()
    };
    for f in &env_files {
        match std::fs::read_to_string(f) {
            Ok(text) => {
                let vars = load::parse_dotenv(&text)
                    .map_err(|e| Failure::new(format!("failed to read {}: {e}", f.display()), 1))?;
                dotenv.extend(vars);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && a.env_file.is_empty() => {}
            Err(e) => {
                return Err(Failure::new(
                    format!("couldn't find env file: {}: {e}", f.display()),
                    1,
                ))
            }
        }
    }
    let lookup = |k: &str| std::env::var(k).ok().or_else(|| dotenv.get(k).cloned());
    let mut warnings: Vec<String> = vec![];
    let mut merged = Value::Null;
    let mut texts = vec![];
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|e| {
            Failure::new(
                format!("open {}: {}", f.display(), crate::opts::io_text(&e)),
                1,
            )
        })?;
        let mut v: Value = serde_yaml::from_str(&text).map_err(|e| {
            let err = FileError {
                file: f.clone(),
                line: e.location().map(|l| l.line()),
                path: vec![],
                message: format!("yaml: {}", strip_location(&e.to_string())),
            };
            Failure::new(err.to_string(), 1)
        })?;
        let mut path = vec![];
        load::interpolate_value(&mut v, &mut path, &lookup, &mut |w| {
            warnings.push(w.to_string())
        })
        .map_err(|(path, msg)| {
            Failure::new(
                FileError {
                    file: f.clone(),
                    line: load::locate(&text, &path),
                    path,
                    message: msg,
                }
                .to_string(),
                1,
            )
        })?;
        if merged.is_null() {
            merged = v;
        } else {
            load::merge(&mut merged, v);
        }
        texts.push((f.clone(), text));
    }
    for w in warnings.iter().collect::<std::collections::BTreeSet<_>>() {
        warn(w);
    }
    let from_file = merged
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let name = match (&a.project_name, lookup("COMPOSE_PROJECT_NAME"), from_file) {
        (Some(n), _, _) => {
            load::check_project_name(n).map_err(|e| Failure::new(e, 1))?;
            n.clone()
        }
        (None, Some(n), _) if !n.is_empty() => load::normalize_project_name(&n),
        (None, _, Some(n)) => {
            load::check_project_name(&n).map_err(|e| Failure::new(e, 1))?;
            n
        }
        _ => load::normalize_project_name(
            &dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    };
    if name.is_empty() {
        return Err(Failure::new(
            "project name must not be empty: use -p or `name:`",
            1,
        ));
    }
    let profiles = active_profiles(&a.profiles, lookup("COMPOSE_PROFILES").as_deref());
    let mut project = model::normalize(&merged, &name, &dir, &profiles, &mut |w| warn(&w))
        .map_err(|(path, msg)| Failure::new(where_in(&texts, path, msg).to_string(), 1))?;
    project.files = files;
    Ok(project)
}

/// `--profile` flags, else `COMPOSE_PROFILES` (comma-separated), as Compose reads them.
fn active_profiles(flags: &[String], env: Option<&str>) -> Vec<String> {
    if !flags.is_empty() {
        return flags.to_vec();
    }
    env.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// `serde_yaml`'s message without its trailing ` at line L column C` (the
/// line is printed in front, with the file).
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// The file (of several merged) where `path` is written deepest, and its line.
fn where_in(texts: &[(PathBuf, String)], path: Vec<Seg>, message: String) -> FileError {
    let mut best: Option<(usize, &PathBuf, usize)> = None;
    // The last file wins a tie: it is the one whose value was merged last.
    for (file, text) in texts.iter().rev() {
        if let Some((depth, line)) = load::deepest(text, &path) {
            if best.is_none_or(|(d, _, _)| depth > d) {
                best = Some((depth, file, line));
            }
        }
    }
    match best {
        Some((_, file, line)) => FileError {
            file: file.clone(),
            line: Some(line),
            path,
            message,
        },
        None => FileError {
            file: texts.first().map(|(f, _)| f.clone()).unwrap_or_default(),
            line: None,
            path,
            message,
        },
    }
}

/// The services a command names, checked against the project (all when none).
/// A project known by its name alone (`-p NAME`, no file) takes the names as given:
/// its services are whatever its containers' labels say.
pub fn select<'a>(project: &'a Project, names: &'a [String]) -> Result<Vec<&'a str>, Failure> {
    if project.files.is_empty() {
        return Ok(names.iter().map(String::as_str).collect());
    }
    if names.is_empty() {
        return Ok(project.services.keys().map(String::as_str).collect());
    }
    for n in names {
        if !project.services.contains_key(n) {
            if project.disabled.contains_key(n) {
                return Err(Failure::new(
                    format!("service {n:?} is not enabled by the active profiles"),
                    1,
                ));
            }
            return Err(Failure::new(format!("no such service: {n}"), 1));
        }
    }
    Ok(names.iter().map(String::as_str).collect())
}

/// The project's containers (of `services` when given), by Compose's labels,
/// in service then number order. `oneoff`: `Some(false)` for service
/// containers only.
pub async fn containers(
    client: &Client,
    project: &str,
    services: &[&str],
    all: bool,
    oneoff: Option<bool>,
) -> Result<Vec<ContainerSummary>, Failure> {
    let mut labels = vec![format!("{}={project}", convert::PROJECT)];
    if let Some(o) = oneoff {
        labels.push(format!(
            "{}={}",
            convert::ONEOFF,
            if o { "True" } else { "False" }
        ));
    }
    let filters = serde_json::json!({ "label": labels }).to_string();
    let q = Query::new().set_if(all, "all", "1").set("filters", filters);
    let mut list: Vec<ContainerSummary> = client.get_json("/containers/json", &q).await?;
    list.retain(|c| {
        services.is_empty()
            || c.labels
                .get(convert::SERVICE)
                .is_some_and(|s| services.contains(&s.as_str()))
    });
    list.sort_by_key(|c| {
        (
            c.labels.get(convert::SERVICE).cloned().unwrap_or_default(),
            number_of(c),
            c.names.first().cloned().unwrap_or_default(),
        )
    });
    Ok(list)
}

pub fn number_of(c: &ContainerSummary) -> u32 {
    c.labels
        .get(convert::NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

pub fn name_of(c: &ContainerSummary) -> String {
    c.names
        .first()
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_else(|| crate::format::rows::truncate_id(&c.id))
}

/// A progress line as `docker compose` prints it without a TTY:
/// ` Container cmp-web-1  Started`.
pub fn event(kind: &str, name: &str, status: &str) {
    eprintln!(" {kind} {name}  {status}");
}

/// Whether `GET path` finds something (`false` on 404).
pub async fn exists(client: &Client, path: &str) -> Result<bool, Failure> {
    match client.get(path, &Query::new()).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub fn esc(s: &str) -> String {
    path_escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_come_from_the_flags_else_the_environment() {
        assert_eq!(active_profiles(&["a".into()], Some("b,c")), ["a"]);
        assert_eq!(active_profiles(&[], Some("b, c,,")), ["b", "c"]);
        assert!(active_profiles(&[], None).is_empty());
    }

    #[test]
    fn an_error_is_placed_in_the_file_that_writes_its_field_deepest() {
        let k = |s: &str| Seg::Key(s.into());
        let base = (
            PathBuf::from("/p/compose.yaml"),
            "services:\n  web:\n    image: a\n".to_string(),
        );
        let over = (
            PathBuf::from("/p/override.yaml"),
            "services:\n  web:\n    ports:\n      - x\n".to_string(),
        );
        let texts = [base.clone(), over.clone()];
        let path = vec![k("services"), k("web"), k("ports"), Seg::Index(0)];
        let e = where_in(&texts, path, "bad".into());
        assert_eq!((e.file.as_path(), e.line), (over.0.as_path(), Some(4)));
        // Written equally deep in both: the last file, merged last.
        let e = where_in(&texts, vec![k("services"), k("web")], "bad".into());
        assert_eq!((e.file.as_path(), e.line), (over.0.as_path(), Some(2)));
        let e = where_in(
            &texts,
            vec![k("services"), k("web"), k("image")],
            "bad".into(),
        );
        assert_eq!((e.file.as_path(), e.line), (base.0.as_path(), Some(3)));
    }

    #[test]
    fn yaml_messages_lose_the_location_printed_in_front() {
        assert_eq!(
            strip_location("did not find expected key at line 4 column 3"),
            "did not find expected key"
        );
        assert_eq!(strip_location("plain"), "plain");
    }
}
