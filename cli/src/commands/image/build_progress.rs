//! A BuildKit-style compact progress display for `build` on a terminal (the
//! look of buildx's `--progress=tty`), drawn from the classic builder's JSON
//! stream: each `Step N/M : TEXT` becomes a line `=> [N/M] TEXT` marked
//! `CACHED`, `DONE` or `ERROR`, the running step shows the last lines of its
//! output under it, and the frame is redrawn in place at most ~10 times a
//! second. [`Progress`] is a pure renderer (fed messages and the elapsed time);
//! [`Screen`] draws its frames; [`display_tty`] reads the daemon's stream.

use crate::client::body_stream;
use futures_util::StreamExt;
use serde_json::Value;
use std::io::Write;
use std::time::{Duration, Instant};

/// How many output lines of the running step are shown under it.
const LOG_WINDOW: usize = 6;
/// The least time between two redraws.
const FRAME_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
struct Step {
    n: usize,
    total: usize,
    text: String,
    started: Duration,
    ended: Option<Duration>,
    cached: bool,
    failed: bool,
    logs: Vec<String>,
}

/// The state of a build as its JSON messages tell it.
#[derive(Debug, Default)]
pub struct Progress {
    steps: Vec<Step>,
    total: usize,
    /// Stream text not yet ended by a newline.
    pending: String,
    image_id: Option<String>,
    aux: Option<Value>,
    /// When `Successfully built` came.
    built: Option<Duration>,
    tags: Vec<String>,
    /// Lines outside any step (warnings), printed after the final frame.
    notes: Vec<String>,
    error: Option<(String, Option<i64>)>,
    finished: Option<Duration>,
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// `Step 3/7 : RUN x` -> (3, 7, "RUN x").
fn parse_step(line: &str) -> Option<(usize, usize, String)> {
    let rest = line.strip_prefix("Step ")?;
    let (counts, text) = rest.split_once(" : ")?;
    let (n, m) = counts.split_once('/')?;
    Some((n.parse().ok()?, m.parse().ok()?, text.to_string()))
}

fn is_short_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Text fit for one terminal line: escape sequences and control characters
/// dropped, tabs as spaces.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // A CSI sequence ends with a byte in 0x40..=0x7e.
                    for c in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\t' => out.push_str("    "),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn truncate(s: &str, width: usize) -> String {
    s.chars().take(width).collect()
}

/// `left` and `right` on one line of `width` columns, `left` cut to fit.
fn row(left: &str, right: &str, width: usize) -> String {
    let left = sanitize(left);
    let rw = right.chars().count();
    if width <= rw + 1 {
        return truncate(&format!("{left} {right}"), width);
    }
    let left = truncate(&left, width - rw - 1);
    let pad = width - rw - left.chars().count();
    format!("{left}{:pad$}{right}", "")
}

/// `name:tag` as buildx names it: `docker.io/library/name:tag`.
fn full_name(tag: &str) -> String {
    let (full, t, _) = super::normalize_image_ref(tag);
    if tag.contains('@') {
        format!("{full}@{t}")
    } else {
        format!("{full}:{t}")
    }
}

impl Progress {
    pub fn new() -> Self {
        Self::default()
    }

    fn running(&mut self) -> Option<&mut Step> {
        self.steps.last_mut().filter(|s| s.ended.is_none())
    }

    fn end_running(&mut self, now: Duration) {
        if let Some(s) = self.running() {
            s.ended = Some(now);
        }
    }

