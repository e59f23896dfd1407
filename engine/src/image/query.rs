//! What the store shows: `images`, `inspect`, `history`, and `tag`.

use super::*;

impl ImageStore {
    /// An image's history as its config records it: (created, created_by,
    /// empty_layer) per entry, oldest first.
    pub fn history_entries(&self, id: &str) -> Result<Vec<(String, String, bool)>, ImageError> {
        let cfg = self.stored_config(&self.image_id(id)?)?;
        Ok(cfg
            .oci
            .history()
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|h| {
                (
                    h.created().clone().unwrap_or_default(),
                    h.created_by().clone().unwrap_or_default(),
                    h.empty_layer().unwrap_or(false),
                )
            })
            .collect())
    }

    /// moby's dangling image: no name and no child (`id` a full ID).
    pub fn is_dangling(&self, id: &str) -> bool {
        self.lock_index().is_dangling(id)
    }

    /// The tags this daemon has for the repository `full_name`
    /// (`docker.io/library/busybox`), sorted.
    pub fn tags_of(&self, full_name: &str) -> Vec<String> {
        let idx = self.lock_index();
        let prefix = format!("{full_name}:");
        idx.refs
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|t| !t.contains('@') && !t.contains('/'))
            .map(str::to_string)
            .collect()
    }

    pub(super) fn image_size(&self, meta: &ImageMeta) -> i64 {
        meta.layers
            .iter()
            .filter_map(|d| parse_digest(d))
            .filter_map(|d| self.blobs.size(&d).ok())
            .sum::<u64>() as i64
    }

    /// `GET /images/json`: newest first.
    pub fn list(&self, all: bool) -> Vec<ImageSummary> {
        let idx = self.lock_index().clone();
        let parents = idx.parents();
        let mut out = Vec::new();
        for (id, meta) in &idx.images {
            // moby: without `all`, intermediate images (no name, children) are hidden.
            if !all && idx.is_intermediate(id, &parents) {
                continue;
            }
            let Ok(cfg) = self.stored_config(id) else {
                tracing::warn!(image = %id, "image config missing from the blob store");
                continue;
            };
            let cc = cfg.container_config();
            let (repo_tags, repo_digests) = Self::repo_names(&idx, id);
            out.push(ImageSummary {
                id: id.clone(),
                parent_id: meta.parent.clone().unwrap_or_default(),
                repo_tags,
                repo_digests,
                created: cfg.created().map(|t| t.timestamp()).unwrap_or(0),
                size: self.image_size(meta),
                shared_size: -1,
                labels: cc.labels,
                containers: -1,
            });
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// `GET /images/{name}/json`.
    pub fn inspect(&self, name_or_id: &str) -> Result<ImageInspect, ImageError> {
        let (id, meta, (repo_tags, repo_digests)) = {
            let idx = self.lock_index();
            let id = self.lookup(&idx, name_or_id)?.0;
            let meta = idx.meta(&id).cloned().unwrap_or_default();
            (id.clone(), meta, Self::repo_names(&idx, &id))
        };
        let cfg = self.stored_config(&id)?;
        let mut dirs: Vec<String> = meta
            .layers
            .iter()
            .filter_map(|d| parse_digest(d))
            .map(|d| self.layer_dir(&d).display().to_string())
            .collect();
        let mut data = BTreeMap::new();
        if let Some(top) = dirs.pop() {
            data.insert("UpperDir".to_string(), top);
        }
        if !dirs.is_empty() {
            dirs.reverse();
            data.insert("LowerDir".to_string(), dirs.join(":"));
        }
        let created = cfg
            .created()
            .map(|t| format_time(&t))
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
        Ok(ImageInspect {
            id: id.clone(),
            repo_tags,
            repo_digests,
            parent: meta.parent.clone().unwrap_or_default(),
            comment: cfg.comment(),
            created,
            docker_version: cfg.docker_version(),
            author: cfg.oci.author().clone().unwrap_or_default(),
            config: cfg.container_config(),
            architecture: cfg.oci.architecture().to_string(),
            os: cfg.oci.os().to_string(),
            size: self.image_size(&meta),
            graph_driver: GraphDriver {
                name: "overlay2".into(),
                data,
            },
            root_fs: RootFs {
                kind: "layers".into(),
                layers: cfg.diff_ids(),
            },
            metadata: serde_json::json!({
                "LastTagTime": meta.last_tag_time.unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
            }),
        })
    }

    /// `GET /images/{name}/history`: newest first; only the top entry has an ID.
    pub fn history(&self, name_or_id: &str) -> Result<Vec<HistoryItem>, ImageError> {
        let (id, tags) = {
            let idx = self.lock_index();
            let id = self.lookup(&idx, name_or_id)?.0;
            (id.clone(), Self::repo_tags(&idx, &id))
        };
        let cfg = self.stored_config(&id)?;
        let diff_ids = cfg.diff_ids();
        let size_of = |i: usize| {
            diff_ids
                .get(i)
                .and_then(|d| parse_digest(d))
                .and_then(|d| self.blobs.size(&d).ok())
                .unwrap_or(0) as i64
        };
        let mut items = Vec::new();
        let mut layer_i = 0;
        match cfg.oci.history() {
            Some(hist) if !hist.is_empty() => {
                for h in hist {
                    let size = if h.empty_layer().unwrap_or(false) {
                        0
                    } else {
                        layer_i += 1;
                        size_of(layer_i - 1)
                    };
                    items.push(HistoryItem {
                        id: "<missing>".into(),
                        created: h
                            .created()
                            .as_deref()
                            .and_then(config::parse_time)
                            .map(|t| t.timestamp())
                            .unwrap_or(0),
                        created_by: h.created_by().clone().unwrap_or_default(),
                        tags: Vec::new(),
                        size,
                        comment: h.comment().clone().unwrap_or_default(),
                    });
                }
            }
            _ => {
                let created = cfg.created().map(|t| t.timestamp()).unwrap_or(0);
                for i in 0..diff_ids.len() {
                    items.push(HistoryItem {
                        id: "<missing>".into(),
                        created,
                        size: size_of(i),
                        ..Default::default()
                    });
                }
            }
        }
        items.reverse();
        if let Some(top) = items.first_mut() {
            top.id = id;
            top.tags = tags;
        }
        Ok(items)
    }

    /// `docker tag SOURCE TARGET` (default tag `latest`).
    pub fn tag(&self, source: &str, target: &str) -> Result<(), ImageError> {
        let target = parse_tag_target(target)?;
        let mut idx = self.lock_index();
        let id = self.lookup(&idx, source)?.0;
        let mut next = idx.clone();
        next.refs.insert(target.canonical_string(), id.clone());
        if let Some(m) = next.images.get_mut(&id) {
            m.last_tag_time = Some(format_time(&Utc::now()));
        }
        self.save_index(&next)?;
        *idx = next;
        Ok(())
    }

    /// Tag an image ID with `reference` (already parsed).
    pub fn tag_id(&self, id: &str, reference: &Reference) -> Result<(), ImageError> {
        self.tag(id, &reference.to_string())
    }
}
