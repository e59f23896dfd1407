//! `dockhand registry`: the registry server of the `dockhand-registry` crate.

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum RegistryCmd {
    /// Serve the registry
    Serve(ServeArgs),
    /// Remove blobs that no manifest references
    #[command(name = "garbage-collect", visible_alias = "gc")]
    Gc(GcArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The configuration file (YAML, as distribution's)
    pub config: Option<String>,
}

#[derive(Args, Debug)]
pub struct GcArgs {
    /// The configuration file (YAML, as distribution's)
    pub config: Option<String>,
}

/// Run a registry command; the process exit code.
pub fn run(cmd: RegistryCmd, _debug: bool) -> i32 {
    eprintln!("dockhand registry: not built yet ({cmd:?})");
    1
}