    /// One JSON message of the stream, arrived `now` after the start.
    pub fn feed(&mut self, v: &Value, now: Duration) {
        let detail = v.get("errorDetail");
        let message = detail
            .and_then(|d| d.get("message"))
            .and_then(Value::as_str)
            .or_else(|| v.get("error").and_then(Value::as_str));
        if let Some(m) = message {
            let code = detail.and_then(|d| d.get("code")).and_then(Value::as_i64);
            self.flush_pending(now);
            if let Some(s) = self.running() {
                s.failed = true;
                s.ended = Some(now);
            }
            self.error = Some((m.to_string(), code));
            self.finished = Some(now);
            return;
        }
        if let Some(a) = v.get("aux") {
            if let Some(id) = a.get("ID").and_then(Value::as_str) {
                self.image_id = Some(id.to_string());
            }
            self.aux = Some(a.clone());
            return;
        }
        if let Some(text) = v.get("stream").and_then(Value::as_str) {
            self.pending.push_str(text);
            while let Some(pos) = self.pending.find('\n') {
                let line: String = self.pending.drain(..=pos).collect();
                self.line(&line[..pos], now);
            }
            return;
        }
        // Pull messages of a FROM: the running step's output, a layer's
        // progress replacing its previous line.
        let status = v.get("status").and_then(Value::as_str).unwrap_or("");
        if status.is_empty() {
            return;
        }
        let id = v.get("id").and_then(Value::as_str).unwrap_or("");
        let progress = v.get("progress").and_then(Value::as_str).unwrap_or("");
        let text = match (id.is_empty(), progress.is_empty()) {
            (true, _) => status.to_string(),
            (false, true) => format!("{id}: {status}"),
            (false, false) => format!("{id}: {status} {progress}"),
        };
        let key = format!("{id}: ");
        let logs = match self.steps.last_mut().filter(|s| s.ended.is_none()) {
            Some(s) => &mut s.logs,
            None => &mut self.notes,
        };
        match logs.last_mut() {
            Some(last) if !id.is_empty() && last.starts_with(&key) => *last = text,
            _ => logs.push(text),
        }
    }

