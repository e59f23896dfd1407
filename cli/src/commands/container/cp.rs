//! `cp` (docker/cli 28 `container/cp.go`, with go-archive's `copy.go` rules):
//! `cp CONTAINER:SRC DEST`, `cp SRC CONTAINER:DEST`, `-` for a tar on stdin or
//! stdout.
//!
//! The daemon only archives a path and extracts a tar into a directory; the
//! copy semantics are the client's. It stats the destination first (`HEAD
//! .../archive`), then picks the directory to extract into and the name the
//! top entry takes: into an existing directory as the source's own name
//! (`dir/.` copies a directory's contents), else under the destination's name
//! in its parent; a directory never onto a file (`cannot copy directory`), a
//! file never to a missing `dir/` (`no such directory`). A trailing `/` or `/.`
//! on a local source follows its symlinks; `-L` follows a last symlink too.
//! Nothing is overwritten across kinds (`noOverwriteDirNonDir`); locally the
//! archive's owners are not applied. With a terminal on stdout (and no `-q`)
//! it ends with docker's `Successfully copied 2.05kB to DEST` on stderr, the
//! size being the tar's bytes.
//!
//! Local trees are read and written with the engine's `archive::in_root` (the
//! machine's `/` as the root), so the tar and its extraction follow the same
//! rules as the daemon's.

use super::cpath;
use crate::client::{body_stream, empty, from_reader, Client, ClientError, Query};
use crate::commands::{CmdResult, Failure};
use crate::stream::stdout_is_terminal;
use base64::Engine as _;
use clap::Args;
use engine::archive::in_root::{
    self, asserts_directory, base, clean, go_mode, has_trailing_separator, join,
    preserve_trailing_dot_or_separator, specifies_current_dir, split_path_dir_entry,
    ExtractOptions, PathStat, Root,
};
use futures_util::StreamExt;
use hyper::Method;
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Suppress progress output during copy. Progress output is automatically
    /// suppressed if no terminal is attached
    #[arg(
        short = 'q',
        long,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub quiet: Option<bool>,
    #[arg(value_name = "SRC_PATH")]
    pub source: String,
    #[arg(value_name = "DEST_PATH")]
    pub destination: String,
}

fn fail(msg: impl Into<String>) -> Failure {
    Failure::new(msg, 1)
}

/// What go-archive knows of a copy's source or destination (`CopyInfo`).
#[derive(Debug, Clone, Default, PartialEq)]
struct CopyInfo {
    path: String,
    exists: bool,
    is_dir: bool,
    rebase_name: String,
}

/// `CONTAINER:PATH` or a local path (docker/cli's `splitCpArg`): a local path
/// with a `:` must start with `/` or `.`.
fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((ctr, path)) if !ctr.starts_with('.') => (Some(ctr), path),
        _ => (None, arg),
    }
}

/// Go's `filepath.Abs`, keeping a trailing `/` or `/.`.
fn resolve_local_path(p: &str) -> Result<String, Failure> {
    let abs = if p.starts_with('/') {
        clean(p)
    } else {
        let cwd = std::env::current_dir().map_err(|e| fail(in_root::io_text(&e)))?;
        join(&cwd.to_string_lossy(), p)
    };
    Ok(preserve_trailing_dot_or_separator(&abs, p))
}

fn go_err(op: &str, path: &str, e: &std::io::Error) -> String {
    format!("{op} {path}: {}", in_root::io_text(e))
}

/// docker/cli's `ValidateOutputPathFileMode`, on a Go `FileMode`.
fn validate_file_mode(mode: u32) -> Result<(), String> {
    if mode & go_mode::DEVICE != 0 {
        return Err("got a device".into());
    }
    if mode & go_mode::IRREGULAR != 0 {
        return Err("got an irregular file".into());
    }
    Ok(())
}

