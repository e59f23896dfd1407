//! Output formatting shared by the commands: humanized sizes and times, Go
//! templates, docker-style tables, and the row builders for `ps`, `images` and
//! `history`.

pub mod humanize;
pub mod rows;
pub mod table;
pub mod template;
