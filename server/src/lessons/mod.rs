//! Guided lessons: folders of Markdown read from `--lessons DIR` or built
//! in (`course`, the course our users teach), checked with clear errors
//! (`dockhand lessons check DIR`).
//!
//! A lessons folder holds one folder per lesson, in the order of their
//! names. A lesson folder holds `lesson.md` (front matter `title`, and
//! `instances`, 1 to 5, default 1; its text is the introduction) and one
//! file per step, `NN-name.md`, in the order of their names (front matter
//! `title`, optional `check` and `hint`; the text is the step). The format
//! is documented in the README ("Lessons").

mod course;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

use shared::lessons::{Lesson, Step};

pub use course::{builtin, builtin_shared};

/// What is wrong with a lesson, where.
#[derive(Debug, Clone, PartialEq)]
pub struct LessonError {
    /// The file (or folder), as given.
    pub file: String,
    pub line: Option<usize>,
    /// The front matter field: `check`, `check[1]`, `instances`.
    pub field: Option<String>,
    pub message: String,
}

impl LessonError {
    fn new(
        file: &str,
        line: Option<usize>,
        field: Option<String>,
        message: impl Into<String>,
    ) -> LessonError {
        LessonError {
            file: file.to_string(),
            line,
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for LessonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// A lesson's files: its folder's name and (file name, text) pairs.
pub struct Files<'a> {
    pub id: &'a str,
    pub files: Vec<(String, String)>,
}

/// Reads one lesson from its files; every error found, not only the first.
pub fn lesson(dir_label: &str, files: Files<'_>) -> Result<Lesson, Vec<LessonError>> {
    let mut errors = Vec::new();
    let at = |name: &str| format!("{dir_label}/{name}");
    if !slug_ok(files.id) {
        errors.push(LessonError::new(
            dir_label,
            None,
            None,
            "a lesson folder's name is lower-case letters, digits and dashes",
        ));
    }
    let Some((_, intro)) = files.files.iter().find(|(n, _)| n == "lesson.md") else {
        errors.push(LessonError::new(
            dir_label,
            None,
            None,
            "no lesson.md (its title, instances and introduction)",
        ));
        return Err(errors);
    };
    let (title, instances, intro_html) = match lesson_matter(&at("lesson.md"), intro) {
        Ok(v) => v,
        Err(e) => {
            errors.push(e);
            (String::new(), 1, String::new())
        }
    };
    let mut names: Vec<&(String, String)> = files
        .files
        .iter()
        .filter(|(n, _)| n != "lesson.md" && n.ends_with(".md"))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let mut steps = Vec::new();
    for (name, text) in names {
        let file = at(name);
        let id = name.trim_end_matches(".md");
        let numbered = id.split_once('-').is_some_and(|(n, rest)| {
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && slug_ok(rest)
        });
        if !numbered {
            errors.push(LessonError::new(
                &file,
                None,
                None,
                "a step's file is named NN-name.md (digits, a dash, lower-case letters, digits and dashes)",
            ));
            continue;
        }
        match step(&file, id, text, instances) {
            Ok(s) => steps.push(s),
            Err(e) => errors.push(e),
        }
    }
    if steps.is_empty() && errors.is_empty() {
        errors.push(LessonError::new(
            dir_label,
            None,
            None,
            "no steps: add files named NN-name.md beside lesson.md",
        ));
    }
    if errors.is_empty() {
        Ok(Lesson {
            id: files.id.to_string(),
            title,
            instances,
            intro_html,
            steps,
        })
    } else {
        Err(errors)
    }
}

/// A file's front matter read into `T`, whose title must not be empty.
fn front<'a, T: serde::de::DeserializeOwned>(
    file: &str,
    text: &'a str,
    title: impl Fn(&T) -> &String,
) -> Result<(parse::Split<'a>, T), LessonError> {
    let split = parse::split(text).map_err(|(l, m)| LessonError::new(file, Some(l), None, m))?;
    let m: T = parse::matter(file, split.matter)?;
    if title(&m).trim().is_empty() {
        return Err(LessonError::new(
            file,
            parse::key_line(split.matter, "title"),
            Some("title".into()),
            "empty",
        ));
    }
    Ok((split, m))
}

/// All the lessons, or all the errors of any.
fn gather(
    results: impl Iterator<Item = Result<Lesson, Vec<LessonError>>>,
) -> Result<Vec<Lesson>, Vec<LessonError>> {
    let mut lessons = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(l) => lessons.push(l),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(lessons)
    } else {
        Err(errors)
    }
}

fn lesson_matter(file: &str, text: &str) -> Result<(String, u8, String), LessonError> {
    let (split, m): (_, parse::LessonMatter) =
        front(file, text, |m: &parse::LessonMatter| &m.title)?;
    if !(1..=5).contains(&m.instances) {
        return Err(LessonError::new(
            file,
            parse::key_line(split.matter, "instances"),
            Some("instances".into()),
            format!("{}: a lesson uses 1 to 5 instances", m.instances),
        ));
    }
    let html = parse::render_html(split.body);
    Ok((m.title.trim().to_string(), m.instances, html))
}

fn step(file: &str, id: &str, text: &str, instances: u8) -> Result<Step, LessonError> {
    let (split, m): (_, parse::StepMatter) = front(file, text, |m: &parse::StepMatter| &m.title)?;
    let checks = parse::checks(
        file,
        parse::key_line(split.matter, "check"),
        m.check,
        instances,
    )?;
    Ok(Step {
        id: id.to_string(),
        title: m.title.trim().to_string(),
        body: parse::render(split.body),
        checks,
        hint: m
            .hint
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty()),
    })
}

fn slug_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Reads the lessons under `dir`: one lesson when it holds `lesson.md`,
/// else each folder in it, in the order of their names.
pub fn load_dir(dir: &Path) -> Result<Vec<Lesson>, Vec<LessonError>> {
    let label = dir.display().to_string();
    let io = |p: &Path, e: std::io::Error| {
        vec![LessonError::new(
            &p.display().to_string(),
            None,
            None,
            e.to_string(),
        )]
    };
    if dir.join("lesson.md").is_file() {
        return read_lesson(dir).map(|l| vec![l]);
    }
    let mut dirs: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(vec![LessonError::new(
            &label,
            None,
            None,
            "no lessons: a folder per lesson, each with a lesson.md",
        )]);
    }
    gather(dirs.iter().map(|d| read_lesson(d)))
}

fn read_lesson(dir: &Path) -> Result<Lesson, Vec<LessonError>> {
    let label = dir.display().to_string();
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| vec![LessonError::new(&label, None, None, e.to_string())])?;
    let mut errors = Vec::new();
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".md") || !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        match std::fs::read_to_string(e.path()) {
            Ok(text) => files.push((name, text)),
            Err(err) => errors.push(LessonError::new(
                &format!("{label}/{name}"),
                None,
                None,
                err.to_string(),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    lesson(&label, Files { id: &id, files })
}
