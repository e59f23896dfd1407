use super::*;

fn default_caps() -> Vec<String> {
    crate::runtime::caps::DOCKER_DEFAULT
        .iter()
        .map(|c| format!("CAP_{c}"))
        .collect()
}

fn with(extra: &str) -> Vec<String> {
    let mut caps = default_caps();
    caps.push(extra.into());
    caps
}

/// What each probe returned in a child that installed `programs`: the
/// return value, or minus errno; `None` when the child was killed (by SIGSYS
/// for a kill action) before reporting.
fn probe(programs: &[Program], probes: &[fn() -> i64]) -> Option<Vec<i64>> {
    // Everything is allocated before fork: the test harness has threads.
    let raw: Vec<Vec<libc::sock_filter>> = programs.iter().map(to_kernel).collect();
    let mut results = vec![0i64; probes.len()];
    let (r, w) = nix::unistd::pipe().unwrap();
    // SAFETY: the child only makes system calls and writes to a pipe before _exit.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            // SAFETY: prctl with integer arguments; no_new_privs lets an
            // unprivileged test install filters.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            if install_raw(&raw).is_err() {
                // SAFETY: ends the forked child.
                unsafe { libc::_exit(3) };
            }
            for (slot, p) in results.iter_mut().zip(probes) {
                *slot = p();
            }
            // SAFETY: writes the results array we own to the pipe.
            unsafe {
                libc::write(
                    std::os::fd::AsRawFd::as_raw_fd(&w),
                    results.as_ptr().cast(),
                    std::mem::size_of_val(&results[..]),
                );
                libc::_exit(0)
            }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            let mut buf = vec![0u8; std::mem::size_of_val(&results[..])];
            let mut f = std::fs::File::from(r);
            let n = std::io::Read::read(&mut f, &mut buf).unwrap_or(0);
            match status {
                nix::sys::wait::WaitStatus::Exited(_, 0) if n == buf.len() => Some(
                    buf.chunks(8)
                        .map(|c| i64::from_ne_bytes(c.try_into().unwrap()))
                        .collect(),
                ),
                nix::sys::wait::WaitStatus::Signaled(_, sig, _) => {
                    assert_eq!(sig, nix::sys::signal::Signal::SIGSYS);
                    None
                }
                other => panic!("probe child: {other:?}, {n} bytes"),
            }
        }
    }
}

/// A raw system call's result, or minus errno.
fn ret(r: libc::c_long) -> i64 {
    if r == -1 {
        -(std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as i64)
    } else {
        r
    }
}

const EPERM: i64 = -(libc::EPERM as i64);
const ENOSYS: i64 = -(libc::ENOSYS as i64);

fn getpid() -> i64 {
    // SAFETY: getpid has no arguments.
    ret(unsafe { libc::syscall(libc::SYS_getpid) })
}
fn keyctl() -> i64 {
    // KEYCTL_GET_KEYRING_ID of the session keyring, without creating it.
    // SAFETY: integer arguments.
    ret(unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) })
}
fn clone3() -> i64 {
    // No arguments: the kernel answers EINVAL, the filter ENOSYS.
    // SAFETY: a null pointer with size 0 is never read.
    ret(unsafe { libc::syscall(libc::SYS_clone3, 0, 0) })
}
fn clone_newns() -> i64 {
    // SAFETY: like fork; a child that gets through exits at once.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::CLONE_NEWUSER | libc::SIGCHLD,
            0,
            0,
            0,
            0,
        )
    };
    if r == 0 {
        // SAFETY: ends that child.
        unsafe { libc::_exit(0) };
    }
    if r > 0 {
        // SAFETY: reaps the child we made.
        unsafe { libc::waitpid(r as i32, std::ptr::null_mut(), 0) };
        return 0;
    }
    ret(r)
}
fn setns_bad_fd() -> i64 {
    // The kernel answers EBADF; the filter without CAP_SYS_ADMIN EPERM.
    // SAFETY: integer arguments.
    ret(unsafe { libc::syscall(libc::SYS_setns, -1, 0) })
}
fn personality_query() -> i64 {
    // SAFETY: 0xffffffff only reads the persona.
    ret(unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffffu64) })
}
fn personality_no_aslr() -> i64 {
    // SAFETY: ADDR_NO_RANDOMIZE changes only this child.
    ret(unsafe { libc::syscall(libc::SYS_personality, 0x0040000u64) })
}
fn socket_vsock() -> i64 {
    // SAFETY: integer arguments; a socket that opens is left to _exit.
    ret(unsafe { libc::syscall(libc::SYS_socket, libc::AF_VSOCK, libc::SOCK_STREAM, 0) })
}
fn socket_unix() -> i64 {
    // SAFETY: as above.
    ret(unsafe { libc::syscall(libc::SYS_socket, libc::AF_UNIX, libc::SOCK_STREAM, 0) })
}
fn getppid() -> i64 {
    // SAFETY: no arguments.
    ret(unsafe { libc::syscall(libc::SYS_getppid) })
}

