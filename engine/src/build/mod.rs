//! `docker build`: the classic builder's behaviour on our engine.
//!
//! - `dockerfile`: the Dockerfile language, parsed with line numbers.
//! - `shell`: variable substitution in words, as the classic builder does it.
//! - `dockerignore`: `.dockerignore` patterns.
//! - `context`: the build context received as a tar (plain or compressed).
//! - `copy`: `COPY`/`ADD` sources resolved and written as a layer tar.
//! - `remote`: `ADD <url>` sources and URL contexts, fetched from the daemon's network (a virtual host's own).
//! - `exec`: the build: stages, steps, the messages; `run`: the RUN, COPY/ADD
//!   and WORKDIR steps; `cache`: which step made which image.

pub mod cache;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod dockerignore;
pub mod exec;
mod meta;
pub mod remote;
mod run;

pub use run::downloads_dir;
pub mod shell;
mod stages;
