//! Dockerfile-like `--change` instructions (`docker import -c`, `docker commit -c`)
//! applied to an image's container config, as moby's `BuildFromConfig` does.
//!
//! Only the instructions that change the config are valid (CMD, ENTRYPOINT, ENV,
//! EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR); any
//! other is refused with docker's "<instr> is not a valid change command". Values
//! get Dockerfile word processing: quotes, backslash escapes, `$VAR`/`${VAR}`
//! from the environment built so far. Pure: no I/O.

use serde_json::Value;
use shared::api::ContainerConfig;
use std::collections::BTreeMap;

const VALID: [&str; 11] = [
    "cmd",
    "entrypoint",
    "healthcheck",
    "env",
    "expose",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// One instruction line: the keyword as written and the rest of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub keyword: String,
    pub args: String,
}

/// Split `changes` (each may hold several lines) into instructions: continuation
/// lines (trailing `\`) are joined, blank lines and `#` comments dropped.
pub fn parse_instructions(changes: &[String]) -> Vec<Instruction> {
    let text = changes.join("\n");
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(trimmed);
        push_instruction(&mut out, &pending);
        pending.clear();
    }
    if !pending.is_empty() {
        push_instruction(&mut out, &pending);
    }
    out
}

fn push_instruction(out: &mut Vec<Instruction>, line: &str) {
    let line = line.trim();
    let (kw, rest) = match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    };
    out.push(Instruction {
        keyword: kw.to_string(),
        args: rest.to_string(),
    });
}

/// Parse and apply `changes` to `config`. The error is docker's text.
pub fn apply_changes(config: &mut ContainerConfig, changes: &[String]) -> Result<(), String> {
    let instrs = parse_instructions(changes);
    for i in &instrs {
        if !VALID.contains(&i.keyword.to_lowercase().as_str()) {
            return Err(format!("{} is not a valid change command", i.keyword));
        }
    }
    let mut cmd_set = false;
    for i in &instrs {
        apply_one(config, i, &mut cmd_set)?;
    }
    Ok(())
}

fn need_args(i: &Instruction) -> Result<(), String> {
    if i.args.is_empty() {
        return Err(format!(
            "{} requires at least one argument",
            i.keyword.to_uppercase()
        ));
    }
    Ok(())
}

