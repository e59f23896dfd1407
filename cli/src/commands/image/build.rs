//! `docker build` (the legacy builder's client, as docker CLI 28 runs it with
//! `DOCKER_BUILDKIT=0`) and `docker builder prune`.
//!
//! The context is a directory (walked with `.dockerignore` applied, the
//! Dockerfile and `.dockerignore` always sent), `-` (stdin: a tar, plain or
//! compressed, or a Dockerfile alone), an http(s) URL (fetched by the daemon) or
//! a Git repository (cloned here with `git`). A Dockerfile outside the context
//! travels in the tar as `.dockerfile.<random>`, as docker's CLI sends it. The
//! tar is streamed, never held in memory. The daemon's JSON messages print as
//! docker prints them (on a terminal, or with `--progress=tty`, as buildx's
//! compact display: build_progress.rs); a failed step's exit code is the
//! command's.

use super::archive::display_json_stream;
use super::build_progress;
use crate::client::{from_reader, Client, Query};
use crate::commands::{confirm, filters_json, CmdResult, Failure};
use crate::format::humanize::human_size_with_precision;
use crate::stream::{stdout_is_terminal, terminal_size};
use clap::Args;
use engine::build::dockerignore::DockerIgnore;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Args, Debug, Clone, Default)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag", value_name = "list")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short = 'f', long = "file", value_name = "string")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "list")]
    pub build_args: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Set the target build stage to build.
    #[arg(long, value_name = "string")]
    pub target: Option<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "list")]
    pub labels: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, value_name = "string")]
    pub network: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_hosts: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes")]
    pub shm_size: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Images to consider as cache sources
    #[arg(long = "cache-from", value_name = "strings")]
    pub cache_from: Vec<String>,
    /// Remove intermediate containers after a successful build
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "bool")]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Write the image ID to the file
    #[arg(long, value_name = "string")]
    pub iidfile: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes")]
    pub memory: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Container isolation technology
    #[arg(long, value_name = "string")]
    pub isolation: Option<String>,
    /// Type of progress output (auto, plain, tty, quiet, rawjson)
    #[arg(long, value_name = "string")]
    pub progress: Option<String>,
    /// Build's context: a directory, a URL, or "-"
    #[arg(value_name = "PATH | URL | -")]
    pub context: String,
}

#[derive(Args, Debug)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Amount of disk space to keep for cache
    #[arg(long = "keep-storage", value_name = "bytes")]
    pub keep_storage: Option<String>,
}

fn fail(m: impl Into<String>) -> Failure {
    Failure::new(m, 1)
}

/// Whether a context argument is a Git repository, as docker's `urlutil.IsGitURL`.
pub fn is_git_url(s: &str) -> bool {
    if s.starts_with("git://") || s.starts_with("git@") || s.starts_with("github.com/") {
        return true;
    }
    (s.starts_with("http://") || s.starts_with("https://"))
        && s.split('#').next().is_some_and(|u| u.ends_with(".git"))
}

/// `KEY=VALUE`, or `KEY` alone: taken from the environment when set there,
/// else sent without a value (docker's `--build-arg` rules).
pub fn build_args_json(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut m = serde_json::Map::new();
    for a in args {
        match a.split_once('=') {
            Some((k, v)) => {
                m.insert(k.to_string(), serde_json::Value::from(v));
            }
            None => {
                let v = env(a).map(serde_json::Value::from);
                m.insert(a.clone(), v.unwrap_or(serde_json::Value::Null));
            }
        }
    }
    serde_json::Value::Object(m).to_string()
}

fn labels_json(labels: &[String]) -> String {
    let mut m = serde_json::Map::new();
    for l in labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        m.insert(k.to_string(), serde_json::Value::from(v));
    }
    serde_json::Value::Object(m).to_string()
}

