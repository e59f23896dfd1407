//! The steps that change files: RUN (a container of this daemon, its changes
//! committed), COPY and ADD (a layer written from the sources), and the
//! directory a WORKDIR makes.

use super::copy::{self, CopyRequest, LayerView, Source};
use super::dockerfile::{self, CommandForm, HeredocRun, MountKind};
use super::exec::{run_request, short, BuildError, Builder, State};
use crate::daemon::Daemon;
use crate::monitor::{AttachRequest, EXIT_STREAM};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// The command a RUN runs: exec form as is; shell form through the stage's
/// SHELL; heredocs as buildkit runs them (a bare `RUN <<EOF` runs the body as
/// the script, or as an executable file when it starts with `#!`; otherwise the
/// shell reads line and bodies as its own heredocs).
fn run_command(st: &State, run: &dockerfile::Run) -> Result<Vec<String>, BuildError> {
    let mut cmd = st.shell();
    match run.heredoc_command().map_err(BuildError::failed)? {
        HeredocRun::Plain => match &run.command {
            CommandForm::Exec(v) => return Ok(v.clone()),
            CommandForm::Shell(s) => cmd.push(s.clone()),
        },
        HeredocRun::Script(body) | HeredocRun::Shell(body) => cmd.push(body),
        HeredocRun::File { name, content } => {
            let mut marker = String::from("DOCKHAND_HEREDOC");
            while content.contains(&marker) {
                marker.push('_');
            }
            let file = format!("/tmp/{}", name.replace('/', "_"));
            cmd.push(format!(
                "cat > '{file}' <<'{marker}'\n{content}{nl}{marker}\nchmod +x '{file}' && '{file}'; rc=$?; rm -f '{file}'; exit $rc",
                nl = if content.ends_with('\n') { "" } else { "\n" },
            ));
        }
    }
    Ok(cmd)
}

/// A RUN step.
pub(super) async fn run_step(
    b: &mut Builder,
    stage: usize,
    st: &mut State,
    run: &dockerfile::Run,
) -> Result<(), BuildError> {
    let _ = stage;
    let cmd = run_command(st, run)?;
    let args_env = st.arg_env();
    let created_by = if args_env.is_empty() {
        cmd.join(" ")
    } else {
        format!(
            "|{} {} {}",
            args_env.len(),
            args_env.join(" "),
            cmd.join(" ")
        )
    };
    let key_extra = format!("{:?} {:?}", run.mounts, run.network);
    if let Some(id) = b.cached(st, &created_by, &key_extra) {
        return b.use_cache(st, id);
    }
    let Some(image) = st.image.clone() else {
        return Err(BuildError::Failed {
            message: format!(
                "The command '{}' returned a non-zero code: 127",
                cmd.join(" ")
            ),
            code: 127,
        });
    };
    let (config, mut hc) = b.run_config(st);
    match run.network.as_deref() {
        None | Some("default") => {}
        Some("none") => hc.network_mode = "none".into(),
        Some("host") => hc.network_mode = "host".into(),
        Some(other) => {
            return Err(BuildError::failed(format!(
                "unsupported network mode {other:?}"
            )))
        }
    }
    let mounts = mount_binds(b, st, run)?;
    hc.binds.extend(mounts.binds);
    if !mounts.tmpfs.is_empty() {
        hc.extra.insert(
            "Tmpfs".into(),
            serde_json::to_value(&mounts.tmpfs).unwrap_or_default(),
        );
    }
    let req = run_request(&image, config, hc, cmd.clone(), args_env);
    let daemon = b.daemon().clone();
    let id = daemon.create(None, req)?.id;
    b.say(&format!(" ---> Running in {}\n", short(&id)));
    let res = run_container(b, &daemon, &id).await;
    let layer = match res {
        Ok(0) => {
            let upper = daemon.container_fs(&id).map(|fs| fs.upper);
            match upper {
                Ok(upper) => {
                    let h = daemon.clone();
                    tokio::task::spawn_blocking(move || crate::commit::register_upper(&h, &upper))
                        .await
                        .map_err(|e| BuildError::failed(e.to_string()))
                        .and_then(|r| r.map_err(BuildError::from))
                }
                Err(e) => Err(e.into()),
            }
        }
        Ok(code) => Err(BuildError::Failed {
            message: format!(
                "The command '{}' returned a non-zero code: {code}",
                cmd.join(" ")
            ),
            code,
        }),
        Err(e) => Err(e),
    };
    if layer.is_ok() {
        b.say(&format!("Removing intermediate container {}\n", short(&id)));
    }
    if let Err(e) = daemon.remove(&id, true).await {
        tracing::warn!(container = %id, error = %e, "cannot remove a build container");
    }
    b.commit(st, created_by, &key_extra, Some(layer?))
}

