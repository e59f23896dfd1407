//! Escape probes that need a program (issue 18): calls each named system call
//! once with arguments that change nothing (bad descriptors, null pointers,
//! invalid commands) and prints `NAME ERRNO` (`NAME 0` when the call
//! succeeded). A filter or a missing privilege answers EPERM before the
//! kernel looks at the arguments; where the call is allowed the kernel
//! answers EBADF, EFAULT or EINVAL instead. `fds N` opens /dev/null N times
//! (or until refused), prints how many, and holds them until stdin closes.
//! `udp ADDR N` sends one datagram to each of N ports of ADDR (N flows for
//! connection tracking), after a first one that lets ARP settle.
//!
//! tests/tests/escape.rs copies it (with the machine's dynamic loader and
//! libraries) into containers of a virtual host and of the machine.
//!
//! Usage: syscall_probe NAME... | syscall_probe fds N | syscall_probe udp ADDR N

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
