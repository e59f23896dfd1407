//! `dockhand registry`: the registry server of the `dockhand-registry` crate
//! (`serve`, a drop-in for distribution's `registry serve`) and its
//! `garbage-collect`.

use std::path::PathBuf;

use ::registry::config::{Config, LoadOptions};
use ::registry::log as rlog;
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum RegistryCmd {
    /// Serve the registry
    Serve(ServeArgs),
    /// Remove blobs that no manifest references (run it with the registry stopped)
    #[command(name = "garbage-collect", visible_alias = "gc")]
    Gc(GcArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The configuration file (YAML, as distribution's)
    pub config: Option<String>,
    /// Listen address (overrides http.addr), e.g. :5000 or 127.0.0.1:5000
    #[arg(long)]
    pub addr: Option<String>,
    /// Storage root directory (overrides storage.filesystem.rootdirectory)
    #[arg(long)]
    pub root: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct GcArgs {
    /// The configuration file (YAML, as distribution's)
    pub config: Option<String>,
    /// Print what would be deleted without deleting anything
    #[arg(short = 'd', long)]
    pub dry_run: bool,
    /// Delete manifests that are not currently referenced via a tag
    #[arg(short = 'm', long)]
    pub delete_untagged: bool,
    /// Silence the marking output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Storage root directory (overrides storage.filesystem.rootdirectory)
    #[arg(long)]
    pub root: Option<PathBuf>,
}

fn load(config: Option<String>, addr: Option<String>, root: Option<PathBuf>) -> Option<Config> {
    let opts = LoadOptions {
        path: config.map(PathBuf::from),
        addr,
        root,
    };
    match Config::load(&opts) {
        Ok((c, warnings)) => {
            rlog::set_level(c.log_level);
            for w in warnings {
                rlog::warn(&w);
            }
            Some(c)
        }
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

/// Run a registry command; the process exit code.
pub fn run(cmd: RegistryCmd, debug: bool) -> i32 {
    match cmd {
        RegistryCmd::Serve(a) => serve(a, debug),
        RegistryCmd::Gc(a) => gc(a),
    }
}

fn serve(a: ServeArgs, debug: bool) -> i32 {
    let Some(mut config) = load(a.config, a.addr, a.root) else {
        return 1;
    };
    if debug {
        config.log_level = rlog::Level::Debug;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let res = rt.block_on(::registry::serve(config, shutdown_signal()));
    rt.shutdown_background();
    match res {
        Ok(()) => 0,
        Err(e) => {
            rlog::error(&e.to_string());
            1
        }
    }
}

/// SIGTERM (`docker stop`) or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn gc(a: GcArgs) -> i32 {
    let Some(config) = load(a.config, None, a.root) else {
        return 1;
    };
    let opts = ::registry::GcOptions {
        dry_run: a.dry_run,
        delete_untagged: a.delete_untagged,
        quiet: a.quiet,
    };
    let mut out = std::io::stdout().lock();
    match ::registry::garbage_collect(&config.root, opts, &mut out) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("failed to garbage collect: {e}");
            1
        }
    }
}
