//! `search TERM` (docker/cli 28 `registry/search.go`, `formatter/search.go`):
//! the daemon's search with the stored credentials, the table cut as docker cuts it.

use super::registry::{credentials_for, EMPTY_AUTH};
use crate::client::{Client, Query};
use crate::commands::{filters_json, CmdResult, Failure};
use clap::Args;

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(
        long,
        value_name = "int",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub limit: i64,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(value_name = "TERM")]
    pub term: String,
}

fn fail(m: impl Into<String>) -> Failure {
    Failure::new(m, 1)
}

/// docker/cli's `defaultSearchTableFormat`.
pub const SEARCH_DEFAULT: &str =
    "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";
pub const SEARCH_HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("StarCount", "STARS"),
    ("IsOfficial", "OFFICIAL"),
];

/// Columns a character takes on a terminal: 2 for East Asian wide and
/// full-width characters (what `golang.org/x/text/width` calls them), else 1.
fn char_width(c: char) -> usize {
    let c = c as u32;
    let wide = matches!(c,
        0x1100..=0x115F | 0x231A..=0x231B | 0x2329..=0x232A | 0x23E9..=0x23EC
        | 0x23F0 | 0x23F3 | 0x25FD..=0x25FE | 0x2614..=0x2615 | 0x2648..=0x2653
        | 0x267F | 0x2693 | 0x26A1 | 0x26AA..=0x26AB | 0x26BD..=0x26BE
        | 0x26C4..=0x26C5 | 0x26CE | 0x26D4 | 0x26EA | 0x26F2..=0x26F3 | 0x26F5
        | 0x26FA | 0x26FD | 0x2705 | 0x270A..=0x270B | 0x2728 | 0x274C | 0x274E
        | 0x2753..=0x2755 | 0x2757 | 0x2795..=0x2797 | 0x27B0 | 0x27BF
        | 0x2B1B..=0x2B1C | 0x2B50 | 0x2B55 | 0x2E80..=0x303E | 0x3041..=0x33FF
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xA960..=0xA97F
        | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE10..=0xFE19 | 0xFE30..=0xFE6F
        | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x16FE0..=0x18CFF | 0x1B000..=0x1B2FF
        | 0x1F004 | 0x1F0CF | 0x1F18E | 0x1F191..=0x1F19A | 0x1F200..=0x1F251
        | 0x1F300..=0x1F64F | 0x1F680..=0x1F6FF | 0x1F7E0..=0x1F7EB
        | 0x1F90C..=0x1F9FF | 0x1FA70..=0x1FAFF | 0x20000..=0x2FFFD | 0x30000..=0x3FFFD);
    if wide {
        2
    } else {
        1
    }
}

/// docker/cli's `formatter.Ellipsis`: cut `s` to `max` display columns, the
/// last one an `…`.
pub fn ellipsis_width(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    if max == 1 {
        return s.chars().take(1).collect();
    }
    let total: usize = s.chars().map(char_width).sum();
    if total <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        used += char_width(c);
        if used > max - 1 {
            break;
        }
        out.push(c);
    }
    if out.is_empty() {
        // Not even one character fits before the `…`: Go gives up, uncut.
        return s.to_string();
    }
    out.push('…');
    out
}

/// One row of `search` (docker/cli's `searchContext`); `json` for
/// `--format json`, where `IsOfficial` is `true`/`false`.
pub fn search_row(
    r: &shared::api::SearchResult,
    trunc: bool,
    json: bool,
) -> crate::format::table::Row {
    let description = r.description.replace(['\n', '\r'], " ");
    let description = if trunc {
        ellipsis_width(&description, 45)
    } else {
        description
    };
    let official = match (r.is_official, json) {
        (true, true) => "true",
        (true, false) => "[OK]",
        (false, true) => "false",
        (false, false) => "",
    };
    [
        ("Name", r.name.clone()),
        ("Description", description),
        ("StarCount", r.star_count.to_string()),
        ("IsOfficial", official.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// `docker search TERM`.
pub async fn search(client: &Client, a: &SearchArgs) -> CmdResult {
    // docker/cli's `FilterOpt`: an empty value is no filter; one without `=`
    // is a usage error of the flag.
    let given: Vec<String> = a.filter.iter().filter(|f| !f.is_empty()).cloned().collect();
    if let Some(bad) = given.iter().find(|f| !f.contains('=')) {
        return Err(Failure::new(
            format!(
                "invalid argument \"{bad}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)\n\nUsage:  docker search [OPTIONS] TERM\n\nRun 'docker search --help' for more information"
            ),
            125,
        ));
    }
    let filters = filters_json(&given).map_err(fail)?;
    if a.filter.iter().any(|f| {
        f.split_once('=')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("is-automated"))
    }) {
        eprintln!("WARNING: the \"is-automated\" filter is deprecated, and searching for \"is-automated=true\" will not yield any results in future.");
    }
    let key = engine::registry::search::SearchTerm::parse(&a.term).auth_key();
    let creds = credentials_for(&key);
    let auth = if creds.is_anonymous() {
        EMPTY_AUTH.to_string()
    } else {
        creds.to_header()
    };
    let q = Query::new()
        .set("term", a.term.clone())
        .set_if(a.limit > 0, "limit", a.limit.to_string())
        .set_if(filters.is_some(), "filters", filters.unwrap_or_default());
    let resp = client
        .request(
            hyper::Method::GET,
            "/images/search",
            &q,
            vec![("X-Registry-Auth", auth)],
            crate::client::empty(),
        )
        .await?;
    let results: Vec<shared::api::SearchResult> = crate::client::json_body(resp).await?;
    let format = match a.format.as_deref().unwrap_or("") {
        "" | "table" => SEARCH_DEFAULT.to_string(),
        f => f.to_string(),
    };
    // `json` and `{{json .}}` marshal docker's context, whose booleans are
    // then `true`/`false`.
    let json = format == "json" || format.replace(' ', "").contains("{{json.}}");
    let rows: Vec<_> = results
        .iter()
        .map(|r| search_row(r, !a.no_trunc, json))
        .collect();
    print!(
        "{}",
        crate::format::table::render(&format, &rows, SEARCH_HEADERS)?
    );
    Ok(0)
}

#[cfg(test)]
mod search_tests {
    use super::*;

    #[test]
    fn descriptions_are_cut_to_45_columns_as_docker_cuts_them() {
        let long =
            "The team's application server, with a description longer than forty-five characters";
        assert_eq!(
            ellipsis_width(long, 45),
            "The team's application server, with a descri…"
        );
        assert_eq!(ellipsis_width(long, 45).chars().count(), 45);
        assert_eq!(ellipsis_width("short", 45), "short");
        let wide = "日本語".repeat(10);
        assert_eq!(ellipsis_width(&wide, 7), "日本語…");
        let r = shared::api::SearchResult {
            name: "app".into(),
            description: "two\nlines".into(),
            star_count: 7,
            is_official: true,
            ..Default::default()
        };
        let row = search_row(&r, true, false);
        assert_eq!(row["Description"], "two lines");
        assert_eq!(row["IsOfficial"], "[OK]");
        assert_eq!(search_row(&r, true, true)["IsOfficial"], "true");
    }
}
