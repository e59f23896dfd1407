//! Image references (stub).
