//! The build itself: stages and steps as the classic builder runs them, printed
//! as it prints them (`Step 2/5 : RUN …`, ` ---> Using cache`, ` ---> Running in
//! …`, `Successfully built …`).
//!
//! Each step makes an image whose parent is the previous step's: metadata steps
//! (ENV, LABEL, CMD, …) commit a config without a container; RUN runs a container
//! of this host (its network, limits and virtual host) and commits its changes;
//! COPY/ADD write their layer straight from the sources. A step whose cache key
//! ([`super::cache`]) names an image still in the daemon is not run again. Only the
//! stages the target needs are built. A failing step removes its container and
//! leaves no image.

use super::cache::BuildCache;
use super::dockerfile::{self, Dockerfile, Kind};
use super::meta::display_arg;
use super::shell::Lex;
use crate::daemon::Daemon;
use crate::error::Error;
use serde_json::json;
use serde_json::Value;
use shared::api::{ContainerConfig, ContainerCreateRequest, HostConfig};
use shared::sync::Locked;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

/// Where the build's messages go (`{"stream": …}`, `{"aux": …}`, pull progress):
/// the registry client's progress sink.
pub use crate::registry::progress::Sink;

/// Pulls an image (reference, platform) into the daemon, reporting progress to the
/// sink: the registry client lives with the server.
pub type PullFn = Arc<
    dyn Fn(String, Option<String>, Sink) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// What `POST /build` asked, beyond the context.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The Dockerfile's path in the context.
    pub dockerfile: String,
    pub tags: Vec<String>,
    /// `--build-arg`: a value, or none (declared without one).
    pub build_args: BTreeMap<String, Option<String>>,
    pub labels: BTreeMap<String, String>,
    pub no_cache: bool,
    pub pull: bool,
    pub target: Option<String>,
    pub network_mode: String,
    pub extra_hosts: Vec<String>,
    pub shm_size: Option<i64>,
    pub memory: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub platform: Option<String>,
    /// `q`: only the image ID is printed.
    pub quiet: bool,
    /// Remove the containers of failed steps too (`forcerm`); we always do.
    pub force_rm: bool,
    /// `--cache-from`: when given, only these images and their parents are
    /// cache (a name that is not here means no cache), as the classic builder.
    pub cache_from: Vec<String>,
}

/// Why a build stopped.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Refused before anything ran (the request or the Dockerfile): HTTP 400.
    #[error("{0}")]
    BadRequest(String),
    /// A step failed; `code` is a RUN's exit code (the CLI exits with it).
    #[error("{message}")]
    Failed { message: String, code: i64 },
    /// Stopped because another stage failed (never the build's own result).
    #[error("cancelled")]
    Cancelled,
}

