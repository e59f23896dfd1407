//! One lesson file: the YAML front matter between `---` lines at its top,
//! then Markdown. Errors carry the line in the file and the field.

use pulldown_cmark::{html, CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use serde::Deserialize;
use shared::lessons::{Check, ContainerState, Part};

use super::LessonError;

/// The front matter of `lesson.md`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct LessonMatter {
    pub title: String,
    #[serde(default = "one")]
    pub instances: u8,
}

/// The front matter of a step.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct StepMatter {
    pub title: String,
    #[serde(default)]
    pub check: Option<OneOrMany>,
    #[serde(default)]
    pub hint: Option<String>,
}

/// `check:` holds one check or a list of them.
#[derive(Debug)]
pub(super) enum OneOrMany {
    One(CheckMatter),
    Many(Vec<CheckMatter>),
}

// By hand rather than `untagged`, so that an error inside a check keeps its
// own message and line.
impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a check (a map) or a list of checks")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<OneOrMany, A::Error> {
                CheckMatter::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(OneOrMany::One)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, s: A) -> Result<OneOrMany, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(s))
                    .map(OneOrMany::Many)
            }
        }
        d.deserialize_any(V)
    }
}

/// A check as written: exactly one of the kinds, with its own options.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckMatter {
    script: Option<String>,
    container: Option<String>,
    state: Option<String>,
    image: Option<String>,
    port: Option<u16>,
    network: Option<String>,
    members: Option<u32>,
    volume: Option<String>,
    file: Option<String>,
    instance: Option<u8>,
}

fn one() -> u8 {
    1
}

/// A file split into its front matter (and the line its first line is on)
/// and its Markdown body.
pub(super) struct Split<'a> {
    pub matter: &'a str,
    pub body: &'a str,
}

/// Splits `text` at its `---` lines. The front matter starts on line 2.
pub(super) fn split(text: &str) -> Result<Split<'_>, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return Err((
            1,
            "a lesson file starts with front matter: a line `---`, YAML, a line `---`".into(),
        ));
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Ok(Split {
                matter: &rest[..offset],
                body: &rest[offset + line.len()..],
            });
        }
        offset += line.len();
    }
    Err((1, "the front matter has no closing `---` line".into()))
}

/// Reads front matter into `T`; a YAML error gives its line in the file.
pub(super) fn matter<T: serde::de::DeserializeOwned>(
    file: &str,
    matter: &str,
) -> Result<T, LessonError> {
    serde_yaml::from_str(matter).map_err(|e| {
        let line = e.location().map(|l| l.line() + 1);
        // serde_yaml ends its text with " at line L column C".
        let msg = e.to_string();
        let msg = match msg.find(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        LessonError::new(file, line, None, msg)
    })
}

/// The line (in the file) of a top-level key of the front matter.
pub(super) fn key_line(matter: &str, key: &str) -> Option<usize> {
    matter
        .lines()
        .position(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))
        .map(|i| i + 2)
}

/// The checks of a step, checked; `instances` is the lesson's count.
pub(super) fn checks(
    file: &str,
    line: Option<usize>,
    spec: Option<OneOrMany>,
    instances: u8,
) -> Result<Vec<Check>, LessonError> {
    let list = match spec {
        None => return Ok(Vec::new()),
        Some(OneOrMany::One(c)) => vec![c],
        Some(OneOrMany::Many(v)) => v,
    };
    if list.is_empty() {
        return Err(LessonError::new(
            file,
            line,
            Some("check".into()),
            "an empty list; leave `check` out for a step the trainee marks done",
        ));
    }
    let many = list.len() > 1;
    list.into_iter()
        .enumerate()
        .map(|(i, c)| {
            let field = if many {
                format!("check[{i}]")
            } else {
                "check".to_string()
            };
            one_check(c, instances).map_err(|m| LessonError::new(file, line, Some(field), m))
        })
        .collect()
}

