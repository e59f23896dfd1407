//! moby's filter semantics shared by the list and prune endpoints: different
//! keys must all pass; values of one key are alternatives, except `label`,
//! whose values must all match, and `label!`, none of whose values may.
//! `until` takes what moby's `GetTimestamp` takes.

use std::collections::BTreeMap;

use crate::container::Filters;

/// One `label` filter value (`key` or `key=value`) against a set of labels.
pub fn label_matches(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

/// Every `label` value matches and no `label!` value does.
pub fn labels_pass(labels: &BTreeMap<String, String>, f: &Filters) -> bool {
    let all = f
        .get("label")
        .is_none_or(|vals| vals.iter().all(|v| label_matches(labels, v)));
    let none = f
        .get("label!")
        .is_none_or(|vals| !vals.iter().any(|v| label_matches(labels, v)));
    all && none
}

/// Refuse keys outside `allowed` with moby's text.
pub fn check_keys(f: &Filters, allowed: &[&str]) -> Result<(), String> {
    match f.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("invalid filter '{k}'")),
        None => Ok(()),
    }
}

/// A point in time as moby's `GetTimestamp` reads it, in Unix nanoseconds: a
/// Go duration before `now` (`24h`, `10m`), RFC 3339, or Unix seconds with an
/// optional fraction (`1700000000.123456789`, what the docker CLI sends).
pub fn parse_timestamp(s: &str, now_nanos: i64) -> Result<i64, String> {
    let bad = || format!("invalid timestamp {s:?}");
    // As moby: "0" is the epoch, not a zero duration.
    if let Ok(d) = shared::units::parse_duration(s)
        .map_err(|_| ())
        .and_then(|d| if s == "0" { Err(()) } else { Ok(d) })
    {
        return now_nanos.checked_sub(d.0).ok_or_else(bad);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt().ok_or_else(bad);
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    secs.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(nanos))
        .ok_or_else(bad)
}

/// The `until` filter of a prune: things created before the earliest
/// value pass (moby takes one value; with several, all must hold).
pub fn until_cutoff(f: &Filters, now_nanos: i64) -> Result<Option<i64>, String> {
    let Some(vals) = f.get("until") else {
        return Ok(None);
    };
    let mut cutoff: Option<i64> = None;
    for v in vals {
        let t = parse_timestamp(v, now_nanos)?;
        cutoff = Some(cutoff.map_or(t, |c| c.min(t)));
    }
    Ok(cutoff)
}

/// Nanoseconds since the epoch of an RFC 3339 creation time (0 when unreadable).
pub fn created_nanos(created: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(created)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
}

pub fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &[&str])]) -> Filters {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn labels_must_all_match_and_negations_must_not() {
        let labels = BTreeMap::from([
            ("com.docker.compose.project".to_string(), "cmp".to_string()),
            ("com.docker.compose.service".to_string(), "web".to_string()),
        ]);
        assert!(labels_pass(&labels, &f(&[])));
        assert!(labels_pass(
            &labels,
            &f(&[(
                "label",
                &[
                    "com.docker.compose.project=cmp",
                    "com.docker.compose.service"
                ]
            )])
        ));
        // Compose v1's `ps`: project AND service, never OR.
        assert!(!labels_pass(
            &labels,
            &f(&[(
                "label",
                &[
                    "com.docker.compose.project=cmp",
                    "com.docker.compose.service=nosuch"
                ]
            )])
        ));
        assert!(!labels_pass(
            &labels,
            &f(&[("label!", &["com.docker.compose.service=web"])])
        ));
        assert!(labels_pass(
            &labels,
            &f(&[("label!", &["other", "com.docker.compose.service=db"])])
        ));
    }

    #[test]
    fn timestamps_read_as_moby_reads_them() {
        let now = 1_700_000_000_000_000_000;
        assert_eq!(parse_timestamp("12", now).unwrap(), 12_000_000_000);
        assert_eq!(parse_timestamp("12.5", now).unwrap(), 12_500_000_000);
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:10Z", now).unwrap(),
            10_000_000_000
        );
        assert_eq!(parse_timestamp("10m", now).unwrap(), now - 600_000_000_000);
        assert!(parse_timestamp("soon", now).is_err());
        assert!(parse_timestamp("1.0000000001", now).is_err());
        assert_eq!(
            until_cutoff(&f(&[("until", &["10m", "5m"])]), now).unwrap(),
            Some(now - 600_000_000_000)
        );
        assert_eq!(
            check_keys(&f(&[("nope", &["x"])]), &["label"]).unwrap_err(),
            "invalid filter 'nope'"
        );
    }
}
