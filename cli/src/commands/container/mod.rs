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

use crate::client::path_escape;

fn cpath(id: &str, rest: &str) -> String {
    format!("/containers/{}{}", path_escape(id), rest)
}
