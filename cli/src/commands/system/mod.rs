//! System commands (docker/cli 28 `cli/command/system`): `version` and `info`
//! (info.rs); `inspect`, generic and for containers and images, whose printing
//! network, volume and host inspect share (inspect.rs); `system df` and `system
//! prune` (disk.rs).

pub mod disk;
pub mod info;
pub mod inspect;

use crate::client::Client;
use crate::commands::CmdResult;
use clap::Subcommand;
use disk::{DfArgs, SystemPruneArgs};
use info::InfoArgs;

/// `docker system ...`.
#[derive(Subcommand, Debug)]
pub enum SystemCmd {
    /// Show docker disk usage
    Df(DfArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
    /// Display system-wide information
    Info(InfoArgs),
}

/// Run a system command.
pub async fn dispatch(c: &Client, cmd: SystemCmd) -> CmdResult {
    match cmd {
        SystemCmd::Df(a) => disk::df(c, &a).await,
        SystemCmd::Prune(a) => disk::system_prune(c, &a).await,
        SystemCmd::Info(a) => info::info(c, &a).await,
    }
}