    fn flush_pending(&mut self, now: Duration) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.line(&line, now);
        }
    }

    /// One complete line of the classic builder's text.
    fn line(&mut self, line: &str, now: Duration) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        // A progress bar redrawn with carriage returns: its last state.
        let line = line.rsplit('\r').next().unwrap_or(line);
        if let Some((n, total, text)) = parse_step(line) {
            self.end_running(now);
            self.total = self.total.max(total);
            self.steps.push(Step {
                n,
                total,
                text,
                started: now,
                ended: None,
                cached: false,
                failed: false,
                logs: Vec::new(),
            });
            return;
        }
        if line == " ---> Using cache" {
            if let Some(s) = self.running() {
                s.cached = true;
            }
            return;
        }
        if line.starts_with(" ---> Running in ")
            || line.starts_with("Removing intermediate container ")
            || line.starts_with(" ---> Removed intermediate container ")
        {
            return;
        }
        if let Some(id) = line.strip_prefix(" ---> ") {
            if is_short_id(id.trim()) && self.running().is_some() {
                self.end_running(now);
                return;
            }
        }
        if line.starts_with("Successfully built ") {
            self.end_running(now);
            self.built = Some(now);
            return;
        }
        if let Some(t) = line.strip_prefix("Successfully tagged ") {
            self.tags.push(t.trim().to_string());
            return;
        }
        match self.running() {
            Some(s) => s.logs.push(line.to_string()),
            None => self.notes.push(line.to_string()),
        }
    }

    /// The stream ended `now`: the last partial line taken, the running step
    /// ended.
    pub fn finish(&mut self, now: Duration) {
        self.flush_pending(now);
        if self.error.is_none() {
            self.end_running(now);
        }
        if self.finished.is_none() {
            self.finished = Some(now);
        }
    }

    /// The stream's error (message, `errorDetail.code`).
    pub fn error(&self) -> Option<&(String, Option<i64>)> {
        self.error.as_ref()
    }

    /// The last `aux` object (the image's ID).
    pub fn aux(&self) -> Option<&Value> {
        self.aux.as_ref()
    }

    /// Lines that belong to no step (warnings), shown after the final frame.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The frame at `now`, `width` columns wide.
    pub fn frame(&self, now: Duration, width: usize) -> Vec<String> {
        let width = width.max(20);
        let now = self.finished.unwrap_or(now);
        let total = self.total.max(self.steps.len());
        let done = self
            .steps
            .iter()
            .filter(|s| s.ended.is_some() && !s.failed)
            .count();
        let mut header = format!("[+] Building {} ({done}/{total})", secs(now));
        if self.finished.is_some() && self.error.is_none() {
            header.push_str(" FINISHED");
        }
        let mut lines = vec![truncate(&header, width)];
        for s in &self.steps {
            let mark = if s.failed {
                "ERROR "
            } else if s.cached {
                "CACHED "
            } else {
                ""
            };
            let left = format!(" => {mark}[{}/{}] {}", s.n, s.total, s.text);
            let right = match s.ended {
                Some(end) if !s.failed && !s.cached => {
                    format!("DONE {}", secs(end.saturating_sub(s.started)))
                }
                Some(end) => secs(end.saturating_sub(s.started)),
                None => secs(now.saturating_sub(s.started)),
            };
            lines.push(row(&left, &right, width));
            if s.ended.is_none() && self.finished.is_none() {
                let from = s.logs.len().saturating_sub(LOG_WINDOW);
                for l in &s.logs[from..] {
                    lines.push(truncate(&format!(" => => # {}", sanitize(l)), width));
                }
            }
        }
        if let Some(built) = self.built {
            let start = self
                .steps
                .last()
                .and_then(|s| s.ended)
                .unwrap_or(built)
                .min(built);
            let took = secs(built - start);
            lines.push(row(
                " => exporting to image",
                &format!("DONE {took}"),
                width,
            ));
            if let Some(id) = &self.image_id {
                lines.push(row(&format!(" => => writing image {id}"), "0.0s", width));
            }
            for t in &self.tags {
                lines.push(row(
                    &format!(" => => naming to {}", full_name(t)),
                    "0.0s",
                    width,
                ));
            }
        }
        lines
    }

    /// After the final frame of a failed build: the failing step's whole
    /// output, as buildx prints it before the error.
    pub fn error_report(&self) -> Vec<String> {
        let Some(s) = self.steps.iter().find(|s| s.failed) else {
            return Vec::new();
        };
        let mut out = vec![
            "------".to_string(),
            format!(" > [{}/{}] {}:", s.n, s.total, s.text),
        ];
        out.extend(s.logs.iter().cloned());
        out.push("------".to_string());
        out
    }
}

/// Draws frames in place: the cursor goes back up over the last frame, each
/// line is cleared and rewritten, and what is left below is cleared.
#[derive(Debug, Default)]
pub struct Screen {
    drawn: usize,
    last: Vec<String>,
}

