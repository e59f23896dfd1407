//! Content-addressed blob store (stub).
