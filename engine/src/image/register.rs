//! Adding to a daemon's images: layers (registered, charged, extracted once),
//! images made from them, tags and digests from a pull.

use super::*;

impl ImageStore {
    // ----- layers -------------------------------------------------------------

    /// Store a layer tar (plain or gzip) and extract it (once per content).
    pub fn register_layer(&self, src: &mut dyn Read) -> Result<LayerInfo, ImageError> {
        self.register_layer_as(src, None)
    }

    /// As [`register_layer`](Self::register_layer), for a tar that must hash
    /// to `diff_id` (an image config names it): otherwise nothing is stored
    /// and the error says "layer verification failed". The tar is hashed once,
    /// while it is stored.
    pub fn register_layer_as(
        &self,
        src: &mut dyn Read,
        diff_id: Option<&Sha256Digest>,
    ) -> Result<LayerInfo, ImageError> {
        let mut br = BufReader::with_capacity(64 * 1024, src);
        let head = br
            .fill_buf()
            .map_err(|e| ImageError::InvalidParameter(format!("reading layer: {e}")))?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let mut src: Box<dyn Read + '_> = if gzip {
            Box::new(flate2::read::GzDecoder::new(br))
        } else {
            Box::new(br)
        };
        let budget = self.content_budget();
        let tripped = std::cell::Cell::new(false);
        let mut limited = Budgeted {
            inner: &mut src,
            left: budget.unwrap_or(u64::MAX),
            tripped: &tripped,
        };
        let stored = match diff_id {
            None => self.blobs.put(&mut limited).map_err(StoreError::from),
            Some(want) => self
                .blobs
                .put_verified(&mut limited, want)
                .map(|n| (want.clone(), n)),
        };
        let (diff_id, size) = match stored {
            Ok(r) => r,
            Err(_) if tripped.get() => {
                return Err(ImageError::NoSpace(format!(
                    "{}: the virtual host's images count against its disk",
                    self.daemon
                )))
            }
            Err(StoreError::DigestMismatch { expected, actual }) => {
                return Err(ImageError::InvalidParameter(format!(
                    "layer verification failed: the content is sha256:{actual}, the image config says sha256:{expected}"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let path = match self.ensure_extracted(&diff_id) {
            Ok(p) => p,
            Err(e) => {
                let _guard = self.content_lock()?;
                let refs = index::all_content_refs(&self.data_root, None)?;
                if !refs.layers.contains(&digest_string(&diff_id)) {
                    let _ = self.blobs.remove(&diff_id);
                }
                return Err(e);
            }
        };
        Ok(LayerInfo {
            diff_id,
            size,
            path,
        })
    }

    /// Extract a stored layer blob unless its directory exists.
    pub(super) fn ensure_extracted(&self, diff_id: &Sha256Digest) -> Result<PathBuf, ImageError> {
        let dir = self.layer_dir(diff_id);
        if dir.is_dir() {
            return Ok(dir);
        }
        let tmp = self.data_root.join("layers").join(format!(
            ".tmp-{}-{}-{:016x}",
            std::process::id(),
            diff_id.digest(),
            rand::random::<u64>()
        ));
        fs::create_dir(&tmp).ctx("create dir", &tmp)?;
        let blob = self.blobs.path(diff_id);
        let res = File::open(&blob)
            .ctx("open", &blob)
            .map_err(ImageError::from)
            .and_then(|f| Ok(layer::extract(BufReader::new(f), &tmp)?));
        if let Err(e) = res {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        if let Err(e) = fs::rename(&tmp, &dir) {
            let _ = fs::remove_dir_all(&tmp);
            if !dir.is_dir() {
                return Err(IoError::new("rename", &dir, e).into());
            }
            // Another thread extracted the same content first: use theirs.
        }
        Ok(dir)
    }

    // ----- creating images -----------------------------------------------------

    /// Build a config from `new`, store it and add the image to this daemon, tagged
    /// `reference` if given. Returns the ID.
    pub fn create_image(
        &self,
        new: &NewImage,
        reference: Option<&str>,
    ) -> Result<String, ImageError> {
        let reference = reference.map(parse_tag_target).transpose()?;
        let (mut diff_ids, mut history) = match &new.parent {
            Some(p) => {
                let id = self.lookup(&self.lock_index(), p)?.0;
                let cfg = self.stored_config(&id)?;
                (
                    cfg.diff_ids(),
                    cfg.oci.history().clone().unwrap_or_default(),
                )
            }
            None => (Vec::new(), Vec::new()),
        };
        diff_ids.extend(new.layers.iter().map(|l| digest_string(&l.diff_id)));
        let created = format_time(&new.created.unwrap_or_else(Utc::now));
        let mut h = HistoryBuilder::default()
            .created(created.clone())
            .created_by(new.created_by.clone());
        if !new.comment.is_empty() {
            h = h.comment(new.comment.clone());
        }
        if !new.author.is_empty() {
            h = h.author(new.author.clone());
        }
        if new.layers.is_empty() {
            h = h.empty_layer(true);
        }
        history.push(h.build()?);
        let rootfs = RootFsBuilder::default()
            .typ("layers")
            .diff_ids(diff_ids)
            .build()?;
        let mut b = ImageConfigurationBuilder::default()
            .created(created)
            .architecture(host_arch())
            .os(host_os())
            .config(to_oci_config(&new.config))
            .rootfs(rootfs)
            .history(history);
        if !new.author.is_empty() {
            b = b.author(new.author.clone());
        }
        let oci = b.build()?;
        let comment = (!new.comment.is_empty()).then_some(new.comment.as_str());
        let bytes = encode_config(&oci, &new.config, comment).map_err(ImageError::Internal)?;
        let id = self.add_image(&bytes, reference.as_ref())?;
        if let Some(p) = &new.parent {
            let parent = self.lookup(&self.lock_index(), p)?.0;
            self.set_parent(&id, Some(&parent))?;
        }
        Ok(id)
    }

    /// Record `parent` as the parent of image `id` (both full IDs of this daemon),
    /// or forget its parent.
    pub fn set_parent(&self, id: &str, parent: Option<&str>) -> Result<(), ImageError> {
        let mut idx = self.lock_index();
        let Some(meta) = idx.images.get(id) else {
            return Err(ImageError::NotFound(id.to_string()));
        };
        if Some(id) == parent || meta.parent.as_deref() == parent {
            return Ok(());
        }
        let mut next = idx.clone();
        if let Some(m) = next.images.get_mut(id) {
            m.parent = parent.map(str::to_string);
        }
        self.save_index(&next)?;
        *idx = next;
        Ok(())
    }

    /// Add an image from its config bytes (pull, load): every layer named in
    /// `rootfs.diff_ids` must already be registered. Returns the ID.
    ///
    /// `reference` names it: a tag (`busybox:1`, default tag added) is set, or
    /// moved from another image; a digest reference (`busybox@sha256:..`, a pull
    /// by digest; a tag next to the digest is dropped, as moby does) is recorded
    /// as that digest reference, and an error if it already names another image
    /// (moby's "cannot overwrite digest"), checked before anything is stored.
    pub fn add_image(
        &self,
        config_bytes: &[u8],
        reference: Option<&Reference>,
    ) -> Result<String, ImageError> {
        let cfg = StoredConfig::parse(config_bytes).map_err(ImageError::InvalidParameter)?;
        let mut layers = Vec::new();
        for d in cfg.diff_ids() {
            let digest = parse_digest(&d)
                .ok_or_else(|| ImageError::InvalidParameter(format!("invalid diff id {d}")))?;
            layers.push(digest);
        }
        let mut idx = self.lock_index();
        if let Some((r, d)) = reference.and_then(|r| Some((r, r.digest()?))) {
            let new_id = digest_string(&sha256_of(config_bytes));
            let taken = idx.refs.get(&r.index_key());
            if taken.is_some_and(|old| *old != new_id && idx.images.contains_key(old)) {
                return Err(ImageError::Conflict(format!("cannot overwrite digest {d}")));
            }
        }
        let _content = self.content_lock()?;
        let mut sized = Vec::new();
        for d in &layers {
            if !self.blobs.exists(d) {
                return Err(ImageError::Internal(format!(
                    "layer {} is not in the store",
                    digest_string(d)
                )));
            }
            self.ensure_extracted(d)?;
            sized.push((d.clone(), self.blobs.size(d)?));
        }
        let config_digest = self.blobs.put_bytes(config_bytes)?;
        let manifest = build_manifest(config_bytes, &sized).map_err(ImageError::Internal)?;
        let manifest_digest = self.blobs.put_bytes(&manifest)?;
        let id = digest_string(&config_digest);
        let mut next = idx.clone();
        if let Some(m) = next.retained.remove(&id) {
            next.images.entry(id.clone()).or_insert(m);
        }
        let meta = next.images.entry(id.clone()).or_default();
        meta.manifest = digest_string(&manifest_digest);
        meta.layers = layers.iter().map(digest_string).collect();
        match reference {
            Some(r) if r.digest().is_some() => {
                next.refs.insert(r.index_key(), id.clone());
            }
            Some(r) => {
                meta.last_tag_time = Some(format_time(&Utc::now()));
                next.refs.insert(r.canonical_string(), id.clone());
            }
            None => {}
        }
        self.save_index(&next)?;
        *idx = next;
        Ok(id)
    }

    /// Record the digest reference `NAME@digest` for image `id` (a full
    /// `sha256:` ID of this daemon): what a pull of `NAME:TAG` (the manifest or
    /// index digest it printed) or a push of it (the pushed manifest's digest)
    /// does, as moby's `addDigestReference`. `name` may carry a tag or digest;
    /// only its repository is used. A `NAME@digest` that already names another
    /// image keeps it (moby logs "cannot update"); the same one is a no-op.
    /// Persisted with the tags, per daemon.
    pub fn add_digest(&self, id: &str, name: &Reference, digest: &str) -> Result<(), ImageError> {
        let key = name.with_digest(digest)?.index_key();
        let mut idx = self.lock_index();
        if !idx.images.contains_key(id) {
            return Err(ImageError::NotFound(id.to_string()));
        }
        match idx.refs.get(&key) {
            Some(old) if old == id => return Ok(()),
            Some(old) if idx.images.contains_key(old) => {
                tracing::error!(
                    "Image ID for digest {digest} changed from {old} to {id}, cannot update"
                );
                return Ok(());
            }
            _ => {}
        }
        let mut next = idx.clone();
        next.refs.insert(key, id.to_string());
        self.save_index(&next)?;
        *idx = next;
        Ok(())
    }
}