/// Start the container, stream its output as the build's, return its exit code.
async fn run_container(b: &Builder, daemon: &Arc<Daemon>, id: &str) -> Result<i64, BuildError> {
    let attach = daemon.attach(
        id,
        AttachRequest {
            stdout: true,
            stderr: true,
            ..Default::default()
        },
    )?;
    let waiter = daemon.wait(id, crate::daemon::WaitCondition::NotRunning)?;
    let attached = tokio::spawn(attach);
    daemon.start(id).await?;
    let mut stream = attached
        .await
        .map_err(|e| BuildError::failed(e.to_string()))??;
    let mut code = None;
    let mut header = [0u8; 8];
    loop {
        if stream.read_exact(&mut header).await.is_err() {
            break;
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut buf = vec![0u8; len];
        if stream.read_exact(&mut buf).await.is_err() {
            break;
        }
        if header[0] == EXIT_STREAM {
            if let Ok(s) = serde_json::from_slice::<crate::runtime::spec::ExitStatus>(&buf) {
                code = Some(s.code);
            }
            break;
        }
        let text = String::from_utf8_lossy(&buf);
        if header[0] == 2 {
            // moby marks a step's stderr in red.
            b.say(&format!("\x1b[91m{text}\x1b[0m"));
        } else {
            b.say(&text);
        }
    }
    let code = match code {
        Some(c) => c,
        None => waiter.await.status_code,
    };
    Ok(code)
}

struct RunMounts {
    binds: Vec<String>,
    tmpfs: std::collections::BTreeMap<String, String>,
}

/// `RUN --mount`: cache directories kept per daemon, bind mounts of the context.
fn mount_binds(b: &Builder, st: &State, run: &dockerfile::Run) -> Result<RunMounts, BuildError> {
    let mut out = RunMounts {
        binds: Vec::new(),
        tmpfs: Default::default(),
    };
    for m in &run.mounts {
        let target = super::exec::resolve_workdir(&st.config.working_dir, &m.target);
        match m.kind {
            MountKind::Cache => {
                let id = m.id.clone().unwrap_or_else(|| target.clone());
                let name = crate::store::digest_string(&crate::store::sha256_of(id.as_bytes()));
                let dir = b
                    .daemon()
                    .dir()
                    .join("build-cache-mounts")
                    .join(name.trim_start_matches("sha256:"));
                if !dir.exists() {
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| BuildError::failed(format!("cache mount: {e}")))?;
                    let _ = std::fs::set_permissions(
                        &dir,
                        std::os::unix::fs::PermissionsExt::from_mode(m.mode.unwrap_or(0o755)),
                    );
                    b.daemon().chown_to_root(&dir);
                    if m.uid.is_some() || m.gid.is_some() {
                        let _ = std::os::unix::fs::chown(&dir, m.uid, m.gid);
                    }
                }
                out.binds.push(format!("{}:{target}", dir.display()));
            }
            MountKind::Bind => {
                if m.from.is_some() {
                    return Err(BuildError::failed(
                        "RUN --mount=type=bind,from= is not supported yet; use COPY --from",
                    ));
                }
                let src = m.source.clone().unwrap_or_default();
                let path = inside(b.ctx(), &src)?;
                let ro = if m.readonly { ":ro" } else { "" };
                out.binds.push(format!("{}:{target}{ro}", path.display()));
            }
            MountKind::Tmpfs => {
                out.tmpfs.insert(target, String::new());
            }
            _ => {
                return Err(BuildError::failed(format!(
                    "RUN --mount type {:?} is not supported",
                    m.kind
                )))
            }
        }
    }
    Ok(out)
}

/// `rel` inside `root`, never above it: `..` stops at the root and a path whose
/// symlinks lead out of the context is refused (a bind mount would follow them
/// on the machine).
fn inside(root: &Path, rel: &str) -> Result<PathBuf, BuildError> {
    let clean = crate::image::changes::clean_path(&format!("/{rel}"));
    let p = root.join(clean.trim_start_matches('/'));
    let real_root = root
        .canonicalize()
        .map_err(|e| BuildError::failed(format!("build context: {e}")))?;
    let real = p.canonicalize().map_err(|_| {
        BuildError::failed(format!("failed to compute cache key: {rel:?} not found"))
    })?;
    if !real.starts_with(&real_root) {
        return Err(BuildError::failed(format!(
            "Forbidden path outside the build context: {rel}"
        )));
    }
    Ok(real)
}

