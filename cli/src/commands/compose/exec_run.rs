//! `compose exec SERVICE CMD` (in the service's container number `--index`) and
//! `compose run SERVICE [CMD]` (a one-off container with the service's
//! definition, its dependencies started first), through the same exec and run
//! code as `docker exec` and `docker run`.

use super::convert::{self, create_request};
use super::model::Project;
use super::up::{ensure_resources, levels, up, UpArgs};
use super::{containers, select};
use crate::commands::container::exec::{build_exec, exec_with, ExecApi, ExecOptions};
use crate::commands::container::run::{run_body, RunArgs as DockerRunArgs};
use crate::commands::{CmdResult, Failure};
use crate::opts::ContainerFlags;
use crate::stream;
use clap::Args;

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: Run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "stringArray")]
    pub env: Vec<String>,
    /// Disable pseudo-TTY allocation. By default `docker compose exec` allocates a TTY.
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Run the command as this user
    #[arg(short = 'u', long, value_name = "string")]
    pub user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short = 'w', long, value_name = "string")]
    pub workdir: Option<String>,
    /// Give extended privileges to the process
    #[arg(long)]
    pub privileged: bool,
    /// Index of the container if service has multiple replicas
    #[arg(long, value_name = "int", default_value_t = 1)]
    pub index: u32,
    #[arg(value_name = "SERVICE")]
    pub service: String,
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long, value_name = "string")]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "stringArray")]
    pub env: Vec<String>,
    /// Override the entrypoint of the image
    #[arg(long, value_name = "string")]
    pub entrypoint: Option<String>,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub interactive: bool,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Run as specified username or uid
    #[arg(short = 'u', long, value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "string")]
    pub workdir: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "stringArray")]
    pub publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(long = "service-ports")]
    pub service_ports: bool,
    #[arg(value_name = "SERVICE")]
    pub service: String,
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

pub async fn exec(client: &crate::client::Client, project: &Project, a: &ExecArgs) -> CmdResult {
    select(project, std::slice::from_ref(&a.service))?;
    let list = containers(
        client,
        &project.name,
        &[a.service.as_str()],
        false,
        Some(false),
    )
    .await?;
    let Some(c) = list.iter().find(|c| super::number_of(c) == a.index) else {
        return Err(Failure::new(
            format!("service {:?} is not running", a.service),
            1,
        ));
    };
    let opts = ExecOptions {
        detach: a.detach,
        detach_keys: None,
        env: a.env.clone(),
        env_file: vec![],
        interactive: true,
        tty: !a.no_tty && stream::stdin_is_terminal(),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
    };
    let body = build_exec(&opts, a.privileged, &a.command, &crate::opts::os_lookup)
        .map_err(|e| Failure::new(e, 1))?;
    exec_with(
        client,
        &ExecApi::container(&c.id),
        body,
        stream::Outputs::std(),
    )
    .await
}

pub async fn run(client: &crate::client::Client, project: &Project, a: &RunArgs) -> CmdResult {
    select(project, std::slice::from_ref(&a.service))?;
    let s = &project.services[&a.service];
    // Dependencies first, as `up -d` would start them.
    let deps: Vec<String> = if a.no_deps {
        vec![]
    } else {
        let mut all: Vec<String> = levels(project, &[a.service.as_str()], true)?.concat();
        all.retain(|d| d != &a.service);
        all
    };
    if !deps.is_empty() {
        let up_args = UpArgs {
            detach: true,
            services: deps,
            ..Default::default()
        };
        up(client, project, &up_args).await?;
    }
    ensure_resources(client, project, std::slice::from_ref(&a.service)).await?;
    let first = s
        .networks
        .keys()
        .next()
        .map(String::as_str)
        .unwrap_or("default");
    // A one-off publishes nothing unless asked (`--service-ports`, `-p`).
    let mut publish = if a.service_ports {
        s.ports.clone()
    } else {
        vec![]
    };
    publish.extend(a.publish.iter().cloned());
    let mut body = create_request(project, &a.service, s, None, first, &publish)
        .map_err(|e| Failure::new(e, 1))?;
    if !a.command.is_empty() {
        body.config.cmd = Some(a.command.clone());
    }
    if let Some(e) = &a.entrypoint {
        body.config.entrypoint =
            Some(super::model::shell_words(e).map_err(|e| Failure::new(e, 1))?);
        if a.command.is_empty() {
            body.config.cmd = None;
        }
    }
    body.config.env.extend(
        a.env
            .iter()
            .map(|e| crate::opts::expand_env(e, &crate::opts::os_lookup)),
    );
    if let Some(u) = &a.user {
        body.config.user = u.clone();
    }
    if let Some(w) = &a.workdir {
        body.config.working_dir = w.clone();
    }
    let tty = !a.no_tty && stream::stdin_is_terminal() && !a.detach;
    body.config.tty = tty;
    body.config.attach_stdin = a.interactive && !a.detach;
    body.config.open_stdin = a.interactive;
    body.config.stdin_once = a.interactive && !a.detach;
    body.config.attach_stdout = !a.detach;
    body.config.attach_stderr = !a.detach;
    body.host_config.auto_remove = a.rm;
    let name = a.name.clone().unwrap_or_else(|| {
        let suffix = format!("{:012x}", rand::random::<u64>() >> 16);
        format!("{}-{}-run-{suffix}", project.name, a.service)
    });
    body.config
        .labels
        .insert(convert::ONEOFF.into(), "True".into());
    let run_args = DockerRunArgs {
        detach: a.detach,
        sig_proxy: true,
        detach_keys: None,
        flags: ContainerFlags {
            name: Some(name),
            tty,
            rm: a.rm,
            pull: "missing".into(),
            interactive: a.interactive,
            image: body.config.image.clone(),
            ..Default::default()
        },
    };
    run_body(client, &run_args, body, stream::Outputs::std()).await
}
