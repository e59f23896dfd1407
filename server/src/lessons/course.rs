//! The course our users teach, as lessons, built into the binary. The
//! files are in `server/lessons/`; a test checks this list names them all.

use shared::lessons::Lesson;

use super::{gather, lesson, Files, LessonError};

macro_rules! files {
    ($id:literal: $($f:literal),+) => {
        ($id, &[$(($f, include_str!(concat!("../../lessons/", $id, "/", $f)))),+])
    };
}

/// Each lesson's folder and its files.
pub(super) const COURSE: &[(&str, &[(&str, &str)])] = &[
    files!("01-containers": "01-run.md", "02-commit.md", "03-background.md", "04-exec-logs.md", "05-clean-up.md", "lesson.md"),
    files!("02-images": "01-tag.md", "02-save-load.md", "03-remove.md", "lesson.md"),
    files!("03-volumes": "01-host-folder.md", "02-volumes-from.md", "03-named.md", "lesson.md"),
    files!("04-networking": "01-publish.md", "02-dynamic.md", "03-network.md", "04-connect.md", "lesson.md"),
    files!("05-registries": "01-run-registry.md", "02-push.md", "03-pull.md", "lesson.md"),
    files!("06-building": "01-first-build.md", "02-add-a-file.md", "03-multi-stage.md", "lesson.md"),
    files!("07-under-the-hood": "01-client-in-a-container.md", "02-network-stack.md", "03-processes.md", "lesson.md"),
    files!("08-limits": "01-memory.md", "02-cpu.md", "lesson.md"),
];

/// The built-in course.
pub fn builtin() -> Result<Vec<Lesson>, Vec<LessonError>> {
    gather(COURSE.iter().map(|(id, files)| {
        let files = files
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        lesson(&format!("lessons/{id}"), Files { id, files })
    }))
}

/// The built-in course, read once for the whole process (every
/// `PlaygroundOptions::default()` shares it). Its files are checked by a
/// test, so nothing is refused here.
pub fn builtin_shared() -> std::sync::Arc<Vec<Lesson>> {
    static COURSE_READ: std::sync::OnceLock<std::sync::Arc<Vec<Lesson>>> =
        std::sync::OnceLock::new();
    COURSE_READ
        .get_or_init(|| std::sync::Arc::new(builtin().unwrap_or_default()))
        .clone()
}
