//! `RUN --mount` and the helpers of `RUN`'s value: heredoc commands, mount
//! specs as buildkit's `parseMount` reads them.

use super::instructions::*;
use super::*;

impl Run {
    /// What to run once heredocs are taken into account, as buildkit's
    /// `dispatchRun` does: a bare `RUN <<EOF` runs the body (as a file when it
    /// starts with `#!`), anything else hands line and bodies to the shell.
    pub fn heredoc_command(&self) -> Result<HeredocRun, String> {
        let Some(first) = self.heredocs.first() else {
            return Ok(HeredocRun::Plain);
        };
        let CommandForm::Shell(line) = &self.command else {
            return Err("parsing produces more than one command".into());
        };
        if matches!(parse_heredoc(line), Ok(Some(_))) {
            let body = first.chomped();
            if body.starts_with("#!") {
                return Ok(HeredocRun::File {
                    name: first.name.clone(),
                    content: body,
                });
            }
            return Ok(HeredocRun::Script(body));
        }
        let mut full = line.clone();
        for h in &self.heredocs {
            full.push('\n');
            full.push_str(&h.content);
            full.push_str(&h.name);
        }
        Ok(HeredocRun::Shell(full))
    }
}

impl Mount {
    pub(super) fn unparsed(raw: &str) -> Mount {
        Mount {
            raw: raw.to_string(),
            kind: MountKind::Bind,
            target: String::new(),
            source: None,
            from: None,
            id: None,
            readonly: true,
            sharing: Sharing::Shared,
            required: false,
            mode: None,
            uid: None,
            gid: None,
            size: None,
            env: None,
        }
    }
}

/// Splits one CSV record (go-csvvalue: `,` separated, `"` quoting with `""`).
pub(super) fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    if s.is_empty() {
        return Ok(out);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    loop {
        let mut field = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("extraneous or missing \" in quoted-field".into()),
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        field.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        field.push(c);
                        i += 1;
                    }
                }
            }
            match chars.get(i) {
                None => {
                    out.push(field);
                    return Ok(out);
                }
                Some(',') => {
                    out.push(field);
                    i += 1;
                }
                Some(_) => return Err("extraneous or missing \" in quoted-field".into()),
            }
        } else {
            while let Some(&c) = chars.get(i) {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    return Err("bare \" in non-quoted-field".into());
                }
                field.push(c);
                i += 1;
            }
            out.push(field);
            if i >= chars.len() {
                return Ok(out);
            }
            i += 1;
        }
    }
}

/// Go's `strconv.ParseBool`.
pub(super) fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Expands one word (a build-arg-aware [`Lex::process_word`], usually).
pub type Expander<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Parses one `--mount` value as buildkit's `parseMount`, with buildkit's
/// error texts. `expand`, when given, is applied to every `key=value` value
/// first (buildkit expands them with the build args); without it the values
/// are taken as written (except that `from=` may not hold a `$`).
pub fn parse_mount(spec: &str, expand: Option<Expander<'_>>) -> Result<Mount, String> {
    let fields = csv_fields(spec).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut m = Mount::unparsed(spec);
    let mut ro_auto = true;
    let mut sharing_set = false;
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => {
                    m.readonly = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.readonly = false;
                    ro_auto = false;
                }
                "required" => {
                    if matches!(m.kind, MountKind::Secret | MountKind::Ssh) {
                        m.required = true;
                    } else {
                        return Err(format!(
                            "unexpected key '{key}' for mount type '{}'",
                            m.kind.as_str()
                        ));
                    }
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let value = match expand {
            Some(f) => f(value)?,
            None => {
                if key == "from" {
                    if let Some(idx) = value.find('$') {
                        if idx != value.len() - 1 {
                            return Err(format!(
                                "'{key}' doesn't support variable expansion, define alias stage instead"
                            ));
                        }
                    }
                }
                value.to_string()
            }
        };
        let bad_value = || format!("invalid value for {key}: {value}");
        let wrong_type = |m: &Mount| {
            format!(
                "unexpected key '{key}' for mount type '{}'",
                m.kind.as_str()
            )
        };
        match key.as_str() {
            "type" => {
                m.kind = match value.to_lowercase().as_str() {
                    "bind" => MountKind::Bind,
                    "cache" => MountKind::Cache,
                    "tmpfs" => MountKind::Tmpfs,
                    "secret" => MountKind::Secret,
                    "ssh" => MountKind::Ssh,
                    _ => {
                        let msg = format!("unsupported mount type {}", shared::go::quote(&value));
                        return Err(suggest(
                            msg,
                            &value,
                            &["bind", "cache", "tmpfs", "secret", "ssh"],
                            true,
                        ));
                    }
                }
            }
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.readonly = go_parse_bool(&value).ok_or_else(bad_value)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.readonly = !go_parse_bool(&value).ok_or_else(bad_value)?;
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.kind, MountKind::Secret | MountKind::Ssh) {
                    return Err(wrong_type(&m));
                }
                m.required = go_parse_bool(&value).ok_or_else(bad_value)?;
            }
            "size" => {
                if m.kind != MountKind::Tmpfs {
                    return Err(wrong_type(&m));
                }
                let n = shared::units::ram_in_bytes(&value).map_err(|_| bad_value())?;
                m.size = Some(u64::try_from(n).map_err(|_| bad_value())?);
            }
            "id" => m.id = Some(value),
            "sharing" => {
                m.sharing = match value.to_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        let msg =
                            format!("unsupported sharing value {}", shared::go::quote(&value));
                        return Err(suggest(msg, &value, &["shared", "private", "locked"], true));
                    }
                };
                sharing_set = true;
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| format!("invalid value {value} for mode"))?,
                )
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| format!("invalid value {value} for uid"))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| format!("invalid value {value} for gid"))?,
                )
            }
            "env" => m.env = Some(value),
            _ => {
                let all = [
                    "type",
                    "from",
                    "source",
                    "target",
                    "readonly",
                    "id",
                    "sharing",
                    "required",
                    "size",
                    "mode",
                    "uid",
                    "gid",
                    "src",
                    "dst",
                    "destination",
                    "ro",
                    "rw",
                    "readwrite",
                    "env",
                ];
                let msg = format!("unexpected key '{key}' in '{field}'");
                return Err(suggest(msg, &key, &all, true));
            }
        }
    }
    let kind = m.kind.as_str();
    if !matches!(
        m.kind,
        MountKind::Secret | MountKind::Ssh | MountKind::Cache
    ) {
        for (set, what) in [
            (m.mode.is_some(), "mode"),
            (m.uid.is_some(), "uid"),
            (m.gid.is_some(), "gid"),
        ] {
            if set {
                return Err(format!("{what} not allowed for \"{kind}\" type mounts"));
            }
        }
    }
    if ro_auto {
        m.readonly = !matches!(m.kind, MountKind::Cache | MountKind::Tmpfs);
    }
    if m.kind == MountKind::Secret {
        if m.from.as_deref().is_some_and(|f| !f.is_empty()) {
            return Err("secret mount should not have a from".into());
        }
        if sharing_set {
            return Err("secret mount should not define sharing".into());
        }
        let empty = |o: &Option<String>| o.as_deref().unwrap_or("").is_empty();
        if empty(&m.source) && m.target.is_empty() && empty(&m.id) {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if !empty(&m.source) && !empty(&m.id) {
            return Err("both source and id can't be set".into());
        }
    }
    if sharing_set && m.kind != MountKind::Cache {
        return Err(format!("invalid cache sharing set for {kind} mount"));
    }
    Ok(m)
}
