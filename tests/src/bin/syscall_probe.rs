//! Escape probes that need a program (issue 18): calls each named system call
//! once with arguments that change nothing (bad descriptors, null pointers,
//! invalid commands) and prints `NAME ERRNO` (`NAME 0` when the call
//! succeeded). A filter or a missing privilege answers EPERM before the
//! kernel looks at the arguments; where the call is allowed the kernel
//! answers EBADF, EFAULT or EINVAL instead. `fds N` opens /dev/null N times
//! (or until refused), prints how many, and holds them until stdin closes.
//! `udp ADDR N` sends one datagram to each of N ports of ADDR (N flows for
//! connection tracking), after a first one that lets ARP settle.
//! `neigh IFNAME N` adds N permanent neighbour entries (10.128.0.0/9, one
//! made-up link address) on IFNAME through rtnetlink, as `ip neigh add`
//! does, and prints how many the kernel took. `unresolved PREFIX N SECONDS`
//! sends a datagram to each of N addresses of PREFIX.0.0/16 every second for
//! SECONDS, and prints how many were sent and refused: each address no one
//! answers is an incomplete neighbour entry while it lasts.
//!
//! tests/tests/escape.rs copies it (with the machine's dynamic loader and
//! libraries) into containers of a virtual host and of the machine.
//!
//! Usage: syscall_probe NAME... | syscall_probe fds N | syscall_probe udp ADDR N
//!        | syscall_probe neigh IFNAME N | syscall_probe unresolved PREFIX N SECONDS

use std::io::Read;

fn errno_of(r: libc::c_long) -> i32 {
    if r < 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    } else {
        0
    }
}

fn call(name: &str) -> Option<i32> {
    let null = std::ptr::null::<libc::c_void>();
    // SAFETY: every call below passes null pointers, invalid descriptors or
    // invalid commands; the kernel validates them and writes nothing.
    let r = unsafe {
        match name {
            "open_by_handle_at" => libc::syscall(libc::SYS_open_by_handle_at, -1, null, 0),
            "bpf" => libc::syscall(libc::SYS_bpf, 0xffff, null, 0),
            "perf_event_open" => libc::syscall(libc::SYS_perf_event_open, null, 0, -1, -1, 0),
            "userfaultfd" => libc::syscall(libc::SYS_userfaultfd, 0xffff_ffffu32),
            "io_uring_setup" => libc::syscall(libc::SYS_io_uring_setup, 0, null),
            "kexec_load" => libc::syscall(libc::SYS_kexec_load, 0, 0, null, 0xffff_ffffu64),
            "init_module" => libc::syscall(libc::SYS_init_module, null, 0, null),
            "keyctl" => libc::syscall(libc::SYS_keyctl, 0xffff, 0, 0, 0, 0),
            "request_key" => libc::syscall(libc::SYS_request_key, null, null, null, 0),
            "swapon" => libc::syscall(libc::SYS_swapon, null, 0),
            "clock_settime" => libc::syscall(libc::SYS_clock_settime, 0xffff, null),
            // SYSLOG_ACTION_SIZE_BUFFER: reads nothing but the size.
            "syslog" => libc::syscall(libc::SYS_syslog, 10, null, 0),
            _ => return None,
        }
    };
    let e = errno_of(r);
    if r >= 0 && name == "open_by_handle_at" {
        // Cannot happen with a bad descriptor; close it if it did.
        // SAFETY: closing the descriptor the call just returned.
        unsafe { libc::close(r as i32) };
    }
    Some(e)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("fds") {
        let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut held = Vec::new();
        while held.len() < n {
            match std::fs::File::open("/dev/null") {
                Ok(f) => held.push(f),
                Err(_) => break,
            }
        }
        println!("fds {}", held.len());
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        return;
    }
    if args.first().map(String::as_str) == Some("udp") {
        let addr: std::net::Ipv4Addr = args.get(1).and_then(|a| a.parse().ok()).expect("ADDR");
        let n: u16 = args
            .get(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
            .min(50_000);
        let s = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind");
        let _ = s.send_to(b"x", (addr, 10_000));
        std::thread::sleep(std::time::Duration::from_millis(200));
        let sent = (1..=n)
            .filter(|p| s.send_to(b"x", (addr, 10_000 + p)).is_ok())
            .count();
        println!("sent {sent}");
        return;
    }
    if args.first().map(String::as_str) == Some("neigh") {
        let ifname = args.get(1).expect("IFNAME");
        let n: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (took, err) = add_neighbours(ifname, n.min(1 << 22));
        println!("neigh {took} {err}");
        return;
    }
    if args.first().map(String::as_str) == Some("unresolved") {
        let prefix = args.get(1).expect("PREFIX");
        let n: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
        let secs: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
        // Datagrams waiting for an address count against their socket's
        // send buffer: a full one is replaced by a new socket.
        let fresh = || {
            let s = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind");
            s.set_nonblocking(true).expect("nonblocking");
            s
        };
        let mut s = fresh();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(secs.min(60));
        let (mut sent, mut refused) = (0u64, 0u64);
        // One datagram to each address a second: each stays an incomplete
        // entry (the kernel asks three times, a second apart) with a short
        // queue, rather than a queue filling up to its limit.
        'flood: loop {
            let round = std::time::Instant::now();
            for i in 0..n.min(65_000) {
                if std::time::Instant::now() >= end {
                    break 'flood;
                }
                let host = i + 256; // past .0.x
                let to = format!("{prefix}.{}.{}:9", host >> 8, host & 255);
                match s.send_to(b"x", to.as_str()) {
                    Ok(_) => sent += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => s = fresh(),
                    Err(_) => refused += 1,
                }
            }
            let rest = std::time::Duration::from_secs(1).saturating_sub(round.elapsed());
            std::thread::sleep(rest.min(end.saturating_duration_since(std::time::Instant::now())));
        }
        println!("unresolved {sent} {refused}");
        return;
    }
    for name in &args {
        match call(name) {
            Some(e) => println!("{name} {e}"),
            None => {
                eprintln!("unknown system call {name}");
                std::process::exit(2);
            }
        }
    }
}

