//! What gtmpl does not bound, checked before a template is parsed. Go's
//! text/template stops a runaway template with an error (nesting and
//! recursion depth limits, fmt's width limit); gtmpl recurses on the stack
//! until the process dies, or panics inside `format!`. A `--format` from a
//! script or a copied command line must end in an error, never a crash:
//! - actions nested deeper than [`MAX_NESTING`] (`{{if}}` in `{{if}}` ..., or
//!   parentheses in one action);
//! - a `define`d template that reaches itself through `template` or `block`
//!   (Go allows it with a base case; docker's formats never need it);
//! - a literal `printf` format whose width or precision is over
//!   [`MAX_WIDTH`] (Go prints `%!(BADWIDTH)` above a million; Rust's
//!   formatter panics above 65535).

use std::collections::{BTreeMap, BTreeSet};

pub const MAX_NESTING: usize = 100;
pub const MAX_WIDTH: usize = 65_535;

/// The actions of a template: the text between `{{` and `}}`, trim markers
/// and comments removed; quoted strings kept whole (a `}}` inside one does
/// not end the action).
fn actions(text: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let body = &rest[start + 2..];
        let b = body.as_bytes();
        let mut i = 0;
        let mut quote: Option<u8> = None;
        let mut end = None;
        while i < b.len() {
            match quote {
                Some(q) => {
                    if b[i] == b'\\' && q == b'"' {
                        i += 1;
                    } else if b[i] == q {
                        quote = None;
                    }
                }
                None => {
                    if b[i] == b'"' || b[i] == b'`' || b[i] == b'\'' {
                        quote = Some(b[i]);
                    } else if body[i..].starts_with("}}") {
                        end = Some(i);
                        break;
                    }
                }
            }
            i += 1;
        }
        let Some(end) = end else { break };
        let a = body[..end]
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        if !a.starts_with("/*") {
            out.push(a);
        }
        rest = &body[end + 2..];
    }
    out
}

/// The first word of an action and the quoted name after it.
fn keyword_and_name(a: &str) -> (&str, Option<&str>) {
    let word = a.split_whitespace().next().unwrap_or("");
    let name = a[word.len()..]
        .trim_start()
        .strip_prefix('"')
        .and_then(|r| r.split('"').next());
    (word, name)
}

/// Deepest parenthesis nesting outside quotes.
fn paren_depth(a: &str) -> usize {
    let (mut d, mut max, mut quote) = (0usize, 0usize, None);
    for c in a.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '`' | '\'' => quote = Some(c),
                '(' => {
                    d += 1;
                    max = max.max(d);
                }
                ')' => d = d.saturating_sub(1),
                _ => {}
            },
        }
    }
    max
}

/// Widths and precisions of a printf format string.
fn printf_sizes(format: &str) -> Vec<usize> {
    let mut out = vec![];
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        let mut num = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() {
                num.push(n);
            } else if "+-# 0.".contains(n) {
                if !num.is_empty() {
                    out.push(num.parse().unwrap_or(usize::MAX));
                    num.clear();
                }
            } else {
                break;
            }
            chars.next();
        }
        if !num.is_empty() {
            out.push(num.parse().unwrap_or(usize::MAX));
        }
        chars.next();
    }
    out
}

/// The literal format strings passed to printf in an action.
fn printf_formats(a: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut rest = a;
    while let Some(i) = rest.find("printf") {
        rest = rest[i + "printf".len()..].trim_start();
        if let Some(r) = rest.strip_prefix('"') {
            out.push(r.split('"').next().unwrap_or(""));
        } else if let Some(r) = rest.strip_prefix('`') {
            out.push(r.split('`').next().unwrap_or(""));
        }
    }
    out
}

