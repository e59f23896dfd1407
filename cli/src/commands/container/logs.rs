//! `logs` (docker/cli 28 `container/logs.go`), with `--since` and `--until` read
//! as docker's `timetypes.GetTimestamp` reads them.

use super::cpath;
use crate::client::{body_stream, Client, Query};
use crate::commands::{parse_go_duration, CmdResult};
use crate::stream;
use clap::Args;
use futures_util::StreamExt;
use shared::api::ContainerInspect;

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since timestamp or relative (e.g. 42m for 42 minutes)
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, value_name = "string", default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs before a timestamp or relative (e.g. 42m for 42 minutes)
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// docker's `timetypes.GetTimestamp`: Go durations are relative to now, dates and
/// RFC 3339 times become unix seconds, anything else is passed on.
pub fn get_timestamp(value: &str, now_unix: f64) -> String {
    if let Some(d) = parse_go_duration(value) {
        let t = now_unix - d;
        return format!("{}.{:09}", t.floor() as i64, ((t - t.floor()) * 1e9) as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return format!("{}.{:09}", t.and_utc().timestamp(), 0);
        }
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S") {
        return format!("{}.{:09}", t.and_utc().timestamp(), 0);
    }
    value.to_string()
}

pub async fn logs(client: &Client, a: &LogsArgs) -> CmdResult {
    let c: ContainerInspect = client
        .get_json(&cpath(&a.container, "/json"), &Query::new())
        .await?;
    let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    let q = Query::new()
        .set("stdout", "1")
        .set("stderr", "1")
        .set_if(
            a.since.is_some(),
            "since",
            a.since
                .as_deref()
                .map(|s| get_timestamp(s, now))
                .unwrap_or_default(),
        )
        .set_if(
            a.until.is_some(),
            "until",
            a.until
                .as_deref()
                .map(|s| get_timestamp(s, now))
                .unwrap_or_default(),
        )
        .set_if(a.timestamps, "timestamps", "1")
        .set_if(a.details, "details", "1")
        .set_if(a.follow, "follow", "1")
        .set("tail", a.tail.clone());
    let resp = client.get(&cpath(&a.container, "/logs"), &q).await?;
    let mut s = body_stream(resp);
    let mut sink = stream::OutputSink::new(c.config.tty, std::io::stdout(), std::io::stderr());
    while let Some(chunk) = s.next().await {
        let chunk = chunk?;
        if sink.push(&chunk).is_err() {
            break;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_durations_and_dates() {
        assert_eq!(get_timestamp("10m", 1000.0), "400.000000000");
        assert_eq!(get_timestamp("1h30m", 10000.0), "4600.000000000");
        assert_eq!(
            get_timestamp("1970-01-02T00:00:00Z", 0.0),
            "86400.000000000"
        );
        assert_eq!(get_timestamp("1700000000", 0.0), "1700000000");
        assert_eq!(parse_go_duration("1.5s"), Some(1.5));
        assert_eq!(parse_go_duration("abc"), None);
    }
}