fn apply_one(c: &mut ContainerConfig, i: &Instruction, cmd_set: &mut bool) -> Result<(), String> {
    let kw = i.keyword.to_lowercase();
    match kw.as_str() {
        "env" => {
            need_args(i)?;
            for (k, v) in name_values(i, &c.env)? {
                let prefix = format!("{k}=");
                let entry = format!("{k}={v}");
                match c
                    .env
                    .iter_mut()
                    .find(|e| e.starts_with(&prefix) || **e == k)
                {
                    Some(e) => *e = entry,
                    None => c.env.push(entry),
                }
            }
        }
        "label" => {
            need_args(i)?;
            for (k, v) in name_values(i, &c.env)? {
                c.labels.insert(k, v);
            }
        }
        "cmd" => {
            c.cmd = Some(command_form(&i.args));
            *cmd_set = true;
        }
        "entrypoint" => {
            let ep = command_form(&i.args);
            c.entrypoint = if ep.is_empty() { None } else { Some(ep) };
            // As in a Dockerfile: ENTRYPOINT drops an inherited CMD.
            if !*cmd_set {
                c.cmd = None;
            }
        }
        "workdir" => {
            need_args(i)?;
            let w = process_word(&i.args, &c.env)?;
            let base = if c.working_dir.is_empty() {
                "/"
            } else {
                c.working_dir.as_str()
            };
            let joined = if w.starts_with('/') {
                w
            } else {
                format!("{base}/{w}")
            };
            c.working_dir = clean_path(&joined);
        }
        "user" => {
            need_args(i)?;
            c.user = process_word(&i.args, &c.env)?;
        }
        "stopsignal" => {
            need_args(i)?;
            let s = process_word(&i.args, &c.env)?;
            validate_signal(&s)?;
            c.stop_signal = Some(s);
        }
        "expose" => {
            need_args(i)?;
            let ports = c.exposed_ports.get_or_insert_with(BTreeMap::new);
            for w in split_words(&i.args, &c.env)? {
                for p in expand_port(&w)? {
                    ports.insert(p, Value::Object(Default::default()));
                }
            }
        }
        "volume" => {
            need_args(i)?;
            let list = match json_array(&i.args) {
                Some(v) => v,
                None => split_words(&i.args, &c.env)?,
            };
            let vols = c.volumes.get_or_insert_with(BTreeMap::new);
            for v in list {
                let v = v.trim().to_string();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                vols.insert(v, Value::Object(Default::default()));
            }
        }
        "onbuild" => {
            need_args(i)?;
            let trigger = i
                .args
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "FROM" | "MAINTAINER" => {
                    return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            c.on_build.get_or_insert_with(Vec::new).push(i.args.clone());
        }
        // Accepted as docker does; ContainerConfig has no Healthcheck field yet.
        "healthcheck" => {}
        _ => return Err(format!("{} is not a valid change command", i.keyword)),
    }
    Ok(())
}

/// `CMD`/`ENTRYPOINT`: a JSON array of strings (exec form) or a shell command.
pub fn command_form(args: &str) -> Vec<String> {
    match json_array(args) {
        Some(v) => v,
        None if args.trim().is_empty() => Vec::new(),
        None => vec!["/bin/sh".into(), "-c".into(), args.trim().to_string()],
    }
}

fn json_array(args: &str) -> Option<Vec<String>> {
    let t = args.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// `k=v k2="v 2"` pairs, or the legacy `k value with spaces` form.
fn name_values(i: &Instruction, env: &[String]) -> Result<Vec<(String, String)>, String> {
    let kw = i.keyword.to_uppercase();
    let first = i.args.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        // Legacy form: one name, the rest of the line is the value.
        let rest = i.args[first.len()..].trim();
        if rest.is_empty() {
            return Err(format!("{kw} must have two arguments"));
        }
        return Ok(vec![(first.to_string(), process_word(rest, env)?)]);
    }
    let mut out = Vec::new();
    for w in split_words(&i.args, env)? {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            ));
        };
        if k.is_empty() {
            return Err(format!("{kw} names can not be blank"));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

fn env_lookup<'a>(env: &'a [String], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

/// Dockerfile word splitting with quotes, escapes and variable expansion.
pub fn split_words(s: &str, env: &[String]) -> Result<Vec<String>, String> {
    lex(s, env, true)
}

/// One word (spaces kept) with quotes, escapes and variable expansion processed.
pub fn process_word(s: &str, env: &[String]) -> Result<String, String> {
    Ok(lex(s, env, false)?.concat())
}

fn lex(s: &str, env: &[String], split: bool) -> Result<Vec<String>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        match ch {
            c if c.is_whitespace() && split => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                i += 1;
            }
            '\'' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    cur.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
                i += 1;
            }
            '"' => {
                in_word = true;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(
                            "unexpected end of statement while looking for matching double-quote"
                                .into(),
                        ),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\' | '$')) => {
                            cur.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('$') => i = expand(&chars, i, env, &mut cur)?,
                        Some(&c) => {
                            cur.push(c);
                            i += 1;
                        }
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(&n) = chars.get(i + 1) {
                    cur.push(n);
                }
                i += 2;
            }
            '$' => {
                in_word = true;
                i = expand(&chars, i, env, &mut cur)?;
            }
            c => {
                in_word = true;
                cur.push(c);
                i += 1;
            }
        }
    }
    if in_word || !split {
        words.push(cur);
    }
    Ok(words)
}

/// Expand the variable starting at `chars[i] == '$'`; returns the next index.
fn expand(chars: &[char], i: usize, env: &[String], out: &mut String) -> Result<usize, String> {
    let mut j = i + 1;
    if chars.get(j) == Some(&'{') {
        let end = chars[j..]
            .iter()
            .position(|&c| c == '}')
            .map(|p| j + p)
            .ok_or("missing '}'")?;
        let inner: String = chars[j + 1..end].iter().collect();
        let (name, op) = match inner.find(':') {
            Some(p) => (&inner[..p], Some(&inner[p + 1..])),
            None => (inner.as_str(), None),
        };
        let val = env_lookup(env, name);
        match op {
            None => out.push_str(val.unwrap_or("")),
            Some(o) if o.starts_with('-') => match val {
                Some(v) if !v.is_empty() => out.push_str(v),
                _ => out.push_str(&o[1..]),
            },
            Some(o) if o.starts_with('+') => {
                if val.is_some_and(|v| !v.is_empty()) {
                    out.push_str(&o[1..]);
                }
            }
            Some(o) => return Err(format!("unsupported modifier ({o}) in substitution")),
        }
        return Ok(end + 1);
    }
    let start = j;
    while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
        j += 1;
    }
    if j == start {
        out.push('$');
        return Ok(j);
    }
    let name: String = chars[start..j].iter().collect();
    out.push_str(env_lookup(env, &name).unwrap_or(""));
    Ok(j)
}

/// `80`, `80/udp`, `8000-8002/tcp` to `["80/tcp"]`-style keys.
pub fn expand_port(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let parse = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("invalid containerPort: {ports}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(format!(
            "invalid range specified for container port: {ports}"
        ));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

fn validate_signal(s: &str) -> Result<(), String> {
    if s.parse::<u32>().is_ok_and(|n| n > 0) {
        return Ok(());
    }
    let name = s.to_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-')
    {
        Ok(())
    } else {
        Err(format!("Invalid signal: {s}"))
    }
}

