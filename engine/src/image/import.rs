//! `docker import`: a root filesystem tar (plain or gzip) becomes a one-layer image,
//! its config set by `--change` instructions, its history comment the message
//! (docker's default: "Imported from -").

use super::changes::apply_changes;
use super::{parse_tag_target, ImageError, ImageStore, NewImage};
use shared::api::ContainerConfig;
use std::io::Read;

impl ImageStore {
    /// Import `src` as a new image, tagged `reference` (default tag `latest`) when
    /// given. Returns the ID (`sha256:...`).
    pub fn import(
        &self,
        src: &mut dyn Read,
        reference: Option<&str>,
        changes: &[String],
        message: &str,
    ) -> Result<String, ImageError> {
        let reference = reference.filter(|r| !r.is_empty());
        // Refuse bad names and changes before reading a possibly large archive.
        if let Some(r) = reference {
            parse_tag_target(r)?;
        }
        let mut config = ContainerConfig::default();
        apply_changes(&mut config, changes).map_err(ImageError::InvalidParameter)?;
        let layer = self.register_layer(src)?;
        let new = NewImage {
            parent: None,
            layers: vec![layer],
            config,
            created_by: String::new(),
            comment: if message.is_empty() {
                "Imported from -".into()
            } else {
                message.to_string()
            },
            author: String::new(),
            created: None,
        };
        self.create_image(&new, reference)
    }
}
