//! Seccomp: which system calls a container's processes may make. Profiles come
//! in Docker's JSON format (`--security-opt seccomp=profile.json`) or are the
//! built-in one, Docker's default; either is compiled to classic BPF with
//! `seccompiler` and installed by the container's process just before
//! `execve`, after everything our own set-up needed.
//!
//! A profile maps system calls (and argument conditions) to actions, with a
//! default for the rest. `seccompiler` builds one filter per match action, so a
//! profile becomes a short stack of filters; the kernel runs them all and keeps
//! the most severe answer (kill, trap, errno, trace, log, allow in that order):
//!   - one filter answers the default action for every call no rule names with
//!     another action, and allows the rest;
//!   - one filter per other action answers it for the calls its rules match,
//!     and allows the rest.
//!
//! Only x86_64 has a table of system call numbers (the architecture we build);
//! the filter stops processes of other ABIs (32-bit x86 programs, x32) where
//! Docker's lets i386 programs through.

mod builtin;
#[cfg(target_arch = "x86_64")]
mod x86_64;

pub use builtin::{builtin, virtual_host};

use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};
use serde::{Deserialize, Serialize};
use shared::sync::Locked;
use std::collections::BTreeMap;

/// A profile in Docker's format (`moby/profiles/seccomp`): the fields Docker
/// reads; unknown ones (comments, `flags`, `listenerPath`) are ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default)]
    pub default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_map: Vec<serde_json::Value>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

/// One entry of `syscalls`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub names: Vec<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Condition>,
}

/// A condition on one argument: `MASKED_EQ` compares `arg & value` with `valueTwo`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// When a rule applies: capabilities the container holds, architectures, a
/// lowest kernel version (`"4.8"`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// A profile that cannot become a filter, with the text the container's start
/// fails with.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum SeccompError {
    #[error("Decoding seccomp profile failed: {0}")]
    Decode(String),
    #[error("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'")]
    NameAndNames,
    #[error("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'")]
    ArchitecturesAndArchMap,
    #[error("invalid kernel version: {0:?}")]
    KernelVersion(String),
    #[error("seccomp: invalid action {0:?}")]
    Action(String),
    #[error("seccomp: invalid operator {0:?}")]
    Operator(String),
    #[error("seccomp: invalid argument index {0} (at most 5)")]
    ArgIndex(u32),
    #[error("seccomp: {0}")]
    Build(String),
    #[error("seccomp filters are built for x86_64 only")]
    Architecture,
}

/// One classic BPF program as the kernel takes it, instruction by instruction.
pub type Program = Vec<Insn>;

/// `struct sock_filter`: code, jump if true, jump if false, constant.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Insn(pub u16, pub u8, pub u8, pub u32);

/// Parses a profile given as JSON (what the CLI sends after `seccomp=`).
pub fn parse(json: &str) -> Result<Profile, SeccompError> {
    serde_json::from_str(json).map_err(|e| SeccompError::Decode(e.to_string()))
}

/// The Go architecture name of the machine, as profiles' `arches` use it.
const ARCH: &str = if cfg!(target_arch = "x86_64") {
    "amd64"
} else if cfg!(target_arch = "aarch64") {
    "arm64"
} else {
    "unknown"
};