/// Adds `n` permanent IPv4 neighbour entries on `ifname`, in batches of
/// requests each acknowledged; returns how many the kernel took and the
/// errno that stopped it (0 when none did).
fn add_neighbours(ifname: &str, n: u32) -> (u32, i32) {
    const BATCH: u32 = 64;
    const MSG: usize = 48; // header 16, ndmsg 12, NDA_DST 8, NDA_LLADDR 12
    let name = std::ffi::CString::new(ifname).expect("IFNAME");
    // SAFETY: a NUL-terminated name; the call only reads it.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return (0, errno_of(-1));
    }
    // SAFETY: plain socket(2); the descriptor is closed below.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE) };
    if fd < 0 {
        return (0, errno_of(-1));
    }
    let (mut took, mut err, mut seq) = (0u32, 0i32, 0u32);
    'all: while took < n && err == 0 {
        let count = BATCH.min(n - took);
        let mut buf = Vec::with_capacity(MSG * count as usize);
        for k in 0..count {
            seq += 1;
            let host = 0x0a80_0000u32 + took + k; // 10.128.0.0 onwards
            buf.extend_from_slice(&(MSG as u32).to_ne_bytes());
            buf.extend_from_slice(&libc::RTM_NEWNEIGH.to_ne_bytes());
            let flags =
                libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL;
            buf.extend_from_slice(&(flags as u16).to_ne_bytes());
            buf.extend_from_slice(&seq.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            // struct ndmsg: family, pad, pad, ifindex, state, flags, type.
            buf.extend_from_slice(&[libc::AF_INET as u8, 0, 0, 0]);
            buf.extend_from_slice(&(index as i32).to_ne_bytes());
            buf.extend_from_slice(&libc::NUD_PERMANENT.to_ne_bytes());
            buf.extend_from_slice(&[0, 0]);
            buf.extend_from_slice(&8u16.to_ne_bytes());
            buf.extend_from_slice(&libc::NDA_DST.to_ne_bytes());
            buf.extend_from_slice(&host.to_be_bytes());
            buf.extend_from_slice(&10u16.to_ne_bytes());
            buf.extend_from_slice(&libc::NDA_LLADDR.to_ne_bytes());
            buf.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0, 0]);
        }
        // SAFETY: sends `buf`, which outlives the call.
        let r = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), 0) };
        if r < 0 {
            err = errno_of(-1);
            break;
        }
        let mut acked = 0;
        let mut reply = [0u8; 8192];
        while acked < count {
            // SAFETY: receives into `reply`, of the length given.
            let r = unsafe { libc::recv(fd, reply.as_mut_ptr().cast(), reply.len(), 0) };
            if r <= 0 {
                err = errno_of(-1);
                break 'all;
            }
            let mut off = 0usize;
            while off + 20 <= r as usize {
                let len = u32::from_ne_bytes(reply[off..off + 4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(reply[off + 4..off + 6].try_into().unwrap());
                if kind == libc::NLMSG_ERROR as u16 {
                    let code = i32::from_ne_bytes(reply[off + 16..off + 20].try_into().unwrap());
                    acked += 1;
                    if code == 0 {
                        took += 1;
                    } else if err == 0 {
                        err = -code;
                    }
                }
                if len < 16 {
                    break;
                }
                off += (len + 3) & !3;
            }
        }
    }
    // SAFETY: the descriptor opened above.
    unsafe { libc::close(fd) };
    (took, err)
}
