//! The playground's browser frontend. Compiles for `wasm32-unknown-unknown`; the Yew
//! components arrive with the playground issue. Until then it only proves that the
//! wire types in `shared` build for the browser target.

/// The API version the frontend expects the server to speak.
pub fn api_version() -> &'static str {
    shared::API_VERSION
}
