//! File helpers for state that must survive a crash: write to a temporary file in
//! the same directory, fsync it, rename it over the target, fsync the directory.
//! A reader sees the old content or the new one, never half of either.

use crate::error::{IoContext, IoError};
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Replace `path` with `data` atomically and durably.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), IoError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).ctx("create dir", dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    {
        let mut f = File::create(&tmp).ctx("create", &tmp)?;
        f.write_all(data).ctx("write", &tmp)?;
        f.sync_all().ctx("fsync", &tmp)?;
    }
    fs::rename(&tmp, path).ctx("rename", path)?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("fsync dir", dir)?;
    Ok(())
}

/// Serialize `value` as JSON and write it atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), IoError> {
    let data = serde_json::to_vec_pretty(value)
        .map_err(|e| IoError::new("encode", path, std::io::Error::other(e)))?;
    write_atomic(path, &data)
}

/// Read JSON written by `write_json_atomic`; `Ok(None)` when the file is absent.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, IoError> {
    match fs::read(path) {
        Ok(data) => serde_json::from_slice(&data)
            .map(Some)
            .map_err(|e| IoError::new("decode", path, std::io::Error::other(e))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IoError::new("read", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rec.json");
        write_json_atomic(&p, &vec![1, 2]).unwrap();
        write_json_atomic(&p, &vec![3]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&p).unwrap(), Some(vec![3]));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert_eq!(
            read_json::<Vec<i32>>(&dir.path().join("absent")).unwrap(),
            None
        );
    }
}
