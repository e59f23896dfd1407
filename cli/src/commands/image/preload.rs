//! `dockhand image preload`: images a trainer brings, into the machine's shared store.

use crate::client::Client;
use crate::commands::{CmdResult, Failure};
use clap::Args;

#[derive(Args, Debug)]
pub struct PreloadArgs {
    /// Docker/OCI archives, OCI layout directories, or directories of them
    #[arg(required = true)]
    pub paths: Vec<String>,
}

pub async fn preload(_c: &Client, a: &PreloadArgs) -> CmdResult {
    Err(Failure::new(
        format!("preload is not built yet: {:?}", a.paths),
        1,
    ))
}