/// Lexical clean of an absolute path (Go's `path.Clean`).
pub fn clean_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<ContainerConfig, String> {
        let mut c = ContainerConfig::default();
        let v: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut c, &v).map(|_| c)
    }

    #[test]
    fn env_in_both_forms_replaces_and_expands() {
        let c = apply(&[
            "ENV PATH=/bin",
            "env A=1 B=\"two words\" C='$A'",
            "ENV PATH=/usr/bin:$PATH",
            "ENV LEGACY some value here",
            "ENV D=${A:-x}${NOPE:-def}",
        ])
        .unwrap();
        assert_eq!(
            c.env,
            [
                "PATH=/usr/bin:/bin",
                "A=1",
                "B=two words",
                "C=$A",
                "LEGACY=some value here",
                "D=1def"
            ]
        );
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        let c = apply(&["CMD [\"echo\", \"hi\"]"]).unwrap();
        assert_eq!(c.cmd, Some(vec!["echo".into(), "hi".into()]));
        let c = apply(&["CMD echo $HOME && ls"]).unwrap();
        assert_eq!(
            c.cmd,
            Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo $HOME && ls".into()
            ])
        );
        let c = apply(&["ENTRYPOINT [\"/app\"]"]).unwrap();
        assert_eq!(c.entrypoint, Some(vec!["/app".into()]));
        // a malformed JSON array is the shell form, as in docker
        let c = apply(&["CMD [\"a\","]).unwrap();
        assert_eq!(
            c.cmd,
            Some(vec!["/bin/sh".into(), "-c".into(), "[\"a\",".into()])
        );
    }

    #[test]
    fn entrypoint_drops_inherited_cmd_but_not_one_set_before() {
        let mut c = ContainerConfig {
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        apply_changes(&mut c, &["ENTRYPOINT [\"x\"]".to_string()]).unwrap();
        assert_eq!(c.cmd, None);
        let c = apply(&["CMD [\"a\"]", "ENTRYPOINT [\"x\"]"]).unwrap();
        assert_eq!(c.cmd, Some(vec!["a".into()]));
    }

    #[test]
    fn workdir_user_stopsignal_label_volume_expose_onbuild() {
        let c = apply(&[
            "WORKDIR /app",
            "WORKDIR sub/../data",
            "USER nobody:nogroup",
            "STOPSIGNAL SIGTERM",
            "LABEL a=b \"c d\"=e",
            "LABEL legacy value",
            "VOLUME [\"/v1\", \"/v2\"]",
            "VOLUME /v3 /v4",
            "EXPOSE 80 53/udp 8000-8001",
            "ONBUILD RUN make",
            "HEALTHCHECK NONE",
        ])
        .unwrap();
        assert_eq!(c.working_dir, "/app/data");
        assert_eq!(c.user, "nobody:nogroup");
        assert_eq!(c.stop_signal.as_deref(), Some("SIGTERM"));
        assert_eq!(c.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(c.labels.get("c d").map(String::as_str), Some("e"));
        assert_eq!(c.labels.get("legacy").map(String::as_str), Some("value"));
        let vols: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, ["/v1", "/v2", "/v3", "/v4"]);
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        assert_eq!(c.on_build, Some(vec!["RUN make".into()]));
    }

    #[test]
    fn invalid_instructions_give_docker_texts() {
        assert_eq!(
            apply(&["FROM scratch"]).unwrap_err(),
            "FROM is not a valid change command"
        );
        assert_eq!(
            apply(&["run echo"]).unwrap_err(),
            "run is not a valid change command"
        );
        assert_eq!(
            apply(&["ENV"]).unwrap_err(),
            "ENV requires at least one argument"
        );
        assert_eq!(
            apply(&["ENV A"]).unwrap_err(),
            "ENV must have two arguments"
        );
        assert_eq!(
            apply(&["ENV A=1 B"]).unwrap_err(),
            "Syntax error - can't find = in \"B\". Must be of the form: name=value"
        );
        assert_eq!(
            apply(&["ONBUILD ONBUILD RUN x"]).unwrap_err(),
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
        );
        assert_eq!(
            apply(&["ONBUILD from x"]).unwrap_err(),
            "FROM isn't allowed as an ONBUILD trigger"
        );
        assert!(apply(&["EXPOSE 80/xyz"]).is_err());
        assert!(apply(&["EXPOSE http"]).is_err());
        // nothing is applied when one line is invalid
        assert!(apply(&["ENV A=1", "COPY x y"]).is_err());
    }

    #[test]
    fn lines_comments_and_continuations() {
        let v = parse_instructions(&["# c\n\nENV A=1 \\\n B=2".to_string(), "CMD sh".to_string()]);
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0],
            Instruction {
                keyword: "ENV".into(),
                args: "A=1 B=2".into()
            }
        );
        assert_eq!(v[1].keyword, "CMD");
    }

    #[test]
    fn path_cleaning() {
        assert_eq!(clean_path("/a/./b/../c//"), "/a/c");
        assert_eq!(clean_path("/../.."), "/");
    }
}