#[test]
fn the_builtin_profile_names_only_calls_this_architecture_has() {
    let p = builtin();
    let unknown: Vec<&String> = p
        .syscalls
        .iter()
        .flat_map(|r| r.names.iter())
        .filter(|n| number(n).is_none())
        .collect();
    assert!(unknown.is_empty(), "{unknown:?}");
    assert!(x86_64::SYSCALLS.windows(2).all(|w| w[0].0 < w[1].0));
    for (name, nr) in [
        ("read", libc::SYS_read),
        ("clone3", libc::SYS_clone3),
        ("keyctl", libc::SYS_keyctl),
        ("seccomp", libc::SYS_seccomp),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("openat2", libc::SYS_openat2),
    ] {
        assert_eq!(number(name), Some(nr), "{name}");
    }
}

#[test]
fn the_builtin_profile_stops_what_docker_stops_and_lets_programs_run() {
    let programs = compile(&builtin(), &default_caps(), running_kernel())
        .unwrap()
        .unwrap();
    let got = probe(
        &programs,
        &[
            getpid,
            keyctl,
            clone3,
            clone_newns,
            setns_bad_fd,
            personality_query,
            personality_no_aslr,
            socket_vsock,
            socket_unix,
        ],
    )
    .unwrap();
    assert!(got[0] > 0, "getpid: {got:?}");
    assert_eq!(got[1], EPERM, "keyctl");
    assert_eq!(
        got[2], ENOSYS,
        "clone3 answers ENOSYS for libcs to fall back"
    );
    assert_eq!(got[3], EPERM, "clone with a namespace flag");
    assert_eq!(got[4], EPERM, "setns without CAP_SYS_ADMIN");
    assert!(got[5] >= 0, "personality(0xffffffff): {}", got[5]);
    assert_eq!(got[6], EPERM, "personality(ADDR_NO_RANDOMIZE)");
    assert_eq!(got[7], EPERM, "AF_VSOCK");
    assert!(got[8] >= 0, "AF_UNIX: {}", got[8]);
}

#[test]
fn capabilities_open_their_system_calls_as_with_cap_add() {
    let programs = compile(&builtin(), &with("CAP_SYS_ADMIN"), running_kernel())
        .unwrap()
        .unwrap();
    let got = probe(&programs, &[clone3, setns_bad_fd, keyctl]).unwrap();
    assert_eq!(got[0], -(libc::EINVAL as i64), "clone3 reaches the kernel");
    assert_eq!(got[1], -(libc::EBADF as i64), "setns reaches the kernel");
    assert_eq!(got[2], EPERM, "keyctl stays closed");
}

#[test]
fn a_docker_profile_with_errno_and_kill_actions_does_what_it_says() {
    let json = r#"{
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
            {"name": "socket", "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["no_such_call"], "action": "SCMP_ACT_ERRNO"}
        ]
    }"#;
    let programs = compile(&parse(json).unwrap(), &default_caps(), running_kernel())
        .unwrap()
        .unwrap();
    let got = probe(&programs, &[getpid, getppid, socket_unix, keyctl]).unwrap();
    assert!(got[0] > 0);
    assert_eq!(got[1], -42, "errnoRet");
    assert_eq!(got[2], EPERM, "socket(AF_UNIX) by its argument");
    assert_ne!(got[3], EPERM, "keyctl is allowed by the default action");

    let kill = r#"{"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]}"#;
    let programs = compile(&parse(kill).unwrap(), &[], running_kernel())
        .unwrap()
        .unwrap();
    assert_eq!(probe(&programs, &[getpid]).map(|v| v[0] > 0), Some(true));
    assert_eq!(
        probe(&programs, &[getpid, getppid]),
        None,
        "killed by SIGSYS"
    );
}

