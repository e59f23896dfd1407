//! Image commands (docker/cli 28 `cli/command/image`, and `cli/command/registry`
//! for login, logout and search): `images`/`ls`, `history`, `tag`, `rmi`, `prune`
//! (local.rs); `save`, `load`, `import` (archive.rs); `pull`, `push`, `login`,
//! `logout` and the credentials docker keeps (registry.rs); `search`; `build` and
//! `builder prune` (build.rs).

pub mod archive;
pub mod build;
pub mod build_progress;
pub mod local;
pub mod preload;
pub mod registry;
pub mod search;

use crate::client::Client;
use crate::commands::system::inspect::{self, InspectArgs};
use crate::commands::CmdResult;
use archive::{ImportArgs, LoadArgs, SaveArgs};
use build::{BuildArgs, BuilderPruneArgs};
use clap::Subcommand;
use local::{HistoryArgs, ImagePruneArgs, ImagesArgs, RmiArgs, TagArgs};

/// `docker image ...` (and the shortcuts `docker images`, `pull`, `build`, ...).
#[derive(Subcommand, Debug)]
pub enum ImageCmd {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(visible_aliases = ["remove", "rmi"])]
    Rm(RmiArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
    /// Load images from Docker/OCI archives or OCI layouts into the machine's
    /// shared store, visible to every virtual host
    Preload(preload::PreloadArgs),
}

/// `docker builder ...`.
#[derive(Subcommand, Debug)]
pub enum BuilderCmd {
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

/// Run an image command.
pub async fn dispatch(c: &Client, cmd: ImageCmd) -> CmdResult {
    match cmd {
        ImageCmd::Inspect(a) => inspect::inspect(c, &a, Some("image")).await,
        ImageCmd::Ls(a) => local::images(c, &a).await,
        ImageCmd::History(a) => local::history(c, &a).await,
        ImageCmd::Tag(a) => local::tag(c, &a).await,
        ImageCmd::Rm(a) => local::rmi(c, &a).await,
        ImageCmd::Import(a) => archive::import(c, &a).await,
        ImageCmd::Save(a) => archive::save(c, &a).await,
        ImageCmd::Load(a) => archive::load(c, &a).await,
        ImageCmd::Prune(a) => local::image_prune(c, &a).await,
        ImageCmd::Preload(a) => preload::preload(c, &a).await,
        ImageCmd::Build(a) => build::build(c, &a).await,
        ImageCmd::Pull(a) => registry::pull(c, &a).await,
        ImageCmd::Push(a) => registry::push(c, &a).await,
    }
}

/// Run a builder command.
pub async fn dispatch_builder(c: &Client, cmd: BuilderCmd) -> CmdResult {
    match cmd {
        BuilderCmd::Prune(a) => build::builder_prune(c, &a).await,
    }
}

/// `busybox` -> (`docker.io/library/busybox`, `latest`); the familiar
/// `busybox:latest` is what "Unable to find image" prints.
pub fn normalize_image_ref(image: &str) -> (String, String, String) {
    let (name, tag_or_digest) = match image.split_once('@') {
        Some((n, d)) => (n.to_string(), Some(d.to_string())),
        None => {
            let (n, t) = crate::format::rows::split_repo_tag(image);
            (n, t)
        }
    };
    let first = name.split('/').next().unwrap_or("");
    let has_domain =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_domain {
        name.clone()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let familiar = crate::format::rows::familiar_name(&full);
    let (tag, familiar_ref) = match (image.contains('@'), tag_or_digest) {
        (true, Some(d)) => (d.clone(), format!("{familiar}@{d}")),
        (_, Some(t)) => (t.clone(), format!("{familiar}:{t}")),
        (_, None) => ("latest".to_string(), format!("{familiar}:latest")),
    };
    (full, tag, familiar_ref)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_refs_normalize_like_docker() {
        assert_eq!(
            normalize_image_ref("busybox"),
            (
                "docker.io/library/busybox".into(),
                "latest".into(),
                "busybox:latest".into()
            )
        );
        assert_eq!(
            normalize_image_ref("me/app:1.0"),
            ("docker.io/me/app".into(), "1.0".into(), "me/app:1.0".into())
        );
        assert_eq!(
            normalize_image_ref("localhost:5000/app"),
            (
                "localhost:5000/app".into(),
                "latest".into(),
                "localhost:5000/app:latest".into()
            )
        );
    }
}
