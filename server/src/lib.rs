//! Dockhand server.
