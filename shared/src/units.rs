//! Sizes and durations, read and written as Docker reads and writes them. This is
//! the one parser per unit: every flag, API option and config file value goes
//! through it.
//!
//! - Sizes in: go-units `RAMInBytes` ([`ram_in_bytes`], binary: `512m`, `1.5GiB`)
//!   and `FromHumanSize` ([`from_human_size`], decimal: `10k` is 10000), with
//!   go-units' own rules and error texts (`invalid size: 'x'`, `invalid suffix: 'q'`).
//! - Durations in: Go's `time.ParseDuration` ([`parse_duration`]: `1h30m`,
//!   `500ms`, `1.5s`, `-2m`; no `d`), with Go's error texts.
//! - Out: go-units `HumanDuration`, `HumanSize`/`HumanSizeWithPrecision`
//!   and Go's `%g` ([`go_fmt_g`]) they are built on.
//!
//! Shared by the daemon, the CLI, the playground server and the Wasm UI, so it
//! touches nothing of the OS.

use std::time::Duration;

/// go-units `HumanDuration`: "Less than a second", "About a minute", "3 hours", ...
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let seconds = secs as i64;
    let minutes = (secs / 60.0) as i64;
    let hours = (secs / 3600.0 + 0.5) as i64;
    if seconds < 1 {
        "Less than a second".to_string()
    } else if seconds == 1 {
        "1 second".to_string()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".to_string()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", (secs / 3600.0) as i64 / 24 / 365)
    }
}

/// Docker's progress text: `[=====>     ]  1.2MB/5MB`.
pub fn progress_text(current: u64, total: u64) -> String {
    let width = 50u64;
    let filled = (current.min(total) * width)
        .checked_div(total)
        .unwrap_or(width)
        .min(width);
    let mut bar = "=".repeat(filled as usize);
    if filled < width {
        bar.push('>');
        bar.push_str(&" ".repeat((width - filled - 1) as usize));
    }
    format!("[{bar}] {:>8}/{}", human_size(current), human_size(total))
}

/// go-units' `HumanSize`: decimal units, four significant digits (`1.049MB`).
pub fn human_size(n: u64) -> String {
    human_size_with_precision(n as f64, 4)
}

const DECIMAL_ABBRS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// Divides by `base` while it can, up to the last unit; go-units `getSizeAndUnit`.
fn size_and_unit(mut size: f64, base: f64, units: &[&'static str]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// go-units `HumanSizeWithPrecision(size, precision)`: `"%.*g%s"` over powers of 1000.
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    let (size, unit) = size_and_unit(size, 1000.0, &DECIMAL_ABBRS);
    format!("{}{unit}", go_fmt_g(size, precision))
}

/// Go's `%.{prec}g`: shortest of %e/%f by exponent, trailing zeros removed.
pub fn go_fmt_g(x: f64, prec: usize) -> String {
    if x == 0.0 {
        return "0".to_string();
    }
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".into()
        } else if x > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let prec = prec.max(1);
    // Round to `prec` significant digits in scientific form to learn the exponent.
    let sci = format!("{:.*e}", prec - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, x))
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// go-units `RAMInBytes`: a size in binary units (`k` is 1024), as `docker run
/// -m`, `--shm-size`, `--memory-swap`, `--mount tmpfs-size=` read it.
///
/// The number is Go's `strconv.ParseFloat` (so `1.5`, `.5`, `1e3`), then
/// optionally one space, then a suffix: none, `b`, or one of `k m g t p` followed
/// by nothing, `b` or `ib`, in any case. The fraction is dropped after scaling
/// (`32.3` is 32 bytes). Nothing else is trimmed: `" 32"` is an error, `"32 "`
/// is 32. Negative numbers are refused.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    parse_size(s, 1024)
}

/// go-units `FromHumanSize`: the same syntax as [`ram_in_bytes`] in decimal
/// units (`k` is 1000), as the daemon reads `--log-opt max-size=`.
pub fn from_human_size(s: &str) -> Result<i64, String> {
    parse_size(s, 1000)
}

