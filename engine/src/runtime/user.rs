//! Resolving `--user` against the container's own `/etc/passwd` and `/etc/group`,
//! as Docker does: `name`, `uid`, `name:group`, `uid:gid`; supplementary groups from
//! `/etc/group`; a missing passwd file is fine for numeric ids.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
}

struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn parse_passwd(text: &str) -> Vec<Passwd> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(Passwd {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

struct Group {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn parse_group(text: &str) -> Vec<Group> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(Group {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect(),
            })
        })
        .collect()
}

/// Resolve a `--user` spec with the texts of the container's passwd and group files.
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<ExecUser, String> {
    let users = parse_passwd(passwd);
    let groups = parse_group(group);
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = users.iter().find(|p| p.name == u);
    let (uid, mut gid, home, name) = match (entry, u.parse::<u32>()) {
        (Some(p), _) => (p.uid, p.gid, p.home.clone(), Some(p.name.clone())),
        (None, Ok(n)) => match users.iter().find(|p| p.uid == n) {
            Some(p) => (n, p.gid, p.home.clone(), Some(p.name.clone())),
            None => (n, 0, "/".to_string(), None),
        },
        (None, Err(_)) => {
            return Err(format!(
                "unable to find user {u}: no matching entries in passwd file"
            ))
        }
    };
    if let Some(g) = g {
        gid = match (groups.iter().find(|e| e.name == g), g.parse::<u32>()) {
            (Some(e), _) => e.gid,
            (None, Ok(n)) => n,
            (None, Err(_)) => {
                return Err(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            }
        };
    }
    let mut extra: Vec<u32> = match &name {
        Some(n) if g.is_none() => groups
            .iter()
            .filter(|e| e.members.iter().any(|m| m == n))
            .map(|e| e.gid)
            .collect(),
        _ => vec![],
    };
    if !extra.contains(&gid) {
        extra.insert(0, gid);
    }
    Ok(ExecUser {
        uid,
        gid,
        groups: extra,
        home,
    })
}

/// Adds `HostConfig.GroupAdd` to the supplementary groups, as moby does: a
/// number as it is, a name looked up in the container's `/etc/group`.
pub fn add_groups(mut who: ExecUser, add: &[String], group: &str) -> Result<ExecUser, String> {
    if add.is_empty() {
        return Ok(who);
    }
    let groups = parse_group(group);
    for g in add {
        let gid = match (groups.iter().find(|e| &e.name == g), g.parse::<u32>()) {
            (Some(e), _) => e.gid,
            (None, Ok(n)) => n,
            (None, Err(_)) => {
                return Err(format!(
                    "Unable to find group {g}: no matching entries in group file"
                ))
            }
        };
        if !who.groups.contains(&gid) {
            who.groups.push(gid);
        }
    }
    Ok(who)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nalice:x:1000:\nwheel:x:10:alice\n";

    #[test]
    fn names_ids_and_groups_resolve_like_docker() {
        let root = resolve("", PASSWD, GROUP).unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        let a = resolve("alice", PASSWD, GROUP).unwrap();
        assert_eq!((a.uid, a.gid), (1000, 1000));
        assert_eq!(a.groups, vec![1000, 10]);
        let n = resolve("1234:42", PASSWD, GROUP).unwrap();
        assert_eq!((n.uid, n.gid, n.home.as_str()), (1234, 42, "/"));
        let ng = resolve("nobody:wheel", PASSWD, GROUP).unwrap();
        assert_eq!((ng.uid, ng.gid), (65534, 10));
    }

    #[test]
    fn unknown_names_give_dockers_text() {
        assert_eq!(
            resolve("bob", PASSWD, GROUP).unwrap_err(),
            "unable to find user bob: no matching entries in passwd file"
        );
        assert!(resolve("alice:nope", PASSWD, GROUP)
            .unwrap_err()
            .contains("unable to find group nope"));
    }

    #[test]
    fn group_add_takes_numbers_and_names() {
        let who = resolve("alice", PASSWD, GROUP).unwrap();
        let who = add_groups(
            who,
            &["1001".into(), "wheel".into(), "nogroup".into()],
            GROUP,
        )
        .unwrap();
        assert_eq!(who.groups, vec![1000, 10, 1001, 65534]);
        let who = resolve("root", PASSWD, GROUP).unwrap();
        assert_eq!(
            add_groups(who, &["nosuch".into()], GROUP).unwrap_err(),
            "Unable to find group nosuch: no matching entries in group file"
        );
    }
}