#[test]
fn rules_apply_by_capability_architecture_and_kernel() {
    let rule = |includes: Condition| Rule {
        names: vec!["getppid".into()],
        action: "SCMP_ACT_ALLOW".into(),
        includes: Some(includes),
        ..Rule::default()
    };
    let caps = |c: &str| Condition {
        caps: vec![c.into()],
        ..Condition::default()
    };
    let k = (6, 1);
    assert!(applies(&rule(caps("CAP_SYS_ADMIN")), &with("CAP_SYS_ADMIN"), k).unwrap());
    assert!(!applies(&rule(caps("CAP_SYS_ADMIN")), &default_caps(), k).unwrap());
    let arch = |a: &str| Condition {
        arches: vec![a.into()],
        ..Condition::default()
    };
    assert!(applies(&rule(arch("amd64")), &[], k).unwrap());
    assert!(!applies(&rule(arch("s390x")), &[], k).unwrap());
    let kernel = |v: &str| Condition {
        min_kernel: Some(v.into()),
        ..Condition::default()
    };
    assert!(applies(&rule(kernel("4.8")), &[], k).unwrap());
    assert!(!applies(&rule(kernel("6.2")), &[], k).unwrap());
    assert_eq!(
        applies(&rule(kernel("six")), &[], k),
        Err(SeccompError::KernelVersion("six".into()))
    );
    let mut ex = rule(Condition::default());
    ex.excludes = Some(caps("CAP_SYS_ADMIN"));
    assert!(!applies(&ex, &with("CAP_SYS_ADMIN"), k).unwrap());
    assert!(applies(&ex, &default_caps(), k).unwrap());
}

#[test]
fn broken_profiles_are_refused_with_dockers_texts() {
    assert!(matches!(parse("{"), Err(SeccompError::Decode(_))));
    assert_eq!(
        parse("{").unwrap_err().to_string().split(':').next(),
        Some("Decoding seccomp profile failed")
    );
    let both = r#"{"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}"#;
    assert_eq!(
        compile(&parse(both).unwrap(), &[], (6, 1)),
        Err(SeccompError::NameAndNames)
    );
    let action = r#"{"defaultAction": "SCMP_ACT_SOMETIMES"}"#;
    assert_eq!(
        compile(&parse(action).unwrap(), &[], (6, 1)),
        Err(SeccompError::Action("SCMP_ACT_SOMETIMES".into()))
    );
    let op = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
        "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}"#;
    assert_eq!(
        compile(&parse(op).unwrap(), &[], (6, 1)),
        Err(SeccompError::Operator("SCMP_CMP_ABOUT".into()))
    );
    let index = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
        "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#;
    assert_eq!(
        compile(&parse(index).unwrap(), &[], (6, 1)),
        Err(SeccompError::ArgIndex(6))
    );
    // No default action and no rules: seccomp off, as Docker reads it.
    assert_eq!(compile(&parse("{}").unwrap(), &[], (6, 1)), Ok(None));
}

fn io_uring_setup() -> i64 {
    // A null params pointer: the kernel answers EFAULT, the filter EPERM.
    // SAFETY: the kernel checks the pointer.
    ret(unsafe { libc::syscall(libc::SYS_io_uring_setup, 1, 0) })
}
fn userfaultfd() -> i64 {
    // SAFETY: integer flags; a descriptor that opens is left to _exit.
    ret(unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC) })
}

#[test]
fn the_virtual_host_filter_refuses_its_list_and_leaves_the_rest() {
    let programs = compile(&virtual_host(), &[], running_kernel())
        .unwrap()
        .unwrap();
    let got = probe(
        &programs,
        &[
            getpid,
            keyctl,
            io_uring_setup,
            userfaultfd,
            socket_vsock,
            socket_unix,
            personality_no_aslr,
        ],
    )
    .unwrap();
    assert!(got[0] > 0);
    assert_eq!(
        &got[1..5],
        &[EPERM; 4],
        "keyctl, io_uring, userfaultfd, vsock"
    );
    assert!(got[5] >= 0, "AF_UNIX: {}", got[5]);
    assert!(
        got[6] >= 0,
        "personality is the container's business: {}",
        got[6]
    );
    // Every name in the list is a system call of this architecture.
    for rule in &virtual_host().syscalls {
        for n in &rule.names {
            assert!(number(n).is_some(), "{n}");
        }
    }
}