/// docker/cli's `ValidateOutputPath`: the parent must exist, and the path be a
/// directory or a regular file if it exists.
fn validate_output_path(path: &str) -> Result<(), String> {
    let d = in_root::dir(&clean(path));
    if !d.is_empty() && d != "." {
        if let Err(e) = std::fs::metadata(&d) {
            if e.kind() == std::io::ErrorKind::NotFound {
                return Err(format!(
                    "invalid output path: directory {} does not exist",
                    shared::go::quote(&d)
                ));
            }
        }
    }
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(go_err("stat", path, &e)),
        Ok(m) if m.is_dir() || m.is_file() => Ok(()),
        Ok(m) => {
            let ft = m.file_type();
            let mode = if ft.is_block_device() || ft.is_char_device() {
                go_mode::DEVICE
            } else {
                go_mode::IRREGULAR
            };
            validate_file_mode(mode).map_err(|e| {
                format!(
                    "invalid output path: {} must be a directory or a regular file: {e}",
                    shared::go::quote(path)
                )
            })
        }
    }
}

/// go-archive's `GetRebaseName`.
fn get_rebase_name(path: &str, resolved: &str) -> (String, String) {
    let mut r = resolved.to_string();
    if specifies_current_dir(path) && !specifies_current_dir(&r) {
        r.push_str("/.");
    }
    if has_trailing_separator(path) && !has_trailing_separator(&r) {
        r.push('/');
    }
    let rebase = if base(path) != base(&r) {
        base(path)
    } else {
        String::new()
    };
    (r, rebase)
}

/// Go's `filepath.EvalSymlinks` on the machine.
fn eval_symlinks(p: &str) -> Result<String, String> {
    std::fs::canonicalize(p)
        .map(|r| r.to_string_lossy().into_owned())
        .map_err(|e| go_err("lstat", &clean(p), &e))
}

/// go-archive's `CopyInfoSourcePath`: a local source's symlinks resolved
/// before its last `/` (all of them with `-L`).
fn copy_info_source_path(path: &str, follow_link: bool) -> Result<CopyInfo, String> {
    let (resolved, rebase_name) = if follow_link {
        let r = eval_symlinks(path)?;
        get_rebase_name(path, &r)
    } else {
        let i = path.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (dir_part, base_part) = path.split_at(i);
        let dir_part = if dir_part.is_empty() { "." } else { dir_part };
        let r = format!("{}/{base_part}", eval_symlinks(dir_part)?);
        let rebase = if has_trailing_separator(path) && base(path) != base(&r) {
            base(path)
        } else {
            String::new()
        };
        (r, rebase)
    };
    let md = std::fs::symlink_metadata(&resolved).map_err(|e| go_err("lstat", &resolved, &e))?;
    Ok(CopyInfo {
        path: resolved,
        exists: true,
        is_dir: md.is_dir(),
        rebase_name,
    })
}

/// go-archive's `CopyInfoDestinationPath`: a local destination, its last
/// symlinks followed; a missing one needs an existing parent directory.
fn copy_info_destination_path(path: &str) -> Result<CopyInfo, String> {
    let original = path.to_string();
    let mut path = path.to_string();
    let mut md = std::fs::symlink_metadata(&path);
    let mut n = 0;
    while let Ok(m) = &md {
        if !m.file_type().is_symlink() {
            break;
        }
        if n > 10 {
            return Err(format!("too many symlinks in {original}"));
        }
        n += 1;
        let target = std::fs::read_link(&path).map_err(|e| go_err("readlink", &path, &e))?;
        let mut t = target.to_string_lossy().into_owned();
        if !t.starts_with('/') {
            t = join(&split_path_dir_entry(&path).0, &t);
        }
        path = t;
        md = std::fs::symlink_metadata(&path);
    }
    match md {
        Ok(m) => Ok(CopyInfo {
            path,
            exists: true,
            is_dir: m.is_dir(),
            ..Default::default()
        }),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(go_err("lstat", &path, &e)),
        Err(_) => {
            let parent = split_path_dir_entry(&path).0;
            let pm = std::fs::metadata(&parent).map_err(|e| go_err("stat", &parent, &e))?;
            if !pm.is_dir() {
                return Err("not a directory".into());
            }
            Ok(CopyInfo {
                path,
                ..Default::default()
            })
        }
    }
}

