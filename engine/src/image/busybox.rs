//! `busybox:latest` without the internet: one layer made from the host's static
//! busybox binary, its applets as hard links in `/bin`, and the few files and
//! directories Docker Hub's busybox image has. The tar is deterministic (sorted
//! entries, fixed owners, one mtime: the binary's), so the same binary always gives
//! the same layer and the same image ID.

use super::{ImageError, ImageStore, LayerInfo};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a static busybox is looked for, in order.
pub const BUSYBOX_PATHS: [&str; 2] = ["/bin/busybox", "/usr/bin/busybox"];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
";

const GROUP: &str = "root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
";

const SHADOW: &str = "root:*::::::
daemon:*::::::
bin:*::::::
sys:*::::::
sync:*::::::
mail:*::::::
www-data:*::::::
operator:*::::::
nobody:*::::::
";

/// Directories of the image and their modes.
const DIRS: [(&str, u32); 14] = [
    ("bin", 0o755),
    ("dev", 0o755),
    ("etc", 0o755),
    ("home", 0o755),
    ("proc", 0o755),
    ("root", 0o700),
    ("sys", 0o755),
    ("tmp", 0o1777),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("var", 0o755),
    ("var/spool", 0o755),
    ("var/spool/mail", 0o755),
];

/// Find the host's busybox and check that it is statically linked.
pub fn find_host_busybox() -> Result<PathBuf, ImageError> {
    let missing = || {
        ImageError::Internal(
            "no static busybox found at /bin/busybox or /usr/bin/busybox: install the Debian package busybox-static"
                .into(),
        )
    };
    let path = BUSYBOX_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(missing)?;
    let head = std::fs::read(&path).map_err(|e| crate::error::IoError::new("read", &path, e))?;
    match elf_is_static(&head) {
        Some(true) => Ok(path),
        Some(false) => Err(ImageError::Internal(format!(
            "{} is dynamically linked and cannot run in an image: install the Debian package busybox-static",
            path.display()
        ))),
        None => Err(ImageError::Internal(format!(
            "{} is not an ELF executable: install the Debian package busybox-static",
            path.display()
        ))),
    }
}

/// `Some(true)` for a 64- or 32-bit little-endian ELF without a `PT_INTERP`
/// program header, `Some(false)` with one, `None` when not an ELF file.
pub fn elf_is_static(b: &[u8]) -> Option<bool> {
    if b.len() < 52 || &b[..4] != b"\x7fELF" || b[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| {
        b.get(o..o + 2)
            .map(|s| u16::from_le_bytes([s[0], s[1]]) as usize)
    };
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .and_then(|s| s.try_into().ok())
            .map(|a| u64::from_le_bytes(a) as usize)
    };
    let (phoff, phentsize, phnum) = match b[4] {
        2 => (u64_at(0x20)?, u16_at(0x36)?, u16_at(0x38)?),
        1 => (u32_at(0x1c)?, u16_at(0x2a)?, u16_at(0x2c)?),
        _ => return None,
    };
    for i in 0..phnum {
        let off = phoff.checked_add(i.checked_mul(phentsize)?)?;
        const PT_INTERP: usize = 3;
        if u32_at(off)? == PT_INTERP {
            return Some(false);
        }
    }
    Some(true)
}

/// The applet names `busybox --list` prints.
pub fn applets(busybox: &Path) -> Result<Vec<String>, ImageError> {
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|e| crate::error::IoError::new("run --list of", busybox, e))?;
    if !out.status.success() {
        return Err(ImageError::Internal(format!(
            "{} --list failed: {}",
            busybox.display(),
            out.status
        )));
    }
    Ok(parse_applets(&String::from_utf8_lossy(&out.stdout)))
}

