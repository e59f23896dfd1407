//! Instructions from nodes, as buildkit's `instructions` package: flags,
//! argument counts, stages, COPY/ADD, RUN and HEALTHCHECK.

use super::lines::*;
use super::mount::*;
use super::*;

/// buildkit's `BFlags`: the flags an instruction accepts, checked in order.
pub(super) struct Flags<'a> {
    pub(super) args: &'a [String],
    pub(super) defs: Vec<(&'static str, FlagType)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FlagType {
    Bool,
    Str,
    Strings,
}

/// Parsed flag values.
#[derive(Default)]
pub(super) struct FlagValues {
    pub(super) strings: Vec<(String, String)>,
    pub(super) bools: Vec<(String, bool)>,
    pub(super) used: Vec<String>,
}

impl FlagValues {
    pub(super) fn string(&self, name: &str) -> Option<String> {
        self.strings
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    pub(super) fn strings(&self, name: &str) -> Vec<String> {
        self.strings
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub(super) fn boolean(&self, name: &str) -> Option<bool> {
        self.bools
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
}

impl<'a> Flags<'a> {
    pub(super) fn new(args: &'a [String]) -> Self {
        Flags {
            args,
            defs: Vec::new(),
        }
    }

    pub(super) fn add(mut self, name: &'static str, t: FlagType) -> Self {
        self.defs.push((name, t));
        self
    }

    pub(super) fn parse(&self) -> Result<FlagValues, String> {
        let mut out = FlagValues::default();
        for a in self.args {
            if a == "--" {
                return Ok(out);
            }
            let Some(body) = a.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {a}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let flag_name = format!("--{name}");
            let Some(&(_, t)) = self.defs.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = self.defs.iter().map(|(n, _)| *n).collect();
                let msg = format!("unknown flag: {flag_name}");
                return Err(suggest(msg, name, &names, true));
            };
            if out.used.iter().any(|u| u == name) && t != FlagType::Strings {
                return Err(format!("duplicate flag specified: {flag_name}"));
            }
            out.used.push(name.to_string());
            match t {
                FlagType::Bool => {
                    if value == Some("") {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    }
                    let v = match value.map(str::to_ascii_lowercase).as_deref() {
                        None | Some("true") => true,
                        Some("false") => false,
                        Some(_) => {
                            return Err(format!(
                                "expecting boolean value for flag {flag_name}, not: {}",
                                value.unwrap_or_default()
                            ))
                        }
                    };
                    out.bools.push((name.to_string(), v));
                }
                FlagType::Str | FlagType::Strings => {
                    let Some(v) = value else {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    };
                    out.strings.push((name.to_string(), v.to_string()));
                }
            }
        }
        Ok(out)
    }
}

/// Levenshtein distance (unit costs), over characters.
pub(super) fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// buildkit `suggest.WrapError`: ` (did you mean X?)` for an option within
/// distance 2.
pub(super) fn suggest(msg: String, val: &str, options: &[&str], case_sensitive: bool) -> String {
    let v = if case_sensitive {
        val.to_string()
    } else {
        val.to_lowercase()
    };
    let mut best: Option<String> = None;
    let mut min = 3;
    for opt in options {
        let o = if case_sensitive {
            opt.to_string()
        } else {
            opt.to_lowercase()
        };
        if o == v {
            return msg;
        }
        let d = levenshtein(&v, &o);
        if d < min {
            min = d;
            // buildkit matchCase: an all-uppercase value gets an uppercase
            // suggestion, anything else the option lowercased.
            let upper = !case_sensitive && val != val.to_lowercase() && val == val.to_uppercase();
            best = Some(if upper { o.to_uppercase() } else { o });
        }
    }
    match best {
        Some(m) => format!("{msg} (did you mean {m}?)"),
        None => msg,
    }
}

pub(super) fn at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}

pub(super) fn exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}

pub(super) fn no_destination(cmd: &str) -> String {
    format!(
        "{cmd} requires at least two arguments, but only one was provided. Destination could not be determined"
    )
}

/// buildkit `handleJSONArgs`, as a [`CommandForm`].
pub(super) fn command_form(args: &[String], json: bool) -> CommandForm {
    if json {
        CommandForm::Exec(args.to_vec())
    } else {
        CommandForm::Shell(args.join(" "))
    }
}

