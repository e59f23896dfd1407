//! Container commands (docker/cli 28 `cli/command/container`): `run`, `create`,
//! `start` (run.rs); `ps`, `top`; `logs`; `kill`, `stop`, `restart`, `rm`,
//! `wait`, `prune`, `pause`, `unpause`, `rename` (lifecycle.rs); `attach` and the
//! terminal plumbing attached commands share; `exec`; `update`, `stats`
//! (resources.rs); `port`; `commit`, `export`, `diff`; `cp`. Request order and query
//! parameters follow docker/cli 28 and moby's client so the daemon sees the
//! traffic the real CLI sends.

pub mod attach;
pub mod commit;
pub mod cp;
pub mod exec;
pub mod lifecycle;
pub mod logs;
pub mod port;
pub mod ps;
pub mod resources;
pub mod run;

use crate::client::{path_escape, Client};
use crate::commands::system::inspect::{self, InspectArgs};
use crate::commands::CmdResult;
use attach::AttachArgs;
use clap::Subcommand;
use commit::{CommitArgs, DiffArgs, ExportArgs};
use exec::ExecArgs;
use lifecycle::{ContainersArgs, KillArgs, PruneArgs, RenameArgs, RmArgs, StopArgs, WaitArgs};
use logs::LogsArgs;
use ps::{PsArgs, TopArgs};
use run::{CreateArgs, RunArgs, StartArgs};

/// `docker container ...` (also reached through the top-level shortcuts:
/// `docker run` is `docker container run`).
#[derive(Subcommand, Debug)]
pub enum ContainerCmd {
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// List port mappings or a specific mapping for the container
    Port(port::PortArgs),
    /// Update configuration of one or more containers
    Update(resources::UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(resources::StatsArgs),
}

/// Run a container command.
pub async fn dispatch(c: &Client, cmd: ContainerCmd) -> CmdResult {
    match cmd {
        ContainerCmd::Run(a) => run::run(c, &a).await,
        ContainerCmd::Create(a) => run::create(c, &a).await,
        ContainerCmd::Start(a) => run::start(c, &a).await,
        ContainerCmd::Ls(a) => ps::ps(c, &a).await,
        ContainerCmd::Logs(a) => logs::logs(c, &a).await,
        ContainerCmd::Kill(a) => lifecycle::kill(c, &a).await,
        ContainerCmd::Stop(a) => lifecycle::stop(c, &a).await,
        ContainerCmd::Restart(a) => lifecycle::restart(c, &a).await,
        ContainerCmd::Rm(a) => lifecycle::rm(c, &a).await,
        ContainerCmd::Wait(a) => lifecycle::wait(c, &a).await,
        ContainerCmd::Prune(a) => lifecycle::prune(c, &a).await,
        ContainerCmd::Attach(a) => attach::attach(c, &a).await,
        ContainerCmd::Exec(a) => exec::exec(c, &a).await,
        ContainerCmd::Pause(a) => lifecycle::pause(c, &a).await,
        ContainerCmd::Unpause(a) => lifecycle::unpause(c, &a).await,
        ContainerCmd::Top(a) => ps::top(c, &a).await,
        ContainerCmd::Port(a) => port::port(c, &a).await,
        ContainerCmd::Update(a) => resources::update(c, &a).await,
        ContainerCmd::Stats(a) => resources::stats(c, &a).await,
        ContainerCmd::Rename(a) => lifecycle::rename(c, &a).await,
        ContainerCmd::Inspect(a) => inspect::inspect(c, &a, Some("container")).await,
        ContainerCmd::Commit(a) => commit::commit(c, &a).await,
        ContainerCmd::Export(a) => commit::export(c, &a).await,
        ContainerCmd::Diff(a) => commit::diff(c, &a).await,
        ContainerCmd::Cp(a) => cp::cp(c, &a).await,
    }
}

fn cpath(id: &str, rest: &str) -> String {
    format!("/containers/{}{}", path_escape(id), rest)
}
