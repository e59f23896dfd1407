//! The `dockhand` binary: container monitor (`__monitor`), daemon (`daemon`,
//! daemon.rs; `serve`, serve.rs) and a docker-compatible client for everything
//! else (`commands/`, one module per object). This file is the clap tree and the
//! dispatch.

mod client;
mod commands;
mod daemon;
mod daemon_file;
mod escape;
#[cfg(test)]
mod fake_daemon_test;
mod format;
mod gateway;
mod opts;
mod rules;
mod serve;
mod signals;
mod stream;

use clap::{Parser, Subcommand};
use commands::container::attach::AttachArgs;
use commands::container::commit::{CommitArgs, DiffArgs, ExportArgs};
use commands::container::exec::ExecArgs;
use commands::container::lifecycle::{
    ContainersArgs, KillArgs, RenameArgs, RmArgs, StopArgs, WaitArgs,
};
use commands::container::logs::LogsArgs;
use commands::container::ps::{PsArgs, TopArgs};
use commands::container::run::{CreateArgs, RunArgs, StartArgs};
use commands::container::ContainerCmd;
use commands::image::archive::{ImportArgs, LoadArgs, SaveArgs};
use commands::image::build::BuildArgs;
use commands::image::local::{HistoryArgs, ImagesArgs, RmiArgs, TagArgs};
use commands::image::registry as rg;
use commands::image::{BuilderCmd, ImageCmd};
use commands::system::info::{InfoArgs, VersionArgs};
use commands::system::inspect::InspectArgs;
use commands::system::SystemCmd;
use commands::{CmdResult, Failure};
use daemon::DaemonArgs;
use serve::ServeArgs;

#[derive(Parser, Debug)]
#[command(
    name = "docker",
    about = "Dockhand: a Docker-compatible container engine and browser playground in one binary",
    disable_version_flag = true,
    subcommand_required = true
)]
struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", value_name = "list")]
    host: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    debug: bool,
    /// Set the logging level
    #[arg(short = 'l', long = "log-level", value_name = "string")]
    log_level: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

/// Parse the command line as docker does. Docker's boolean flags also take an
/// explicit value (`--privileged=true`, `--rm=false`, `-d=false`): every
/// on/off flag of every command gets that, while `-ti` and `--rm` alone work as
/// before.
fn parse_cli<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::{CommandFactory, FromArgMatches};
    let mut cmd = explicit_bools(Cli::command());
    let m = cmd.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches(&m).map_err(|e| e.format(&mut cmd))
}

