//! Drag-and-drop upload onto a terminal: a dropped file is sent as it is, a dropped
//! folder as a tar built here (`crate::upload`), into the working directory of the
//! shell in that tab. Sizes are checked against the server's limit before reading.

use super::api;
use super::dom;
use crate::session::SessionAction;
use crate::upload::{self, FolderFile};
use shared::playground::TabId;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{DragEvent, File, FileSystemDirectoryEntry, FileSystemEntry, FileSystemFileEntry};
use yew::Callback;

/// Where a drop goes.
#[derive(Clone)]
pub struct UploadTarget {
    pub session: String,
    pub token: String,
    pub instance: String,
    pub tab: TabId,
    pub limit: u64,
    pub on_action: Callback<SessionAction>,
}

enum Dropped {
    File(File),
    Folder(FileSystemDirectoryEntry),
}

/// Handle a drop event. The items must be taken before the handler returns (the
/// browser empties the `DataTransfer` afterwards); reading and sending is async.
pub fn on_drop(e: &DragEvent, target: UploadTarget) {
    e.prevent_default();
    let Some(dt) = e.data_transfer() else { return };
    let items = dt.items();
    let mut dropped = Vec::new();
    for i in 0..items.length() {
        let Some(item) = items.get(i) else { continue };
        if item.kind() != "file" {
            continue;
        }
        match item.webkit_get_as_entry() {
            Ok(Some(entry)) if entry.is_directory() => {
                dropped.push(Dropped::Folder(entry.unchecked_into()));
            }
            _ => {
                if let Ok(Some(f)) = item.get_as_file() {
                    dropped.push(Dropped::File(f));
                }
            }
        }
    }
    if dropped.is_empty() {
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        for d in dropped {
            let result = match d {
                Dropped::File(f) => send_file(&target, f).await,
                Dropped::Folder(dir) => send_folder(&target, dir).await,
            };
            target.on_action.emit(match result {
                Ok(text) => SessionAction::Notice(text),
                Err(text) => SessionAction::Failed(text),
            });
        }
    });
}

async fn bytes_of(file: &File) -> Result<Vec<u8>, String> {
    let buf = JsFuture::from(file.array_buffer())
        .await
        .map_err(|_| format!("{} could not be read.", file.name()))?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

async fn send(target: &UploadTarget, up: &upload::Upload) -> Result<String, String> {
    target
        .on_action
        .emit(SessionAction::Notice(format!("Uploading {}…", up.name)));
    let done = api::upload(
        &target.session,
        &target.token,
        &target.instance,
        target.tab,
        up,
    )
    .await
    .map_err(|e| e.message)?;
    Ok(format!(
        "Uploaded {} to {} on {}.",
        up.name, done.path, target.instance
    ))
}

async fn send_file(target: &UploadTarget, file: File) -> Result<String, String> {
    let name = file.name();
    upload::check_size(&name, file.size() as u64, target.limit)?;
    let data = bytes_of(&file).await?;
    send(target, &upload::file(&name, data)).await
}

async fn send_folder(
    target: &UploadTarget,
    dir: FileSystemDirectoryEntry,
) -> Result<String, String> {
    let root: &FileSystemEntry = dir.as_ref();
    let name = root.name();
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for entry in read_all(&d).await? {
            let path = entry.full_path().trim_start_matches('/').to_string();
            if entry.is_directory() {
                dirs.push(path);
                stack.push(entry.unchecked_into());
            } else {
                let file = file_of(entry.unchecked_ref()).await?;
                total += file.size() as u64;
                upload::check_size(&name, total, target.limit)?;
                files.push(FolderFile {
                    path,
                    mtime: (file.last_modified() / 1000.0) as u64,
                    data: bytes_of(&file).await?,
                });
            }
        }
    }
    let up = upload::folder(&name, &dirs, &files, dom::unix_secs()).map_err(|e| e.to_string())?;
    upload::check_size(&name, up.body.len() as u64, target.limit)?;
    send(target, &up).await
}

/// Every entry of a directory (`readEntries` answers in batches until empty).
async fn read_all(dir: &FileSystemDirectoryEntry) -> Result<Vec<FileSystemEntry>, String> {
    let reader = dir.create_reader();
    let mut all = Vec::new();
    loop {
        let promise = js_sys::Promise::new(&mut |resolve, reject| {
            let _ = reader.read_entries_with_callback_and_callback(&resolve, &reject);
        });
        let batch: js_sys::Array = JsFuture::from(promise)
            .await
            .map_err(|_| "A dropped folder could not be read.".to_string())?
            .unchecked_into();
        if batch.length() == 0 {
            return Ok(all);
        }
        all.extend(batch.iter().map(|e| e.unchecked_into::<FileSystemEntry>()));
    }
}

async fn file_of(entry: &FileSystemFileEntry) -> Result<File, String> {
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        entry.file_with_callback_and_callback(&resolve, &reject);
    });
    JsFuture::from(promise)
        .await
        .map(|f| f.unchecked_into())
        .map_err(|e: JsValue| format!("A dropped file could not be read ({e:?})."))
}