/// A parsed instruction, or a stage start.
pub(super) enum Parsed {
    From(Stage),
    Meta(Kind),
}

pub(super) fn parse_instruction(node: &Node) -> Result<Parsed, String> {
    let lower = node.cmd.to_ascii_lowercase();
    let args = &node.args;
    let kind = match lower.as_str() {
        "env" | "label" => {
            let name = if lower == "env" { "ENV" } else { "LABEL" };
            Flags::new(&node.flags).parse()?;
            if args.is_empty() {
                return Err(at_least_one(name));
            }
            if !args.chunks_exact(3).remainder().is_empty() {
                return Err(format!("Bad input to {name}, too many arguments"));
            }
            let mut pairs = Vec::new();
            for kv in args.chunks(3) {
                if kv[0].is_empty() {
                    return Err(format!("{name} names can not be blank"));
                }
                pairs.push((kv[0].clone(), kv[1].clone()));
            }
            if lower == "env" {
                Kind::Env(pairs)
            } else {
                Kind::Label(pairs)
            }
        }
        "maintainer" => {
            if args.len() != 1 {
                return Err(exactly_one("MAINTAINER"));
            }
            Flags::new(&node.flags).parse()?;
            Kind::Maintainer(args[0].clone())
        }
        "add" | "copy" => parse_copy(node, lower == "add")?,
        "from" => return parse_from(node).map(Parsed::From),
        "onbuild" => {
            if args.is_empty() {
                return Err(at_least_one("ONBUILD"));
            }
            Flags::new(&node.flags).parse()?;
            let trigger = args[0].trim().to_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "MAINTAINER" | "FROM" => {
                    return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            let mut expr = strip_onbuild(&node.original);
            for h in &node.heredocs {
                expr.push('\n');
                expr.push_str(&h.content);
                expr.push_str(&h.name);
            }
            Kind::Onbuild(expr)
        }
        "workdir" => {
            if args.len() != 1 {
                return Err(exactly_one("WORKDIR"));
            }
            Flags::new(&node.flags).parse()?;
            Kind::Workdir(args[0].clone())
        }
        "run" => Kind::Run(parse_run(node)?),
        "cmd" => {
            Flags::new(&node.flags).parse()?;
            Kind::Cmd(command_form(args, node.json))
        }
        "entrypoint" => {
            Flags::new(&node.flags).parse()?;
            Kind::Entrypoint(command_form(args, node.json))
        }
        "healthcheck" => Kind::Healthcheck(parse_healthcheck(node)?),
        "expose" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            Flags::new(&node.flags).parse()?;
            let mut ports = args.clone();
            ports.sort();
            Kind::Expose(ports)
        }
        "user" => {
            if args.len() != 1 {
                return Err(exactly_one("USER"));
            }
            Flags::new(&node.flags).parse()?;
            Kind::User(args[0].clone())
        }
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            Flags::new(&node.flags).parse()?;
            let mut vols = Vec::new();
            for v in args {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                vols.push(v.to_string());
            }
            Kind::Volume(vols)
        }
        "stopsignal" => {
            if args.len() != 1 {
                return Err(exactly_one("STOPSIGNAL"));
            }
            Kind::StopSignal(args[0].clone())
        }
        "arg" => {
            if args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let mut decls = Vec::new();
            for a in args {
                match a.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((k, v)) => decls.push(ArgDecl {
                        name: k.to_string(),
                        default: Some(v.to_string()),
                    }),
                    None => decls.push(ArgDecl {
                        name: a.clone(),
                        default: None,
                    }),
                }
            }
            Kind::Arg(decls)
        }
        "shell" => {
            Flags::new(&node.flags).parse()?;
            if args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            Kind::Shell(args.clone())
        }
        _ => {
            let msg = format!("unknown instruction: {}", node.cmd);
            let upper: Vec<String> = INSTRUCTIONS.iter().map(|s| s.to_uppercase()).collect();
            let opts: Vec<&str> = upper.iter().map(String::as_str).collect();
            return Err(suggest(msg, &node.cmd, &opts, false));
        }
    };
    Ok(Parsed::Meta(kind))
}