/// The query of `POST /build` for these flags (`dockerfile` set by the caller).
pub fn build_query(a: &BuildArgs, dockerfile: &str) -> Result<Query, Failure> {
    let mut q = Query::new();
    for t in &a.tags {
        engine::reference::Reference::parse(t).map_err(|_| {
            fail(format!(
                "invalid argument \"{t}\" for \"-t, --tag\" flag: invalid reference format"
            ))
        })?;
        q = q.set("t", t.clone());
    }
    q = q.set("dockerfile", dockerfile);
    if !a.build_args.is_empty() {
        q = q.set(
            "buildargs",
            build_args_json(&a.build_args, &|k| std::env::var(k).ok()),
        );
    }
    if !a.labels.is_empty() {
        q = q.set("labels", labels_json(&a.labels));
    }
    q = q
        .set_if(a.no_cache, "nocache", "1")
        .set_if(a.pull, "pull", "1")
        .set_if(a.quiet, "q", "1")
        .set("rm", if a.rm { "1" } else { "0" })
        .set_if(a.force_rm, "forcerm", "1");
    if let Some(t) = a.target.as_deref().filter(|t| !t.is_empty()) {
        q = q.set("target", t);
    }
    if let Some(n) = a.network.as_deref().filter(|t| !t.is_empty()) {
        q = q.set("networkmode", n);
    }
    for h in &a.add_hosts {
        q = q.set("extrahosts", h.clone());
    }
    if let Some(s) = &a.shm_size {
        let n = shared::units::ram_in_bytes(s).map_err(|e| {
            fail(format!(
                "invalid argument \"{s}\" for \"--shm-size\" flag: {e}"
            ))
        })?;
        q = q.set("shmsize", n.to_string());
    }
    if let Some(m) = &a.memory {
        let n = shared::units::ram_in_bytes(m).map_err(|e| {
            fail(format!(
                "invalid argument \"{m}\" for \"-m, --memory\" flag: {e}"
            ))
        })?;
        q = q.set("memory", n.to_string());
    }
    if let Some(c) = a.cpu_shares {
        q = q.set("cpushares", c.to_string());
    }
    if let Some(p) = a.platform.as_deref().filter(|t| !t.is_empty()) {
        q = q.set("platform", p);
    }
    if !a.cache_from.is_empty() {
        q = q.set(
            "cachefrom",
            serde_json::Value::from(a.cache_from.clone()).to_string(),
        );
    }
    Ok(q.set("version", "1"))
}

/// A random `.dockerfile.<hex>` name, as docker's CLI gives a Dockerfile it
/// adds to the context.
fn random_dockerfile_name() -> String {
    format!(".dockerfile.{:020x}", rand::random::<u128>() >> 48)
}

/// Relative `/`-paths of the context to send, in walk order: `.dockerignore`
/// applied, the Dockerfile and `.dockerignore` always kept.
pub fn context_files(
    root: &Path,
    ignore: &DockerIgnore,
    keep: &[&str],
) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(dir) = stack.pop() {
        let mut names: Vec<String> = std::fs::read_dir(root.join(&dir))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut subdirs = Vec::new();
        for n in names {
            let rel = if dir.is_empty() {
                n.clone()
            } else {
                format!("{dir}/{n}")
            };
            let md = std::fs::symlink_metadata(root.join(&rel))?;
            let excluded = ignore.excluded(&rel) && !keep.contains(&rel.as_str());
            if md.is_dir() {
                // An excluded directory is entered only if an exception may
                // bring something back.
                if excluded && !ignore.has_exceptions() {
                    continue;
                }
                if !excluded {
                    out.push(rel.clone());
                }
                subdirs.push(rel);
            } else if !excluded {
                out.push(rel);
            }
        }
        for d in subdirs.into_iter().rev() {
            stack.push(d);
        }
    }
    Ok(out)
}

/// Write the context tar: `files` from `root` (owner 0:0, as docker's CLI
/// sends them), plus `extra` (name, content) entries.
fn write_context(
    root: Option<&Path>,
    files: &[String],
    extra: &[(String, Vec<u8>)],
    w: impl Write,
) -> std::io::Result<()> {
    let mut t = tar::Builder::new(w);
    t.follow_symlinks(false);
    if let Some(root) = root {
        for rel in files {
            let path = root.join(rel);
            let md = std::fs::symlink_metadata(&path)?;
            let mut h = tar::Header::new_gnu();
            h.set_metadata_in_mode(&md, tar::HeaderMode::Complete);
            h.set_uid(0);
            h.set_gid(0);
            if md.is_dir() {
                t.append_data(&mut h, format!("{rel}/"), std::io::empty())?;
            } else if md.file_type().is_symlink() {
                let target = std::fs::read_link(&path)?;
                h.set_size(0);
                t.append_link(&mut h, rel, target)?;
            } else if md.is_file() {
                let f = std::fs::File::open(&path)?;
                t.append_data(&mut h, rel, f)?;
            }
        }
    }
    for (name, data) in extra {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o600);
        h.set_size(data.len() as u64);
        h.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        );
        t.append_data(&mut h, name, &data[..])?;
    }
    t.into_inner()?.flush()
}

