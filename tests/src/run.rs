//! Running a command of a test to its end, bounded in time, with its output
//! read as it comes.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Output of a CLI run, with helpers for assertions.
pub struct Run {
    pub out: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    /// Assert success and return trimmed stdout.
    #[track_caller]
    pub fn ok(&self) -> String {
        assert_eq!(
            self.code(),
            0,
            "command failed\nstdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self.stdout().trim().to_string()
    }
}

/// A time limit stretched by `DOCKHAND_TEST_TIME_SCALE` (a factor, 1 by
/// default), which scripts/vm-test sets where QEMU emulates the guest's CPU:
/// start-up limits are for a stuck daemon, not a slow machine.
pub fn slow_machine(limit: Duration) -> Duration {
    let scale = std::env::var("DOCKHAND_TEST_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f >= 1.0)
        .unwrap_or(1.0);
    limit.mul_f64(scale)
}

/// Run a CLI to its end (at most 60 s), reading its output as it comes.
pub(crate) fn run_with(cmd: Command, stdin: Option<&[u8]>) -> Run {
    run_command(cmd, stdin, Duration::from_secs(60))
}

/// Run `cmd` to its end, feeding it `stdin`, reading its output while it runs,
/// killed after `limit` (the process tree is printed first).
pub fn run_command(mut cmd: Command, stdin: Option<&[u8]>, limit: Duration) -> Run {
    use std::io::Read;
    let limit = slow_machine(limit);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn CLI");
    if let Some(data) = stdin {
        use std::io::Write;
        let mut s = child.stdin.take().expect("stdin");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = s.write_all(&data);
        });
    }
    // Read both pipes while the command runs: output larger than a pipe buffer
    // must not block it.
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = reader(Box::new(child.stdout.take().expect("stdout")));
    let err = reader(Box::new(child.stderr.take().expect("stderr")));
    // Bounded: no CLI call in a test may hang the suite.
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() > deadline {
            eprintln!("--- a CLI call ran for {limit:?}: {cmd:?}; the processes ---");
            if let Ok(ps) = Command::new("ps")
                .args(["-eo", "pid,ppid,stat,wchan:32,args", "--forest"])
                .output()
            {
                eprintln!("{}", String::from_utf8_lossy(&ps.stdout));
            }
            let _ = child.kill();
            break child.wait().expect("wait CLI");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Run {
        out: Output {
            status,
            stdout,
            stderr,
        },
    }
}
