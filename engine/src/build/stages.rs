//! Stages as the executor runs them: side by side where they do not depend on
//! each other, each from its base image step by step, with the build cache
//! consulted before a step and each step committed as an image.

use super::cache::step_key;
use super::dockerfile::{self};
use super::exec::*;
use crate::image::{LayerInfo, NewImage};
use std::collections::BTreeMap;

impl Builder {
    /// Build the planned stages, each as soon as the stages it uses are done,
    /// side by side; the output stays in plan order. The first failure stops
    /// the others before their next step. Returns the target stage's state.
    pub(super) async fn run_stages(
        &mut self,
        plan: &[usize],
        meta: &State,
        last: usize,
    ) -> Result<State, BuildError> {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        let ordered = Ordered::new(self.out.clone(), plan.to_vec());
        // Each stage's first step number, as a sequential build counts them.
        let mut first_step = BTreeMap::new();
        let mut n = self.step;
        for &i in plan {
            first_step.insert(i, n);
            n += 1 + self.df.stages[i].instructions.len();
        }
        let mut waiting: Vec<usize> = plan.to_vec();
        let mut running = FuturesUnordered::new();
        let mut failure: Option<BuildError> = None;
        let mut final_state = None;
        loop {
            if failure.is_none() {
                let ready: Vec<usize> = waiting
                    .iter()
                    .copied()
                    .filter(|i| {
                        self.stage_deps(*i)
                            .iter()
                            .all(|d| !plan.contains(d) || self.results.contains_key(d))
                    })
                    .collect();
                for i in ready {
                    waiting.retain(|w| *w != i);
                    let mut b = self.clone();
                    b.step = first_step[&i];
                    b.out = ordered.sink(i);
                    let meta = meta.clone();
                    running.push(async move {
                        let r = b.build_stage(i, &meta, i == last).await;
                        (i, r)
                    });
                }
            }
            let Some((i, r)) = running.next().await else {
                break;
            };
            ordered.finish(i);
            match r {
                Ok(st) => {
                    self.results.insert(
                        i,
                        StageResult {
                            image: st.image.clone(),
                        },
                    );
                    if i == last {
                        final_state = Some(st);
                    }
                }
                Err(e) => {
                    self.cancelled
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    if failure.is_none() && !matches!(e, BuildError::Cancelled) {
                        failure = Some(e);
                    }
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        final_state.ok_or_else(|| BuildError::failed("the target stage was not built"))
    }

    /// One stage: FROM, its instructions, and for the target the `--label`s.
    pub(super) async fn build_stage(
        &mut self,
        i: usize,
        meta: &State,
        is_target: bool,
    ) -> Result<State, BuildError> {
        let mut st = self.begin_stage(i, meta).await?;
        let instructions = self.df.stages[i].instructions.clone();
        for ins in &instructions {
            if self.cancelled.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(BuildError::Cancelled);
            }
            self.step_line(&ins.original);
            self.dispatch(i, &mut st, ins).await?;
        }
        if is_target && !self.opts.labels.is_empty() {
            let labels: Vec<String> = self
                .opts
                .labels
                .iter()
                .map(|(k, v)| format!("{}={}", shared::go::quote(k), shared::go::quote(v)))
                .collect();
            let text = format!("LABEL {}", labels.join(" "));
            self.step_line(&text);
            for (k, v) in self.opts.labels.clone() {
                st.config.labels.insert(k, v);
            }
            self.commit_config(&mut st, &text)?;
        }
        Ok(st)
    }

    /// FROM: the base image (a stage, `scratch`, or an image pulled if missing).
    pub(super) async fn begin_stage(
        &mut self,
        i: usize,
        meta: &State,
    ) -> Result<State, BuildError> {
        let stage = self.df.stages[i].clone();
        self.step_line(&stage.original);
        let base = self.expand(meta, &stage.base)?;
        let mut st = State::default();
        if let Some(j) = self.stage_index(&base, i) {
            let r = self
                .results
                .get(&j)
                .cloned()
                .ok_or_else(|| BuildError::failed(format!("stage {base} was not built")))?;
            if let Some(id) = &r.image {
                st.config = self.daemon.images.resolve(id)?.config;
            }
            st.image = r.image;
        } else if base.eq_ignore_ascii_case("scratch") {
            st.image = None;
        } else {
            let platform = stage.platform.clone().or(self.opts.platform.clone());
            let id = self.base_image(&base, platform.as_deref(), meta).await?;
            let img = self.daemon.images.resolve(&id)?;
            st.config = img.config;
            st.image = Some(img.id);
        }
        if !st.config.env.iter().any(|e| e.starts_with("PATH=")) {
            st.config.env.push(format!("PATH={DEFAULT_PATH}"));
        }
        if let Some(id) = &st.image {
            self.emit(&format!(" ---> {}\n", short(id)));
        }
        // Meta args are visible in the stage only once redeclared; keep them for that.
        st.args = BTreeMap::new();
        let triggers = st.config.on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            let s = if triggers.len() == 1 { "" } else { "s" };
            self.emit(&format!(
                "# Executing {} build trigger{s}\n",
                triggers.len()
            ));
            for t in triggers {
                let df = dockerfile::parse(&format!("FROM scratch\n{t}\n"))
                    .map_err(|e| BuildError::failed(e.to_string()))?;
                let Some(ins) = df.stages.first().and_then(|s| s.instructions.first()) else {
                    continue;
                };
                self.dispatch(i, &mut st, ins).await?;
            }
        }
        Ok(st)
    }

    pub(super) async fn base_image(
        &mut self,
        name: &str,
        platform: Option<&str>,
        meta: &State,
    ) -> Result<String, BuildError> {
        let _ = meta;
        let have = self.daemon.images.lookup_name(name).ok().map(|(id, _)| id);
        if let (Some(id), false) = (&have, self.opts.pull) {
            return Ok(id.clone());
        }
        let pulled = (self.pull)(
            name.to_string(),
            platform.map(str::to_string),
            self.out.clone(),
        )
        .await;
        match (pulled, have) {
            (Ok(()), _) => Ok(self.daemon.images.lookup_name(name)?.0),
            (Err(e), _) => Err(BuildError::failed(e)),
        }
    }

    /// Commit a metadata step: a new image with `st.config`, no layer.
    pub(super) fn commit_config(
        &mut self,
        st: &mut State,
        comment: &str,
    ) -> Result<(), BuildError> {
        let created_by = format!("{} #(nop)  {comment}", st.shell().join(" "));
        self.commit(st, created_by, "", None)
    }

    /// Commit the step `created_by`: from cache when allowed, else from `layer`
    /// (none: metadata only).
    pub(super) fn commit(
        &mut self,
        st: &mut State,
        created_by: String,
        key_extra: &str,
        layer: Option<LayerInfo>,
    ) -> Result<(), BuildError> {
        let key = step_key(st.image.as_deref(), &created_by, key_extra);
        let empty = layer
            .as_ref()
            .is_none_or(|l| l.diff_id == crate::commit::empty_layer_digest());
        let new = NewImage {
            parent: st.image.clone(),
            layers: match (&layer, empty) {
                (Some(l), false) => vec![l.clone()],
                _ => vec![],
            },
            config: st.config.clone(),
            created_by,
            comment: String::new(),
            author: st.author.clone(),
            created: None,
        };
        let id = self.daemon.images.create_image(&new, None);
        if let (Some(l), true) = (&layer, empty || id.is_err()) {
            let _ = self
                .daemon
                .images
                .drop_unreferenced_layers(std::slice::from_ref(&l.diff_id));
        }
        let id = id?;
        if let Err(e) = self.cache.put(&key, &id) {
            tracing::warn!(error = %e, "cannot record a build cache entry");
        }
        self.emit(&format!(" ---> {}\n", short(&id)));
        st.image = Some(id);
        Ok(())
    }

    /// The cached image of a step, if caching is on and one exists.
    pub(super) fn cached(&self, st: &State, created_by: &str, key_extra: &str) -> Option<String> {
        if self.opts.no_cache {
            return None;
        }
        let key = step_key(st.image.as_deref(), created_by, key_extra);
        let hit = self
            .cache
            .get(&key, |id| self.daemon.images.lookup_name(id).is_ok());
        match (&self.cache_sources, hit) {
            (None, hit) => hit,
            (Some(allowed), Some(id)) if allowed.contains(&id) => Some(id),
            (Some(_), _) => {
                let id = self.restore_from_sources(st, created_by)?;
                if let Err(e) = self.cache.put(&key, &id) {
                    tracing::warn!(error = %e, "cannot record a build cache entry");
                }
                Some(id)
            }
        }
    }

    /// moby's image cache over `--cache-from` images that carry no parent links
    /// (pulled or loaded): the step is cached when a source's history and layers
    /// begin with the current image's and its next history entry is this step.
    /// The image is then made from the source's layer (if that entry has one)
    /// and the step's config, with the entry's time, so the ID is stable.
    pub(super) fn restore_from_sources(&self, st: &State, created_by: &str) -> Option<String> {
        let images = &self.daemon.images;
        let cur = images.resolve(st.image.as_deref()?).ok()?;
        let cur_hist = images.history_entries(&cur.id).ok()?;
        for name in &self.opts.cache_from {
            let Ok(src) = images.resolve(name) else {
                continue;
            };
            let Ok(src_hist) = images.history_entries(&src.id) else {
                continue;
            };
            let k = cur_hist.len();
            let same_past = src_hist.len() > k
                && src_hist[..k]
                    .iter()
                    .zip(&cur_hist)
                    .all(|(a, b)| a.1 == b.1 && a.2 == b.2)
                && src.diff_ids.len() >= cur.diff_ids.len()
                && src.diff_ids[..cur.diff_ids.len()] == cur.diff_ids[..];
            let Some(next) = src_hist.get(k) else {
                continue;
            };
            if !same_past || next.1 != created_by {
                continue;
            }
            let layers = if next.2 {
                vec![]
            } else {
                let i = cur.diff_ids.len();
                let digest = crate::store::parse_digest(src.diff_ids.get(i)?)?;
                vec![LayerInfo {
                    size: images.blobs().size(&digest).ok()?,
                    path: src.layers.get(i)?.clone(),
                    diff_id: digest,
                }]
            };
            let new = NewImage {
                parent: st.image.clone(),
                layers,
                config: st.config.clone(),
                created_by: created_by.to_string(),
                comment: String::new(),
                author: st.author.clone(),
                created: crate::image::config::parse_time(&next.0),
            };
            return images.create_image(&new, None).ok();
        }
        None
    }

    /// Use a cache hit: print it and move the stage onto it (its args, CMD
    /// state and author are the build's, not the image's).
    pub(super) fn use_cache(&self, st: &mut State, id: String) -> Result<(), BuildError> {
        self.emit(" ---> Using cache\n");
        self.emit(&format!(" ---> {}\n", short(&id)));
        st.config = self.daemon.images.resolve(&id)?.config;
        st.config.on_build = st.config.on_build.take().filter(|v| !v.is_empty());
        st.image = Some(id);
        Ok(())
    }
}