/// go-archive's `PrepareArchiveCopy`: the directory to extract into, and the
/// rename of the archive's top entry (from, to) when it must take the
/// destination's name.
fn prepare_archive_copy(
    src: &CopyInfo,
    dst: &CopyInfo,
) -> Result<(String, Option<(String, String)>), String> {
    let (dst_dir, dst_base) = split_path_dir_entry(&dst.path);
    let (_, mut src_base) = split_path_dir_entry(&src.path);
    if !src.rebase_name.is_empty() {
        src_base = src.rebase_name.clone();
    }
    if dst.exists && dst.is_dir {
        return Ok((dst.path.clone(), None));
    }
    if dst.exists && src.is_dir {
        return Err("cannot copy directory".into());
    }
    if !dst.exists && !src.is_dir && asserts_directory(&dst.path) {
        return Err("no such directory".into());
    }
    Ok((dst_dir, Some((src_base, dst_base))))
}

/// The rename go-archive's `RebaseArchiveEntries` does, for the extractor.
fn rebase_pair(old: &str, new: &str) -> (Vec<u8>, Vec<u8>) {
    // The root as the old base: the new name is put before every path.
    let old = if old == "/" { "" } else { old };
    (old.as_bytes().to_vec(), new.as_bytes().to_vec())
}

async fn stat_path(c: &Client, ctr: &str, path: &str) -> Result<PathStat, ClientError> {
    let q = Query::new().set("path", path);
    let resp = c
        .request(
            Method::HEAD,
            &cpath(ctr, "/archive"),
            &q,
            Vec::new(),
            empty(),
        )
        .await?;
    stat_from(&resp).map_err(ClientError::Other)
}

fn stat_from<B>(resp: &hyper::Response<B>) -> Result<PathStat, String> {
    let v = resp
        .headers()
        .get("X-Docker-Container-Path-Stat")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let json = base64::engine::general_purpose::STANDARD
        .decode(v)
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&json).map_err(|e| e.to_string())
}

fn size_text(n: u64) -> String {
    shared::units::human_size_with_precision(n as f64, 3)
}

/// `docker cp`
pub async fn cp(c: &Client, a: &CpArgs) -> CmdResult {
    if a.source.is_empty() {
        return Err(fail("source can not be empty"));
    }
    if a.destination.is_empty() {
        return Err(fail("destination can not be empty"));
    }
    // Without -q: quiet unless stdout is a terminal.
    let quiet = a.quiet.unwrap_or_else(|| !stdout_is_terminal());
    match (split_cp_arg(&a.source), split_cp_arg(&a.destination)) {
        ((Some(ctr), src), (None, dst)) => from_container(c, a, quiet, ctr, src, dst).await,
        ((None, src), (Some(ctr), dst)) => to_container(c, a, quiet, ctr, src, dst).await,
        ((Some(_), _), (Some(_), _)) => Err(fail("copying between containers is not supported")),
        ((None, _), (None, _)) => Err(fail("must specify at least one container source")),
    }
}

