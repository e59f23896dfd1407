//! The registry server (`dockhand registry`): the OCI distribution-spec v1.1
//! and the Docker Registry HTTP API v2, stored on a directory.
