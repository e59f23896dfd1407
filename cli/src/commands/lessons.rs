//! `dockhand lessons`: guided lessons for the playground. `check DIR` reads
//! lessons as `serve --lessons DIR` would and prints every error with its
//! file, line and field.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum LessonsCmd {
    /// Check a folder of lessons (or one lesson) and report every error
    Check(CheckArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// A folder of lesson folders, or one lesson folder (with lesson.md)
    pub dir: PathBuf,
}

/// Runs the command; the exit code.
pub fn run(cmd: LessonsCmd) -> i32 {
    match cmd {
        LessonsCmd::Check(a) => match server::lessons::load_dir(&a.dir) {
            Ok(lessons) => {
                let steps: usize = lessons.iter().map(|l| l.steps.len()).sum();
                let checks: usize = lessons
                    .iter()
                    .flat_map(|l| &l.steps)
                    .filter(|s| !s.checks.is_empty())
                    .count();
                let plural =
                    |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
                println!(
                    "{}: {}, {} ({} with checks): ok",
                    a.dir.display(),
                    plural(lessons.len(), "lesson"),
                    plural(steps, "step"),
                    checks
                );
                0
            }
            Err(errors) => {
                for e in &errors {
                    eprintln!("{e}");
                }
                eprintln!(
                    "{} error{}",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" }
                );
                1
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_passes_the_course_and_fails_a_broken_lesson() {
        let course = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/lessons");
        assert_eq!(run(LessonsCmd::Check(CheckArgs { dir: course })), 0);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lesson.md"), "---\ntitle: T\n---\n").unwrap();
        std::fs::write(dir.path().join("01-a.md"), "---\ntitle: A\ncheck: 5\n---\n").unwrap();
        assert_eq!(
            run(LessonsCmd::Check(CheckArgs {
                dir: dir.path().into()
            })),
            1
        );
        let missing = dir.path().join("nothing");
        assert_eq!(run(LessonsCmd::Check(CheckArgs { dir: missing })), 1);
    }
}
