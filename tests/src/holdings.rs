//! What one daemon holds on the machine, counted, for leak cycles: the leak
//! test (tests/tests/leaks.rs) and `scripts/bench-leaks` take one count after
//! a warm-up and one after many more cycles; any growth is a leak. Counts are
//! the daemon's own (by its data root, the alias of its links, its cgroup and
//! chain prefixes, its processes), so other daemons on the machine do not
//! disturb them.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How a daemon's things are told from others'.
#[derive(Debug, Clone)]
pub struct Scope {
    pub pid: u32,
    pub root: PathBuf,
    /// `--iptables-chain-prefix` and `--playground-chain-prefix`.
    pub chain_prefixes: Vec<String>,
}

/// Counts of kernel objects and daemon resources at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Holdings {
    /// (name, count), in a fixed order.
    pub counts: Vec<(&'static str, u64)>,
    /// The daemon's resident memory, KiB.
    pub rss_kib: u64,
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Names of the entries of `dir` (none when it cannot be read).
pub fn dir_names(dir: impl AsRef<Path>) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Output lines of a command (none when it is missing).
fn output_lines(cmd: &str, args: &[&str]) -> Vec<String> {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The daemon and every process below it (monitors, containers, virtual
/// hosts' inits).
fn descendants(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for name in dir_names("/proc") {
        let Ok(p) = name.parse::<u32>() else { continue };
        let stat = read(format!("/proc/{p}/stat"));
        // The parent is the second field after the command's closing paren.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u32>().ok());
        if let Some(pp) = ppid {
            children.entry(pp).or_default().push(p);
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        out.extend(children.get(&out[i]).cloned().unwrap_or_default());
        i += 1;
    }
    out
}

/// Cgroup directories under the daemon's prefix, in every hierarchy.
fn cgroups(prefix: &str) -> u64 {
    fn walk(dir: &Path, prefix: &str, inside: bool, n: &mut u64) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = inside || (!prefix.is_empty() && name.starts_with(prefix));
            if ours {
                *n += 1;
            }
            walk(&e.path(), prefix, ours, n);
        }
    }
    let mut n = 0;
    walk(Path::new("/sys/fs/cgroup"), prefix, false, &mut n);
    n
}

fn status_field(pid: u32, field: &str) -> u64 {
    read(format!("/proc/{pid}/status"))
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Holdings {
    /// The daemon's counts now.
    pub fn take(scope: &Scope) -> Holdings {
        let root = scope.root.display().to_string();
        let prefix = read(scope.root.join("cgroup-prefix"));
        let marks: Vec<String> = scope
            .chain_prefixes
            .iter()
            .map(|p| format!("dockhand:{p}"))
            .collect();
        let mounts = read("/proc/self/mountinfo")
            .lines()
            .filter(|l| l.contains(&root))
            .count();
        let links = dir_names("/sys/class/net")
            .into_iter()
            .filter(|l| {
                let alias = read(format!("/sys/class/net/{l}/ifalias"));
                marks.iter().any(|m| alias.trim() == m)
            })
            .count();
        let namespaces: BTreeSet<PathBuf> = descendants(scope.pid)
            .into_iter()
            .filter_map(|p| std::fs::read_link(format!("/proc/{p}/ns/net")).ok())
            .collect();
        let loops = dir_names("/sys/block")
            .into_iter()
            .filter(|d| d.starts_with("loop"))
            .filter(|d| read(format!("/sys/block/{d}/loop/backing_file")).contains(&root))
            .count();
        let iptables = output_lines("iptables-save", &[])
            .iter()
            .filter(|l| scope.chain_prefixes.iter().any(|p| l.contains(p.as_str())))
            .count();
        // The playground's nftables table (`<prefix>_guard`, see the engine's
        // `guard_table_name`).
        let nft: usize = scope
            .chain_prefixes
            .iter()
            .map(|p| {
                let t: String = p
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                output_lines("nft", &["list", "table", "bridge", &format!("{t}_guard")]).len()
            })
            .sum();
        let counts = vec![
            ("mounts", mounts as u64),
            ("links", links as u64),
            ("network namespaces", namespaces.len() as u64),
            ("cgroups", cgroups(prefix.trim())),
            ("loop devices", loops as u64),
            (
                "daemon open files",
                dir_names(format!("/proc/{}/fd", scope.pid)).len() as u64,
            ),
            ("iptables rules and chains", iptables as u64),
            ("nftables lines", nft as u64),
        ];
        Holdings {
            counts,
            rss_kib: status_field(scope.pid, "VmRSS:"),
        }
    }

    /// Counts once they hold still: the same twice 100 ms apart (at most 3 s
    /// of trying), so that a connection the daemon is closing or a removal in
    /// flight is not taken for a leak. A leak holds still too.
    pub fn settled(scope: &Scope) -> Holdings {
        let mut last = Holdings::take(scope);
        for _ in 0..30 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let now = Holdings::take(scope);
            if now.counts == last.counts {
                return now;
            }
            last = now;
        }
        last
    }

    /// What grew from `self` to `later`: any count, or memory by more than 10 %.
    pub fn growth(&self, later: &Holdings) -> Vec<String> {
        let mut out: Vec<String> = self
            .counts
            .iter()
            .zip(&later.counts)
            .filter(|((_, a), (_, b))| b > a)
            .map(|((name, a), (_, b))| format!("{name}: {a} -> {b}"))
            .collect();
        if later.rss_kib * 10 > self.rss_kib * 11 {
            out.push(format!(
                "daemon memory: {} KiB -> {} KiB (over 10 %)",
                self.rss_kib, later.rss_kib
            ));
        }
        out
    }
}