impl BuildError {
    pub(super) fn failed(message: impl Into<String>) -> BuildError {
        BuildError::Failed {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<Error> for BuildError {
    fn from(e: Error) -> BuildError {
        BuildError::failed(e.to_string())
    }
}

impl From<crate::image::ImageError> for BuildError {
    fn from(e: crate::image::ImageError) -> BuildError {
        BuildError::failed(e.to_string())
    }
}

/// Args every build knows without an `ARG` (moby's builtin proxy args).
pub(super) const BUILTIN_ARGS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
];

pub(super) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One stage being built.
#[derive(Debug, Clone, Default)]
pub(super) struct State {
    /// The current image; none while on `scratch` with nothing committed.
    pub(super) image: Option<String>,
    pub(super) config: ContainerConfig,
    /// ARGs declared in this stage, with their values.
    pub(super) args: BTreeMap<String, Option<String>>,
    pub(super) cmd_set: bool,
    pub(super) author: String,
}

impl State {
    pub(super) fn shell(&self) -> Vec<String> {
        self.config
            .shell
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    /// Variables for expansion: ENV wins over ARG of the same name.
    pub(super) fn lookup(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        if let Some(e) = self
            .config
            .env
            .iter()
            .rev()
            .find(|e| e.starts_with(&prefix))
        {
            return Some(e[prefix.len()..].to_string());
        }
        self.args.get(name).cloned().flatten()
    }

    /// `KEY=VALUE` of the declared args with a value that ENV does not override,
    /// sorted: what a RUN sees besides ENV and what its history shows.
    pub(super) fn arg_env(&self) -> Vec<String> {
        self.args
            .iter()
            .filter_map(|(k, v)| Some((k, v.as_ref()?)))
            .filter(|(k, _)| {
                let prefix = format!("{k}=");
                !self.config.env.iter().any(|e| e.starts_with(&prefix))
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }
}

/// A finished stage.
#[derive(Debug, Clone)]
pub(super) struct StageResult {
    pub(super) image: Option<String>,
}

/// The build's output when stages run side by side: the stage first in the plan
/// that has not finished writes through; the others' messages wait, in order,
/// until it is their turn. So the output reads as a sequential build's.
pub(super) struct Ordered {
    pub(super) out: Sink,
    pub(super) state: std::sync::Mutex<OrderState>,
}

pub(super) struct OrderState {
    pub(super) order: Vec<usize>,
    pub(super) head: usize,
    pub(super) held: BTreeMap<usize, Vec<Value>>,
    pub(super) finished: BTreeSet<usize>,
}

impl Ordered {
    pub(super) fn new(out: Sink, order: Vec<usize>) -> Arc<Ordered> {
        Arc::new(Ordered {
            out,
            state: std::sync::Mutex::new(OrderState {
                order,
                head: 0,
                held: BTreeMap::new(),
                finished: BTreeSet::new(),
            }),
        })
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, OrderState> {
        self.state.locked()
    }

    /// The sink of stage `i`.
    pub(super) fn sink(self: &Arc<Self>, i: usize) -> Sink {
        let me = self.clone();
        Arc::new(move |v| {
            let mut st = me.lock();
            if st.order.get(st.head) == Some(&i) {
                (me.out)(v);
            } else {
                st.held.entry(i).or_default().push(v);
            }
        })
    }

    /// Stage `i` is done: pass the turn on, releasing what the next ones said.
    pub(super) fn finish(&self, i: usize) {
        let mut st = self.lock();
        st.finished.insert(i);
        while let Some(&cur) = st.order.get(st.head) {
            if !st.finished.contains(&cur) {
                break;
            }
            st.head += 1;
            if let Some(&next) = st.order.get(st.head) {
                for v in st.held.remove(&next).unwrap_or_default() {
                    (self.out)(v);
                }
            }
        }
    }
}

/// Run a build whose context is extracted at `ctx`. Returns the image ID.
pub async fn build(
    daemon: Arc<Daemon>,
    ctx: PathBuf,
    opts: BuildOptions,
    out: Sink,
    pull: PullFn,
) -> Result<String, BuildError> {
    let text = super::context::read_dockerfile(&ctx, &opts.dockerfile)
        .map_err(|e| BuildError::BadRequest(e.to_string()))?;
    let df = dockerfile::parse(&text).map_err(|e| BuildError::BadRequest(e.to_string()))?;
    // moby removes the Dockerfile and `.dockerignore` when `.dockerignore`
    // excludes them (clients remove everything else it excludes).
    let ignore = super::context::read_dockerignore(&ctx)
        .map_err(|e| BuildError::BadRequest(e.to_string()))?;
    if !ignore.is_empty() {
        let ig = super::dockerignore::DockerIgnore::parse(&ignore)
            .map_err(|e| BuildError::BadRequest(format!("failed to parse .dockerignore: {e}")))?;
        super::context::remove_excluded_dockerfile(&ctx, &opts.dockerfile, |p| ig.excluded(p))
            .map_err(|e| BuildError::BadRequest(e.to_string()))?;
    }
    for t in &opts.tags {
        crate::image::parse_tag_target(t).map_err(|e| BuildError::BadRequest(e.to_string()))?;
    }
    let cache = Arc::new(BuildCache::open(daemon.dir()));
    let mut b = Builder {
        lex: Lex::new(df.escape),
        daemon,
        ctx,
        opts,
        out,
        pull,
        cache,
        step: 0,
        total: 0,
        declared: Default::default(),
        results: BTreeMap::new(),
        cancelled: Default::default(),
        cache_sources: None,
        df: Arc::new(df),
    };
    if !b.opts.cache_from.is_empty() {
        b.cache_sources = Some(Arc::new(cache_sources(&b.daemon, &b.opts.cache_from)));
    }
    b.run().await
}

/// The `--cache-from` images present in the daemon and all their parents.
pub(super) fn cache_sources(daemon: &Daemon, names: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for n in names {
        let mut next = daemon.images.lookup_name(n).ok().map(|(id, _)| id);
        while let Some(id) = next.take() {
            if !out.insert(id.clone()) {
                break;
            }
            next = daemon
                .images
                .inspect(&id)
                .ok()
                .map(|i| i.parent)
                .filter(|p| !p.is_empty());
        }
    }
    out
}

#[derive(Clone)]
pub(super) struct Builder {
    pub(super) daemon: Arc<Daemon>,
    pub(super) ctx: PathBuf,
    pub(super) opts: BuildOptions,
    pub(super) out: Sink,
    pub(super) pull: PullFn,
    pub(super) cache: Arc<BuildCache>,
    pub(super) df: Arc<Dockerfile>,
    pub(super) lex: Lex,
    pub(super) step: usize,
    pub(super) total: usize,
    /// Build args some ARG declared (the rest are "not consumed").
    pub(super) declared: Arc<std::sync::Mutex<BTreeSet<String>>>,
    pub(super) results: BTreeMap<usize, StageResult>,
    /// Set when a stage failed: the others stop before their next step.
    pub(super) cancelled: Arc<std::sync::atomic::AtomicBool>,
    /// With `--cache-from`: the images a cache hit may be.
    pub(super) cache_sources: Option<Arc<BTreeSet<String>>>,
}

pub(super) fn short(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

/// A path made absolute against `workdir`, cleaned.
pub(super) fn resolve_workdir(workdir: &str, p: &str) -> String {
    let joined = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{}/{p}", if workdir.is_empty() { "/" } else { workdir })
    };
    crate::image::changes::clean_path(&joined)
}

impl Builder {
    pub(super) fn emit(&self, text: &str) {
        if !self.opts.quiet {
            (self.out)(json!({ "stream": text }));
        }
    }

    pub(super) fn step_line(&mut self, original: &str) {
        self.step += 1;
        let line = format!("Step {}/{} : {original}\n", self.step, self.total);
        self.emit(&line);
    }

    pub(super) fn expand(&self, st: &State, word: &str) -> Result<String, BuildError> {
        self.lex
            .process_word(word, &|n| st.lookup(n))
            .map_err(BuildError::failed)
    }

    pub(super) fn expand_words(&self, st: &State, word: &str) -> Result<Vec<String>, BuildError> {
        self.lex
            .process_words(word, &|n| st.lookup(n))
            .map_err(BuildError::failed)
    }

    /// Stage indexes to build, in order: the target and what it needs.
    pub(super) fn plan(&self) -> Result<Vec<usize>, BuildError> {
        let target = match &self.opts.target {
            Some(t) if !t.is_empty() => {
                let t = t.to_lowercase();
                self.df
                    .stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(t.as_str()))
                    .ok_or_else(|| {
                        BuildError::BadRequest(format!(
                            "failed to reach build target {t} in Dockerfile"
                        ))
                    })?
            }
            _ => self.df.stages.len().checked_sub(1).ok_or_else(|| {
                BuildError::BadRequest("the Dockerfile (Dockerfile) cannot be empty".into())
            })?,
        };
        let mut need = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if !need.insert(i) {
                continue;
            }
            for d in self.stage_deps(i) {
                if d < i {
                    todo.push(d);
                }
            }
        }
        Ok(need.into_iter().collect())
    }

    /// Earlier stages that stage `i` uses (by name or index).
    pub(super) fn stage_deps(&self, i: usize) -> Vec<usize> {
        let stage = &self.df.stages[i];
        let mut refs: Vec<String> = vec![stage.base.to_lowercase()];
        for ins in &stage.instructions {
            match &ins.kind {
                Kind::Copy(c) | Kind::Add(c) => {
                    refs.extend(c.from.iter().map(|f| f.to_lowercase()))
                }
                Kind::Run(r) => refs.extend(r.mounts.iter().filter_map(|m| m.from.clone())),
                _ => {}
            }
        }
        refs.iter().filter_map(|r| self.stage_index(r, i)).collect()
    }

    /// A stage named `r` (or numbered) before stage `before`.
    pub(super) fn stage_index(&self, r: &str, before: usize) -> Option<usize> {
        let r = r.to_lowercase();
        if let Ok(n) = r.parse::<usize>() {
            return (n < before).then_some(n);
        }
        self.df.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(r.as_str()))
    }

    pub(super) async fn run(&mut self) -> Result<String, BuildError> {
        let plan = self.plan()?;
        // Meta ARGs: values from --build-arg, else their defaults.
        let mut meta = State::default();
        for a in self.df.meta_args.clone() {
            let v = match self.opts.build_args.get(&a.name) {
                Some(v) => v.clone(),
                None => match &a.default {
                    Some(d) => Some(self.expand(&meta, d)?),
                    None => None,
                },
            };
            meta.args.insert(a.name.clone(), v);
            self.declare(&a.name);
        }
        self.total = self.df.meta_args.len()
            + plan
                .iter()
                .map(|i| 1 + self.df.stages[*i].instructions.len())
                .sum::<usize>()
            + usize::from(!self.opts.labels.is_empty());
        let meta_lines: Vec<String> = self
            .df
            .meta_args
            .iter()
            .map(|a| format!("ARG {}", display_arg(&a.name, a.default.as_deref())))
            .collect();
        for text in meta_lines {
            self.step_line(&text);
        }
        let last = *plan.last().unwrap_or(&0);
        let final_state = self.run_stages(&plan, &meta, last).await?;
        let Some(id) = final_state.image.clone() else {
            return Err(BuildError::failed(
                "No image was generated. Is your Dockerfile empty?",
            ));
        };
        let unused: Vec<&String> = self
            .opts
            .build_args
            .keys()
            .filter(|k| !self.is_declared(k) && !BUILTIN_ARGS.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() {
            let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            self.emit(&format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                names.join(" ")
            ));
        }
        (self.out)(json!({ "aux": { "ID": id } }));
        if self.opts.quiet {
            (self.out)(json!({ "stream": format!("{id}\n") }));
        }
        self.emit(&format!("Successfully built {}\n", short(&id)));
        for t in &self.opts.tags {
            self.daemon.images.tag(&id, t)?;
            let r = crate::image::parse_tag_target(t)?;
            let name = r.familiar_string();
            let attrs = BTreeMap::from([("name".to_string(), name.clone())]);
            self.daemon.emit("image", "tag", &id, attrs);
            self.emit(&format!("Successfully tagged {name}\n"));
        }
        Ok(id)
    }

    pub(super) fn declare(&self, name: &str) {
        let mut d = self.declared.locked();
        d.insert(name.to_string());
    }

    pub(super) fn is_declared(&self, name: &str) -> bool {
        let d = self.declared.locked();
        d.contains(name)
    }

    /// A metadata step: change the config, then commit (or reuse) it.
    pub(super) fn meta_step(&mut self, st: &mut State, comment: String) -> Result<(), BuildError> {
        let created_by = format!("{} #(nop)  {comment}", st.shell().join(" "));
        if let Some(id) = self.cached(st, &created_by, "") {
            return self.use_cache(st, id);
        }
        self.commit(st, created_by, "", None)
    }

    pub(super) fn meta_value(&self, name: &str) -> Option<String> {
        let a = self.df.meta_args.iter().find(|m| m.name == name)?;
        match self.opts.build_args.get(name) {
            Some(v) => v.clone(),
            None => a.default.clone(),
        }
    }
}

impl Builder {
    pub(super) fn daemon(&self) -> &Arc<Daemon> {
        &self.daemon
    }
    pub(super) fn ctx(&self) -> &Path {
        &self.ctx
    }
    pub(super) fn say(&self, text: &str) {
        self.emit(text)
    }
    pub(super) fn stage_image(&self, name: &str, before: usize) -> Option<Option<String>> {
        let i = self.stage_index(name, before)?;
        Some(self.results.get(&i)?.image.clone())
    }
    pub(super) async fn image_for(&mut self, name: &str) -> Result<String, BuildError> {
        let platform = self.opts.platform.clone();
        self.base_image(name, platform.as_deref(), &State::default())
            .await
    }
    pub(super) fn expand_in(&self, st: &State, word: &str) -> Result<String, BuildError> {
        self.expand(st, word)
    }
    pub(super) fn run_config(&self, st: &State) -> (ContainerConfig, HostConfig) {
        let mut hc = HostConfig {
            network_mode: if self.opts.network_mode.is_empty() {
                "default".into()
            } else {
                self.opts.network_mode.clone()
            },
            extra_hosts: self.opts.extra_hosts.clone(),
            ..Default::default()
        };
        if let Some(s) = self.opts.shm_size.filter(|s| *s > 0) {
            hc.extra.insert("ShmSize".into(), json!(s));
        }
        if let Some(m) = self.opts.memory.filter(|s| *s > 0) {
            hc.extra.insert("Memory".into(), json!(m));
        }
        if let Some(c) = self.opts.cpu_shares.filter(|s| *s > 0) {
            hc.extra.insert("CpuShares".into(), json!(c));
        }
        (st.config.clone(), hc)
    }
}

/// The create request of a RUN step's container.
pub(super) fn run_request(
    image: &str,
    mut config: ContainerConfig,
    hc: HostConfig,
    cmd: Vec<String>,
    env: Vec<String>,
) -> ContainerCreateRequest {
    config.image = image.to_string();
    config.cmd = Some(cmd);
    config.entrypoint = Some(vec![String::new()]);
    config.env.extend(env);
    config.attach_stdout = true;
    config.attach_stderr = true;
    config.tty = false;
    config.open_stdin = false;
    config.healthcheck = None;
    config.on_build = None;
    config.shell = None;
    ContainerCreateRequest {
        config,
        host_config: hc,
        networking_config: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_side_by_side_print_in_plan_order() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let out: Sink = Arc::new(move |v| {
            s2.lock()
                .unwrap()
                .push(v["stream"].as_str().unwrap().to_string())
        });
        let o = Ordered::new(out, vec![0, 2, 5]);
        let (a, b, c) = (o.sink(0), o.sink(2), o.sink(5));
        c(json!({"stream": "c1"}));
        a(json!({"stream": "a1"}));
        b(json!({"stream": "b1"}));
        c(json!({"stream": "c2"}));
        // Stage 5 ends before the others: held until its turn.
        o.finish(5);
        a(json!({"stream": "a2"}));
        o.finish(0);
        b(json!({"stream": "b2"}));
        o.finish(2);
        assert_eq!(*seen.locked(), ["a1", "a2", "b1", "b2", "c1", "c2"]);
    }

    #[test]
    fn workdirs_resolve_like_mobys() {
        assert_eq!(resolve_workdir("", "x"), "/x");
        assert_eq!(resolve_workdir("/a", "b/../c"), "/a/c");
        assert_eq!(resolve_workdir("/a", "/d/"), "/d");
    }
}
