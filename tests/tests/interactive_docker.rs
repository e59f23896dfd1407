//! The interactive scenarios of `interactive.rs`, driven through the real docker
//! CLI (28) instead of ours: the same keystrokes, screens and exit codes. Each
//! test skips visibly when /usr/local/bin/docker is absent.

include!("interactive.rs");
