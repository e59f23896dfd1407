//! Row builders: the fields docker's formatter contexts expose to `--format`
//! (`ContainerContext`, `ImageContext`, `historyContext`), computed from the
//! Engine API's list bodies, plus their column titles and default formats.

use super::humanize::{go_time_string, human_size, rfc3339_local, time_ago};
use super::table::Row;
use serde_json::Value;
use shared::api::{ContainerSummary, HistoryItem, ImageSummary};

pub const PS_DEFAULT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
pub const PS_DEFAULT_SIZE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}";
pub const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Platform", "PLATFORM"),
];

pub const IMAGES_DEFAULT: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
pub const IMAGES_DEFAULT_DIGESTS: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
pub const IMAGES_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("VirtualSize", "VIRTUAL SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
];

pub const HISTORY_DEFAULT: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
pub const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

pub use shared::go::quote as go_quote;

/// docker's `formatter.Ellipsis` for single-width text: keep `max-1` runes and
/// append `…` when longer than `max`.
pub fn ellipsis(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    let n = s.chars().count();
    if max == 1 {
        return s.chars().take(1).collect();
    }
    if n <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// `stringid.TruncateID`: drop an algorithm prefix, keep 12 characters.
pub fn truncate_id(id: &str) -> String {
    let id = match id.split_once(':') {
        Some((_, rest)) => rest,
        None => id,
    };
    id.chars().take(12).collect()
}

/// `api/types.DisplayablePorts` without range folding: `0.0.0.0:8080->80/tcp, 443/tcp`.
pub fn displayable_ports(ports: &[Value]) -> String {
    let mut items: Vec<(String, u64, String)> = ports
        .iter()
        .map(|p| {
            let ip = p.get("IP").and_then(Value::as_str).unwrap_or("");
            let private = p.get("PrivatePort").and_then(Value::as_u64).unwrap_or(0);
            let public = p.get("PublicPort").and_then(Value::as_u64).unwrap_or(0);
            let proto = p.get("Type").and_then(Value::as_str).unwrap_or("tcp");
            let text = if public != 0 {
                let host = if ip.contains(':') {
                    format!("[{ip}]")
                } else {
                    ip.to_string()
                };
                format!("{host}:{public}->{private}/{proto}")
            } else {
                format!("{private}/{proto}")
            };
            (ip.to_string(), private, text)
        })
        .collect();
    items.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    items.dedup_by(|a, b| a.2 == b.2);
    items
        .into_iter()
        .map(|i| i.2)
        .collect::<Vec<_>>()
        .join(", ")
}

fn labels_text(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// One `ps` row (docker's `ContainerContext`).
pub fn container_row(c: &ContainerSummary, trunc: bool) -> Row {
    let mut r = Row::new();
    let id = if trunc {
        truncate_id(&c.id)
    } else {
        c.id.clone()
    };
    r.insert("ID".into(), id);
    let names: Vec<String> = c
        .names
        .iter()
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    let names = if trunc {
        // Link names (`/other/alias`) are dropped unless --no-trunc.
        match names.iter().find(|n| !n.contains('/')) {
            Some(n) => vec![n.clone()],
            None => names,
        }
    } else {
        names
    };
    r.insert("Names".into(), names.join(","));
    let mut image = c.image.clone();
    if image.is_empty() {
        image = "<no image>".into();
    } else if trunc {
        if truncate_id(&c.image_id) == truncate_id(&c.image) {
            image = truncate_id(&c.image);
        } else if let Some((name, _digest)) = image.split_once('@') {
            image = name.to_string();
        }
    }
    r.insert("Image".into(), image);
    let cmd = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    r.insert("Command".into(), go_quote(&cmd));
    r.insert("CreatedAt".into(), go_time_string(c.created));
    r.insert("RunningFor".into(), time_ago(c.created));
    r.insert("Ports".into(), displayable_ports(&c.ports));
    r.insert("State".into(), c.state.clone());
    r.insert("Status".into(), c.status.clone());
    let srw = human_size(c.size_rw.unwrap_or(0));
    let size = match c.size_root_fs {
        Some(v) if v > 0 => format!("{srw} (virtual {})", human_size(v)),
        _ => srw,
    };
    r.insert("Size".into(), size);
    r.insert("Labels".into(), labels_text(&c.labels));
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .filter_map(|m| {
            let name = m
                .get("Name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let src = m.get("Source").and_then(Value::as_str).unwrap_or("");
            let name = name.map(str::to_string).unwrap_or_else(|| src.to_string());
            if name.is_empty() {
                None
            } else if trunc {
                Some(ellipsis(&name, 15))
            } else {
                Some(name)
            }
        })
        .collect();
    r.insert("Mounts".into(), mounts.join(","));
    let local_volumes = c
        .mounts
        .iter()
        .filter(|m| m.get("Driver").and_then(Value::as_str) == Some("local"))
        .count();
    r.insert("LocalVolumes".into(), local_volumes.to_string());
    let mut networks: Vec<String> = c
        .network_settings
        .get("Networks")
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    r.insert("Networks".into(), networks.join(","));
    r.insert("Platform".into(), String::new());
    r
}

/// Split `name:tag` at the last colon after the last slash (a registry port is
/// not a tag).
pub fn split_repo_tag(s: &str) -> (String, Option<String>) {
    let slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
    match s[slash..].rfind(':') {
        Some(i) => (
            s[..slash + i].to_string(),
            Some(s[slash + i + 1..].to_string()),
        ),
        None => (s.to_string(), None),
    }
}

/// docker's `reference.FamiliarName`: strip `docker.io/` and `library/`.
pub fn familiar_name(name: &str) -> String {
    let n = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    match n.strip_prefix("library/") {
        Some(rest) if !rest.contains('/') => rest.to_string(),
        _ => n.to_string(),
    }
}

fn image_row(img: &ImageSummary, trunc: bool, repo: &str, tag: &str, digest: &str) -> Row {
    let mut r = Row::new();
    r.insert(
        "ID".into(),
        if trunc {
            truncate_id(&img.id)
        } else {
            img.id.clone()
        },
    );
    r.insert("Repository".into(), repo.to_string());
    r.insert("Tag".into(), tag.to_string());
    r.insert("Digest".into(), digest.to_string());
    r.insert("CreatedSince".into(), time_ago(img.created));
    r.insert("CreatedAt".into(), go_time_string(img.created));
    r.insert("Size".into(), human_size(img.size));
    r.insert("VirtualSize".into(), human_size(img.size));
    r.insert(
        "SharedSize".into(),
        if img.shared_size < 0 {
            "N/A".into()
        } else {
            human_size(img.shared_size)
        },
    );
    r.insert(
        "UniqueSize".into(),
        if img.shared_size < 0 {
            "N/A".into()
        } else {
            human_size(img.size - img.shared_size)
        },
    );
    r.insert(
        "Containers".into(),
        if img.containers < 0 {
            "N/A".into()
        } else {
            img.containers.to_string()
        },
    );
    r
}

/// The rows of `docker images` (docker's `imageFormat`): one per repository tag
/// (per tag and digest of its repository when `need_digest`: `--digests` or a
/// format naming `{{.Digest}}`), then one per repository with digest references
/// only (tag `<none>`; one per digest with `--digests` = `show_digests`, else one
/// with an empty digest), `<none>` for images without any name.
pub fn image_rows(
    images: &[ImageSummary],
    trunc: bool,
    show_digests: bool,
    need_digest: bool,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for img in images {
        let mut repo_tags: Vec<(String, Vec<String>)> = Vec::new();
        for t in &img.repo_tags {
            let (repo, tag) = split_repo_tag(t);
            let (Some(tag), false) = (tag, t.contains('@')) else {
                continue;
            };
            let repo = familiar_name(&repo);
            match repo_tags.iter_mut().find(|(r, _)| *r == repo) {
                Some((_, tags)) => tags.push(tag),
                None => repo_tags.push((repo, vec![tag])),
            }
        }
        let mut repo_digests: Vec<(String, Vec<String>)> = Vec::new();
        for d in &img.repo_digests {
            let Some((repo, dg)) = d.split_once('@') else {
                continue;
            };
            let repo = familiar_name(repo);
            match repo_digests.iter_mut().find(|(r, _)| *r == repo) {
                Some((_, ds)) => ds.push(dg.to_string()),
                None => repo_digests.push((repo, vec![dg.to_string()])),
            }
        }
        let untagged = repo_tags.is_empty() && repo_digests.is_empty();
        for (repo, tags) in &repo_tags {
            let pos = repo_digests.iter().position(|(r, _)| r == repo);
            let ds = pos.map(|p| repo_digests.remove(p).1).unwrap_or_default();
            for tag in tags {
                if !need_digest || ds.is_empty() {
                    rows.push(image_row(img, trunc, repo, tag, "<none>"));
                } else {
                    for d in &ds {
                        rows.push(image_row(img, trunc, repo, tag, d));
                    }
                }
            }
        }
        for (repo, ds) in &repo_digests {
            if show_digests {
                for d in ds {
                    rows.push(image_row(img, trunc, repo, "<none>", d));
                }
            } else {
                rows.push(image_row(img, trunc, repo, "<none>", ""));
            }
        }
        if untagged {
            rows.push(image_row(img, trunc, "<none>", "<none>", "<none>"));
        }
    }
    rows
}

/// One `history` row (docker's `historyContext`).
pub fn history_row(h: &HistoryItem, trunc: bool, human: bool) -> Row {
    let mut r = Row::new();
    r.insert(
        "ID".into(),
        if trunc {
            truncate_id(&h.id)
        } else {
            h.id.clone()
        },
    );
    let since = if human {
        time_ago(h.created)
    } else {
        rfc3339_local(h.created)
    };
    r.insert("CreatedSince".into(), since);
    r.insert("CreatedAt".into(), rfc3339_local(h.created));
    let by = h.created_by.replace('\t', " ");
    r.insert(
        "CreatedBy".into(),
        if trunc { ellipsis(&by, 45) } else { by },
    );
    r.insert(
        "Size".into(),
        if human {
            human_size(h.size)
        } else {
            h.size.to_string()
        },
    );
    r.insert("Comment".into(), h.comment.clone());
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::table::render;
    use serde_json::json;

    fn ps_fixture() -> Vec<ContainerSummary> {
        serde_json::from_value(json!([
            {"Id": "4f1c2a9e8b7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3",
             "Names": ["/web"], "Image": "nginx", "ImageID": "sha256:aaaa",
             "Command": "nginx -g 'daemon off;'", "Created": 0,
             "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
             "Labels": {}, "State": "running", "Status": "Up 3 seconds",
             "HostConfig": {"NetworkMode": "default"}, "NetworkSettings": {}, "Mounts": []},
            {"Id": "0123456789abcdef", "Names": ["/quirky_bohr"], "Image": "busybox",
             "ImageID": "sha256:bbbb", "Command": "echo hi", "Created": 0, "Ports": [],
             "Labels": {"a": "1"}, "State": "exited", "Status": "Exited (0) 5 seconds ago",
             "HostConfig": {"NetworkMode": "default"}, "NetworkSettings": {}, "Mounts": []}
        ]))
        .unwrap()
    }

    #[test]
    fn ps_table_matches_docker_layout() {
        let rows: Vec<Row> = ps_fixture()
            .iter()
            .map(|c| container_row(c, true))
            .collect();
        let fmt = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
        let out = render(fmt, &rows, PS_HEADERS).unwrap();
        let expected = "\
CONTAINER ID   IMAGE     COMMAND                  STATUS                     PORTS                  NAMES
4f1c2a9e8b7d   nginx     \"nginx -g 'daemon of…\"   Up 3 seconds               0.0.0.0:8080->80/tcp   web
0123456789ab   busybox   \"echo hi\"                Exited (0) 5 seconds ago                          quirky_bohr
";
        assert_eq!(out, expected);
    }

    #[test]
    fn ps_no_trunc_keeps_full_id_and_command() {
        let c = &ps_fixture()[0];
        let r = container_row(c, false);
        assert_eq!(r["ID"].len(), 64);
        assert_eq!(r["Command"], "\"nginx -g 'daemon off;'\"");
        assert_eq!(container_row(&ps_fixture()[1], true)["Labels"], "a=1");
    }

    #[test]
    fn command_quoting_is_go_strconv_quote() {
        assert_eq!(go_quote("echo \"hi\"\n"), "\"echo \\\"hi\\\"\\n\"");
        assert_eq!(go_quote("sh -c …"), "\"sh -c …\"");
        assert_eq!(
            ellipsis("abcdefghijklmnopqrstuvwxyz", 20),
            "abcdefghijklmnopqrs…"
        );
        assert_eq!(ellipsis("short", 20), "short");
    }

    fn images_fixture() -> Vec<ImageSummary> {
        serde_json::from_value(json!([
            {"Id": "sha256:65ad0d468eb1c558bf7f4e64e790f586e9eda649ee9f130cd0e835b292bbc5ac",
             "ParentId": "", "RepoTags": ["busybox:latest", "mybox:v1"],
             "RepoDigests": ["busybox@sha256:ab12"], "Created": 0, "Size": 4261000,
             "SharedSize": -1, "Labels": {}, "Containers": -1},
            {"Id": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
             "ParentId": "", "RepoTags": [], "RepoDigests": [], "Created": 0, "Size": 0,
             "SharedSize": -1, "Labels": {}, "Containers": -1}
        ]))
        .unwrap()
    }

    #[test]
    fn images_rows_expand_tags_and_show_none() {
        let rows = image_rows(&images_fixture(), true, false, false);
        let out = render(
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}",
            &rows,
            IMAGES_HEADERS,
        )
        .unwrap();
        let expected = "\
REPOSITORY   TAG       IMAGE ID       SIZE
busybox      latest    65ad0d468eb1   4.26MB
mybox        v1        65ad0d468eb1   4.26MB
<none>       <none>    111111111111   0B
";
        assert_eq!(out, expected);
        let with_digests = image_rows(&images_fixture(), true, true, true);
        assert_eq!(with_digests[0]["Digest"], "sha256:ab12");
        assert_eq!(with_digests[1]["Digest"], "<none>");
    }

    #[test]
    fn digest_only_images_list_their_repository_without_a_tag() {
        let d1 = format!("sha256:{}", "a".repeat(64));
        let d2 = format!("sha256:{}", "b".repeat(64));
        let images: Vec<ImageSummary> = serde_json::from_value(json!([
            {"Id": format!("sha256:{}", "2".repeat(64)), "ParentId": "",
             "RepoTags": ["localhost:5000/app:1"],
             "RepoDigests": [format!("localhost:5000/app@{d1}"), format!("other@{d2}")],
             "Created": 0, "Size": 0, "SharedSize": -1, "Labels": {}, "Containers": -1}
        ]))
        .unwrap();
        let cols = |rows: &[Row]| -> Vec<String> {
            rows.iter()
                .map(|r| format!("{} {} {}", r["Repository"], r["Tag"], r["Digest"]))
                .collect()
        };
        // `--digests`: the tag row carries its repository's digest, the other
        // repository gets a row per digest.
        assert_eq!(
            cols(&image_rows(&images, true, true, true)),
            [
                format!("localhost:5000/app 1 {d1}"),
                format!("other <none> {d2}")
            ]
        );
        // Plain: no digest on tag rows; digest-only repositories as docker's
        // formatter: one row, empty digest.
        assert_eq!(
            cols(&image_rows(&images, true, false, false)),
            ["localhost:5000/app 1 <none>", "other <none> "]
        );
        // `--format '{{.Digest}}'` without `--digests`.
        assert_eq!(
            cols(&image_rows(&images, true, false, true)),
            [format!("localhost:5000/app 1 {d1}"), "other <none> ".into()]
        );
    }

    #[test]
    fn repo_tag_split_respects_registry_ports() {
        assert_eq!(
            split_repo_tag("localhost:5000/app:1"),
            ("localhost:5000/app".into(), Some("1".into()))
        );
        assert_eq!(
            split_repo_tag("localhost:5000/app"),
            ("localhost:5000/app".into(), None)
        );
        assert_eq!(familiar_name("docker.io/library/busybox"), "busybox");
    }

    #[test]
    fn history_rows_truncate_created_by() {
        let h = HistoryItem {
            id: "<missing>".into(),
            created: 0,
            created_by: "/bin/sh -c #(nop)\tCMD [\"sh\"] and then a lot more text here".into(),
            tags: vec![],
            size: 0,
            comment: String::new(),
        };
        let r = history_row(&h, true, true);
        assert_eq!(r["ID"], "<missing>");
        assert_eq!(r["CreatedBy"].chars().count(), 45);
        assert!(r["CreatedBy"].ends_with('…'));
        assert_eq!(history_row(&h, false, false)["Size"], "0");
    }

    #[test]
    fn ports_render_like_docker() {
        let p = vec![
            json!({"PrivatePort": 443, "Type": "tcp"}),
            json!({"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}),
        ];
        assert_eq!(displayable_ports(&p), "[::]:8080->80/tcp, 443/tcp");
    }
}
