//! Types that cross the wire: the Docker Engine API's JSON shapes (field names as
//! Docker spells them) and, later, the playground protocol. Must compile for
//! `wasm32-unknown-unknown`, so nothing here touches the OS.

pub mod api;
pub mod go;
pub mod lessons;
pub mod mux;
pub mod playground;
pub mod sync;
pub mod units;
pub mod vhost;
pub mod workshop;

/// The Engine API version this daemon speaks (Docker 27's). Clients negotiate down to it.
pub const API_VERSION: &str = "1.47";
/// The oldest API version accepted on versioned paths.
pub const MIN_API_VERSION: &str = "1.24";