/// Valid, unique applet names, sorted; `busybox` itself and anything with a `/`
/// are dropped.
pub fn parse_applets(list: &str) -> Vec<String> {
    let mut v: Vec<String> = list
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty() && *n != "busybox" && !n.contains('/') && !n.starts_with('.'))
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The layer tar for `binary` (the busybox executable's bytes).
pub fn build_layer_tar(binary: &[u8], applets: &[String], mtime: u64) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let header = |kind, mode, size| super::builtin::tar_header(kind, mode, size, mtime);
    let mut files: Vec<(String, u32, &[u8])> = vec![
        ("bin/busybox".into(), 0o755, binary),
        ("etc/group".into(), 0o644, GROUP.as_bytes()),
        ("etc/passwd".into(), 0o644, PASSWD.as_bytes()),
        ("etc/shadow".into(), 0o640, SHADOW.as_bytes()),
    ];
    files.sort();
    // Directories first (sorted), then files, then links: a link's target exists.
    for (d, mode) in DIRS {
        let mut h = header(tar::EntryType::Directory, mode, 0);
        b.append_data(&mut h, format!("{d}/"), std::io::empty())?;
    }
    for (path, mode, data) in &files {
        let mut h = header(tar::EntryType::Regular, *mode, data.len() as u64);
        b.append_data(&mut h, path, *data)?;
    }
    for a in applets {
        let mut h = header(tar::EntryType::Link, 0o755, 0);
        b.append_link(&mut h, format!("bin/{a}"), "bin/busybox")?;
    }
    b.into_inner()
}

/// The version line busybox prints ("BusyBox v1.35.0 (Debian 1:1.35.0-4+b3)").
fn version(busybox: &Path) -> String {
    Command::new(busybox)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .map(|l| {
            l.split(" multi-call")
                .next()
                .unwrap_or(&l)
                .trim()
                .to_string()
        })
        .unwrap_or_else(|| "BusyBox".into())
}

/// The busybox layer as stored and the history comment that says where it
/// came from.
pub(super) struct BusyboxLayer {
    pub layer: LayerInfo,
    pub comment: String,
}

impl ImageStore {
    /// Build and tag `busybox:latest` from the host's busybox unless it is tagged.
    /// Returns the new ID when it built one.
    pub fn ensure_busybox(&self) -> Result<Option<String>, ImageError> {
        self.ensure_builtin(super::builtin::Builtin::Busybox, "latest", Path::new(""))
    }

    /// Store the layer made from the host's static busybox (the same binary
    /// always gives the same layer).
    pub(super) fn busybox_layer(
        &self,
    ) -> Result<(BusyboxLayer, Option<DateTime<Utc>>), ImageError> {
        let bin_path = find_host_busybox()?;
        let binary = std::fs::read(&bin_path)
            .map_err(|e| crate::error::IoError::new("read", &bin_path, e))?;
        let mtime = super::builtin::mtime_of(&bin_path);
        let tar = build_layer_tar(&binary, &applets(&bin_path)?, mtime).map_err(|source| {
            ImageError::MakeLayer {
                what: "busybox",
                source,
            }
        })?;
        let layer = self.register_layer(&mut &tar[..])?;
        let comment = format!(
            "{} from the host's {}",
            version(&bin_path),
            bin_path.display()
        );
        let created: Option<DateTime<Utc>> = DateTime::from_timestamp(mtime as i64, 0);
        Ok((BusyboxLayer { layer, comment }, created))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applet_list_is_cleaned_and_sorted() {
        assert_eq!(
            parse_applets("sh\nls\n\nbusybox\nls\n/bin/x\n"),
            ["ls", "sh"]
        );
    }

    #[test]
    fn elf_detection() {
        assert_eq!(elf_is_static(b"#!/bin/sh\n"), None);
        if let Ok(b) = std::fs::read("/bin/busybox") {
            assert_eq!(
                elf_is_static(&b),
                Some(true),
                "Debian's busybox-static is static"
            );
        }
        if let Ok(b) = std::fs::read("/bin/ls") {
            assert_eq!(elf_is_static(&b), Some(false), "coreutils ls is dynamic");
        }
    }

    #[test]
    fn layer_tar_is_deterministic_and_complete() {
        let applets = vec!["ls".to_string(), "sh".to_string()];
        let a = build_layer_tar(b"\x7fELFbin", &applets, 1_700_000_000).unwrap();
        let b = build_layer_tar(b"\x7fELFbin", &applets, 1_700_000_000).unwrap();
        assert_eq!(a, b);
        let mut ar = tar::Archive::new(&a[..]);
        let names: Vec<(String, tar::EntryType, u32)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().entry_type(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert!(names.contains(&("tmp/".into(), tar::EntryType::Directory, 0o1777)));
        assert!(names.contains(&("bin/sh".into(), tar::EntryType::Link, 0o755)));
        assert!(names.contains(&("etc/passwd".into(), tar::EntryType::Regular, 0o644)));
        for d in [
            "proc/", "sys/", "dev/", "root/", "home/", "var/", "usr/bin/",
        ] {
            assert!(names.iter().any(|(n, _, _)| n == d), "{d}");
        }
    }
}
