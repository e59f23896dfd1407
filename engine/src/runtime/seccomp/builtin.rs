//! The built-in profile: what Docker's default seccomp profile lets a container
//! do on x86_64, in the same shape as a profile in Docker's JSON format so that
//! both go through one compiler. The lists are system call names; the reasons
//! for the conditional rules are in their comments.

use super::{Arg, Condition, Profile, Rule};

/// Allowed to every container, whatever its capabilities.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "clock_adjtime",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex",
    "futex_requeue",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "gettid",
    "gettimeofday",
    "getuid",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_setup",
    "io_submit",
    "ioctl",
    "ioprio_get",
    "ioprio_set",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listmount",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedsend",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "sendfile",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setgroups",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setrlimit",
    "setsid",
    "setsockopt",
    "setuid",
    "setxattr",
    "setxattrat",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "socketpair",
    "splice",
    "stat",
    "statfs",
    "statmount",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "times",
    "tkill",
    "truncate",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "uretprobe",
    "utime",
    "utimensat",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "write",
    "writev",
    // x86_64 only: thread-local storage set-up and the local descriptor table.
    "arch_prctl",
    "modify_ldt",
];

/// Allowed when the container holds the capability (Docker gives the same
/// extra system calls with `--cap-add`).
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_TIME", &["settimeofday", "clock_settime"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// The namespace flags of `clone` (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
/// NEWUSER, NEWPID, NEWNET): without CAP_SYS_ADMIN a container may fork and
/// make threads, not new namespaces.
const CLONE_NAMESPACES: u64 = 0x7E02_0000;

/// `personality` values that programs use: the Linux default, 32-bit uname
/// (linux32), the two with UNAME26, and 0xffffffff, which only asks.
const PERSONALITIES: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// Docker's default profile, for x86_64.
pub fn builtin() -> Profile {
    let allow = |names: &[&str]| Rule {
        names: names.iter().map(|n| n.to_string()).collect(),
        action: "SCMP_ACT_ALLOW".into(),
        ..Rule::default()
    };
    let arg = |index: u32, op: &str, value: u64| Arg {
        index,
        value,
        value_two: 0,
        op: op.into(),
    };
    let caps = |c: &str| Condition {
        caps: vec![c.into()],
        ..Condition::default()
    };
    let mut rules = vec![allow(ALLOWED)];
    // Reading another process's memory was unsafe before 4.8 (it could get
    // around seccomp); the same process tree may since.
    rules.push(Rule {
        includes: Some(Condition {
            min_kernel: Some("4.8".into()),
            ..Condition::default()
        }),
        ..allow(&["process_vm_readv", "process_vm_writev", "ptrace"])
    });
    // Sockets of every family but AF_ALG (the kernel's crypto API, a frequent
    // home of bugs) and AF_VSOCK (a way out to the hypervisor's host).
    let (alg, vsock) = (libc::AF_ALG as u64, libc::AF_VSOCK as u64);
    for (op, value) in [
        ("SCMP_CMP_LT", alg),
        ("SCMP_CMP_EQ", alg + 1),
        ("SCMP_CMP_GT", vsock),
    ] {
        rules.push(Rule {
            args: vec![arg(0, op, value)],
            ..allow(&["socket"])
        });
    }
    for &p in PERSONALITIES {
        rules.push(Rule {
            args: vec![arg(0, "SCMP_CMP_EQ", p)],
            ..allow(&["personality"])
        });
    }
    for (cap, names) in BY_CAPABILITY {
        rules.push(Rule {
            includes: Some(caps(cap)),
            ..allow(names)
        });
    }
    // Without CAP_SYS_ADMIN: clone without namespace flags, and clone3 (whose
    // flags sit in memory a filter cannot read) answers ENOSYS so that libcs
    // fall back to clone.
    rules.push(Rule {
        args: vec![Arg {
            index: 0,
            value: CLONE_NAMESPACES,
            value_two: 0,
            op: "SCMP_CMP_MASKED_EQ".into(),
        }],
        excludes: Some(caps("CAP_SYS_ADMIN")),
        ..allow(&["clone"])
    });
    rules.push(Rule {
        names: vec!["clone3".into()],
        action: "SCMP_ACT_ERRNO".into(),
        errno_ret: Some(libc::ENOSYS as u32),
        excludes: Some(caps("CAP_SYS_ADMIN")),
        ..Rule::default()
    });
    Profile {
        default_action: "SCMP_ACT_ERRNO".into(),
        default_errno_ret: Some(libc::EPERM as u32),
        syscalls: rules,
        ..Profile::default()
    }
}

/// Refused to every process of a virtual host, whatever its container's
/// profile (`--privileged` included), with the reason for each. Root in a
/// virtual host holds every capability in its own user namespace, so these
/// are the kernel's surface it can reach that a Docker host's users never need.
const VIRTUAL_HOST_DENIED: &[(&str, &[&str])] = &[
    // eBPF programs run in the kernel; the verifier's bugs are a common way up.
    ("eBPF", &["bpf"]),
    // Performance counters: a large, often exploited subsystem and a side
    // channel on other tenants' processes.
    ("perf events", &["perf_event_open"]),
    // Lets a process stall the kernel on a page fault: how races in kernel
    // exploits are won.
    ("userfaultfd", &["userfaultfd"]),
    // A second system call interface with a long record of kernel bugs, whose
    // operations a seccomp filter cannot see.
    (
        "io_uring",
        &["io_uring_setup", "io_uring_enter", "io_uring_register"],
    ),
    // Replacing the running kernel, loading or unloading kernel code.
    ("kexec", &["kexec_load", "kexec_file_load"]),
    ("modules", &["init_module", "finit_module", "delete_module"]),
    // The kernel's keyrings are not namespaced: keys are shared by uid with
    // every other tenant.
    ("keyrings", &["keyctl", "add_key", "request_key"]),
    // Opens files by handle, around mount namespaces ("shocker").
    ("file handles", &["open_by_handle_at"]),
    // The machine's swap, clock and kernel log.
    ("swap", &["swapon", "swapoff"]),
    ("clock", &["settimeofday", "clock_settime"]),
    ("kernel log", &["syslog"]),
];

/// The filter every process of a virtual host carries: the calls above answer
/// EPERM, and so do sockets of AF_VSOCK (a way to the hypervisor's host);
/// everything else is left to the container's profile.
pub fn virtual_host() -> Profile {
    let mut rules: Vec<Rule> = VIRTUAL_HOST_DENIED
        .iter()
        .map(|(_, names)| Rule {
            names: names.iter().map(|n| n.to_string()).collect(),
            action: "SCMP_ACT_ERRNO".into(),
            ..Rule::default()
        })
        .collect();
    rules.push(Rule {
        names: vec!["socket".into()],
        action: "SCMP_ACT_ERRNO".into(),
        args: vec![Arg {
            index: 0,
            value: libc::AF_VSOCK as u64,
            value_two: 0,
            op: "SCMP_CMP_EQ".into(),
        }],
        ..Rule::default()
    });
    Profile {
        default_action: "SCMP_ACT_ALLOW".into(),
        syscalls: rules,
        ..Profile::default()
    }
}
