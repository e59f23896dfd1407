//! Linux capabilities: names, Docker's default set, and applying a set with
//! `PR_CAPBSET_DROP` + `capset(2)`.

use std::collections::BTreeSet;

/// Capability names in kernel number order (`CAP_CHOWN` is 0).
pub const NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DOCKER_DEFAULT: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Number of a capability given as `NET_ADMIN`, `CAP_NET_ADMIN` or `net_admin`.
pub fn number(name: &str) -> Option<u32> {
    let up = name.to_ascii_uppercase();
    let bare = up.strip_prefix("CAP_").unwrap_or(&up);
    NAMES.iter().position(|n| *n == bare).map(|i| i as u32)
}

/// The capability set a container gets: Docker's defaults (or everything the daemon
/// holds when privileged) with `--cap-add`/`--cap-drop` applied (`ALL` allowed).
/// Unknown names are an error with Docker's text.
pub fn effective_set(
    privileged: bool,
    add: &[String],
    drop: &[String],
    held: u64,
) -> Result<u64, String> {
    let all: BTreeSet<u32> = (0..NAMES.len() as u32).collect();
    let mut set: BTreeSet<u32> = if privileged {
        all.clone()
    } else {
        DOCKER_DEFAULT.iter().filter_map(|n| number(n)).collect()
    };
    if !privileged {
        for d in drop {
            if d.eq_ignore_ascii_case("ALL") {
                set.clear();
            } else {
                set.remove(&number(d).ok_or_else(|| format!("unknown capability: \"{d}\""))?);
            }
        }
        for a in add {
            if a.eq_ignore_ascii_case("ALL") {
                set.extend(all.iter().copied());
            } else {
                set.insert(number(a).ok_or_else(|| format!("unknown capability: \"{a}\""))?);
            }
        }
    }
    Ok(set.iter().fold(0u64, |m, c| m | (1u64 << c)) & held)
}

/// The `CAP_…` names of the capabilities in `set`.
pub fn names_of(set: u64) -> Vec<String> {
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| set & (1u64 << i) != 0)
        .map(|(_, n)| format!("CAP_{n}"))
        .collect()
}

/// The permitted set of the calling process (from `/proc/self/status`).
pub fn held() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapPrm:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Drop every capability outside `set` from the bounding set.
pub fn drop_bounding(set: u64) -> std::io::Result<()> {
    for c in 0..64u32 {
        if set & (1u64 << c) != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, c as libc::c_ulong, 0, 0, 0) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            // EINVAL: the kernel does not know this capability number; done.
            if e.raw_os_error() == Some(libc::EINVAL) {
                break;
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Set effective and permitted to `set`, inheritable to nothing.
pub fn set_caps(set: u64) -> std::io::Result<()> {
    let mut hdr = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let data = [
        CapData {
            effective: set as u32,
            permitted: set as u32,
            inheritable: 0,
        },
        CapData {
            effective: (set >> 32) as u32,
            permitted: (set >> 32) as u32,
            inheritable: 0,
        },
    ];
    // SAFETY: capset reads a header and two data structs we own, laid out as the
    // kernel's `_LINUX_CAPABILITY_VERSION_3` expects.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_kernel_numbers() {
        assert_eq!(number("CHOWN"), Some(0));
        assert_eq!(number("cap_sys_admin"), Some(21));
        assert_eq!(number("CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(number("NOPE"), None);
    }

    #[test]
    fn default_set_with_add_and_drop() {
        let all = u64::MAX;
        let d = effective_set(false, &[], &[], all).unwrap();
        assert_eq!(d.count_ones() as usize, DOCKER_DEFAULT.len());
        assert_eq!(d & (1 << 21), 0, "no SYS_ADMIN by default");
        let s = effective_set(false, &["NET_ADMIN".into()], &["MKNOD".into()], all).unwrap();
        assert_ne!(s & (1 << 12), 0);
        assert_eq!(s & (1 << 27), 0);
        assert_eq!(effective_set(false, &[], &["ALL".into()], all).unwrap(), 0);
        assert!(effective_set(false, &["BOGUS".into()], &[], all).is_err());
    }

    #[test]
    fn privileged_is_limited_to_what_the_daemon_holds() {
        let held = !(1u64 << 24); // no SYS_RESOURCE, as on the development machine
        let p = effective_set(true, &[], &[], held).unwrap();
        assert_eq!(p & (1 << 24), 0);
        assert_ne!(p & (1 << 21), 0);
    }
}
