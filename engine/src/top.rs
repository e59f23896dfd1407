//! `docker top`: the processes of a container in `ps -ef` columns (UID PID PPID C
//! STIME TTY TIME CMD), read from the host's /proc. A process belongs to the
//! container when it lives in the same pid namespace as the container's PID 1.

use shared::api::TopResponse;
use std::fs;

/// Fields of /proc/PID/stat after the command name.
struct Stat {
    ppid: i64,
    tty_nr: i64,
    utime: u64,
    stime: u64,
    start: u64,
}

fn parse_stat(text: &str) -> Option<Stat> {
    // The command name may contain spaces and parentheses: split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        ppid: f.get(1)?.parse().ok()?,
        tty_nr: f.get(4)?.parse().ok()?,
        utime: f.get(11)?.parse().ok()?,
        stime: f.get(12)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

/// `pts/N` from a tty number, `?` without one.
pub fn tty_name(tty_nr: i64) -> String {
    if tty_nr == 0 {
        return "?".into();
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 => format!("tty{minor}"),
        _ => "?".into(),
    }
}

/// `[[HH:]MM:]SS`-style cumulative CPU time as ps prints it: `00:00:01`.
pub fn cpu_time(ticks: u64, hz: u64) -> String {
    let secs = ticks / hz.max(1);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

fn user_name(uid: u32) -> String {
    fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

pub fn top(init_pid: i32) -> TopResponse {
    let titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];
    let ns = fs::read_link(format!("/proc/{init_pid}/ns/pid")).ok();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100)
        .max(1) as u64;
    let boot = fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<i64>().ok())
        })
        .unwrap_or(0);
    let mut rows: Vec<(i32, Vec<String>)> = vec![];
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if ns.is_none() || fs::read_link(e.path().join("ns/pid")).ok() != ns {
            continue;
        }
        let Some(st) = fs::read_to_string(e.path().join("stat"))
            .ok()
            .and_then(|t| parse_stat(&t))
        else {
            continue;
        };
        let uid = fs::read_to_string(e.path().join("status"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|v| v.split_whitespace().next().and_then(|u| u.parse().ok()))
            })
            .unwrap_or(0);
        let cmd = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd)
            .trim_end_matches('\0')
            .replace('\0', " ");
        let started = chrono::DateTime::from_timestamp(boot + (st.start / hz) as i64, 0)
            .map(|t| t.with_timezone(&chrono::Local).format("%H:%M").to_string())
            .unwrap_or_default();
        rows.push((
            pid,
            vec![
                user_name(uid),
                pid.to_string(),
                st.ppid.to_string(),
                "0".into(),
                started,
                tty_name(st.tty_nr),
                cpu_time(st.utime + st.stime, hz),
                cmd,
            ],
        ));
    }
    rows.sort_by_key(|r| r.0);
    TopResponse {
        titles: titles.iter().map(|s| s.to_string()).collect(),
        processes: rows.into_iter().map(|r| r.1).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_parse_past_odd_command_names() {
        let st = parse_stat(
            "42 (my (odd) cmd) S 7 42 42 34816 42 4194560 1 0 0 0 15 5 0 0 20 0 1 0 1234 0 0",
        )
        .unwrap();
        assert_eq!(
            (st.ppid, st.tty_nr, st.utime, st.stime, st.start),
            (7, 34816, 15, 5, 1234)
        );
    }

    #[test]
    fn ttys_and_times_print_like_ps() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name(34816), "pts/0");
        assert_eq!(tty_name(34817), "pts/1");
        assert_eq!(cpu_time(100 * 3725, 100), "01:02:05");
    }

    #[test]
    fn top_of_our_own_namespace_lists_this_process() {
        let me = std::process::id() as i32;
        let t = top(me);
        assert_eq!(t.titles[1], "PID");
        assert!(t.processes.iter().any(|p| p[1] == me.to_string()));
    }
}