impl Screen {
    /// Draw `frame`; with `rows`, only as many lines as fit (the header and the
    /// last ones), so that the cursor can always come back up over them.
    pub fn draw(
        &mut self,
        out: &mut dyn Write,
        frame: &[String],
        rows: Option<usize>,
    ) -> std::io::Result<()> {
        let shown: Vec<String> = match rows {
            Some(h) if h >= 2 && frame.len() > h - 1 => {
                let keep = h - 2;
                let mut v = vec![frame[0].clone()];
                v.extend(frame[frame.len() - keep..].iter().cloned());
                v
            }
            _ => frame.to_vec(),
        };
        if shown == self.last {
            return Ok(());
        }
        let mut buf = String::new();
        if self.drawn > 0 {
            buf.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for l in &shown {
            buf.push_str("\r\x1b[2K");
            buf.push_str(l);
            buf.push('\n');
        }
        buf.push_str("\x1b[J");
        out.write_all(buf.as_bytes())?;
        out.flush()?;
        self.drawn = shown.len();
        self.last = shown;
        Ok(())
    }
}

/// Read the build's JSON stream, drawing the compact display on `out`
/// (`width` columns, `rows` lines when known). Returns the last `aux` object,
/// or the stream's error with its `errorDetail.code`, after the final frame,
/// the notes and the failing step's output are printed.
pub async fn display_tty(
    resp: hyper::Response<hyper::body::Incoming>,
    out: &mut dyn Write,
    width: usize,
    rows: Option<usize>,
) -> Result<Option<Value>, (String, Option<i64>)> {
    let start = Instant::now();
    let mut s = body_stream(resp);
    let mut progress = Progress::new();
    let mut screen = Screen::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut last_draw: Option<Instant> = None;
    let mut tick = tokio::time::interval(FRAME_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut read_error = None;
    loop {
        tokio::select! {
            chunk = s.next() => {
                match chunk {
                    None => break,
                    Some(Err(e)) => {
                        read_error = Some(e.to_string());
                        break;
                    }
                    Some(Ok(chunk)) => {
                        buf.extend_from_slice(&chunk);
                        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                            let line: Vec<u8> = buf.drain(..=pos).collect();
                            feed_line(&mut progress, &line, start.elapsed());
                        }
                        if progress.error().is_some() {
                            break;
                        }
                        if last_draw.is_none_or(|t| t.elapsed() >= FRAME_INTERVAL) {
                            let _ = screen.draw(out, &progress.frame(start.elapsed(), width), rows);
                            last_draw = Some(Instant::now());
                        }
                    }
                }
            }
            _ = tick.tick() => {
                let _ = screen.draw(out, &progress.frame(start.elapsed(), width), rows);
                last_draw = Some(Instant::now());
            }
        }
    }
    if progress.error().is_none() {
        let rest = std::mem::take(&mut buf);
        feed_line(&mut progress, &rest, start.elapsed());
    }
    progress.finish(start.elapsed());
    // The final frame whole: it stays on screen.
    let _ = screen.draw(out, &progress.frame(start.elapsed(), width), None);
    let mut tail = String::new();
    for l in progress.notes() {
        tail.push_str(l);
        tail.push('\n');
    }
    for l in progress.error_report() {
        tail.push_str(&l);
        tail.push('\n');
    }
    let _ = out.write_all(tail.as_bytes());
    let _ = out.flush();
    if let Some(e) = read_error {
        return Err((e, None));
    }
    match progress.error() {
        Some(e) => Err(e.clone()),
        None => Ok(progress.aux().cloned()),
    }
}

fn feed_line(progress: &mut Progress, line: &[u8], now: Duration) {
    let line = String::from_utf8_lossy(line);
    let line = line.trim();
    if line.is_empty() {
        return;
    }
    if let Ok(v) = serde_json::from_str::<Value>(line) {
        progress.feed(&v, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn s(text: &str) -> Value {
        json!({ "stream": text })
    }

    fn feed_all(p: &mut Progress, msgs: &[(u64, Value)]) {
        for (t, v) in msgs {
            p.feed(v, ms(*t));
        }
    }

    fn has(frame: &[String], start: &str, end: &str) -> bool {
        frame
            .iter()
            .any(|l| l.starts_with(start) && l.trim_end().ends_with(end))
    }

    const ID: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_cached_build_shows_cached_steps_and_the_export() {
        let mut p = Progress::new();
        feed_all(
            &mut p,
            &[
                (0, s("Step 1/3 : FROM busybox\n")),
                (10, s(" ---> 1234567890ab\n")),
                (20, s("Step 2/3 : RUN echo hi\n")),
                (20, s(" ---> Using cache\n")),
                (30, s(" ---> abcdefabcdef\n")),
                (30, s("Step 3/3 : CMD [\"sh\"]\n")),
                (40, s(" ---> Using cache\n")),
                (40, s(" ---> 0123456789ab\n")),
                (45, json!({"aux": {"ID": ID}})),
                (45, s("Successfully built 0123456789ab\n")),
                (46, s("Successfully tagged app:latest\n")),
            ],
        );
        p.finish(ms(60));
        let f = p.frame(ms(999), 100);
        assert_eq!(f[0], "[+] Building 0.1s (3/3) FINISHED");
        assert!(has(&f, " => [1/3] FROM busybox", "DONE 0.0s"), "{f:#?}");
        assert!(has(&f, " => CACHED [2/3] RUN echo hi", "0.0s"), "{f:#?}");
        assert!(has(&f, " => CACHED [3/3] CMD [\"sh\"]", "0.0s"), "{f:#?}");
        assert!(has(&f, " => exporting to image", "DONE 0.0s"), "{f:#?}");
        assert!(
            has(&f, &format!(" => => writing image {ID}"), "0.0s"),
            "{f:#?}"
        );
        assert!(has(
            &f,
            " => => naming to docker.io/library/app:latest",
            "0.0s"
        ));
        assert_eq!(f.len(), 7, "{f:#?}");
        assert!(f.iter().all(|l| l.chars().count() <= 100));
        assert_eq!(p.aux().unwrap()["ID"], ID);
        assert!(p.error().is_none());
    }

    #[test]
    fn a_cold_build_shows_the_last_six_output_lines_of_the_running_step() {
        let mut p = Progress::new();
        feed_all(
            &mut p,
            &[
                (0, s("Step 1/2 : FROM busybox\n")),
                (400, s(" ---> 1234567890ab\n")),
                (
                    400,
                    s("Step 2/2 : RUN for i in 1 2 3 4 5 6 7 8; do echo line$i; done\n"),
                ),
                (450, s(" ---> Running in 0a1b2c3d4e5f\n")),
                (500, s("line1\nline2\nline3\n")),
                (600, s("line4\nline5\nli")),
                (700, s("ne6\nline7\nline8")),
            ],
        );
        let f = p.frame(ms(1500), 80);
        assert_eq!(f[0], "[+] Building 1.5s (1/2)");
        assert!(has(&f, " => [1/2] FROM busybox", "DONE 0.4s"), "{f:#?}");
        assert!(has(&f, " => [2/2] RUN for i in", "1.1s"), "{f:#?}");
        let logs: Vec<&str> = f
            .iter()
            .filter_map(|l| l.strip_prefix(" => => # "))
            .collect();
        assert_eq!(
            logs,
            ["line2", "line3", "line4", "line5", "line6", "line7"],
            "the partial last line waits for its newline"
        );
        assert!(!f.iter().any(|l| l.contains("Running in")), "{f:#?}");
        feed_all(
            &mut p,
            &[
                (1800, s("\nRemoving intermediate container 0a1b2c3d4e5f\n")),
                (1800, s(" ---> fedcba987654\n")),
                (1900, json!({"aux": {"ID": ID}})),
                (1900, s("Successfully built fedcba987654\n")),
                (1900, s("Successfully tagged app:v1\n")),
            ],
        );
        p.finish(ms(2000));
        let f = p.frame(ms(2000), 80);
        assert_eq!(f[0], "[+] Building 2.0s (2/2) FINISHED");
        assert!(has(&f, " => [2/2] RUN for i in", "DONE 1.4s"), "{f:#?}");
        assert!(!f.iter().any(|l| l.contains("# ")), "collapsed: {f:#?}");
        assert!(!f.iter().any(|l| l.contains("intermediate")), "{f:#?}");
        assert!(has(&f, " => exporting to image", "DONE 0.1s"), "{f:#?}");
        assert!(has(&f, " => => naming to docker.io/library/app:v1", "0.0s"));
        assert!(f.iter().all(|l| l.chars().count() <= 80));
    }

    #[test]
    fn a_failing_build_marks_the_step_and_reports_its_output() {
        let mut p = Progress::new();
        feed_all(
            &mut p,
            &[
                (0, s("Step 1/3 : FROM busybox\n")),
                (0, s(" ---> 1234567890ab\n")),
                (100, s("Step 2/3 : RUN echo a; echo b; exit 3\n")),
                (100, s(" ---> Running in 0a1b2c3d4e5f\n")),
                (200, s("a\nb\n")),
                (
                    400,
                    json!({
                        "errorDetail": {"code": 3, "message": "The command '/bin/sh -c echo a; echo b; exit 3' returned a non-zero code: 3"},
                        "error": "The command '/bin/sh -c echo a; echo b; exit 3' returned a non-zero code: 3"
                    }),
                ),
            ],
        );
        p.finish(ms(500));
        let f = p.frame(ms(900), 100);
        assert_eq!(f[0], "[+] Building 0.4s (1/3)");
        assert!(
            has(&f, " => ERROR [2/3] RUN echo a; echo b; exit 3", "0.3s"),
            "{f:#?}"
        );
        assert!(!f.iter().any(|l| l.contains("exporting")));
        assert_eq!(f.len(), 3, "{f:#?}");
        assert_eq!(
            p.error_report(),
            [
                "------",
                " > [2/3] RUN echo a; echo b; exit 3:",
                "a",
                "b",
                "------"
            ]
        );
        let (msg, code) = p.error().unwrap();
        assert_eq!(*code, Some(3));
        assert!(msg.contains("non-zero code: 3"));
    }

    #[test]
    fn steps_without_a_layer_end_when_the_next_begins_and_pulls_update_in_place() {
        let mut p = Progress::new();
        feed_all(
            &mut p,
            &[
                (0, s("Step 1/3 : ARG V=1\n")),
                (100, s("Step 2/3 : FROM busybox\n")),
                (
                    100,
                    json!({"status": "Pulling from library/busybox", "id": "latest"}),
                ),
                (
                    150,
                    json!({"status": "Downloading", "id": "a1", "progress": "[=>   ] 1MB/2MB", "progressDetail": {"current": 1, "total": 2}}),
                ),
                (
                    200,
                    json!({"status": "Downloading", "id": "a1", "progress": "[====>] 2MB/2MB", "progressDetail": {"current": 2, "total": 2}}),
                ),
            ],
        );
        let f = p.frame(ms(300), 80);
        assert_eq!(f[0], "[+] Building 0.3s (1/3)");
        assert!(has(&f, " => [1/3] ARG V=1", "DONE 0.1s"), "{f:#?}");
        let logs: Vec<&str> = f
            .iter()
            .filter_map(|l| l.strip_prefix(" => => # "))
            .collect();
        assert_eq!(
            logs,
            [
                "latest: Pulling from library/busybox",
                "a1: Downloading [====>] 2MB/2MB"
            ]
        );
    }

    #[test]
    fn output_is_sanitized_and_cut_to_the_width() {
        assert_eq!(sanitize("\x1b[31mred\x1b[0m\tx\x07"), "red    x");
        assert_eq!(
            row(" => [1/1] RUN long text here", "DONE 0.1s", 20),
            " => [1/1]  DONE 0.1s"
        );
        assert_eq!(row("ab", "1.0s", 10), "ab    1.0s");
    }

    #[test]
    fn the_screen_redraws_in_place_and_skips_unchanged_frames() {
        let mut sc = Screen::default();
        let mut out = Vec::new();
        let f1 = vec!["h".to_string(), "a".to_string()];
        sc.draw(&mut out, &f1, None).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            "\r\x1b[2Kh\n\r\x1b[2Ka\n\x1b[J"
        );
        out.clear();
        sc.draw(&mut out, &f1, None).unwrap();
        assert!(out.is_empty());
        let f2 = vec!["h2".to_string()];
        sc.draw(&mut out, &f2, None).unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "\x1b[2A\r\x1b[2Kh2\n\x1b[J");
        out.clear();
        let tall: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        sc.draw(&mut out, &tall, Some(5)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            "\x1b[1A\r\x1b[2K0\n\r\x1b[2K7\n\r\x1b[2K8\n\r\x1b[2K9\n\x1b[J"
        );
    }
}
