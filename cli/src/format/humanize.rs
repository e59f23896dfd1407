//! Human-readable sizes, durations and times, byte-for-byte as docker's
//! `go-units` (`HumanDuration`, `HumanSizeWithPrecision`, both in
//! `shared::units`) and Go's `time.Time.String`.

use std::time::Duration;

pub use shared::units::{go_fmt_g, human_duration, human_size_with_precision};

/// `HumanDuration(now - unix_secs) + " ago"`, as the CREATED columns print it.
pub fn time_ago(unix_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let d = (now - unix_secs as f64).max(0.0);
    format!("{} ago", human_duration(Duration::from_secs_f64(d)))
}

/// docker's usual size rendering (precision 3): `4.26MB`, `0B`, `1.23kB`.
pub fn human_size(size: i64) -> String {
    human_size_with_precision(size as f64, 3)
}

/// Go's `time.Unix(secs, 0).String()` in the local zone:
/// `2024-05-01 10:20:30 +0200 CEST`.
pub fn go_time_string(unix_secs: i64) -> String {
    let (offset, zone) = local_zone(unix_secs);
    let Some(t) = chrono::DateTime::from_timestamp(unix_secs, 0) else {
        return unix_secs.to_string();
    };
    let local = t.with_timezone(&offset);
    format!("{} {}", local.format("%Y-%m-%d %H:%M:%S %z"), zone)
}

/// Offset and abbreviation (`UTC`, `CEST`) of the local zone at an instant, from libc.
fn local_zone(unix_secs: i64) -> (chrono::FixedOffset, String) {
    let utc = chrono::FixedOffset::east_opt(0).expect("zero offset is valid");
    // `time_t` by inference: naming it is deprecated on musl.
    let t = unix_secs as _;
    // SAFETY: `tm` is plain old data that localtime_r fills in; both pointers are
    // valid for the call, and tm_zone points at static zone-name storage.
    let (off, name) = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return (utc, "UTC".to_string());
        }
        let name = if tm.tm_zone.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(tm.tm_zone)
                .to_string_lossy()
                .into_owned()
        };
        (tm.tm_gmtoff, name)
    };
    let offset = chrono::FixedOffset::east_opt(off as i32).unwrap_or(utc);
    let name = if name.is_empty() {
        "UTC".to_string()
    } else {
        name
    };
    (offset, name)
}

/// Go's RFC 3339 rendering of a unix time in the local zone (`history -H=false`).
pub fn rfc3339_local(unix_secs: i64) -> String {
    let (offset, _) = local_zone(unix_secs);
    match chrono::DateTime::from_timestamp(unix_secs, 0) {
        Some(t) => t
            .with_timezone(&offset)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        None => unix_secs.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_three_significant_digits() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1234), "1.23kB");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(77_800_000), "77.8MB");
        assert_eq!(human_size(1_500_000_000), "1.5GB");
        // Go rounds 999.999 to four digits and switches to exponent form.
        assert_eq!(human_size(999_999), "1e+03kB");
    }

    #[test]
    fn go_g_format_matches_go() {
        assert_eq!(go_fmt_g(0.0001234, 3), "0.000123");
        assert_eq!(go_fmt_g(0.00001234, 3), "1.23e-05");
        assert_eq!(go_fmt_g(12.0, 3), "12");
        assert_eq!(go_fmt_g(123.456, 3), "123");
    }

    #[test]
    fn go_time_string_has_zone_abbreviation() {
        let s = go_time_string(0);
        // e.g. "1970-01-01 00:00:00 +0000 UTC"
        assert!(s.len() >= 29, "{s}");
        assert!(
            s.starts_with("1970-01-01") || s.starts_with("1969-12-31"),
            "{s}"
        );
    }
}