/// The filters for a container that holds `caps` (`CAP_…` names) on a kernel
/// `kernel` (major, minor), in the order to install them. `None`: the profile
/// disables seccomp (no default action and no rules, as Docker reads it).
pub fn compile(
    profile: &Profile,
    caps: &[String],
    kernel: (u32, u32),
) -> Result<Option<Vec<Program>>, SeccompError> {
    if profile.default_action.is_empty() && profile.syscalls.is_empty() {
        return Ok(None);
    }
    if !profile.architectures.is_empty() && !profile.arch_map.is_empty() {
        return Err(SeccompError::ArchitecturesAndArchMap);
    }
    let default = action(&profile.default_action, profile.default_errno_ret)?;
    // The rules that apply here, each as (action, syscall number, conditions).
    let mut chosen: Vec<(SeccompAction, i64, Option<SeccompRule>)> = Vec::new();
    for rule in &profile.syscalls {
        if !rule.name.is_empty() && !rule.names.is_empty() {
            return Err(SeccompError::NameAndNames);
        }
        if !applies(rule, caps, kernel)? {
            continue;
        }
        let act = action(&rule.action, rule.errno_ret)?;
        let conditions = conditions(&rule.args)?;
        let names = if rule.name.is_empty() {
            &rule.names[..]
        } else {
            std::slice::from_ref(&rule.name)
        };
        // Names this architecture lacks are left out, as runc does.
        for nr in names.iter().filter_map(|n| number(n)) {
            chosen.push((act.clone(), nr, conditions.clone()));
        }
    }
    let mut stages: Vec<(
        SeccompAction,
        SeccompAction,
        BTreeMap<i64, Vec<SeccompRule>>,
    )> = Vec::new();
    if default != SeccompAction::Allow {
        let named = chosen.iter().filter(|(a, _, _)| *a != default);
        stages.push((default.clone(), SeccompAction::Allow, table(named)));
    }
    let mut others: Vec<SeccompAction> = Vec::new();
    for (a, _, _) in &chosen {
        if *a != SeccompAction::Allow && !others.contains(a) {
            others.push(a.clone());
        }
    }
    for a in others {
        let rules = table(chosen.iter().filter(|(b, _, _)| *b == a));
        stages.push((SeccompAction::Allow, a, rules));
    }
    let arch = target()?;
    stages
        .into_iter()
        .map(|(mismatch, matched, rules)| {
            let filter = SeccompFilter::new(rules, mismatch, matched, arch)
                .map_err(|e| SeccompError::Build(e.to_string()))?;
            let bpf: seccompiler::BpfProgram = filter
                .try_into()
                .map_err(|e: seccompiler::BackendError| SeccompError::Build(e.to_string()))?;
            Ok(bpf.iter().map(|i| Insn(i.code, i.jt, i.jf, i.k)).collect())
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Rules by system call: a call named without conditions matches whatever
/// other rules of the same action say about its arguments.
fn table<'a>(
    rules: impl Iterator<Item = &'a (SeccompAction, i64, Option<SeccompRule>)>,
) -> BTreeMap<i64, Vec<SeccompRule>> {
    let mut out: BTreeMap<i64, Option<Vec<SeccompRule>>> = BTreeMap::new();
    for (_, nr, cond) in rules {
        let entry = out.entry(*nr).or_insert_with(|| Some(Vec::new()));
        match (entry.as_mut(), cond) {
            (Some(list), Some(c)) => list.push(c.clone()),
            // Unconditional: the call matches, whatever its arguments.
            (Some(_), None) => *entry = None,
            (None, _) => {}
        }
    }
    out.into_iter()
        .map(|(nr, rules)| (nr, rules.unwrap_or_default()))
        .collect()
}

fn applies(rule: &Rule, caps: &[String], kernel: (u32, u32)) -> Result<bool, SeccompError> {
    let holds = |c: &String| caps.iter().any(|h| h.eq_ignore_ascii_case(c));
    if let Some(ex) = &rule.excludes {
        if ex.arches.iter().any(|a| a == ARCH) || ex.caps.iter().any(holds) {
            return Ok(false);
        }
        if let Some(v) = &ex.min_kernel {
            if kernel >= kernel_version(v)? {
                return Ok(false);
            }
        }
    }
    if let Some(inc) = &rule.includes {
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == ARCH) {
            return Ok(false);
        }
        if !inc.caps.iter().all(holds) {
            return Ok(false);
        }
        if let Some(v) = &inc.min_kernel {
            if kernel < kernel_version(v)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// `"4.8"` as (4, 8).
fn kernel_version(v: &str) -> Result<(u32, u32), SeccompError> {
    let bad = || SeccompError::KernelVersion(v.to_string());
    let (major, minor) = v.split_once('.').ok_or_else(bad)?;
    Ok((
        major.parse().map_err(|_| bad())?,
        minor.parse().map_err(|_| bad())?,
    ))
}

/// The filters of the built-in profile for a container holding `caps`,
/// compiled once per capability set: every start and exec asks for them.
pub fn builtin_programs(caps: &[String]) -> Result<Vec<Program>, SeccompError> {
    static CACHE: std::sync::Mutex<BTreeMap<Vec<String>, Vec<Program>>> =
        std::sync::Mutex::new(BTreeMap::new());
    let mut cache = CACHE.locked();
    if let Some(p) = cache.get(caps) {
        return Ok(p.clone());
    }
    let programs = compile(&builtin(), caps, running_kernel())?.unwrap_or_default();
    cache.insert(caps.to_vec(), programs.clone());
    Ok(programs)
}

/// The filters of [`virtual_host`], compiled once.
pub fn virtual_host_programs() -> Result<Vec<Program>, SeccompError> {
    static ONCE: std::sync::OnceLock<Result<Vec<Program>, SeccompError>> =
        std::sync::OnceLock::new();
    ONCE.get_or_init(|| Ok(compile(&virtual_host(), &[], running_kernel())?.unwrap_or_default()))
        .clone()
}

/// The running kernel's (major, minor) from uname(2), read once.
pub fn running_kernel() -> (u32, u32) {
    static ONCE: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    *ONCE.get_or_init(read_kernel_version)
}

fn read_kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let mut next = || parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (next(), next())
}

fn action(name: &str, errno: Option<u32>) -> Result<SeccompAction, SeccompError> {
    // As runc: ERRNO and TRACE without a number answer EPERM.
    let code = errno.unwrap_or(libc::EPERM as u32);
    Ok(match name {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => SeccompAction::Errno(code),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        "SCMP_ACT_TRACE" => SeccompAction::Trace(code),
        "SCMP_ACT_LOG" => SeccompAction::Log,
        _ => return Err(SeccompError::Action(name.to_string())),
    })
}

/// All of a rule's argument conditions (they must all hold), or `None`.
fn conditions(args: &[Arg]) -> Result<Option<SeccompRule>, SeccompError> {
    if args.is_empty() {
        return Ok(None);
    }
    let list = args
        .iter()
        .map(|a| {
            let index = u8::try_from(a.index)
                .ok()
                .filter(|i| *i <= 5)
                .ok_or(SeccompError::ArgIndex(a.index))?;
            let (op, value) = match a.op.as_str() {
                "SCMP_CMP_NE" => (SeccompCmpOp::Ne, a.value),
                "SCMP_CMP_LT" => (SeccompCmpOp::Lt, a.value),
                "SCMP_CMP_LE" => (SeccompCmpOp::Le, a.value),
                "SCMP_CMP_EQ" => (SeccompCmpOp::Eq, a.value),
                "SCMP_CMP_GE" => (SeccompCmpOp::Ge, a.value),
                "SCMP_CMP_GT" => (SeccompCmpOp::Gt, a.value),
                "SCMP_CMP_MASKED_EQ" => (SeccompCmpOp::MaskedEq(a.value), a.value_two),
                other => return Err(SeccompError::Operator(other.to_string())),
            };
            SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value)
                .map_err(|e| SeccompError::Build(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    SeccompRule::new(list)
        .map(Some)
        .map_err(|e| SeccompError::Build(e.to_string()))
}

/// The number of a system call on this architecture.
pub fn number(name: &str) -> Option<i64> {
    #[cfg(target_arch = "x86_64")]
    {
        x86_64::SYSCALLS
            .binary_search_by(|(n, _)| n.cmp(&name))
            .ok()
            .map(|i| x86_64::SYSCALLS[i].1)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = name;
        None
    }
}

fn target() -> Result<seccompiler::TargetArch, SeccompError> {
    if cfg!(target_arch = "x86_64") {
        Ok(seccompiler::TargetArch::x86_64)
    } else {
        Err(SeccompError::Architecture)
    }
}

/// A program in the kernel's own type.
pub fn to_kernel(p: &Program) -> Vec<libc::sock_filter> {
    p.iter()
        .map(|i| libc::sock_filter {
            code: i.0,
            jt: i.1,
            jf: i.2,
            k: i.3,
        })
        .collect()
}

/// Installs the filters on the calling thread, in order. Needs CAP_SYS_ADMIN
/// in the caller's user namespace or no_new_privs already set.
pub fn install(programs: &[Program]) -> std::io::Result<()> {
    install_raw(&programs.iter().map(to_kernel).collect::<Vec<_>>())
}

/// [`install`] for programs already converted: allocates nothing, so a child
/// forked from a threaded process may call it.
pub fn install_raw(programs: &[Vec<libc::sock_filter>]) -> std::io::Result<()> {
    for code in programs {
        let prog = libc::sock_fprog {
            len: u16::try_from(code.len())
                .map_err(|_| std::io::Error::from_raw_os_error(libc::E2BIG))?,
            filter: code.as_ptr().cast_mut(),
        };
        // SAFETY: seccomp(2) only reads `prog` and the instructions it points
        // at; both outlive the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