/// go-units `parseSize` (v0.5), rule for rule; `base` is 1000 or 1024.
fn parse_size(size: &str, base: i64) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{size}'");
    // With a space, the number is what comes before the first one; without, the
    // suffix is what follows the last digit or dot.
    let (num, sfx) = match size.split_once(' ') {
        Some(parts) => parts,
        None => {
            let sep = size
                .rfind(|c: char| c.is_ascii_digit() || c == '.')
                .ok_or_else(invalid)?;
            size.split_at(sep + 1)
        }
    };
    let mut n = go_parse_float(num)?;
    if n < 0.0 {
        return Err(invalid());
    }
    if !sfx.is_empty() {
        let bad = |sfx: &str| Err(format!("invalid suffix: '{sfx}'"));
        if sfx.len() > 3 {
            return bad(sfx);
        }
        let sfx = sfx.to_lowercase();
        let b = sfx.as_bytes();
        if b[0] == b'b' {
            if b.len() > 1 {
                return bad(&sfx);
            }
        } else {
            let power = match b[0] {
                b'k' => 1,
                b'm' => 2,
                b'g' => 3,
                b't' => 4,
                b'p' => 5,
                _ => return bad(&sfx),
            };
            n *= base.pow(power) as f64;
            match b.len() {
                2 if b[1] != b'b' => return bad(&sfx),
                3 if &b[1..] != b"ib" => return bad(&sfx),
                _ => {}
            }
        }
    }
    // Go's int64(float64) of an infinite, NaN or too large value is whatever the
    // CPU makes of it; refuse those instead.
    if !n.is_finite() || n >= (1u64 << 63) as f64 {
        return Err(invalid());
    }
    Ok(n as i64)
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal text, with its error texts.
/// Rust's `f64` grammar is Go's decimal one (sign, digits with one optional dot,
/// optional exponent, `inf`/`infinity`/`nan` in any case); Go's hexadecimal
/// floats (`0x1p4`) and `_` separators after a base prefix are not taken.
fn go_parse_float(s: &str) -> Result<f64, String> {
    let err = |why: &str| format!("strconv.ParseFloat: parsing {}: {why}", crate::go::quote(s));
    let v: f64 = s.parse().map_err(|_| err("invalid syntax"))?;
    let word = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if v.is_infinite() && word != "inf" && word != "infinity" {
        return Err(err("value out of range"));
    }
    Ok(v)
}

/// A Go `time.Duration`: signed nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(pub i64);

impl GoDuration {
    pub const NANOSECOND: i64 = 1;
    pub const MICROSECOND: i64 = 1_000;
    pub const MILLISECOND: i64 = 1_000_000;
    pub const SECOND: i64 = 1_000_000_000;
    pub const MINUTE: i64 = 60 * Self::SECOND;
    pub const HOUR: i64 = 60 * Self::MINUTE;

    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Whole seconds, rounded up: `500ms` is 1, `-1.5s` is -1.
    pub fn ceil_secs(self) -> i64 {
        let s = self.0.div_euclid(Self::SECOND);
        if self.0.rem_euclid(Self::SECOND) > 0 {
            s + 1
        } else {
            s
        }
    }

    /// As a std `Duration`; `None` when negative.
    pub fn to_std(self) -> Option<Duration> {
        u64::try_from(self.0).ok().map(Duration::from_nanos)
    }
}

