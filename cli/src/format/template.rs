//! Go templates for `--format`, through gtmpl, with docker's extra functions
//! (docker/cli `templates/templates.go`: json, split, join, title, lower, upper,
//! pad, truncate) and the header variants used for `table` output.

use gtmpl::{Context, Func, FuncError, Template, Value};
use std::collections::HashMap;

mod guard;

/// Convert JSON into a template value: objects become maps (a missing key prints
/// `<no value>` as in Go's map lookups), numbers stay numbers.
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Value::Map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// Back to JSON for the `json` function. Map keys come out sorted, as Go's
/// encoder writes `map[string]interface{}`.
pub fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into()
            } else if let Some(i) = n.as_i64() {
                i.into()
            } else {
                serde_json::Number::from_f64(n.as_f64().unwrap_or(0.0))
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        Value::Object(o) | Value::Map(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            serde_json::Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), to_json(&o[k])))
                    .collect(),
            )
        }
    }
}

/// A row object (fields error when missing, like a Go struct).
pub fn object(fields: &[(String, String)]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn arg_str(args: &[Value], i: usize, name: &str) -> Result<String, FuncError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        Some(_) => Err(FuncError::Generic(format!(
            "{name}: argument {i} is not a string"
        ))),
        None => Err(FuncError::AtLeastXArgs(name.to_string(), i + 1)),
    }
}

fn arg_int(args: &[Value], i: usize, name: &str) -> Result<i64, FuncError> {
    match args.get(i) {
        Some(Value::Number(n)) => n.as_i64().ok_or(FuncError::UnableToConvertFromValue),
        Some(Value::String(s)) => s.parse().map_err(|_| FuncError::UnableToConvertFromValue),
        Some(_) => Err(FuncError::UnableToConvertFromValue),
        None => Err(FuncError::AtLeastXArgs(name.to_string(), i + 1)),
    }
}

fn f_json(args: &[Value]) -> Result<Value, FuncError> {
    let v = args
        .first()
        .ok_or(FuncError::ExactlyXArgs("json".into(), 1))?;
    Ok(Value::String(to_json(v).to_string()))
}

fn f_split(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "split")?;
    let sep = arg_str(args, 1, "split")?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep.as_str())
            .map(|p| Value::String(p.to_string()))
            .collect()
    };
    Ok(Value::Array(parts))
}

fn f_join(args: &[Value]) -> Result<Value, FuncError> {
    let sep = arg_str(args, 1, "join")?;
    match args.first() {
        Some(Value::Array(a)) => {
            let parts: Vec<String> = a
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            Ok(Value::String(parts.join(&sep)))
        }
        Some(Value::Nil) | Some(Value::NoValue) => Ok(Value::String(String::new())),
        _ => Err(FuncError::Generic(
            "join: first argument must be a list".into(),
        )),
    }
}

/// Go's deprecated `strings.Title`: upper-case the first letter of each word.
pub fn go_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn f_title(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(go_title(&arg_str(args, 0, "title")?)))
}

fn f_lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(arg_str(args, 0, "lower")?.to_lowercase()))
}

fn f_upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(arg_str(args, 0, "upper")?.to_uppercase()))
}

fn f_pad(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "pad")?;
    if s.is_empty() {
        return Ok(Value::String(s));
    }
    let pre = arg_int(args, 1, "pad")?.max(0) as usize;
    let post = arg_int(args, 2, "pad")?.max(0) as usize;
    Ok(Value::String(format!(
        "{}{}{}",
        " ".repeat(pre),
        s,
        " ".repeat(post)
    )))
}

fn f_truncate(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "truncate")?;
    let n = arg_int(args, 1, "truncate")?.max(0) as usize;
    if s.len() < n {
        return Ok(Value::String(s));
    }
    // Go slices bytes; stay on a char boundary.
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Ok(Value::String(s[..end].to_string()))
}

/// Header variants: keep the column title intact.
fn h_identity(args: &[Value]) -> Result<Value, FuncError> {
    Ok(args
        .first()
        .cloned()
        .unwrap_or(Value::String(String::new())))
}

const BASIC: [(&str, Func); 8] = [
    ("json", f_json as Func),
    ("split", f_split as Func),
    ("join", f_join as Func),
    ("title", f_title as Func),
    ("lower", f_lower as Func),
    ("upper", f_upper as Func),
    ("pad", f_pad as Func),
    ("truncate", f_truncate as Func),
];

const HEADER: [(&str, Func); 7] = [
    ("json", h_identity as Func),
    ("split", h_identity as Func),
    ("join", h_identity as Func),
    ("title", h_identity as Func),
    ("lower", h_identity as Func),
    ("upper", h_identity as Func),
    ("truncate", h_identity as Func),
];

/// A parsed `--format` template.
pub struct Tmpl {
    inner: Template,
}

impl Tmpl {
    /// Parse with docker's functions. The error text follows docker's
    /// `template parsing error: ...`.
    pub fn parse(text: &str) -> Result<Tmpl, String> {
        Self::parse_with(text, false)
    }