fn explicit_bools(cmd: clap::Command) -> clap::Command {
    use clap::builder::BoolishValueParser;
    use clap::ArgAction;
    cmd.mut_args(|a| {
        if !matches!(a.get_action(), ArgAction::SetTrue) {
            return a;
        }
        let id = a.get_id().clone();
        a.action(ArgAction::Set)
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .default_value("false")
            .hide_default_value(true)
            .value_parser(BoolishValueParser::new())
            .overrides_with(id)
    })
    .mut_subcommands(explicit_bools)
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the Dockhand daemon (Docker Engine API on a unix socket)
    Daemon(DaemonArgs),
    /// Run the browser playground: web UI, playground API and port links on
    /// --listen, plus the daemon (Docker Engine API on -H, virtual hosts)
    #[command(args_override_self = true)]
    Serve(ServeArgs),
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    Rm(RmArgs),
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
    /// Return low-level information on Docker objects
    Inspect(InspectArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(commands::container::cp::CpArgs),
    /// Manage containers
    Container {
        #[command(subcommand)]
        cmd: ContainerCmd,
    },
    /// List images
    Images(ImagesArgs),
    /// Manage images
    Image {
        #[command(subcommand)]
        cmd: ImageCmd,
    },
    /// Show the history of an image
    History(HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Manage builds
    Builder {
        #[command(subcommand)]
        cmd: BuilderCmd,
    },
    /// Download an image from a registry
    Pull(rg::PullArgs),
    /// Upload an image to a registry
    Push(rg::PushArgs),
    /// Log in to a registry
    Login(rg::LoginArgs),
    /// Log out from a registry
    Logout(rg::LogoutArgs),
    /// Search Docker Hub for images
    Search(commands::image::search::SearchArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Manage Docker
    System {
        #[command(subcommand)]
        cmd: SystemCmd,
    },
    /// Manage networks
    Network {
        #[command(subcommand)]
        cmd: commands::network::NetworkCmd,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        cmd: commands::volume::VolumeCmd,
    },
    /// Run the front door of a playground on many nodes (`serve --node-name`):
    /// places sessions by room and routes each to its node
    Gateway(gateway::GatewayArgs),
    /// Run a registry (the Docker Registry HTTP API v2 and OCI
    /// distribution-spec), or collect its garbage
    Registry {
        #[command(subcommand)]
        cmd: commands::registry::RegistryCmd,
    },
    /// Guided lessons for the playground: check a folder of them
    Lessons {
        #[command(subcommand)]
        cmd: commands::lessons::LessonsCmd,
    },
    /// Define and run multi-container applications (Compose)
    Compose(Box<commands::compose::ComposeArgs>),
    /// Manage virtual hosts
    Host {
        #[command(subcommand)]
        cmd: commands::host::HostCmd,
    },
    /// List port mappings or a specific mapping for the container
    Port(commands::container::port::PortArgs),
    /// Update configuration of one or more containers
    Update(commands::container::resources::UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::container::resources::StatsArgs),
    /// Show the Docker version information
    Version(VersionArgs),
    /// Display system-wide information
    Info(InfoArgs),
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Bind-mounted into a container as /sbin/docker-init for `--init`.
    if args.first().is_some_and(|a| a.ends_with("docker-init")) {
        engine::init::main(args[1..].to_vec());
    }
    // Helper processes first: they must stay single-threaded, so no runtime and
    // no argument parsing here.
    match args.get(1).map(String::as_str) {
        Some("__monitor") => engine::monitor::main(args[2..].to_vec()),
        Some("__init") => engine::init::main(args[2..].to_vec()),
        Some("-v" | "--version") => {
            println!(
                "Dockhand version {}, build dockhand",
                env!("CARGO_PKG_VERSION")
            );
            std::process::exit(0);
        }
        _ => {}
    }
    // A virtual host's `iptables` and `iptables-save`.
    if let Some(program) = rules::invoked_as(&args) {
        std::process::exit(rules::main(program, &args[1..]));
    }
    let args = alias_argv(args);
    let cli = match parse_cli(&args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                ErrorKind::MissingRequiredArgument
                | ErrorKind::MissingSubcommand
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 1,
                _ => 125,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cli.cmd {
        Cmd::Daemon(d) => daemon::run_daemon(d, cli.debug),
        Cmd::Registry { cmd } => commands::registry::run(cmd, cli.debug),
        Cmd::Gateway(g) => gateway::run(g, cli.debug),
        Cmd::Lessons { cmd } => commands::lessons::run(cmd),
        Cmd::Serve(s) => match serve::serve_with_config(&args, s) {
            Ok(s) => serve::run_serve(s, cli.debug),
            Err(e) => {
                eprintln!("dockhand serve: {e}");
                125
            }
        },
        cmd => client_main(cli.host.as_deref(), cmd),
    };
    std::process::exit(code);
}

fn client_main(host: Option<&str>, cmd: Cmd) -> i32 {
    let host = client::resolve_host(host);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let result = rt.block_on(async move {
        let mut c = client::Client::new(&host)?;
        let is_run = matches!(
            cmd,
            Cmd::Run(_)
                | Cmd::Container {
                    cmd: ContainerCmd::Run(_)
                }
        );
        if let Err(e) = c.ping().await {
            match (&cmd, e) {
                // `version` prints its client half even without a daemon, and
                // `compose version` needs none at all.
                (Cmd::Version(_), _) => c.version = client::DEFAULT_API_VERSION.to_string(),
                (Cmd::Compose(a), _)
                    if matches!(a.cmd, commands::compose::ComposeCmd::Version(_)) => {}
                (_, e @ client::ClientError::Connect(_)) if is_run => {
                    let msg = commands::container::run::report_error("run", &e.to_string(), true);
                    return Err(Failure::new(msg, 125));
                }
                (_, e) => return Err(e.into()),
            }
        }
        dispatch(&c, cmd).await
    });
    // Do not wait for a blocked stdin reader: the command is over.
    rt.shutdown_background();
    match result {
        Ok(code) => code,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("{}", f.message);
            }
            f.code
        }
    }
}

async fn dispatch(c: &client::Client, cmd: Cmd) -> CmdResult {
    use commands::image::{registry as rg, search};
    use commands::system::{info, inspect};
    match cmd {
        Cmd::Daemon(_)
        | Cmd::Serve(_)
        | Cmd::Gateway(_)
        | Cmd::Registry { .. }
        | Cmd::Lessons { .. } => Ok(0),
        Cmd::Run(a) => commands::container::dispatch(c, ContainerCmd::Run(a)).await,
        Cmd::Create(a) => commands::container::dispatch(c, ContainerCmd::Create(a)).await,
        Cmd::Start(a) => commands::container::dispatch(c, ContainerCmd::Start(a)).await,
        Cmd::Ps(a) => commands::container::dispatch(c, ContainerCmd::Ls(a)).await,
        Cmd::Logs(a) => commands::container::dispatch(c, ContainerCmd::Logs(a)).await,
        Cmd::Kill(a) => commands::container::dispatch(c, ContainerCmd::Kill(a)).await,
        Cmd::Stop(a) => commands::container::dispatch(c, ContainerCmd::Stop(a)).await,
        Cmd::Restart(a) => commands::container::dispatch(c, ContainerCmd::Restart(a)).await,
        Cmd::Rm(a) => commands::container::dispatch(c, ContainerCmd::Rm(a)).await,
        Cmd::Wait(a) => commands::container::dispatch(c, ContainerCmd::Wait(a)).await,
        Cmd::Attach(a) => commands::container::dispatch(c, ContainerCmd::Attach(a)).await,
        Cmd::Exec(a) => commands::container::dispatch(c, ContainerCmd::Exec(a)).await,
        Cmd::Pause(a) => commands::container::dispatch(c, ContainerCmd::Pause(a)).await,
        Cmd::Unpause(a) => commands::container::dispatch(c, ContainerCmd::Unpause(a)).await,
        Cmd::Top(a) => commands::container::dispatch(c, ContainerCmd::Top(a)).await,
        Cmd::Network { cmd } => commands::network::run(c, &cmd).await,
        Cmd::Volume { cmd } => commands::volume::run(c, &cmd).await,
        Cmd::Host { cmd } => commands::host::run(c, &cmd).await,
        Cmd::Compose(a) => commands::compose::run(c, &a).await,
        Cmd::Port(a) => commands::container::dispatch(c, ContainerCmd::Port(a)).await,
        Cmd::Update(a) => commands::container::dispatch(c, ContainerCmd::Update(a)).await,
        Cmd::Stats(a) => commands::container::dispatch(c, ContainerCmd::Stats(a)).await,
        Cmd::Rename(a) => commands::container::dispatch(c, ContainerCmd::Rename(a)).await,
        Cmd::Inspect(a) => inspect::inspect(c, &a, None).await,
        Cmd::Images(a) => commands::image::dispatch(c, ImageCmd::Ls(a)).await,
        Cmd::History(a) => commands::image::dispatch(c, ImageCmd::History(a)).await,
        Cmd::Tag(a) => commands::image::dispatch(c, ImageCmd::Tag(a)).await,
        Cmd::Rmi(a) => commands::image::dispatch(c, ImageCmd::Rm(a)).await,
        Cmd::Import(a) => commands::image::dispatch(c, ImageCmd::Import(a)).await,
        Cmd::Commit(a) => commands::container::dispatch(c, ContainerCmd::Commit(a)).await,
        Cmd::Export(a) => commands::container::dispatch(c, ContainerCmd::Export(a)).await,
        Cmd::Diff(a) => commands::container::dispatch(c, ContainerCmd::Diff(a)).await,
        Cmd::Cp(a) => commands::container::dispatch(c, ContainerCmd::Cp(a)).await,
        Cmd::Save(a) => commands::image::dispatch(c, ImageCmd::Save(a)).await,
        Cmd::Load(a) => commands::image::dispatch(c, ImageCmd::Load(a)).await,
        Cmd::Build(a) => commands::image::dispatch(c, ImageCmd::Build(a)).await,
        Cmd::Pull(a) => commands::image::dispatch(c, ImageCmd::Pull(a)).await,
        Cmd::Push(a) => commands::image::dispatch(c, ImageCmd::Push(a)).await,
        Cmd::Login(a) => rg::login(c, &a).await,
        Cmd::Logout(a) => rg::logout(&a).await,
        Cmd::Search(a) => search::search(c, &a).await,
        Cmd::Version(a) => info::version(c, &a).await,
        Cmd::Info(a) => info::info(c, &a).await,
        Cmd::Container { cmd } => commands::container::dispatch(c, cmd).await,
        Cmd::Image { cmd } => commands::image::dispatch(c, cmd).await,
        Cmd::System { cmd } => commands::system::dispatch(c, cmd).await,
        Cmd::Builder { cmd } => commands::image::dispatch_builder(c, cmd).await,
    }
}

/// The binary run under another name is one of its subcommands: `registry
/// ARGS` is `dockhand registry ARGS` (the `registry:2` image's entrypoint, as
/// distribution's is `registry serve CONFIG`), and `docker-compose ARGS` is
/// `docker compose ARGS`.
fn alias_argv(mut args: Vec<String>) -> Vec<String> {
    let name = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str());
    let (program, sub) = match name {
        Some("registry") => (Some("dockhand"), "registry"),
        Some("docker-compose") => (None, "compose"),
        _ => return args,
    };
    if let Some(p) = program {
        args[0] = p.into();
    }
    args.insert(1, sub.into());
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_binary_under_another_name_runs_that_subcommand() {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            alias_argv(argv(&[
                "/bin/registry",
                "serve",
                "/etc/docker/registry/config.yml"
            ])),
            argv(&[
                "dockhand",
                "registry",
                "serve",
                "/etc/docker/registry/config.yml"
            ])
        );
        assert_eq!(alias_argv(argv(&["docker", "ps"])), argv(&["docker", "ps"]));
        assert_eq!(
            alias_argv(argv(&["/usr/local/bin/docker-compose", "ps", "-q"])),
            argv(&["/usr/local/bin/docker-compose", "compose", "ps", "-q"])
        );
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
        explicit_bools(Cli::command()).debug_assert();
    }

    #[test]
    fn boolean_flags_take_an_explicit_value_like_docker() {
        let run = |args: &[&str]| match parse_cli(
            ["docker", "run"]
                .iter()
                .chain(args)
                .chain(&["busybox", "sh"]),
        ) {
            Ok(Cli {
                cmd: Cmd::Run(a), ..
            }) => a,
            other => panic!("{args:?}: {other:?}"),
        };
        let a = run(&["--privileged=true", "--rm=false", "-ti"]);
        assert!(a.flags.privileged && !a.flags.rm && a.flags.tty && a.flags.interactive);
        let a = run(&["-it", "--rm"]);
        assert!(a.flags.tty && a.flags.interactive && a.flags.rm && !a.flags.privileged);
        let a = run(&["-d=false", "-t=true", "--init", "--privileged=1"]);
        assert!(!a.detach && a.flags.tty && a.flags.init && a.flags.privileged);
        let a = run(&["-dit"]);
        assert!(a.detach && a.flags.tty && a.flags.interactive);
        // Repeated: the last one wins, as in docker.
        let a = run(&["--rm", "--rm=false"]);
        assert!(!a.flags.rm);
        // A value needs the `=`: `--rm busybox` does not eat the image.
        assert_eq!(run(&["--rm"]).flags.image, "busybox");
        assert!(parse_cli(["docker", "run", "--rm=maybe", "busybox"]).is_err());
        // Other commands' flags too.
        assert!(parse_cli(["docker", "ps", "--all=true", "-q=false"]).is_ok());
    }

    #[test]
    fn run_parses_like_docker() {
        let cli = parse_cli([
            "docker",
            "-H",
            "unix:///x.sock",
            "run",
            "--rm",
            "-h",
            "box",
            "busybox",
            "ls",
            "-l",
        ])
        .unwrap();
        assert_eq!(cli.host.as_deref(), Some("unix:///x.sock"));
        match cli.cmd {
            Cmd::Run(a) => {
                assert!(a.flags.rm);
                assert_eq!(a.flags.hostname.as_deref(), Some("box"));
                assert_eq!(a.flags.command, vec!["ls", "-l"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn interactive_commands_parse_like_docker() {
        let parse = |v: &[&str]| parse_cli(v).map(|c| c.cmd);
        match parse(&[
            "docker", "exec", "-ti", "-u", "1", "web", "sh", "-c", "x", "-t",
        ])
        .unwrap()
        {
            Cmd::Exec(a) => {
                assert!(a.opts.tty && a.opts.interactive);
                assert_eq!(a.container, "web");
                assert_eq!(a.command, vec!["sh", "-c", "x", "-t"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["docker", "exec", "web"]).is_err());
        match parse(&["docker", "top", "web", "-eo", "pid,stat"]).unwrap() {
            Cmd::Top(a) => assert_eq!(a.ps_args, vec!["-eo", "pid,stat"]),
            other => panic!("{other:?}"),
        }
        match parse(&[
            "docker",
            "attach",
            "--sig-proxy=false",
            "--detach-keys",
            "ctrl-x,x",
            "web",
        ])
        .unwrap()
        {
            Cmd::Attach(a) => {
                assert!(!a.sig_proxy && !a.no_stdin);
                assert_eq!(a.detach_keys.as_deref(), Some("ctrl-x,x"));
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "docker",
            "run",
            "--sig-proxy",
            "-ti",
            "--detach-keys=ctrl-a",
            "busybox",
        ])
        .unwrap()
        {
            Cmd::Run(a) => assert!(a.sig_proxy && a.flags.tty),
            other => panic!("{other:?}"),
        }
        for v in [
            &["docker", "container", "attach", "x"][..],
            &["docker", "container", "exec", "x", "true"],
            &["docker", "container", "pause", "x", "y"],
            &["docker", "container", "unpause", "x"],
            &["docker", "container", "top", "x"],
            &["docker", "container", "rename", "x", "y"],
            &["docker", "restart", "-t", "1", "-s", "KILL", "x"],
            &["docker", "start", "-ai", "--detach-keys", "ctrl-x,x", "x"],
        ] {
            assert!(parse(v).is_ok(), "{v:?}");
        }
        assert!(parse(&["docker", "rename", "x"]).is_err());
    }

    #[test]
    fn container_group_and_aliases_parse() {
        assert!(matches!(
            parse_cli(["docker", "container", "ls", "-a"]).unwrap().cmd,
            Cmd::Container {
                cmd: ContainerCmd::Ls(_)
            }
        ));
        assert!(matches!(
            parse_cli(["docker", "image", "rm", "x"]).unwrap().cmd,
            Cmd::Image {
                cmd: ImageCmd::Rm(_)
            }
        ));
        assert!(parse_cli([
            "docker",
            "daemon",
            "--data-root",
            "/tmp/x",
            "-H",
            "unix:///tmp/s"
        ])
        .is_ok());
        assert!(parse_cli(["docker", "history", "-H=false", "busybox"]).is_ok());
        assert!(parse_cli(["docker", "ps", "-n", "3"]).is_ok());
        // `-H` is the daemon's address; `host` the virtual hosts command group.
        let cli = parse_cli(["docker", "-H", "unix:///x.sock", "host", "ls"]).unwrap();
        assert_eq!(cli.host.as_deref(), Some("unix:///x.sock"));
        assert!(matches!(
            cli.cmd,
            Cmd::Host {
                cmd: commands::host::HostCmd::Ls(_)
            }
        ));
    }
}