/// Go's `time.ParseDuration`: a possibly signed sequence of decimal numbers, each
/// with an optional fraction and a unit (`ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`,
/// `h`): `300ms`, `-1.5h`, `2h45m`. A bare `0` (signed or not) is the only
/// number without a unit. Errors are Go's: `time: invalid duration "x"`,
/// `time: missing unit in duration "90"`, `time: unknown unit "d" in duration "2d"`.
pub fn parse_duration(orig: &str) -> Result<GoDuration, String> {
    const LIMIT: u64 = 1 << 63;
    let invalid = || format!("time: invalid duration {}", time_quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(c @ (b'-' | b'+')) = s.bytes().next() {
        neg = c == b'-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok(GoDuration(0));
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // The integer part: [0-9]*, refusing more than 2^63.
        let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &c in &b[..digits] {
            if v > LIMIT / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(c - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
        }
        s = &s[digits..];
        let pre = digits > 0;
        // The fraction: (\.[0-9]*)?, whose digits stop counting once they overflow.
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(rest) = s.strip_prefix('.') {
            let digits = rest.bytes().take_while(|c| c.is_ascii_digit()).count();
            let mut overflow = false;
            for c in rest[..digits].bytes() {
                if overflow {
                    continue;
                }
                if f > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(c - b'0');
                if y > LIMIT {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            post = digits > 0;
            s = &rest[digits..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        // The unit: everything up to the next digit or dot.
        let len = s
            .bytes()
            .position(|c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if len == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                time_quote(orig)
            ));
        }
        let (u, rest) = s.split_at(len);
        s = rest;
        let unit: u64 = match u {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    time_quote(u),
                    time_quote(orig)
                ))
            }
        };
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            // As Go: float64 keeps fractions of hours nanosecond-accurate.
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        // Go's uint64 addition wraps; so does this one.
        d = d.wrapping_add(v);
        if d > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        return Ok(GoDuration((d as i64).wrapping_neg()));
    }
    if d > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(GoDuration(d as i64))
}

/// The `time` package's own `quote`: `"` and `\` escaped, every byte of a
/// control or non-ASCII character as `\xNN`.
fn time_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c as u32 >= 0x80 || c < ' ' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_text_looks_like_dockers() {
        let s = progress_text(0, 100);
        assert!(s.starts_with("[>"), "{s}");
        let s = progress_text(100, 100);
        assert!(s.starts_with(&format!("[{}]", "=".repeat(50))), "{s}");
        assert!(s.ends_with("100B/100B"), "{s}");
    }

    /// go-units' `TestRAMInBytes` and `TestFromHumanSize` (v0.5), and the
    /// corners that differ from the old regexp parser.
    #[test]
    fn sizes_parse_like_go_units() {
        const KIB: i64 = 1024;
        const MIB: i64 = KIB * 1024;
        const GIB: i64 = MIB * 1024;
        const TIB: i64 = GIB * 1024;
        const PIB: i64 = TIB * 1024;
        for (input, want) in [
            ("32", 32),
            ("32b", 32),
            ("32B", 32),
            ("32k", 32 * KIB),
            ("32K", 32 * KIB),
            ("32kb", 32 * KIB),
            ("32Kb", 32 * KIB),
            ("32Kib", 32 * KIB),
            ("32KIB", 32 * KIB),
            ("32Mb", 32 * MIB),
            ("32Gb", 32 * GIB),
            ("32Tb", 32 * TIB),
            ("32Pb", 32 * PIB),
            ("32PB", 32 * PIB),
            ("32P", 32 * PIB),
            ("32.3", 32),
            ("32.3 mb", (32.3 * MIB as f64) as i64),
            ("0.3MB", (0.3 * MIB as f64) as i64),
            ("1.5GB", 3 << 29),
            ("1.5m", 3 << 19),
            ("512m", 512 << 20),
            ("32 ", 32),
            (".5k", 512),
            ("1e3", 1000),
            ("-0", 0),
        ] {
            assert_eq!(ram_in_bytes(input), Ok(want), "{input:?}");
        }
        for (input, err) in [
            ("", "invalid size: ''"),
            ("hello", "invalid size: 'hello'"),
            ("-32", "invalid size: '-32'"),
            (" 32 ", "strconv.ParseFloat: parsing \"\": invalid syntax"),
            (
                "32m b",
                "strconv.ParseFloat: parsing \"32m\": invalid syntax",
            ),
            ("32bm", "invalid suffix: 'bm'"),
            ("32ib", "invalid suffix: 'ib'"),
            ("1q", "invalid suffix: 'q'"),
            ("10mbs", "invalid suffix: 'mbs'"),
            ("10mx", "invalid suffix: 'mx'"),
            (
                "1.2.3",
                "strconv.ParseFloat: parsing \"1.2.3\": invalid syntax",
            ),
            (
                "1e400",
                "strconv.ParseFloat: parsing \"1e400\": value out of range",
            ),
            ("8192P", "invalid size: '8192P'"),
            ("inf b", "invalid size: 'inf b'"),
        ] {
            assert_eq!(ram_in_bytes(input), Err(err.to_string()), "{input:?}");
        }

        const KB: i64 = 1000;
        const MB: i64 = KB * 1000;
        const GB: i64 = MB * 1000;
        const TB: i64 = GB * 1000;
        const PB: i64 = TB * 1000;
        for (input, want) in [
            ("0", 0),
            ("0b", 0),
            ("0B", 0),
            ("0 B", 0),
            ("32", 32),
            ("32b", 32),
            ("32B", 32),
            ("32k", 32 * KB),
            ("32K", 32 * KB),
            ("32kb", 32 * KB),
            ("32Kb", 32 * KB),
            ("32Mb", 32 * MB),
            ("32Gb", 32 * GB),
            ("32Tb", 32 * TB),
            ("32Pb", 32 * PB),
            ("32.5kB", 32_500),
            ("32.5 kB", 32_500),
            ("32.5 B", 32),
            ("0.3 K", 300),
            (".3kB", 300),
            ("0.", 0),
            ("0. ", 0),
            ("0.b", 0),
            ("0.B", 0),
            ("-0", 0),
            ("-0b", 0),
            ("-0B", 0),
            ("-0 b", 0),
            ("-0 B", 0),
            ("32.", 32),
            ("32.b", 32),
            ("32.B", 32),
            ("32. b", 32),
            ("32. B", 32),
            ("0 ", 0),
            ("10k", 10_000),
        ] {
            assert_eq!(from_human_size(input), Ok(want), "{input:?}");
        }
        for input in [
            " 0", " 0b", " 0B", " 0 B", "0b ", "0B ", "0 B ", "", "hello", ".", ". ", " ", "  ",
            " .", " . ", "-32", "-32b", "-32B", "-32 b", "-32 B", "32b.", "32B.", "32 b.", "32 B.",
            "32 bb", "32 BB", "32 b b", "32 B B", "32  b", "32  B", " 32 ", "32m b", "32bm",
        ] {
            assert!(from_human_size(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn sizes_print_like_go_units() {
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1024), "1.024kB");
        assert_eq!(human_size(1_000_000), "1MB");
        assert_eq!(human_size(1_048_576), "1.049MB");
        assert_eq!(human_size(3_420_000_000), "3.42GB");
        assert_eq!(human_size_with_precision(1e13 * 1e15, 4), "1e+04YB");
        assert_eq!(go_fmt_g(0.0001234, 3), "0.000123");
        assert_eq!(go_fmt_g(0.00001234, 3), "1.23e-05");
        assert_eq!(go_fmt_g(12.0, 3), "12");
    }

    /// Go's `parseDurationTests` and `parseDurationErrorTests`.
    #[test]
    fn durations_parse_like_go() {
        const NS: i64 = GoDuration::NANOSECOND;
        const US: i64 = GoDuration::MICROSECOND;
        const MS: i64 = GoDuration::MILLISECOND;
        const S: i64 = GoDuration::SECOND;
        const M: i64 = GoDuration::MINUTE;
        const H: i64 = GoDuration::HOUR;
        for (input, want) in [
            ("0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("1478s", 1478 * S),
            ("-5s", -5 * S),
            ("+5s", 5 * S),
            ("-0", 0),
            ("+0", 0),
            ("5.0s", 5 * S),
            ("5.6s", 5 * S + 600 * MS),
            ("5.s", 5 * S),
            (".5s", 500 * MS),
            ("1.0s", S),
            ("1.00s", S),
            ("1.004s", S + 4 * MS),
            ("1.0040s", S + 4 * MS),
            ("100.00100s", 100 * S + MS),
            ("10ns", 10 * NS),
            ("11us", 11 * US),
            ("12\u{b5}s", 12 * US),
            ("12\u{3bc}s", 12 * US),
            ("13ms", 13 * MS),
            ("14s", 14 * S),
            ("15m", 15 * M),
            ("16h", 16 * H),
            ("3h30m", 3 * H + 30 * M),
            ("10.5s4m", 4 * M + 10 * S + 500 * MS),
            ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
            (
                "1h2m3s4ms5us6ns",
                H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS,
            ),
            ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 20 * M),
            ("9007199254740993ns", (1 << 53) + 1),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("-9223372036s854ms775us808ns", i64::MIN),
            ("-2562047h47m16.854775808s", i64::MIN),
            ("0.100000000000000000000h", 6 * M),
            ("0.830103483285477580700h", 49 * M + 48 * S + 372_539_827),
            ("1h30m", 90 * M),
            ("500ms", 500 * MS),
            ("1.5s", 1500 * MS),
        ] {
            assert_eq!(parse_duration(input), Ok(GoDuration(want)), "{input:?}");
        }
        for input in [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "\u{85}\u{85}",
            "\u{ff}ff",
            "hello \u{ff}ff world",
            "9223372036854775808ns",
            "9223372036854775.808us",
            "9223372036854ms775us808ns",
            "-9223372036854775809ns",
            " 1s",
            "1s ",
            "1 s",
        ] {
            assert!(parse_duration(input).is_err(), "{input:?}");
        }
        for (input, err) in [
            ("", r#"time: invalid duration """#),
            ("\"", r#"time: invalid duration "\"""#),
            ("\"0", r#"time: invalid duration "\"0""#),
            ("0z", r#"time: unknown unit "z" in duration "0z""#),
            (
                "0\u{ff}",
                r#"time: unknown unit "\xc3\xbf" in duration "0\xc3\xbf""#,
            ),
            ("90", r#"time: missing unit in duration "90""#),
            ("2d", r#"time: unknown unit "d" in duration "2d""#),
            ("abc", r#"time: invalid duration "abc""#),
        ] {
            assert_eq!(parse_duration(input), Err(err.to_string()), "{input:?}");
        }
    }

    #[test]
    fn go_durations_convert() {
        let d = |s| parse_duration(s).unwrap();
        assert_eq!(d("500ms").ceil_secs(), 1);
        assert_eq!(d("2s").ceil_secs(), 2);
        assert_eq!(d("-1.5s").ceil_secs(), -1);
        assert_eq!(d("1.5s").as_secs_f64(), 1.5);
        assert_eq!(d("5m").to_std(), Some(Duration::from_secs(300)));
        assert_eq!(d("-5m").to_std(), None);
    }

    #[test]
    fn durations_read_like_go_units() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(47)), "47 seconds");
        assert_eq!(human_duration(s(80)), "About a minute");
        assert_eq!(human_duration(s(12 * 60)), "12 minutes");
        assert_eq!(human_duration(s(65 * 60)), "About an hour");
        assert_eq!(human_duration(s(5 * 3600)), "5 hours");
        assert_eq!(human_duration(s(3 * 86400)), "3 days");
        assert_eq!(human_duration(s(59)), "59 seconds");
        assert_eq!(human_duration(s(60)), "About a minute");
        assert_eq!(human_duration(s(119)), "About a minute");
        assert_eq!(human_duration(s(120)), "2 minutes");
        assert_eq!(human_duration(s(59 * 60)), "59 minutes");
        assert_eq!(human_duration(s(60 * 60)), "About an hour");
        assert_eq!(human_duration(s(90 * 60)), "2 hours");
        assert_eq!(human_duration(s(47 * 3600)), "47 hours");
        assert_eq!(human_duration(s(48 * 3600)), "2 days");
        assert_eq!(human_duration(s(14 * 24 * 3600)), "2 weeks");
        assert_eq!(human_duration(s(60 * 24 * 3600)), "2 months");
        assert_eq!(human_duration(s(800 * 24 * 3600)), "2 years");
    }
}
