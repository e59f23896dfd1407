//! Dockhand's container engine: a library with no HTTP and no CLI parsing.
//!
//! Everything it stores belongs to a *daemon* (what one Docker API socket
//! serves, `daemon::Daemon`): the machine's is `default`, and each virtual host
//! (`vhost`) has its own. Image content (blobs, extracted layers) is shared by
//! digest across daemons; names, containers and the rest are per daemon.

pub mod archive;
pub mod build;
pub mod cgroups;
pub mod commit;
pub mod container;
pub mod daemon;
pub mod error;
pub mod filters;
pub mod fsutil;
#[cfg(test)]
mod hostile_input;
pub mod image;
pub mod init;
pub mod kernel;
pub mod logs;
pub mod monitor;
pub mod names;
pub mod network;
pub mod preflight;
pub mod procs;
pub mod reference;
pub mod registry;
pub mod resources;
pub mod runtime;
pub mod stats;
pub mod store;
#[doc(hidden)]
pub mod testing;
pub mod time;
pub mod top;
pub mod unix_socket;
pub mod upload;
pub mod vhost;
pub mod volume;

pub use error::{Error, ErrorKind};
pub use oci_spec;
