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
