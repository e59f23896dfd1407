//! `inspect` (generic, container and image) and the printing every inspect
//! shares: the daemon's raw JSON re-indented as Go's `json.Indent(..., "", "    ")`,
//! or a `--format` template.

use crate::client::{body_bytes, path_escape, Client, ClientError, Query};
use crate::commands::{CmdResult, Failure};
use crate::format::template::render_json;
use clap::Args;
use serde_json::Value;
use std::io::Write;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// Return JSON for specified type
    #[arg(long = "type", value_name = "string")]
    pub kind: Option<String>,
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// Go's `json.Indent(dst, src, "", indent)`: keeps strings and numbers byte for
/// byte, drops insignificant whitespace, prints empty `{}` and `[]` compactly.
pub fn json_indent(src: &str, indent: &str) -> String {
    let mut out = String::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut need_indent = false;
    let mut in_str = false;
    let mut escaped = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    for c in src.chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        if need_indent && c != ']' && c != '}' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                need_indent = true;
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            '}' | ']' => {
                if need_indent {
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Print inspect results as docker's inspectors do.
pub fn print_inspect(raws: &[String], format: Option<&str>) -> Result<(), String> {
    let mut out = std::io::stdout();
    match format.filter(|f| !f.is_empty()) {
        None | Some("json") => {
            let joined = format!("[{}]", raws.join(","));
            let _ = writeln!(out, "{}", json_indent(&joined, "    "));
        }
        Some(f) => {
            for raw in raws {
                let v: Value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
                let s = render_json(f, &v)?;
                let _ = writeln!(out, "{s}");
            }
        }
    }
    Ok(())
}

/// `network inspect`, `volume inspect`: each object at `{prefix}/{name}`, printed
/// as `inspect` prints, errors collected per name.
pub async fn inspect_each(
    client: &Client,
    prefix: &str,
    names: &[String],
    format: Option<&str>,
) -> CmdResult {
    let mut raws = Vec::new();
    let mut errs = Vec::new();
    for n in names {
        match get_raw(
            client,
            &format!("{prefix}/{}", crate::client::path_escape(n)),
            &Query::new(),
        )
        .await
        {
            Ok(raw) => raws.push(raw),
            Err(e) => errs.push(e.to_string()),
        }
    }
    print_inspect(&raws, format)?;
    crate::commands::collect_errors(errs)
}

async fn get_raw(client: &Client, path: &str, q: &Query) -> Result<String, ClientError> {
    let resp = client.get(path, q).await?;
    let b = body_bytes(resp).await?;
    Ok(String::from_utf8_lossy(&b).trim_end().to_string())
}

pub async fn inspect(client: &Client, a: &InspectArgs, forced: Option<&str>) -> CmdResult {
    let kind = forced.or(a.kind.as_deref());
    if let Some(k) = kind {
        if k != "container" && k != "image" {
            return Err(Failure::new(
                format!("\"{k}\" is not a valid value for --type"),
                1,
            ));
        }
    }
    let mut raws = Vec::new();
    let mut errs = Vec::new();
    for name in &a.names {
        let cq = Query::new().set_if(a.size, "size", "1");
        let cpath = format!("/containers/{}/json", path_escape(name));
        let ipath = format!("/images/{}/json", path_escape(name));
        let r = match kind {
            Some("container") => get_raw(client, &cpath, &cq)
                .await
                .map_err(|e| e.to_string()),
            Some(_) => get_raw(client, &ipath, &Query::new())
                .await
                .map_err(|e| e.to_string()),
            None => match get_raw(client, &cpath, &cq).await {
                Err(e) if e.is_not_found() => match get_raw(client, &ipath, &Query::new()).await {
                    Err(e) if e.is_not_found() => Err(format!("Error: No such object: {name}")),
                    other => other.map_err(|e| e.to_string()),
                },
                other => other.map_err(|e| e.to_string()),
            },
        };
        match r {
            Ok(raw) => raws.push(raw),
            Err(e) => {
                if matches!(e.as_str(), s if s.starts_with("Cannot connect")) {
                    return Err(Failure::new(e, 1));
                }
                errs.push(e)
            }
        }
    }
    print_inspect(&raws, a.format.as_deref())?;
    if errs.is_empty() {
        Ok(0)
    } else {
        Err(Failure::new(errs.join("\n"), 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indent_matches_go_json_indent() {
        let raw =
            r#"{"Id":"x","Args":[],"State":{"Pid":1,"Err":"a\"b, c: {d}"},"Labels":{},"L":[1,2]}"#;
        let expected = r#"{
    "Id": "x",
    "Args": [],
    "State": {
        "Pid": 1,
        "Err": "a\"b, c: {d}"
    },
    "Labels": {},
    "L": [
        1,
        2
    ]
}"#;
        assert_eq!(json_indent(raw, "    "), expected);
        assert_eq!(json_indent("[]", "    "), "[]");
    }
}