/// COPY and ADD.
pub(super) async fn copy_step(
    b: &mut Builder,
    stage: usize,
    st: &mut State,
    c: &dockerfile::Copy,
    add: bool,
) -> Result<(), BuildError> {
    let what = if add { "ADD" } else { "COPY" };
    let mut sources = Vec::new();
    for s in &c.sources {
        sources.push(b.expand_in(st, s)?);
    }
    let dest = b.expand_in(st, &c.dest)?;
    let src_layers: Vec<PathBuf> = match &c.from {
        Some(from) => {
            let from = b.expand_in(st, from)?;
            let image = match b.stage_image(&from, stage) {
                Some(img) => img,
                None => Some(b.image_for(&from).await?),
            };
            match image {
                Some(id) => b.daemon().images.resolve(&id)?.layers,
                None => vec![],
            }
        }
        None => vec![b.ctx().to_path_buf()],
    };
    let dest_layers = match &st.image {
        Some(id) => b.daemon().images.resolve(id)?.layers,
        None => vec![],
    };
    let mut srcs: Vec<Source> = Vec::new();
    for s in sources {
        if s.starts_with("http://") || s.starts_with("https://") {
            if !add {
                return Err(BuildError::failed(format!(
                    "source can't be a URL for COPY: {s}"
                )));
            }
            srcs.push(download(b, &s).await?);
        } else {
            srcs.push(Source::Path(s));
        }
    }
    for h in &c.heredocs {
        srcs.push(Source::Bytes {
            name: h.name.clone(),
            data: h.content.clone().into_bytes(),
        });
    }
    let chown_spec = match &c.chown {
        Some(s) => Some(b.expand_in(st, s)?),
        None => None,
    };
    let chmod = match &c.chmod {
        Some(m) => Some(
            u32::from_str_radix(m, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| BuildError::failed(format!("invalid chmod parameter: {m}")))?,
        ),
        None => None,
    };
    let workdir = st.config.working_dir.clone();
    let shell = st.shell().join(" ");
    let prepared = tokio::task::spawn_blocking(move || -> Result<_, BuildError> {
        let src = LayerView::new(src_layers);
        let dst = LayerView::new(dest_layers);
        let chown = match &chown_spec {
            Some(s) => Some(copy::resolve_chown(&dst, s).map_err(copy_err)?),
            None => None,
        };
        let req = CopyRequest {
            src: &src,
            sources: srcs.clone(),
            dest: dest.clone(),
            dest_view: &dst,
            workdir: workdir.clone(),
            chown,
            chmod,
            add,
            instruction: what,
        };
        let sum = copy::source_checksum(&req).map_err(copy_err)?;
        Ok((src, dst, srcs, dest, workdir, chown, sum))
    })
    .await
    .map_err(|e| BuildError::failed(e.to_string()))??;
    let (src, dst, srcs, dest_s, workdir, chown, sum) = prepared;
    let chown_text = c
        .chown
        .as_ref()
        .map(|o| format!("--chown={o}"))
        .unwrap_or_default();
    let created_by = format!("{shell} #(nop) {what} {chown_text}{sum} in {dest_s} ");
    let key_extra = format!("{:?}", c.chmod);
    if let Some(id) = b.cached(st, &created_by, &key_extra) {
        return b.use_cache(st, id);
    }
    let daemon = b.daemon().clone();
    let layer = tokio::task::spawn_blocking(move || -> Result<_, BuildError> {
        let req = CopyRequest {
            src: &src,
            sources: srcs,
            dest: dest_s,
            dest_view: &dst,
            workdir,
            chown,
            chmod,
            add,
            instruction: what,
        };
        let mut failure = None;
        let res = crate::commit::register_produced(&daemon, |w| {
            copy::write_copy_layer(&req, w).map(|_| ()).map_err(|e| {
                let text = e.to_string();
                failure = Some(e);
                io::Error::other(text)
            })
        });
        match (res, failure) {
            (_, Some(e)) => Err(copy_err(e)),
            (r, None) => Ok(r?),
        }
    })
    .await
    .map_err(|e| BuildError::failed(e.to_string()))??;
    b.commit(st, created_by, &key_extra, Some(layer))
}

/// Where a build's downloads go: beside its context, removed with it.
pub fn downloads_dir(ctx: &Path) -> PathBuf {
    let mut p = ctx.as_os_str().to_owned();
    p.push(".urls");
    PathBuf::from(p)
}

/// Largest `ADD <url>` download.
const MAX_DOWNLOAD: u64 = 4 << 30;

/// `ADD <url>`: the file, fetched from the daemon's network, as a source.
async fn download(b: &Builder, url: &str) -> Result<Source, BuildError> {
    let dir = downloads_dir(b.ctx());
    std::fs::create_dir_all(&dir)
        .map_err(|e| BuildError::failed(format!("{}: {e}", dir.display())))?;
    let dest = dir.join(format!("{:016x}", rand::random::<u64>()));
    let f = super::remote::fetch(b.daemon(), url, &dest, MAX_DOWNLOAD)
        .await
        .map_err(|e| BuildError::failed(e.to_string()))?;
    Ok(Source::File {
        path: f.path,
        name: f.name,
        mtime: f.mtime.unwrap_or(0),
    })
}

fn copy_err(e: copy::CopyError) -> BuildError {
    BuildError::failed(e.to_string())
}

/// The layer of a WORKDIR whose directory is missing: each missing component,
/// 0755 and owned by root, as the classic builder's `mkdir -p`.
pub(super) fn write_mkdir_layer(view: &LayerView, dir: &str, w: impl Write) -> io::Result<()> {
    let mut t = tar::Builder::new(w);
    let mut path = String::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for comp in dir.split('/').filter(|c| !c.is_empty()) {
        path.push('/');
        path.push_str(comp);
        if view.is_dir(&path) {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(now);
        h.set_size(0);
        t.append_data(
            &mut h,
            format!("{}/", path.trim_start_matches('/')),
            io::empty(),
        )?;
    }
    t.into_inner()?.flush()
}
