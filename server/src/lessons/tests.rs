use std::path::Path;

use shared::lessons::{Check, ContainerState, Part};

use super::*;

fn one(files: &[(&str, &str)]) -> Result<Lesson, Vec<LessonError>> {
    let files = files
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    lesson("les", Files { id: "first", files })
}

const INTRO: &str = "---\ntitle: First\ninstances: 2\n---\nHello *there*.\n";

fn errors_of(files: &[(&str, &str)]) -> Vec<String> {
    one(files)
        .expect_err("the lesson should be refused")
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_lesson_reads_with_its_steps_in_order_commands_and_checks() {
    let l = one(&[
        (
            "02-second.md",
            "---\ntitle: Second\ncheck:\n  - container: web\n    state: exited\n  - port: 8080\n    instance: 2\n---\nno commands\n",
        ),
        ("lesson.md", INTRO),
        (
            "01-first.md",
            "---\ntitle: Run it\ncheck:\n  image: localhost:5000/a/b:9\nhint: try harder\n---\nRun:\n\n```sh\n$ docker run -d --name web busybox\ndocker ps\n```\n\n```text\nnot a command\n```\n\n```\ndocker images\n```\n",
        ),
        ("notes.txt", "ignored"),
    ])
    .unwrap();
    assert_eq!(
        (l.id.as_str(), l.title.as_str(), l.instances),
        ("first", "First", 2)
    );
    assert!(l.intro_html.contains("<em>there</em>"), "{}", l.intro_html);
    let ids: Vec<&str> = l.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["01-first", "02-second"]);
    let s = &l.steps[0];
    assert_eq!(
        s.commands().collect::<Vec<_>>(),
        [
            "docker run -d --name web busybox",
            "docker ps",
            "docker images"
        ]
    );
    // Text, a block of two commands, a block that is not shell, the last block.
    assert!(
        matches!(&s.body[0], Part::Html(h) if h == "<p>Run:</p>\n"),
        "{:?}",
        s.body
    );
    assert!(matches!(&s.body[1], Part::Commands(c) if c.len() == 2));
    assert!(
        matches!(&s.body[2], Part::Html(h) if h.contains("language-text") && h.contains("not a command"))
    );
    assert!(matches!(&s.body[3], Part::Commands(c) if c == &["docker images"]));
    assert_eq!(
        s.checks,
        [Check::Image {
            reference: "localhost:5000/a/b:9".into(),
            instance: 1
        }]
    );
    assert_eq!(s.hint.as_deref(), Some("try harder"));
    assert_eq!(
        l.steps[1].checks,
        [
            Check::Container {
                name: "web".into(),
                state: ContainerState::Exited,
                instance: 1
            },
            Check::Port {
                port: 8080,
                instance: 2
            }
        ]
    );
    assert_eq!(l.steps[1].commands().count(), 0);
}

#[test]
fn raw_html_in_a_lesson_is_shown_as_text() {
    let l = one(&[
        ("lesson.md", INTRO),
        (
            "01-a.md",
            "---\ntitle: A\n---\n<script>alert(1)</script>\n\nand <b>inline</b>\n",
        ),
    ])
    .unwrap();
    let Part::Html(html) = &l.steps[0].body[0] else {
        panic!("{:?}", l.steps[0].body)
    };
    assert!(
        !html.contains("<script>") && !html.contains("<b>"),
        "{html}"
    );
    assert!(html.contains("&lt;script&gt;"), "{html}");
}

