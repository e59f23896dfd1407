//! Timestamps as Docker writes them: RFC 3339 in UTC with nanoseconds.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Docker's zero time, shown for containers that never started or finished.
pub const ZERO: &str = "0001-01-01T00:00:00Z";

pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Docker's `units.HumanDuration` (go-units), used in `ps` status texts.
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    let hours = d.num_hours();
    if secs < 1 {
        "Less than a second".into()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if d.num_minutes() == 1 {
        "About a minute".into()
    } else if d.num_minutes() < 60 {
        format!("{} minutes", d.num_minutes())
    } else if (d.num_minutes() as f64 / 60.0).round() == 1.0 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn durations_read_like_go_units() {
        assert_eq!(
            human_duration(Duration::milliseconds(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::seconds(1)), "1 second");
        assert_eq!(human_duration(Duration::seconds(47)), "47 seconds");
        assert_eq!(human_duration(Duration::seconds(80)), "About a minute");
        assert_eq!(human_duration(Duration::minutes(12)), "12 minutes");
        assert_eq!(human_duration(Duration::minutes(65)), "About an hour");
        assert_eq!(human_duration(Duration::hours(5)), "5 hours");
        assert_eq!(human_duration(Duration::days(3)), "3 days");
    }

    #[test]
    fn timestamps_round_trip() {
        let now = now_rfc3339();
        assert!(now.ends_with('Z'));
        assert!(parse(&now).is_some());
    }
}