async fn from_container(
    c: &Client,
    a: &CpArgs,
    quiet: bool,
    ctr: &str,
    src_path: &str,
    dst_path: &str,
) -> CmdResult {
    let dst = if dst_path == "-" {
        dst_path.to_string()
    } else {
        resolve_local_path(dst_path)?
    };
    validate_output_path(&dst).map_err(fail)?;
    let mut src = src_path.to_string();
    let mut rebase_name = String::new();
    if a.follow_link {
        if let Ok(st) = stat_path(c, ctr, &src).await {
            if st.is_symlink() {
                let mut target = st.link_target.clone();
                if !target.starts_with('/') {
                    target = join(&split_path_dir_entry(&src).0, &target);
                }
                (src, rebase_name) = get_rebase_name(&src, &target);
            }
        }
    }
    let q = Query::new().set("path", src.clone());
    let resp = c.get(&cpath(ctr, "/archive"), &q).await?;
    let stat = stat_from(&resp)
        .map_err(|e| fail(format!("unable to get resource stat from response: {e}")))?;
    let mut body = body_stream(resp);
    if dst == "-" {
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| fail(e.to_string()))?;
            out.write_all(&chunk)
                .map_err(|e| fail(in_root::io_text(&e)))?;
        }
        out.flush().map_err(|e| fail(in_root::io_text(&e)))?;
        return Ok(0);
    }
    let src_info = CopyInfo {
        path: src,
        exists: true,
        is_dir: stat.is_dir(),
        rebase_name,
    };
    // The archive goes through a pipe to the extraction on a blocking thread.
    let (r, w) = nix::unistd::pipe().map_err(|e| fail(format!("pipe: {e}")))?;
    let copied = Arc::new(AtomicU64::new(0));
    let count = copied.clone();
    let feed = tokio::spawn(async move {
        let mut w = tokio::fs::File::from_std(std::fs::File::from(w));
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { break };
            count.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if tokio::io::AsyncWriteExt::write_all(&mut w, &chunk)
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let target = dst.clone();
    let res =
        tokio::task::spawn_blocking(move || copy_to(std::fs::File::from(r), &src_info, &target))
            .await
            .map_err(|e| fail(e.to_string()))?;
    feed.abort();
    if !quiet {
        eprintln!(
            "Successfully copied {} to {dst}",
            size_text(copied.load(Ordering::Relaxed))
        );
    }
    res.map_err(fail)?;
    Ok(0)
}

/// go-archive's `CopyTo`: extract the archive of `src` at the local `dst`.
fn copy_to(content: impl std::io::Read, src: &CopyInfo, dst: &str) -> Result<(), String> {
    let dst_info = copy_info_destination_path(dst)?;
    let (dst_dir, rename) = prepare_archive_copy(src, &dst_info)?;
    let mut rebase = Vec::new();
    if !src.rebase_name.is_empty() {
        rebase.push(rebase_pair(
            &split_path_dir_entry(&src.path).1,
            &src.rebase_name,
        ));
    }
    if let Some((from, to)) = rename {
        rebase.push(rebase_pair(&from, &to));
    }
    let opts = ExtractOptions {
        chown: false,
        chown_to: None,
        no_overwrite_dir_non_dir: true,
        devices: true,
        rebase,
    };
    let root = Root::open(Path::new("/"), None).map_err(|e| in_root::io_text(&e))?;
    root.extract(&clean(&dst_dir), &opts, content)
        .map_err(|e| e.to_string())
}

async fn to_container(
    c: &Client,
    a: &CpArgs,
    quiet: bool,
    ctr: &str,
    src_path: &str,
    dst_path: &str,
) -> CmdResult {
    let src = if src_path == "-" {
        src_path.to_string()
    } else {
        resolve_local_path(src_path)?
    };
    let mut dst_info = CopyInfo {
        path: dst_path.to_string(),
        ..Default::default()
    };
    let mut dst_stat = stat_path(c, ctr, dst_path).await;
    if let Ok(st) = &dst_stat {
        if st.is_symlink() {
            let mut target = st.link_target.clone();
            if !target.starts_with('/') {
                target = join(&split_path_dir_entry(dst_path).0, &target);
            }
            dst_info.path = target.clone();
            dst_stat = stat_path(c, ctr, &target).await;
        }
    }
    if let Ok(st) = &dst_stat {
        validate_file_mode(st.mode).map_err(|e| {
            fail(format!(
                "destination \"{ctr}:{dst_path}\" must be a directory or a regular file: {e}"
            ))
        })?;
        dst_info.exists = true;
        dst_info.is_dir = st.is_dir();
    }
    let copied = Arc::new(AtomicU64::new(0));
    let (resolved_dst, body, producer) = if src == "-" {
        if !dst_info.is_dir {
            return Err(fail(format!(
                "destination \"{ctr}:{dst_path}\" must be a directory"
            )));
        }
        // Docker counts nothing read from stdin.
        let body = from_reader(tokio::io::stdin());
        (dst_info.path.clone(), body, None)
    } else {
        let src_info = copy_info_source_path(&src, a.follow_link).map_err(fail)?;
        let (dst_dir, rename) = prepare_archive_copy(&src_info, &dst_info).map_err(fail)?;
        // The top entry's name: the source's (or its rebase name), or the
        // destination's when extracted in its parent.
        let (_, src_base) = split_path_dir_entry(&src_info.path);
        let top = match rename {
            Some((_, to)) => to,
            None if !src_info.rebase_name.is_empty() => src_info.rebase_name.clone(),
            None => src_base,
        };
        let (r, w) = nix::unistd::pipe().map_err(|e| fail(format!("pipe: {e}")))?;
        let count = copied.clone();
        let path = src_info.path.clone();
        let producer = std::thread::spawn(move || -> Result<(), String> {
            let root = Root::open(Path::new("/"), None).map_err(|e| in_root::io_text(&e))?;
            let out = Counting {
                inner: std::fs::File::from(w),
                n: count,
            };
            match root.write_tree(&path, false, top.as_bytes(), out) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        });
        let body = from_reader(tokio::fs::File::from_std(std::fs::File::from(r)));
        (dst_dir, body, Some(producer))
    };
    let mut q = Query::new()
        .set("path", resolved_dst)
        .set("noOverwriteDirNonDir", "true");
    if a.archive {
        q = q.set("copyUIDGID", "true");
    }
    let res = c
        .request(Method::PUT, &cpath(ctr, "/archive"), &q, Vec::new(), body)
        .await;
    let produced = producer.map(|p| {
        p.join()
            .unwrap_or_else(|_| Err("archiving panicked".into()))
    });
    if !quiet {
        eprintln!(
            "Successfully copied {} to {ctr}:{}",
            size_text(copied.load(Ordering::Relaxed)),
            dst_info.path
        );
    }
    res?;
    if let Some(Err(e)) = produced {
        return Err(fail(e));
    }
    Ok(0)
}

/// Counts what goes through.
struct Counting<W> {
    inner: W,
    n: Arc<AtomicU64>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(path: &str, exists: bool, is_dir: bool) -> CopyInfo {
        CopyInfo {
            path: path.into(),
            exists,
            is_dir,
            rebase_name: String::new(),
        }
    }

    #[test]
    fn container_paths_are_told_from_local_ones_like_docker() {
        assert_eq!(split_cp_arg("web:/etc"), (Some("web"), "/etc"));
        assert_eq!(split_cp_arg("/abs/file:name"), (None, "/abs/file:name"));
        assert_eq!(split_cp_arg("./file:name"), (None, "./file:name"));
        assert_eq!(split_cp_arg("file"), (None, "file"));
        assert_eq!(split_cp_arg("-"), (None, "-"));
    }

    #[test]
    fn copies_pick_the_directory_and_name_like_go_archive() {
        let file = info("/src/f.txt", true, false);
        let dir = info("/src/d", true, true);
        // Into an existing directory, as it is.
        assert_eq!(
            prepare_archive_copy(&file, &info("/dst", true, true)),
            Ok(("/dst".into(), None))
        );
        // Onto a file or a new name: in the parent, renamed.
        assert_eq!(
            prepare_archive_copy(&file, &info("/dst/g", true, false)),
            Ok(("/dst".into(), Some(("f.txt".into(), "g".into()))))
        );
        assert_eq!(
            prepare_archive_copy(&dir, &info("/dst/new", false, false)),
            Ok(("/dst".into(), Some(("d".into(), "new".into()))))
        );
        assert_eq!(
            prepare_archive_copy(&dir, &info("/dst/g", true, false)),
            Err("cannot copy directory".into())
        );
        assert_eq!(
            prepare_archive_copy(&file, &info("/dst/missing/", false, false)),
            Err("no such directory".into())
        );
        // `dir/.`: the contents.
        let contents = info("/src/d/.", true, true);
        assert_eq!(
            prepare_archive_copy(&contents, &info("/dst/new", false, false)),
            Ok(("/dst".into(), Some((".".into(), "new".into()))))
        );
    }

    #[test]
    fn rebase_names_follow_trailing_separators() {
        assert_eq!(
            get_rebase_name("/a/link/", "/a/target"),
            ("/a/target/".into(), "link".into())
        );
        assert_eq!(
            get_rebase_name("/a/link", "/a/link"),
            ("/a/link".into(), String::new())
        );
        assert_eq!(
            get_rebase_name("/a/link/.", "/b/t"),
            ("/b/t/.".into(), String::new())
        );
    }

    #[test]
    fn output_paths_are_checked_like_docker() {
        assert_eq!(
            validate_output_path("/nonexistent-dir-for-cp/x"),
            Err("invalid output path: directory \"/nonexistent-dir-for-cp\" does not exist".into())
        );
        assert!(validate_output_path("/tmp").is_ok());
        assert_eq!(
            validate_output_path("/dev/null"),
            Err(
                "invalid output path: \"/dev/null\" must be a directory or a regular file: got a device"
                    .into()
            )
        );
    }

    #[test]
    fn a_missing_local_source_reads_as_gos_lstat() {
        assert_eq!(
            copy_info_source_path("/nonexistent-for-cp", false),
            Err("lstat //nonexistent-for-cp: no such file or directory".into())
        );
    }
}
