//! Unix sockets at paths of any length.
//!
//! A socket address holds at most 107 bytes of path (`sun_path`), so a data
//! root deep in a file system left every container's monitor, and every
//! virtual host's API socket, failing with "path must be shorter than
//! SUN_LEN". A longer path is reached through its folder instead: the folder
//! is opened (`O_PATH`) and the socket is bound or connected as
//! `/proc/self/fd/N/NAME`, which the kernel resolves to the same place. The
//! socket file is where the long path says; only the address used to reach it
//! is short.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The longest path a socket address holds (`sun_path` less its NUL).
const MAX_PATH: usize = 107;

/// A path to reach a socket by, and the folder descriptor it goes through
/// (which must stay open while it is used).
struct Reachable {
    path: PathBuf,
    _dir: Option<OwnedFd>,
}

fn reachable(path: &Path) -> io::Result<Reachable> {
    use std::os::unix::ffi::OsStrExt;
    if path.as_os_str().as_bytes().len() <= MAX_PATH {
        return Ok(Reachable {
            path: path.to_path_buf(),
            _dir: None,
        });
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a socket path", path.display()),
        ));
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    use std::os::unix::fs::OpenOptionsExt;
    // O_PATH: the folder is only a place to resolve from (the read access
    // asked for is ignored); std adds O_CLOEXEC.
    let fd: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)?
        .into();
    let short = Path::new("/proc/self/fd")
        .join(fd.as_raw_fd().to_string())
        .join(name);
    if short.as_os_str().as_bytes().len() > MAX_PATH {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: the socket's file name is too long for a socket address",
                path.display()
            ),
        ));
    }
    Ok(Reachable {
        path: short,
        _dir: Some(fd),
    })
}

/// Binds a listener at `path`, whatever its length.
pub fn bind(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    let r = reachable(path)?;
    std::os::unix::net::UnixListener::bind(&r.path)
}

/// Connects to the socket at `path`, whatever its length (blocking).
pub fn connect_blocking(path: &Path) -> io::Result<std::os::unix::net::UnixStream> {
    let r = reachable(path)?;
    std::os::unix::net::UnixStream::connect(&r.path)
}

/// Connects to the socket at `path`, whatever its length.
pub async fn connect(path: &Path) -> io::Result<tokio::net::UnixStream> {
    let r = reachable(path)?;
    tokio::net::UnixStream::connect(&r.path).await
}

/// Binds a tokio listener at `path`, whatever its length (inside a runtime).
pub fn bind_tokio(path: &Path) -> io::Result<tokio::net::UnixListener> {
    let l = bind(path)?;
    l.set_nonblocking(true)?;
    tokio::net::UnixListener::from_std(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::ffi::OsStrExt;

    /// A folder inside `root` whose socket path is `len` bytes long.
    fn deep(root: &Path, len: usize) -> PathBuf {
        let mut dir = root.to_path_buf();
        while dir.as_os_str().len() + 60 < len {
            dir.push("a".repeat(50));
        }
        let pad = len - dir.as_os_str().len() - "/".len() - "x.sock".len() - 1;
        dir.push("b".repeat(pad));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.sock");
        assert_eq!(p.as_os_str().as_bytes().len(), len);
        p
    }

    /// Binds at `path`, checks the address the listener was bound by (the
    /// path itself up to 107 bytes, through its folder beyond), and passes
    /// bytes both ways.
    fn round_trip(path: &Path) {
        let l = bind(path).unwrap();
        let bound = l.local_addr().unwrap();
        let bound = bound.as_pathname().unwrap();
        if path.as_os_str().len() <= MAX_PATH {
            assert_eq!(bound, path);
        } else {
            assert!(bound.starts_with("/proc/self/fd/"), "{bound:?}");
            assert_eq!(bound.file_name(), path.file_name());
        }
        assert!(
            std::fs::symlink_metadata(path).is_ok(),
            "the socket file is at {path:?}"
        );
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 4];
            s.read_exact(&mut b).unwrap();
            s.write_all(&b).unwrap();
        });
        let mut c = connect_blocking(path).unwrap();
        c.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ping");
        t.join().unwrap();
    }

    #[test]
    fn sockets_bind_and_connect_at_paths_longer_than_an_address_holds() {
        let tmp = tempfile::tempdir().unwrap();
        // The standard library refuses this path by itself.
        let long = deep(tmp.path(), 300);
        assert!(std::os::unix::net::UnixListener::bind(&long).is_err());
        round_trip(&long);
    }

    #[test]
    fn short_paths_are_used_as_they_are() {
        let tmp = tempfile::tempdir().unwrap();
        round_trip(&deep(tmp.path(), 100));
        round_trip(&deep(tmp.path(), MAX_PATH));
        round_trip(&deep(tmp.path(), MAX_PATH + 1));
    }

    #[tokio::test]
    async fn the_async_connect_reaches_a_long_path() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tmp = tempfile::tempdir().unwrap();
        let long = deep(tmp.path(), 200);
        let l = bind_tokio(&long).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.write_all(b"hi").await.unwrap();
        });
        let mut c = connect(&long).await.unwrap();
        let mut b = [0u8; 2];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"hi");
        server.await.unwrap();
    }

    #[test]
    fn a_missing_folder_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("c".repeat(120)).join("x.sock");
        let e = bind(&p).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            connect_blocking(&p).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