    /// Parse with the header functions (table titles).
    pub fn parse_header(text: &str) -> Result<Tmpl, String> {
        Self::parse_with(text, true)
    }

    fn parse_with(text: &str, header: bool) -> Result<Tmpl, String> {
        guard::check(text)?;
        let mut inner = Template::default();
        inner.add_funcs(&BASIC);
        if header {
            inner.add_funcs(&HEADER);
        }
        inner
            .parse(text)
            .map_err(|e| format!("template parsing error: {e}"))?;
        Ok(Tmpl { inner })
    }

    /// Render; a panic inside gtmpl (what [`guard`] cannot see, say a
    /// printf format held in a variable) is an error, not a crash.
    pub fn render(&self, data: &Value) -> Result<String, String> {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.inner
                .render(&Context::from(data.clone()))
                .map_err(|e| format!("template: {e}"))
        }));
        std::panic::set_hook(hook);
        r.unwrap_or_else(|_| Err("template: the template could not be executed".into()))
    }
}

/// Render a template over JSON data (inspect, version, info).
pub fn render_json(text: &str, data: &serde_json::Value) -> Result<String, String> {
    Tmpl::parse(text)?.render(&from_json(data))
}

/// A map of header titles keyed by field name.
pub fn header_map(headers: &[(&str, &str)]) -> Value {
    let m: HashMap<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    Value::Map(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inspect_fixture() -> serde_json::Value {
        json!({
            "Id": "4f1c2a",
            "Name": "/web",
            "State": {"Status": "running", "Pid": 4242, "ExitCode": 0},
            "Config": {"Labels": {"k": "v", "a": "b"}, "Env": ["A=1", "B=2"], "Tty": false},
            "NetworkSettings": {"IPAddress": "172.17.0.2"}
        })
    }

    #[test]
    fn a_panic_in_the_renderer_is_an_error() {
        // A format built at run time is past the guard's reach.
        let t = Tmpl::parse(r#"{{printf (print "%0" "99999" "d") 1}}"#).unwrap();
        let e = t.render(&object(&[])).unwrap_err();
        assert!(e.starts_with("template: "), "{e}");
        assert!(render_json("{{.Id}}", &inspect_fixture()).is_ok());
    }

    #[test]
    fn renders_the_fields_the_course_uses() {
        let d = inspect_fixture();
        assert_eq!(render_json("{{.State.Pid}}", &d).unwrap(), "4242");
        assert_eq!(render_json("{{.Id}} {{.Name}}", &d).unwrap(), "4f1c2a /web");
        assert_eq!(
            render_json("{{.State.Status}}/{{.State.ExitCode}}", &d).unwrap(),
            "running/0"
        );
        assert_eq!(
            render_json("{{.NetworkSettings.IPAddress}}", &d).unwrap(),
            "172.17.0.2"
        );
        assert_eq!(
            render_json(r#"{{index .Config.Labels "k"}}"#, &d).unwrap(),
            "v"
        );
        assert_eq!(
            render_json("{{range .Config.Env}}[{{.}}]{{end}}", &d).unwrap(),
            "[A=1][B=2]"
        );
    }

    #[test]
    fn json_function_is_compact_with_sorted_map_keys() {
        let d = inspect_fixture();
        assert_eq!(
            render_json("{{json .Config.Labels}}", &d).unwrap(),
            r#"{"a":"b","k":"v"}"#
        );
        assert_eq!(render_json("{{json .State.Pid}}", &d).unwrap(), "4242");
        assert_eq!(render_json("{{json .Config.Tty}}", &d).unwrap(), "false");
    }

    #[test]
    fn string_functions_behave_like_dockers() {
        let d = json!({"s": "hello world", "e": ""});
        assert_eq!(render_json("{{upper .s}}", &d).unwrap(), "HELLO WORLD");
        assert_eq!(render_json("{{title .s}}", &d).unwrap(), "Hello World");
        assert_eq!(render_json("{{truncate .s 5}}", &d).unwrap(), "hello");
        assert_eq!(
            render_json("{{pad .s 1 2}}|", &d).unwrap(),
            " hello world  |"
        );
        assert_eq!(render_json("{{pad .e 1 2}}|", &d).unwrap(), "|");
        assert_eq!(
            render_json(r#"{{join (split .s " ") ","}}"#, &d).unwrap(),
            "hello,world"
        );
        assert_eq!(render_json("{{println .s}}", &d).unwrap(), "hello world\n");
        assert_eq!(render_json("{{.s | lower}}", &d).unwrap(), "hello world");
    }

    #[test]
    fn header_functions_leave_titles_alone() {
        let t = Tmpl::parse_header("{{upper .ID}}\t{{json .Names}}").unwrap();
        let h = header_map(&[("ID", "CONTAINER ID"), ("Names", "NAMES")]);
        assert_eq!(t.render(&h).unwrap(), "CONTAINER ID\tNAMES");
    }

    #[test]
    fn unknown_row_field_is_an_error() {
        let t = Tmpl::parse("{{.Nope}}").unwrap();
        assert!(t.render(&object(&[("ID".into(), "x".into())])).is_err());
    }
}