fn one_check(c: CheckMatter, instances: u8) -> Result<Check, String> {
    let instance = c.instance.unwrap_or(1);
    if instance == 0 || instance > instances {
        return Err(format!(
            "instance {instance}: the lesson has {instances} instance{} (they count from 1)",
            if instances == 1 { "" } else { "s" }
        ));
    }
    let kinds: Vec<&str> = [
        ("script", c.script.is_some()),
        ("container", c.container.is_some()),
        ("image", c.image.is_some()),
        ("port", c.port.is_some()),
        ("network", c.network.is_some()),
        ("volume", c.volume.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
    .collect();
    let kind = match kinds.as_slice() {
        [k] => *k,
        [] => return Err(
            "says nothing to check: give one of script, container, image, port, network, volume"
                .into(),
        ),
        more => {
            return Err(format!(
                "one kind per check, not {}: make a list of checks",
                more.join(" and ")
            ))
        }
    };
    let stray = |name: &str, on: bool, owner: &str| {
        if on && kind != owner {
            Err(format!("`{name}` goes with `{owner}`, not `{kind}`"))
        } else {
            Ok(())
        }
    };
    stray("state", c.state.is_some(), "container")?;
    stray("members", c.members.is_some(), "network")?;
    stray("file", c.file.is_some(), "volume")?;
    Ok(match kind {
        "script" => {
            let script = c.script.unwrap_or_default();
            if script.trim().is_empty() {
                return Err("`script` is empty".into());
            }
            Check::Script { script, instance }
        }
        "container" => {
            let name = c.container.unwrap_or_default();
            name_ok("container", &name)?;
            let state = match c.state.as_deref() {
                None | Some("running") => ContainerState::Running,
                Some("exited") => ContainerState::Exited,
                Some("exists") => ContainerState::Exists,
                Some(s) => return Err(format!("state `{s}`: one of running, exited, exists")),
            };
            Check::Container {
                name,
                state,
                instance,
            }
        }
        "image" => {
            let reference = c.image.unwrap_or_default();
            engine::reference::Reference::parse(&reference)
                .map_err(|e| format!("image `{reference}`: {e}"))?;
            Check::Image {
                reference,
                instance,
            }
        }
        "port" => {
            let port = c.port.unwrap_or(0);
            if port == 0 {
                return Err("port 0: a port is 1 to 65535".into());
            }
            Check::Port { port, instance }
        }
        "network" => {
            let name = c.network.unwrap_or_default();
            name_ok("network", &name)?;
            Check::Network {
                name,
                members: c.members.unwrap_or(0),
                instance,
            }
        }
        _ => {
            let volume = c.volume.unwrap_or_default();
            name_ok("volume", &volume)?;
            let Some(path) = c.file else {
                return Err("`volume` needs `file`, the path of a file in it".into());
            };
            if !path.starts_with('/') || path.split('/').any(|p| p == "..") {
                return Err(format!(
                    "file `{path}`: a path from the volume's root, starting with / and without .."
                ));
            }
            Check::VolumeFile {
                volume,
                path,
                instance,
            }
        }
    })
}

/// Docker's rule for container, network and volume names.
fn name_ok(what: &str, name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(format!(
            "{what} name `{name}`: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))
    }
}

const MARKDOWN: Options = Options::ENABLE_TABLES.union(Options::ENABLE_STRIKETHROUGH);

/// Renders Markdown to HTML, raw HTML in it shown as text.
pub(super) fn render_html(body: &str) -> String {
    let mut out = String::new();
    html::push_html(
        &mut out,
        Parser::new_ext(body, MARKDOWN).map(|ev| match ev {
            Event::Html(t) | Event::InlineHtml(t) => Event::Text(t),
            other => other,
        }),
    );
    out
}

/// Renders Markdown into parts: HTML, and the shell code blocks (fenced
/// with `sh`, `bash`, `shell`, `console` or no language) as their lines,
/// a leading `$ ` prompt left out. Raw HTML in a lesson is shown as text,
/// not passed to the page.
pub(super) fn render(body: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut pending: Vec<Event<'_>> = Vec::new();
    let mut code: Option<String> = None;
    let flush = |pending: &mut Vec<Event<'_>>, parts: &mut Vec<Part>| {
        if !pending.is_empty() {
            let mut out = String::new();
            html::push_html(&mut out, pending.drain(..));
            parts.push(Part::Html(out));
        }
    };
    for ev in Parser::new_ext(body, MARKDOWN) {
        match ev {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(ref lang)))
                if matches!(
                    lang.split_whitespace().next().unwrap_or(""),
                    "" | "sh" | "bash" | "shell" | "console"
                ) =>
            {
                flush(&mut pending, &mut parts);
                code = Some(String::new());
            }
            Event::Text(ref t) if code.is_some() => {
                if let Some(c) = code.as_mut() {
                    c.push_str(t);
                }
            }
            Event::End(TagEnd::CodeBlock) if code.is_some() => {
                let text = code.take().unwrap_or_default();
                let lines: Vec<String> = text
                    .lines()
                    .map(|l| l.strip_prefix("$ ").unwrap_or(l).trim_end().to_string())
                    .filter(|l| !l.is_empty())
                    .collect();
                if !lines.is_empty() {
                    parts.push(Part::Commands(lines));
                }
            }
            Event::Html(t) | Event::InlineHtml(t) => pending.push(Event::Text(t)),
            other => pending.push(other),
        }
    }
    flush(&mut pending, &mut parts);
    parts
}
