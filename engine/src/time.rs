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

/// Docker's `units.HumanDuration` for a chrono duration (negative counts as zero).
pub fn human_duration(d: chrono::Duration) -> String {
    shared::units::human_duration(d.to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_durations_count_as_zero() {
        assert_eq!(
            human_duration(chrono::Duration::seconds(-5)),
            "Less than a second"
        );
        assert_eq!(
            human_duration(chrono::Duration::seconds(90)),
            "About a minute"
        );
    }

    #[test]
    fn timestamps_round_trip() {
        let now = now_rfc3339();
        assert!(now.ends_with('Z'));
        assert!(parse(&now).is_some());
    }
}
