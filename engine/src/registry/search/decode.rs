//! Reading a registry's search answer as docker's Go decoder does, with its
//! error texts.

use super::*;

/// An index ready to be asked.
pub(super) struct Index<'a> {
    pub(super) session: Session<'a>,
    /// `scheme://host[:port]`
    pub(super) base: String,
    /// A standalone registry over HTTPS: Basic auth on every request, with
    /// whatever credentials there are (moby's `alwaysSetBasicAuth`).
    pub(super) basic_always: bool,
}

// ----- the index's answer, decoded as Go decodes it --------------------------------

/// How Go's JSON errors name a value of the wrong type.
pub(super) fn go_value_kind(v: &Value, into_int: bool) -> String {
    match v {
        Value::String(_) => "string".into(),
        Value::Number(n) if into_int => format!("number {n}"),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
        Value::Null => "null".into(),
    }
}

pub(super) fn type_error(v: &Value, into_int: bool, field: Option<&str>, go_type: &str) -> String {
    let kind = go_value_kind(v, into_int);
    match field {
        Some(f) => {
            format!("json: cannot unmarshal {kind} into Go struct field {f} of type {go_type}")
        }
        None => format!("json: cannot unmarshal {kind} into Go value of type {go_type}"),
    }
}

/// A struct field of an object, matched as Go matches keys (exactly, else
/// case-insensitively).
pub(super) fn field<'v>(m: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    m.get(name).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

pub(super) fn int_field(
    m: &Map<String, Value>,
    name: &str,
    path: &str,
) -> std::result::Result<i64, String> {
    match field(m, name) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| type_error(v, v.is_number(), Some(path), "int")),
    }
}

pub(super) fn bool_field(
    m: &Map<String, Value>,
    name: &str,
    path: &str,
) -> std::result::Result<bool, String> {
    match field(m, name) {
        None | Some(Value::Null) => Ok(false),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| type_error(v, false, Some(path), "bool")),
    }
}

pub(super) fn string_field(
    m: &Map<String, Value>,
    name: &str,
    path: &str,
) -> std::result::Result<String, String> {
    match field(m, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(v) => v
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| type_error(v, false, Some(path), "string")),
    }
}

/// Go's text for a syntax error at the start of a document.
pub(super) fn go_syntax_error(body: &[u8], e: &serde_json::Error) -> String {
    if e.is_eof() {
        return "unexpected EOF".into();
    }
    let first = String::from_utf8_lossy(body)
        .chars()
        .find(|c| !matches!(c, ' ' | '\t' | '\r' | '\n'));
    match first {
        Some(c) if !matches!(c, '{' | '[' | '"' | '-' | '0'..='9' | 't' | 'f' | 'n') => {
            let shown = match c {
                '\'' => "'\\''".to_string(),
                '"' => "'\"'".to_string(),
                c => format!("'{c}'"),
            };
            format!("invalid character {shown} looking for beginning of value")
        }
        _ => e.to_string(),
    }
}

/// moby's `SearchResults` from the body of `/v1/search`: its first JSON
/// value (what follows is not read), unknown fields ignored.
pub fn decode_results(body: &[u8]) -> std::result::Result<Vec<SearchResult>, String> {
    let v = match serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .next()
    {
        None => return Err("EOF".into()),
        Some(Err(e)) => return Err(go_syntax_error(body, &e)),
        Some(Ok(v)) => v,
    };
    let top = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Object(m) => m,
        other => return Err(type_error(&other, false, None, "registry.SearchResults")),
    };
    string_field(&top, "query", "SearchResults.query")?;
    int_field(&top, "num_results", "SearchResults.num_results")?;
    let items = match field(&top, "results") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(v) => {
            return Err(type_error(
                v,
                false,
                Some("SearchResults.results"),
                "[]registry.SearchResult",
            ))
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let m = match item {
            Value::Null => {
                out.push(SearchResult::default());
                continue;
            }
            Value::Object(m) => m,
            v => {
                return Err(type_error(
                    v,
                    false,
                    Some("SearchResults.results"),
                    "registry.SearchResult",
                ))
            }
        };
        out.push(SearchResult {
            star_count: int_field(m, "star_count", "SearchResult.results.star_count")?,
            is_official: bool_field(m, "is_official", "SearchResult.results.is_official")?,
            name: string_field(m, "name", "SearchResult.results.name")?,
            is_automated: bool_field(m, "is_automated", "SearchResult.results.is_automated")?,
            description: string_field(m, "description", "SearchResult.results.description")?,
        });
    }
    Ok(out)
}
