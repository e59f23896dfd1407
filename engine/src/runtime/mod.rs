//! The process side of a container: what the monitor's forked child does between
//! `fork` and `execve` (namespaces, the overlay root, `/proc`, `/dev`, pivot_root,
//! user, capabilities), and the spec the daemon hands the monitor.
//!
//! All of this runs in the single-threaded monitor process or its child, never on
//! the daemon's tokio threads: forking a busy multi-threaded process can deadlock on
//! allocator locks.

pub mod caps;
pub mod child;
pub mod sandbox;
pub mod seccomp;
pub mod spec;
pub mod user;

pub use spec::RuntimeSpec;
