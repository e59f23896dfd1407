//! What the lesson panel shows of a lesson, from the session's progress:
//! each step done, current (its checks run) or ahead. Pure, so it is tested
//! natively.

use shared::lessons::{Lesson, LessonProgress};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Done,
    /// The first step not done: its checks run, its commands are offered.
    Current,
    Ahead,
}

/// The status of each step of `lesson`.
pub fn statuses(lesson: &Lesson, p: &LessonProgress) -> Vec<StepStatus> {
    let done = p.done.get(&lesson.id);
    let mut current_seen = false;
    lesson
        .steps
        .iter()
        .map(|s| {
            if done.is_some_and(|d| d.contains(&s.id)) {
                StepStatus::Done
            } else if !current_seen {
                current_seen = true;
                StepStatus::Current
            } else {
                StepStatus::Ahead
            }
        })
        .collect()
}

/// "2 of 5 steps done".
pub fn summary(lesson: &Lesson, p: &LessonProgress) -> String {
    let n = statuses(lesson, p)
        .iter()
        .filter(|s| **s == StepStatus::Done)
        .count();
    let total = lesson.steps.len();
    if n == total {
        format!("All {total} steps done")
    } else {
        format!("{n} of {total} steps done")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::lessons::Step;

    fn lesson() -> Lesson {
        let step = |id: &str| Step {
            id: id.into(),
            title: id.into(),
            body: vec![],
            checks: vec![],
            hint: None,
        };
        Lesson {
            id: "l".into(),
            title: "L".into(),
            instances: 1,
            intro_html: String::new(),
            steps: vec![step("01-a"), step("02-b"), step("03-c")],
        }
    }

    #[test]
    fn the_first_step_not_done_is_current_even_after_a_later_one() {
        let l = lesson();
        let mut p = LessonProgress::default();
        use StepStatus::*;
        assert_eq!(statuses(&l, &p), [Current, Ahead, Ahead]);
        assert_eq!(summary(&l, &p), "0 of 3 steps done");
        p.done
            .insert("l".into(), vec!["01-a".into(), "03-c".into()]);
        assert_eq!(statuses(&l, &p), [Done, Current, Done]);
        assert_eq!(summary(&l, &p), "2 of 3 steps done");
        p.done.get_mut("l").unwrap().push("02-b".into());
        assert_eq!(statuses(&l, &p), [Done, Done, Done]);
        assert_eq!(summary(&l, &p), "All 3 steps done");
        // Another lesson's progress is not this one's.
        p.done.clear();
        p.done.insert("other".into(), vec!["01-a".into()]);
        assert_eq!(statuses(&l, &p)[0], Current);
    }
}