/// Refuse what would crash the renderer; the error follows docker's
/// `template parsing error: ...` form.
pub fn check(text: &str) -> Result<(), String> {
    let err = |m: String| Err(format!("template parsing error: template: {m}"));
    let mut depth = 0usize;
    // The `define`d templates being read, innermost last, and what each calls.
    let mut defining: Vec<Option<String>> = vec![];
    let mut calls: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for a in actions(text) {
        if paren_depth(a) > MAX_NESTING {
            return err(format!("parentheses nested over {MAX_NESTING} deep"));
        }
        for f in printf_formats(a) {
            if printf_sizes(f).iter().any(|&n| n > MAX_WIDTH) {
                return err(format!("printf: width or precision over {MAX_WIDTH}"));
            }
        }
        let (word, name) = keyword_and_name(a);
        match word {
            "if" | "range" | "with" | "define" | "block" => {
                if let ("block", Some(n)) = (word, name) {
                    // A block is a define and a call of it in one.
                    if let Some(Some(cur)) = defining.iter().rev().find(|d| d.is_some()) {
                        calls.entry(cur.clone()).or_default().insert(n.to_string());
                    }
                }
                depth += 1;
                if depth > MAX_NESTING {
                    return err(format!("actions nested over {MAX_NESTING} deep"));
                }
                defining.push(match word {
                    "define" | "block" => name.map(String::from),
                    _ => None,
                });
            }
            "end" => {
                depth = depth.saturating_sub(1);
                defining.pop();
            }
            "template" => {
                if let (Some(n), Some(Some(cur))) =
                    (name, defining.iter().rev().find(|d| d.is_some()))
                {
                    calls.entry(cur.clone()).or_default().insert(n.to_string());
                }
            }
            _ => {}
        }
    }
    // A cycle among the defined templates' calls.
    for start in calls.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = calls[start].iter().collect();
        while let Some(n) = todo.pop() {
            if n == start {
                return err(format!("template {start:?} calls itself"));
            }
            if seen.insert(n) {
                todo.extend(calls.get(n).into_iter().flatten());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_formats_pass() {
        for t in [
            "{{.ID}}\t{{.Names}}",
            "table {{.Repository}}:{{.Tag}}",
            r#"{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}}{{end}}{{end}}"#,
            r#"{{printf "%-20s|%5.2f" .Name 1.5}}"#,
            r#"{{define "a"}}x{{end}}{{template "a"}}{{template "a"}}"#,
            r#"{{json .}} {{/* a comment with {{ */}}"#,
            r#"{{"}}" | printf "%s"}}"#,
        ] {
            assert_eq!(check(t), Ok(()), "{t}");
        }
    }

    #[test]
    fn runaway_templates_are_refused() {
        let deep = "{{if 1}}".repeat(MAX_NESTING + 1) + &"{{end}}".repeat(MAX_NESTING + 1);
        assert!(check(&deep).unwrap_err().contains("nested over 100"));
        let ok = "{{if 1}}".repeat(MAX_NESTING) + &"{{end}}".repeat(MAX_NESTING);
        assert_eq!(check(&ok), Ok(()));
        let parens = format!("{{{{{}1{}}}}}", "(".repeat(101), ")".repeat(101));
        assert!(check(&parens).unwrap_err().contains("parentheses"));
        for t in [
            r#"{{define "a"}}{{template "a"}}{{end}}{{template "a"}}"#,
            r#"{{define "a"}}{{template "b"}}{{end}}{{define "b"}}{{if 1}}{{template "a"}}{{end}}{{end}}"#,
            r#"{{block "a" .}}{{template "a"}}{{end}}"#,
        ] {
            let e = check(t).unwrap_err();
            assert!(
                e.starts_with("template parsing error: ") && e.contains("calls itself"),
                "{t}: {e}"
            );
        }
        for t in [
            r#"{{printf "%0999999999d" 1}}"#,
            r#"{{printf "%.70000f" 1.0}}"#,
            "{{1 | printf `%-70000s`}}",
        ] {
            assert!(check(t).unwrap_err().contains("width or precision"), "{t}");
        }
    }
}