/// `(?i)^\s*ONBUILD\s*` removed.
pub(super) fn strip_onbuild(original: &str) -> String {
    let s = original.trim_start_matches(is_re_space);
    let s = match s.get(..7) {
        Some(w) if w.eq_ignore_ascii_case("onbuild") => &s[7..],
        _ => s,
    };
    s.trim_start_matches(is_re_space).to_string()
}

pub(super) fn parse_from(node: &Node) -> Result<Stage, String> {
    let args = &node.args;
    let name = if args.len() == 3 && args[1].eq_ignore_ascii_case("as") {
        let name = args[2].to_lowercase();
        if !valid_stage_name(&name) {
            return Err(format!(
                "invalid name for build stage: {}, name can't start with a number or contain symbols",
                shared::go::quote(&args[2])
            ));
        }
        Some(name)
    } else if args.len() != 1 {
        return Err("FROM requires either one or three arguments".into());
    } else {
        None
    };
    let flags = Flags::new(&node.flags)
        .add("platform", FlagType::Str)
        .parse()?;
    Ok(Stage {
        name,
        base: args[0].clone(),
        platform: flags.string("platform").filter(|p| !p.is_empty()),
        line: node.start_line,
        original: node.original.trim().to_string(),
        instructions: Vec::new(),
    })
}

/// `^[a-z][a-z0-9-_.]*$`.
pub(super) fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
}

pub(super) fn parse_copy(node: &Node, add: bool) -> Result<Kind, String> {
    let cmd = if add { "ADD" } else { "COPY" };
    let args = &node.args;
    if args.len() < 2 {
        return Err(no_destination(cmd));
    }
    let mut flags = Flags::new(&node.flags)
        .add("chown", FlagType::Str)
        .add("chmod", FlagType::Str)
        .add("link", FlagType::Bool);
    flags = if add {
        flags
            .add("keep-git-dir", FlagType::Bool)
            .add("checksum", FlagType::Str)
            .add("unpack", FlagType::Bool)
            .add("exclude", FlagType::Strings)
    } else {
        flags
            .add("from", FlagType::Str)
            .add("exclude", FlagType::Strings)
            .add("parents", FlagType::Bool)
    };
    let fl = flags.parse()?;
    let (srcs, dest) = args.split_at(args.len() - 1);
    let dest = dest[0].clone();
    if matches!(parse_heredoc(&dest), Ok(Some(_))) {
        return Err(format!("{cmd} cannot accept a heredoc as a destination"));
    }
    let mut sources = Vec::new();
    let mut heredocs = Vec::new();
    for src in srcs {
        match parse_heredoc(src) {
            Ok(Some(h)) => {
                let content = node
                    .heredocs
                    .iter()
                    .rev()
                    .find(|d| d.name == h.name)
                    .map(|d| d.content.clone())
                    .unwrap_or_default();
                let content = if h.chomp {
                    chomp_content(&content)
                } else {
                    content
                };
                heredocs.push(Heredoc {
                    name: h.name,
                    content,
                    expand: h.expand,
                    chomp: h.chomp,
                    fd: h.fd,
                });
            }
            _ => sources.push(src.clone()),
        }
    }
    let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let c = Copy {
        sources,
        dest,
        from: if add {
            None
        } else {
            non_empty(fl.string("from"))
        },
        chown: non_empty(fl.string("chown")),
        chmod: non_empty(fl.string("chmod")),
        link: fl.boolean("link").unwrap_or(false),
        checksum: if add {
            non_empty(fl.string("checksum"))
        } else {
            None
        },
        keep_git_dir: if add {
            fl.boolean("keep-git-dir")
        } else {
            None
        },
        unpack: if add { fl.boolean("unpack") } else { None },
        parents: fl.boolean("parents").unwrap_or(false),
        exclude: fl.strings("exclude"),
        heredocs,
        flags_used: fl.used.clone(),
    };
    Ok(if add { Kind::Add(c) } else { Kind::Copy(c) })
}