#[test]
fn errors_name_the_file_the_line_and_the_field() {
    let cases: &[(&str, &str)] = &[
        // A misspelt key: serde_yaml's line, offset past the `---` line.
        (
            "---\ntitle: A\ncheck:\n  contaner: web\n---\n",
            "les/01-a.md:4: check: unknown field `contaner`",
        ),
        (
            "---\ntitle: A\ncheck:\n  container: web\n  port: 80\n---\n",
            "les/01-a.md:3: check: one kind per check, not container and port",
        ),
        (
            "---\ntitle: A\ncheck:\n  - image: busybox\n  - port: 80\n    instance: 3\n---\n",
            "les/01-a.md:3: check[1]: instance 3: the lesson has 2 instances",
        ),
        (
            "---\ntitle: A\ncheck:\n  container: web\n  state: sleeping\n---\n",
            "les/01-a.md:3: check: state `sleeping`: one of running, exited, exists",
        ),
        (
            "---\ntitle: A\ncheck:\n  image: my/Image\n---\n",
            "les/01-a.md:3: check: image `my/Image`: invalid reference format: repository name (my/Image) must be lowercase",
        ),
        (
            "---\ntitle: A\ncheck:\n  volume: notes\n  file: ../etc/passwd\n---\n",
            "les/01-a.md:3: check: file `../etc/passwd`",
        ),
        (
            "---\ntitle: A\ncheck:\n  volume: notes\n---\n",
            "les/01-a.md:3: check: `volume` needs `file`",
        ),
        (
            "---\ntitle: A\ncheck:\n  network: n\n  state: running\n---\n",
            "les/01-a.md:3: check: `state` goes with `container`, not `network`",
        ),
        (
            "---\ntitle: A\ncheck:\n  port: 70000\n---\n",
            "les/01-a.md:4: check.port: invalid value: integer `70000`, expected u16",
        ),
        (
            "---\ntitle: A\ncheck:\n  script: '  '\n---\n",
            "les/01-a.md:3: check: `script` is empty",
        ),
        ("---\ntitle: ''\n---\n", "les/01-a.md:2: title: empty"),
        ("title: A\n", "les/01-a.md:1: a lesson file starts with front matter"),
        ("---\ntitle: A\n", "les/01-a.md:1: the front matter has no closing"),
        ("---\ntitle: [A\n---\n", "les/01-a.md:"),
    ];
    for (text, want) in cases {
        let got = errors_of(&[("lesson.md", INTRO), ("01-a.md", text)]);
        assert_eq!(got.len(), 1, "{text}: {got:?}");
        assert!(
            got[0].starts_with(want),
            "{text}:\n got {}\nwant {want}",
            got[0]
        );
    }
}

#[test]
fn every_error_of_a_lesson_is_reported_at_once() {
    let got = errors_of(&[
        ("lesson.md", "---\ntitle: T\ninstances: 9\n---\n"),
        ("1a.md", "---\ntitle: A\n---\n"),
        ("02-b.md", "---\ntitle: B\nhnt: x\n---\n"),
    ]);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[0].starts_with("les/lesson.md:3: instances: 9: a lesson uses 1 to 5"));
    assert!(
        got[1].starts_with("les/02-b.md:3: unknown field `hnt`"),
        "{}",
        got[1]
    );
    assert!(got[2].starts_with("les/1a.md: a step's file is named NN-name.md"));
    assert_eq!(
        errors_of(&[("01-a.md", "---\ntitle: A\n---\n")]),
        ["les: no lesson.md (its title, instances and introduction)"]
    );
    assert_eq!(
        errors_of(&[("lesson.md", INTRO)]),
        ["les: no steps: add files named NN-name.md beside lesson.md"]
    );
}

#[test]
fn the_built_in_course_reads_and_lists_every_file() {
    let lessons = builtin().unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    let titles: Vec<&str> = lessons.iter().map(|l| l.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Containers",
            "Images",
            "Volumes",
            "Networking",
            "Registries",
            "Building images",
            "Under the hood",
            "Limits"
        ]
    );
    // Every step has something to type.
    for l in &lessons {
        for s in &l.steps {
            assert!(
                s.commands().count() > 0,
                "{}/{} has no commands",
                l.id,
                s.id
            );
        }
    }
    // The list in course.rs names every file of server/lessons.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
    let mut on_disk = Vec::new();
    for d in std::fs::read_dir(&dir).unwrap() {
        let d = d.unwrap();
        for f in std::fs::read_dir(d.path()).unwrap() {
            on_disk.push(format!(
                "{}/{}",
                d.file_name().to_string_lossy(),
                f.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = course::COURSE
        .iter()
        .flat_map(|(id, files)| files.iter().map(move |(n, _)| format!("{id}/{n}")))
        .collect();
    listed.sort();
    assert_eq!(listed, on_disk);
    // And load_dir reads the same folder to the same lessons.
    assert_eq!(load_dir(&dir).unwrap(), lessons);
}

#[test]
fn load_dir_reads_one_lesson_or_a_folder_of_them() {
    let root = tempfile::tempdir().unwrap();
    let les = root.path().join("10-mine");
    std::fs::create_dir(&les).unwrap();
    std::fs::write(les.join("lesson.md"), INTRO).unwrap();
    std::fs::write(
        les.join("01-a.md"),
        "---\ntitle: A\n---\n```sh\ntrue\n```\n",
    )
    .unwrap();
    assert_eq!(load_dir(&les).unwrap()[0].id, "10-mine");
    assert_eq!(load_dir(root.path()).unwrap().len(), 1);
    std::fs::write(les.join("02-b.md"), "---\ntitle: B\ncheck: {}\n---\n").unwrap();
    let e = load_dir(root.path()).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(e[0].to_string().ends_with("10-mine/02-b.md:3: check: says nothing to check: give one of script, container, image, port, network, volume"), "{}", e[0]);
    let empty = tempfile::tempdir().unwrap();
    assert!(load_dir(empty.path()).unwrap_err()[0]
        .message
        .starts_with("no lessons"));
}
