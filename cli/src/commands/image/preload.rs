//! `dockhand image preload`: images a trainer brings, into the machine's shared store.
//! The paths are the machine's (the daemon reads them; relative ones are made
//! absolute here); the daemon answers with `docker load`'s message stream,
//! printed as `docker load` prints it (`Loaded image: ubuntu:14.04`).

use super::archive::display_json_messages;
use crate::client::{Client, Query};
use crate::commands::{CmdResult, Failure};
use clap::Args;

#[derive(Args, Debug)]
pub struct PreloadArgs {
    /// Docker/OCI archives, OCI layout directories, or directories of them
    #[arg(required = true)]
    pub paths: Vec<String>,
}

/// `POST /dockhand/images/preload {"paths": [...]}`
pub async fn preload(c: &Client, a: &PreloadArgs) -> CmdResult {
    let mut paths = Vec::new();
    for p in &a.paths {
        let abs = std::path::absolute(p).map_err(|e| Failure::new(format!("{p}: {e}"), 1))?;
        paths.push(abs.to_string_lossy().into_owned());
    }
    let body = serde_json::json!({ "paths": paths });
    let resp = c
        .post_json("/dockhand/images/preload", &Query::new(), &body)
        .await?;
    let mut out = std::io::stdout();
    display_json_messages(resp, &mut out)
        .await
        .map_err(|e| Failure::new(e, 1))?;
    Ok(0)
}