pub(super) fn parse_run(node: &Node) -> Result<Run, String> {
    let fl = Flags::new(&node.flags)
        .add("device", FlagType::Strings)
        .add("mount", FlagType::Strings)
        .add("network", FlagType::Str)
        .add("security", FlagType::Str)
        .parse()?;
    let command = command_form(&node.args, node.json);
    let devices = fl.strings("device");
    let mut mounts = Vec::new();
    for spec in fl.strings("mount") {
        match parse_mount(&spec, None) {
            Ok(m) => mounts.push(m),
            Err(e) if !spec.contains('$') => return Err(e),
            Err(_) => {
                // Fields hold `$`: kept for parse_mount with an expander; the
                // `from=` (which may not hold a `$`) is still known.
                let mut m = Mount::unparsed(&spec);
                m.from = csv_fields(&spec).ok().and_then(|fields| {
                    fields.iter().find_map(|f| {
                        let (k, v) = f.split_once('=')?;
                        k.eq_ignore_ascii_case("from").then(|| v.to_string())
                    })
                });
                mounts.push(m);
            }
        }
    }
    let network = fl.string("network");
    if let Some(n) = &network {
        if !matches!(n.as_str(), "default" | "none" | "host") {
            return Err(format!("invalid network mode {}", shared::go::quote(n)));
        }
    }
    let security = fl.string("security");
    if let Some(s) = &security {
        if !matches!(s.as_str(), "sandbox" | "insecure") {
            return Err(format!("security {} is not valid", shared::go::quote(s)));
        }
    }
    let heredocs = node
        .heredocs
        .iter()
        .map(|h| Heredoc {
            name: h.name.clone(),
            content: h.content.clone(),
            expand: h.expand,
            chomp: h.chomp,
            fd: h.fd,
        })
        .collect();
    Ok(Run {
        command,
        heredocs,
        mounts,
        network,
        security,
        devices,
        flags_used: fl.used,
    })
}

pub(super) fn parse_interval(name: &str, value: Option<String>) -> Result<Option<i64>, String> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let d = shared::units::parse_duration(&v)?.as_nanos();
    if d == 0 {
        return Ok(None);
    }
    if d < 1_000_000 {
        return Err(format!(
            "Interval {} cannot be less than 1ms",
            shared::go::quote(name)
        ));
    }
    Ok(Some(d))
}

pub(super) fn parse_healthcheck(node: &Node) -> Result<Healthcheck, String> {
    let args = &node.args;
    let Some(typ) = args.first() else {
        return Err(at_least_one("HEALTHCHECK"));
    };
    let typ = typ.to_uppercase();
    let rest = &args[1..];
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck {
            test: vec![typ],
            interval: None,
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: None,
        });
    }
    let fl = Flags::new(&node.flags)
        .add("interval", FlagType::Str)
        .add("timeout", FlagType::Str)
        .add("start-period", FlagType::Str)
        .add("start-interval", FlagType::Str)
        .add("retries", FlagType::Str)
        .parse()?;
    if typ != "CMD" {
        return Err(format!(
            "Unknown type {} in HEALTHCHECK (try CMD)",
            shared::go::quote(&typ)
        ));
    }
    if rest.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let test = if node.json {
        std::iter::once("CMD".to_string())
            .chain(rest.iter().cloned())
            .collect()
    } else {
        vec!["CMD-SHELL".to_string(), rest.join(" ")]
    };
    let interval = parse_interval("interval", fl.string("interval"))?;
    let timeout = parse_interval("timeout", fl.string("timeout"))?;
    let start_period = parse_interval("start-period", fl.string("start-period"))?;
    let start_interval = parse_interval("start-interval", fl.string("start-interval"))?;
    let retries = match fl.string("retries").filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => {
            let n = go_parse_int32(&r)?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            Some(n).filter(|n| *n != 0)
        }
    };
    Ok(Healthcheck {
        test,
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    })
}

/// Go's `strconv.ParseInt(s, 10, 32)` with its error texts.
pub(super) fn go_parse_int32(s: &str) -> Result<i64, String> {
    let err = |why: &str| format!("strconv.ParseInt: parsing {}: {why}", shared::go::quote(s));
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("invalid syntax"));
    }
    match s.parse::<i64>() {
        Ok(n) if i32::try_from(n).is_ok() => Ok(n),
        _ => Err(err("value out of range")),
    }
}
