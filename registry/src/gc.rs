//! `registry garbage-collect`, as distribution's: mark every blob referenced
//! by the manifests of every repository (with `delete_untagged`, manifests
//! not reachable from a tag, an index or a kept subject are deleted first),
//! then sweep the blobs nobody marked. Uploads in progress are left alone.
//!
//! Run it while the registry is stopped (or read-only): a push in progress
//! has blobs that no manifest references yet, and they would be swept.

use std::collections::{BTreeSet, HashSet};
use std::io::{self, Write};
use std::path::Path;

use crate::manifest;
use crate::reference::Digest;
use crate::storage::{list_dir, remove_tree, Storage};

/// How to collect.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcOptions {
    /// Print what would be deleted; delete nothing.
    pub dry_run: bool,
    /// Delete manifests that no tag reaches.
    pub delete_untagged: bool,
    /// Print only the summary and deletions.
    pub quiet: bool,
}

/// What a collection did (or would do, with `dry_run`).
#[derive(Debug, Default)]
pub struct GcReport {
    pub marked: BTreeSet<Digest>,
    pub deleted_blobs: Vec<Digest>,
    pub deleted_manifests: Vec<(String, Digest)>,
}

/// Collects garbage in the storage under `rootdirectory`, printing to `out`.
pub fn garbage_collect(
    rootdirectory: &Path,
    opts: GcOptions,
    out: &mut dyn Write,
) -> io::Result<GcReport> {
    let storage = Storage::open(rootdirectory)?;
    let mut report = GcReport::default();
    for repo in storage.repository_dirs()? {
        if !opts.quiet {
            writeln!(out, "{repo}")?;
        }
        let revisions: HashSet<Digest> = storage.revisions(&repo)?.into_iter().collect();
        let keep = if opts.delete_untagged {
            reachable(&storage, &repo, &revisions)?
        } else {
            revisions.clone()
        };
        let mut doomed: Vec<&Digest> = revisions.difference(&keep).collect();
        doomed.sort();
        for d in doomed {
            writeln!(out, "{repo}: manifest eligible for deletion: {d}")?;
            if !opts.dry_run {
                storage.delete_manifest(&repo, d)?;
            }
            report.deleted_manifests.push((repo.clone(), d.clone()));
        }
        let mut kept: Vec<&Digest> = keep.iter().collect();
        kept.sort();
        for d in kept {
            let Some(bytes) = storage.read_blob(d)? else {
                writeln!(out, "{repo}: manifest {d} has no content; skipped")?;
                continue;
            };
            if !opts.quiet {
                writeln!(out, "{repo}: marking manifest {d} ")?;
            }
            report.marked.insert(d.clone());
            for r in manifest::references(&bytes) {
                if !opts.quiet {
                    writeln!(out, "{repo}: marking blob {r}")?;
                }
                report.marked.insert(r);
            }
        }
    }
    let all = all_blobs(&storage)?;
    let doomed: Vec<Digest> = all
        .into_iter()
        .filter(|d| !report.marked.contains(d))
        .collect();
    writeln!(
        out,
        "\n{} blobs marked, {} blobs and {} manifests eligible for deletion",
        report.marked.len(),
        doomed.len(),
        report.deleted_manifests.len()
    )?;
    for d in doomed {
        writeln!(out, "blob eligible for deletion: {d}")?;
        if !opts.dry_run {
            let path = storage.blob_path(&d);
            if let Some(dir) = path.parent() {
                remove_tree(dir)?;
            }
        }
        report.deleted_blobs.push(d);
    }
    if !opts.dry_run {
        remove_dangling_links(&storage)?;
    }
    Ok(report)
}

/// The manifests kept with `delete_untagged`: tagged ones, what kept indexes
/// list, and the referrers of kept manifests.
fn reachable(
    storage: &Storage,
    repo: &str,
    revisions: &HashSet<Digest>,
) -> io::Result<HashSet<Digest>> {
    let mut keep = HashSet::new();
    let mut work = Vec::new();
    for t in storage.tags(repo)?.unwrap_or_default() {
        if let Some(d) = storage.resolve_tag(repo, &t)? {
            work.push(d);
        }
    }
    while let Some(d) = work.pop() {
        if !revisions.contains(&d) || !keep.insert(d.clone()) {
            continue;
        }
        if let Some(bytes) = storage.read_blob(&d)? {
            work.extend(manifest::index_children(&bytes));
        }
        work.extend(storage.referrers(repo, &d)?);
    }
    Ok(keep)
}

/// Every blob in `blobs/sha256/<2 hex>/<hex>/data`.
fn all_blobs(storage: &Storage) -> io::Result<Vec<Digest>> {
    let dir = storage.base().join("blobs/sha256");
    let mut out = Vec::new();
    for prefix in list_dir(&dir)? {
        for hex in list_dir(&dir.join(&prefix))? {
            if let Some(d) = Digest::parse(&format!("sha256:{hex}")) {
                out.push(d);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Removes repository links to blobs that no longer exist.
fn remove_dangling_links(storage: &Storage) -> io::Result<()> {
    for repo in storage.repository_dirs()? {
        for d in storage.layers(&repo)? {
            if storage.blob_size(&d)?.is_none() {
                storage.unlink_blob(&repo, &d)?;
            }
        }
    }
    Ok(())
}
