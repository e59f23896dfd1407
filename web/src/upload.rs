//! Drag-and-drop uploads, the pure part: what is sent for a dropped item, and the
//! size check against the server's limit before anything is read or sent.

use crate::format;
use crate::tar::{TarBuilder, TarError};

/// One file found under a dropped folder, with its path relative to the drop
/// (`folder/sub/file.txt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderFile {
    pub path: String,
    pub data: Vec<u8>,
    pub mtime: u64,
}

/// Something ready to `POST .../upload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The `name=` query value: the file's or folder's name.
    pub name: String,
    /// The `tar=` query value.
    pub tar: bool,
    pub body: Vec<u8>,
}

/// Refuse early what the server would refuse: the message names the item, its size
/// and the limit.
pub fn check_size(name: &str, bytes: u64, limit: u64) -> Result<(), String> {
    if bytes > limit {
        Err(format!(
            "{name} is {}; uploads are limited to {}.",
            format::size(bytes),
            format::size(limit)
        ))
    } else {
        Ok(())
    }
}

/// A dropped file, sent as it is.
pub fn file(name: &str, data: Vec<u8>) -> Upload {
    Upload {
        name: name.to_string(),
        tar: false,
        body: data,
    }
}

/// A dropped folder as one tar: the folder itself, every directory that holds a file
/// (and each empty one in `dirs`), and the files, all below the folder's name.
pub fn folder(
    name: &str,
    dirs: &[String],
    files: &[FolderFile],
    mtime: u64,
) -> Result<Upload, TarError> {
    let mut all_dirs: Vec<&str> = vec![name];
    for d in dirs.iter().map(String::as_str) {
        all_dirs.push(d);
    }
    for f in files {
        let mut p = f.path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            all_dirs.push(parent);
            p = parent;
        }
    }
    all_dirs.sort_unstable();
    all_dirs.dedup();
    let mut tar = TarBuilder::new();
    for d in all_dirs {
        tar.add_dir(d, mtime)?;
    }
    for f in files {
        tar.add_file(&f.path, &f.data, f.mtime)?;
    }
    Ok(Upload {
        name: name.to_string(),
        tar: true,
        body: tar.finish(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_items_are_refused_with_sizes_in_words() {
        assert_eq!(check_size("a", 10, 10), Ok(()));
        assert_eq!(
            check_size("big.iso", 12_000_000, 10_000_000),
            Err("big.iso is 12.0MB; uploads are limited to 10.0MB.".into())
        );
    }

    #[test]
    fn a_file_goes_raw() {
        let u = file("notes.txt", b"hi".to_vec());
        assert!(!u.tar);
        assert_eq!(u.body, b"hi");
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn a_folder_becomes_a_tar_with_its_parent_directories_first() {
        let files = vec![
            FolderFile {
                path: "app/src/main.py".into(),
                data: b"print(1)\n".to_vec(),
                mtime: 5,
            },
            FolderFile {
                path: "app/Dockerfile".into(),
                data: b"FROM busybox\n".to_vec(),
                mtime: 5,
            },
        ];
        let u = folder("app", &["app/empty".to_string()], &files, 1).unwrap();
        assert!(u.tar);
        let mut archive = ::tar::Archive::new(&u.body[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "app/",
                "app/empty/",
                "app/src/",
                "app/src/main.py",
                "app/Dockerfile"
            ]
        );
    }
}