/// Stream what `produce` writes as the request body.
fn piped_body<F>(produce: F) -> Result<crate::client::Body, Failure>
where
    F: FnOnce(std::fs::File) -> std::io::Result<()> + Send + 'static,
{
    let (r, w) = nix::unistd::pipe().map_err(|e| fail(format!("pipe: {e}")))?;
    std::thread::spawn(move || {
        if let Err(e) = produce(std::fs::File::from(w)) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                eprintln!("error sending the build context: {e}");
            }
        }
    });
    Ok(from_reader(tokio::fs::File::from_std(std::fs::File::from(
        r,
    ))))
}

fn looks_like_archive(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(b"BZh")
        || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || (head.len() >= 262 && &head[257..262] == b"ustar")
}

/// A Git context cloned into a temporary directory (`URL#ref:subdir`).
fn clone_git(url: &str) -> Result<(tempfile::TempDir, PathBuf), Failure> {
    let (repo, frag) = url.split_once('#').unwrap_or((url, ""));
    let (reference, subdir) = frag.split_once(':').unwrap_or((frag, ""));
    let repo = if repo.starts_with("github.com/") {
        format!("https://{repo}")
    } else {
        repo.to_string()
    };
    let dir = tempfile::Builder::new()
        .prefix("docker-build-git")
        .tempdir()
        .map_err(|e| fail(e.to_string()))?;
    let mut cmd = std::process::Command::new("git");
    cmd.args(["clone", "--depth", "1", "--recurse-submodules"]);
    if !reference.is_empty() {
        cmd.args(["--branch", reference]);
    }
    cmd.arg(&repo).arg(dir.path());
    let out = cmd.output().map_err(|e| {
        fail(format!(
            "unable to prepare context: unable to find 'git': {e}"
        ))
    })?;
    if !out.status.success() {
        return Err(fail(format!(
            "unable to prepare context: unable to 'git clone' to temporary context directory: error fetching: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let ctx = dir.path().join(subdir.trim_start_matches('/'));
    Ok((dir, ctx))
}

/// The Dockerfile given with `-f` outside the context (or `-f -`): its content.
fn outside_dockerfile(file: &str, ctx: Option<&Path>) -> Result<Option<Vec<u8>>, Failure> {
    if file == "-" {
        let mut b = Vec::new();
        std::io::stdin()
            .read_to_end(&mut b)
            .map_err(|e| fail(e.to_string()))?;
        return Ok(Some(b));
    }
    let p = Path::new(file);
    let abs = std::fs::canonicalize(p).map_err(|_| {
        fail(format!(
            "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {file}: no such file or directory"
        ))
    })?;
    match ctx.and_then(|c| std::fs::canonicalize(c).ok()) {
        Some(c) if abs.starts_with(&c) => Ok(None),
        _ => std::fs::read(&abs)
            .map(Some)
            .map_err(|e| fail(e.to_string())),
    }
}

/// `docker build`.
pub async fn build(client: &Client, a: &BuildArgs) -> CmdResult {
    build_to(client, a, &mut std::io::stdout(), stdout_is_terminal()).await
}

/// `docker build` printing on `out` (`out_is_terminal`: whether `--progress=auto`
/// draws the compact display there).
pub async fn build_to(
    client: &Client,
    a: &BuildArgs,
    out: &mut dyn Write,
    out_is_terminal: bool,
) -> CmdResult {
    let progress = a.progress.as_deref().unwrap_or("auto");
    if !matches!(progress, "auto" | "plain" | "tty" | "quiet" | "rawjson") {
        return Err(fail(format!("invalid progress mode {progress:?}")));
    }
    let mut a = a.clone();
    if progress == "quiet" {
        a.quiet = true;
    }
    let mut _git_dir = None;
    let mut remote = None;
    let mut dockerfile = a.file.clone().unwrap_or_default();
    let body = if a.context == "-" {
        if a.file.as_deref() == Some("-") {
            return Err(fail(
                "invalid argument: can't use stdin for both build context and dockerfile",
            ));
        }
        let mut head = vec![0u8; 512];
        let mut stdin = std::io::stdin();
        let mut n = 0;
        while n < head.len() {
            match stdin.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => return Err(fail(e.to_string())),
            }
        }
        head.truncate(n);
        if looks_like_archive(&head) {
            piped_body(move |mut w| {
                w.write_all(&head)?;
                std::io::copy(&mut std::io::stdin(), &mut w)?;
                Ok(())
            })?
        } else {
            // A Dockerfile alone: an empty context around it.
            let mut text = head;
            stdin
                .read_to_end(&mut text)
                .map_err(|e| fail(e.to_string()))?;
            let name = random_dockerfile_name();
            dockerfile = name.clone();
            piped_body(move |w| write_context(None, &[], &[(name, text)], w))?
        }
    } else if a.context.starts_with("http://") || a.context.starts_with("https://") {
        if is_git_url(&a.context) {
            let (dir, ctx) = clone_git(&a.context)?;
            _git_dir = Some(dir);
            directory_body(&ctx, &mut dockerfile, a.file.as_deref())?
        } else {
            remote = Some(a.context.clone());
            crate::client::empty()
        }
    } else if is_git_url(&a.context) {
        let (dir, ctx) = clone_git(&a.context)?;
        _git_dir = Some(dir);
        directory_body(&ctx, &mut dockerfile, a.file.as_deref())?
    } else {
        let ctx = PathBuf::from(&a.context);
        let md = std::fs::metadata(&ctx).map_err(|_| {
            fail(format!(
                "unable to prepare context: path {:?} not found",
                a.context
            ))
        })?;
        if md.is_file() {
            // A tar given as the context path.
            let f = std::fs::File::open(&ctx).map_err(|e| fail(e.to_string()))?;
            from_reader(tokio::fs::File::from_std(f))
        } else {
            directory_body(&ctx, &mut dockerfile, a.file.as_deref())?
        }
    };
    let mut q = build_query(&a, &dockerfile)?;
    if let Some(r) = remote {
        q = q.set("remote", r);
    }
    let mut headers = vec![("Content-Type", "application/x-tar".to_string())];
    if let Some(cfg) = super::registry::registry_config_header() {
        headers.push(("X-Registry-Config", cfg));
    }
    let resp = client
        .request(hyper::Method::POST, "/build", &q, headers, body)
        .await?;
    let mut quiet_sink = Vec::new();
    // The compact display: `--progress=tty`, or `auto` on a terminal; the
    // classic stream otherwise (`plain`, `rawjson`, stdout not a terminal).
    let compact = !a.quiet && (progress == "tty" || (progress == "auto" && out_is_terminal));
    let res = if compact {
        let size = terminal_size();
        // One column spare: a line that fills the terminal's width would wrap
        // on some terminals, and the cursor could no longer come back up.
        let width = size
            .map(|(_, c)| c as usize)
            .filter(|c| *c > 1)
            .map_or(79, |c| c - 1);
        let rows = size.map(|(r, _)| r as usize);
        build_progress::display_tty(resp, out, width, rows).await
    } else {
        let sink: &mut dyn Write = if a.quiet { &mut quiet_sink } else { out };
        display_json_stream(resp, sink).await
    };
    let aux = match res {
        Ok(aux) => aux,
        Err((message, code)) => {
            if a.quiet {
                let _ = std::io::stderr().write_all(&quiet_sink);
            }
            let code = code.filter(|c| *c > 0 && *c < 256).unwrap_or(1) as i32;
            return Err(Failure::new(message, code));
        }
    };
    let id = aux
        .as_ref()
        .and_then(|v| v.get("ID"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    if a.quiet {
        if let Some(id) = &id {
            let _ = writeln!(out, "{id}");
        }
    }
    if let (Some(path), Some(id)) = (&a.iidfile, &id) {
        std::fs::write(path, id)
            .map_err(|e| fail(format!("failed to write image ID to file: {e}")))?;
    }
    Ok(0)
}

/// The body of a directory context; `dockerfile` becomes the name the daemon
/// reads (a random one for a Dockerfile outside the context).
fn directory_body(
    ctx: &Path,
    dockerfile: &mut String,
    file: Option<&str>,
) -> Result<crate::client::Body, Failure> {
    if !ctx.is_dir() {
        return Err(fail(format!(
            "unable to prepare context: path {:?} not found",
            ctx.display().to_string()
        )));
    }
    let ignore_text = std::fs::read_to_string(ctx.join(".dockerignore")).unwrap_or_default();
    let ignore = DockerIgnore::parse(&ignore_text).map_err(fail)?;
    let mut extra = Vec::new();
    match file {
        Some(f) => match outside_dockerfile(f, Some(ctx))? {
            Some(content) => {
                let name = random_dockerfile_name();
                *dockerfile = name.clone();
                extra.push((name, content));
            }
            None => {
                let abs = std::fs::canonicalize(f).map_err(|e| fail(e.to_string()))?;
                let root = std::fs::canonicalize(ctx).map_err(|e| fail(e.to_string()))?;
                *dockerfile = abs
                    .strip_prefix(&root)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| f.to_string());
            }
        },
        None => {
            *dockerfile = "Dockerfile".into();
            if !ctx.join("Dockerfile").exists() && !ctx.join("dockerfile").exists() {
                return Err(fail(format!(
                    "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                    ctx.join("Dockerfile").display()
                )));
            }
        }
    }
    let keep_df = dockerfile.clone();
    let keep = [keep_df.as_str(), ".dockerignore"];
    let files = context_files(ctx, &ignore, &keep).map_err(|e| fail(e.to_string()))?;
    let root = ctx.to_path_buf();
    piped_body(move |w| write_context(Some(&root), &files, &extra, w))
}

/// `docker builder prune`.
pub async fn builder_prune(client: &Client, a: &BuilderPruneArgs) -> CmdResult {
    let warning = if a.all {
        "WARNING! This will remove all build cache."
    } else {
        "WARNING! This will remove all dangling build cache."
    };
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let mut q = Query::new().set_if(a.all, "all", "1");
    if let Some(f) = filters_json(&a.filter).map_err(fail)? {
        q = q.set("filters", f);
    }
    if let Some(k) = &a.keep_storage {
        let n = shared::units::ram_in_bytes(k).map_err(fail)?;
        q = q.set("keep-storage", n.to_string());
    }
    let resp = client.post("/build/prune", &q).await?;
    let v: serde_json::Value = crate::client::json_body(resp).await?;
    let ids: Vec<String> = v["CachesDeleted"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if !ids.is_empty() {
        println!("Deleted build cache objects:");
        for id in ids {
            println!("{id}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size_with_precision(v["SpaceReclaimed"].as_f64().unwrap_or(0.0), 4)
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(ctx: &str) -> BuildArgs {
        BuildArgs {
            context: ctx.into(),
            rm: true,
            ..Default::default()
        }
    }

    #[test]
    fn flags_become_the_engine_apis_query() {
        let mut a = args(".");
        a.tags = vec!["a:1".into(), "b".into()];
        a.build_args = vec!["X=1".into(), "FROM_ENV".into(), "UNSET".into()];
        a.labels = vec!["k=v".into()];
        a.no_cache = true;
        a.target = Some("build".into());
        a.add_hosts = vec!["h:1.2.3.4".into()];
        a.shm_size = Some("1m".into());
        a.cache_from = vec!["img:1".into()];
        let q = build_query(&a, "Dockerfile").unwrap().encode();
        for want in [
            "t=a%3A1",
            "t=b",
            "dockerfile=Dockerfile",
            "nocache=1",
            "rm=1",
            "target=build",
            "extrahosts=h%3A1.2.3.4",
            "shmsize=1048576",
            "version=1",
        ] {
            assert!(q.contains(want), "{want} in {q}");
        }
        let env = |k: &str| (k == "FROM_ENV").then(|| "e".to_string());
        assert_eq!(
            build_args_json(&a.build_args, &env),
            r#"{"X":"1","FROM_ENV":"e","UNSET":null}"#
        );
        a.tags = vec!["Bad:Tag".into()];
        let e = build_query(&a, "Dockerfile").unwrap_err();
        assert_eq!(
            e.message,
            "invalid argument \"Bad:Tag\" for \"-t, --tag\" flag: invalid reference format"
        );
    }

    #[test]
    fn the_context_walk_applies_dockerignore_and_keeps_the_dockerfile() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "Dockerfile",
            ".dockerignore",
            "a.txt",
            "b.md",
            "sub/c.md",
            "sub/keep.md",
            "build/x.o",
        ] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let ig =
            DockerIgnore::parse("*.md\n**/*.md\n!sub/keep.md\nbuild\nDockerfile\n.dockerignore\n")
                .unwrap();
        let files = context_files(d.path(), &ig, &["Dockerfile", ".dockerignore"]).unwrap();
        assert_eq!(
            files,
            [".dockerignore", "Dockerfile", "a.txt", "sub", "sub/keep.md"]
        );
    }

    #[test]
    fn git_urls_are_recognised_as_docker_does() {
        assert!(is_git_url("git@github.com:a/b.git"));
        assert!(is_git_url("github.com/a/b"));
        assert!(is_git_url("https://example.com/a/b.git#main:dir"));
        assert!(!is_git_url("https://example.com/ctx.tar.gz"));
        assert!(!is_git_url("."));
    }

    #[test]
    fn archives_on_stdin_are_told_from_dockerfiles() {
        assert!(looks_like_archive(&[0x1f, 0x8b, 8]));
        let mut t = vec![0u8; 512];
        t[257..262].copy_from_slice(b"ustar");
        assert!(looks_like_archive(&t));
        assert!(!looks_like_archive(b"FROM busybox\n"));
        assert!(random_dockerfile_name().starts_with(".dockerfile."));
    }
}
