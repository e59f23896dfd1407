//! Numbers as people read them: the session countdown and sizes.

/// A countdown: `4:05` below an hour, `1:02:03` above, `0:00` when over.
pub fn countdown(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A size the way `docker images` prints it: decimal units, three significant digits.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else if value < 10.0 {
        format!("{value:.2}{}", UNITS[unit])
    } else if value < 100.0 {
        format!("{value:.1}{}", UNITS[unit])
    } else {
        format!("{value:.0}{}", UNITS[unit])
    }
}

/// Minutes in words for notices: `1 minute`, `5 minutes`, `less than a minute`.
pub fn minutes_words(secs: u64) -> String {
    match secs / 60 {
        0 => "less than a minute".to_string(),
        1 => "1 minute".to_string(),
        m => format!("{m} minutes"),
    }
}

/// A length of time in words, to the minute: `4 hours`, `1 hour 30 minutes`, `45 minutes`.
pub fn duration_words(secs: u64) -> String {
    let (h, m) = (secs / 3600, secs / 60 % 60);
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match (h, m) {
        (0, _) => minutes_words(secs),
        (h, 0) => plural(h, "hour"),
        (h, m) => format!("{} {}", plural(h, "hour"), plural(m, "minute")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdown_switches_to_hours_past_sixty_minutes() {
        assert_eq!(countdown(0), "0:00");
        assert_eq!(countdown(245), "4:05");
        assert_eq!(countdown(3599), "59:59");
        assert_eq!(countdown(3723), "1:02:03");
    }

    #[test]
    fn sizes_use_decimal_units_like_docker() {
        assert_eq!(size(999), "999B");
        assert_eq!(size(1_234), "1.23kB");
        assert_eq!(size(4_260_000), "4.26MB");
        assert_eq!(size(77_800_000), "77.8MB");
        assert_eq!(size(187_000_000), "187MB");
    }

    #[test]
    fn durations_are_worded_in_hours_and_minutes() {
        assert_eq!(duration_words(14_400), "4 hours");
        assert_eq!(duration_words(5_400), "1 hour 30 minutes");
        assert_eq!(duration_words(3_660), "1 hour 1 minute");
        assert_eq!(duration_words(2_700), "45 minutes");
    }

    #[test]
    fn minutes_are_worded() {
        assert_eq!(minutes_words(59), "less than a minute");
        assert_eq!(minutes_words(60), "1 minute");
        assert_eq!(minutes_words(300), "5 minutes");
    }
}
