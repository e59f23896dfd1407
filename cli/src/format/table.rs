//! docker/cli's `formatter.Context`: `--format` is `table TEMPLATE`, `json`, or a
//! plain template; tables get a header row rendered with the header functions and
//! are aligned by a tabwriter configured as docker's (`minwidth 10, tabwidth 1,
//! padding 3, ' '`).

use super::template::{header_map, object, Tmpl};
use std::collections::BTreeMap;
use std::io::Write;

/// One row: field name -> rendered cell, as docker's `*Context` methods return.
pub type Row = BTreeMap<String, String>;

/// Go's tabwriter gives each column `max(cell + padding, minwidth)`; the Rust
/// tabwriter gives `max(cell, minwidth) + padding`, so take the padding off.
pub fn go_tabwriter(minwidth: usize, padding: usize) -> tabwriter::TabWriter<Vec<u8>> {
    tabwriter::TabWriter::new(Vec::new())
        .minwidth(minwidth.saturating_sub(padding))
        .padding(padding)
}

/// Run text through docker's table tabwriter.
pub fn align(text: &str) -> String {
    let mut tw = go_tabwriter(10, 3);
    let _ = tw.write_all(text.as_bytes());
    let _ = tw.flush();
    String::from_utf8_lossy(&tw.into_inner().unwrap_or_default()).into_owned()
}

/// `table` prefix stripped, trimmed, `\t` and `\n` escapes turned into characters.
fn pre_format(format: &str) -> (bool, String) {
    let (table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest),
        None => (false, format),
    };
    let body = body
        .trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n");
    (table, body)
}

/// Render rows through a docker-style format.
pub fn render(format: &str, rows: &[Row], headers: &[(&str, &str)]) -> Result<String, String> {
    if format == "json" {
        let mut out = String::new();
        for r in rows {
            out.push_str(&serde_json::to_string(r).map_err(|e| e.to_string())?);
            out.push('\n');
        }
        return Ok(out);
    }
    let (table, body) = pre_format(format);
    let tmpl = Tmpl::parse(&body)?;
    let mut buf = String::new();
    for r in rows {
        let fields: Vec<(String, String)> = r.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        buf.push_str(&tmpl.render(&object(&fields))?);
        buf.push('\n');
    }
    if !table {
        return Ok(buf);
    }
    let head = Tmpl::parse_header(&body)?.render(&header_map(headers))?;
    Ok(align(&format!("{head}\n{buf}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> Row {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn table_pads_columns_like_go_tabwriter() {
        let rows = vec![
            row(&[("A", "x"), ("B", "long value here")]),
            row(&[("A", "yyyy"), ("B", "z")]),
        ];
        let out = render("table {{.A}}\\t{{.B}}", &rows, &[("A", "AA"), ("B", "BB")]).unwrap();
        // Column A is narrower than minwidth 10, so it is padded to 10.
        assert_eq!(
            out,
            "AA        BB\nx         long value here\nyyyy      z\n"
        );
    }

    #[test]
    fn wide_columns_get_three_spaces_of_padding() {
        let rows = vec![row(&[("A", "abcdefghijkl"), ("B", "1")])];
        let out = render("table {{.A}}\t{{.B}}", &rows, &[("A", "A"), ("B", "B")]).unwrap();
        assert_eq!(out, format!("A{}B\nabcdefghijkl   1\n", " ".repeat(14)));
    }

    #[test]
    fn plain_and_json_formats_have_no_header() {
        let rows = vec![row(&[("ID", "abc"), ("Names", "web")])];
        assert_eq!(
            render("{{.ID}}: {{.Names}}", &rows, &[]).unwrap(),
            "abc: web\n"
        );
        assert_eq!(
            render("json", &rows, &[]).unwrap(),
            "{\"ID\":\"abc\",\"Names\":\"web\"}\n"
        );
    }
}
