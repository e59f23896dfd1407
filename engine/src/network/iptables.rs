//! iptables as transactions: read every table once with `iptables-save`, decide
//! from that text what to add and delete, and apply all of it with one
//! `iptables-restore --noflush` (one kernel transaction with the nft backend).
//!
//! One `iptables -C`/`-A` per rule costs a fork and an exec each (tens of them for a
//! network); a save plus a restore costs two, whatever the number of rules. Both
//! commands run in the namespace of an [`NsHandle`], so the same code programs the
//! machine or a virtual host.
//!
//! Rules are compared in the form `iptables-save` prints them (`-s`, `-d`, `-i`,
//! `-o`, `-p`, then matches in the order given, then `-j`), with quotes removed: the
//! rules we write are spelled that way, so "is it there" is a string comparison.
//! A rule is deleted with the exact text `iptables-save` printed for it.
//!
//! Declaring a chain (`:CHAIN - [0:0]`) in a `--noflush` restore flushes it when it
//! exists, so only missing chains are declared.

use std::collections::BTreeMap;

use super::netns::NsHandle;
use crate::error::Result;
use crate::network::NetworkError;
use crate::Error;

/// One rule of a chain, as `iptables-save` printed it.
#[derive(Debug, Clone)]
pub struct Rule {
    pub table: String,
    pub chain: String,
    /// The text after `-A CHAIN `, as printed (quotes kept: restore parses them).
    pub raw: String,
    /// The same, tokenised without quotes.
    pub args: Vec<String>,
    /// The value of `--comment`, if any.
    pub tag: Option<String>,
}

impl Rule {
    /// The chain this rule jumps to (`-j X` / `-g X`).
    pub fn target(&self) -> Option<&str> {
        let i = self.args.iter().position(|a| a == "-j" || a == "-g")?;
        self.args.get(i + 1).map(String::as_str)
    }
}

#[derive(Debug, Default)]
struct Table {
    chains: Vec<String>,
    rules: Vec<Rule>,
}

/// What `iptables-save` printed.
#[derive(Debug, Default)]
pub struct Saved {
    tables: BTreeMap<String, Table>,
}

/// Tokens of a rule without quotes (our tags never hold spaces).
pub fn tokens(args: &str) -> Vec<String> {
    args.split_whitespace()
        .map(|t| t.trim_matches('"').to_string())
        .collect()
}

impl Saved {
    pub fn parse(text: &str) -> Saved {
        let mut saved = Saved::default();
        let mut table: Option<String> = None;
        for line in text.lines() {
            if let Some(t) = line.strip_prefix('*') {
                table = Some(t.trim().to_string());
                saved.tables.entry(t.trim().to_string()).or_default();
                continue;
            }
            let Some(t) = &table else { continue };
            if let Some(decl) = line.strip_prefix(':') {
                if let Some(name) = decl.split_whitespace().next() {
                    if let Some(tab) = saved.tables.get_mut(t) {
                        tab.chains.push(name.to_string());
                    }
                }
            } else if let Some(rest) = line.strip_prefix("-A ") {
                let Some((chain, raw)) = rest.split_once(' ') else {
                    continue;
                };
                let args = tokens(raw);
                let tag = args
                    .iter()
                    .position(|a| a == "--comment")
                    .and_then(|i| args.get(i + 1).cloned());
                if let Some(tab) = saved.tables.get_mut(t) {
                    tab.rules.push(Rule {
                        table: t.clone(),
                        chain: chain.to_string(),
                        raw: raw.to_string(),
                        args,
                        tag,
                    });
                }
            }
        }
        saved
    }

    pub fn has_chain(&self, table: &str, chain: &str) -> bool {
        self.tables
            .get(table)
            .is_some_and(|t| t.chains.iter().any(|c| c == chain))
    }

    /// The rules of one chain, in order.
    pub fn rules<'a>(&'a self, table: &str, chain: &'a str) -> impl Iterator<Item = &'a Rule> {
        self.tables
            .get(table)
            .into_iter()
            .flat_map(|t| t.rules.iter())
            .filter(move |r| r.chain == chain)
    }

    /// Every rule of every table.
    pub fn all(&self) -> impl Iterator<Item = &Rule> {
        self.tables.values().flat_map(|t| t.rules.iter())
    }

    /// The saved rule equal to `args` (in save spelling) in `chain`.
    pub fn find(&self, table: &str, chain: &str, args: &str) -> Option<&Rule> {
        let want = tokens(args);
        self.tables
            .get(table)?
            .rules
            .iter()
            .find(|r| r.chain == chain && r.args == want)
    }

    pub fn has_rule(&self, table: &str, chain: &str, args: &str) -> bool {
        self.find(table, chain, args).is_some()
    }
}

/// Commands for one `iptables-restore --noflush`.
#[derive(Debug, Default)]
pub struct Batch {
    /// Per table: chain declarations, then commands in order.
    tables: BTreeMap<String, (Vec<String>, Vec<String>)>,
}

impl Batch {
    fn table(&mut self, table: &str) -> &mut (Vec<String>, Vec<String>) {
        self.tables.entry(table.to_string()).or_default()
    }

    /// Declare a chain that does not exist yet (flushes it if it does!).
    pub fn new_chain(&mut self, table: &str, chain: &str) {
        self.table(table).0.push(format!(":{chain} - [0:0]"));
    }

    pub fn append(&mut self, table: &str, chain: &str, args: &str) {
        self.table(table).1.push(format!("-A {chain} {args}"));
    }

    /// Insert as the first rule.
    pub fn insert_first(&mut self, table: &str, chain: &str, args: &str) {
        self.table(table).1.push(format!("-I {chain} 1 {args}"));
    }

    /// Delete a rule; give it as `iptables-save` printed it ([`Rule::raw`]).
    pub fn delete(&mut self, rule: &Rule) {
        let line = format!("-D {} {}", rule.chain, rule.raw);
        self.table(&rule.table).1.push(line);
    }

    pub fn flush(&mut self, table: &str, chain: &str) {
        self.table(table).1.push(format!("-F {chain}"));
    }

    pub fn delete_chain(&mut self, table: &str, chain: &str) {
        self.table(table).1.push(format!("-X {chain}"));
    }

    pub fn is_empty(&self) -> bool {
        self.tables
            .values()
            .all(|(d, c)| d.is_empty() && c.is_empty())
    }

    /// Number of rule commands (for logs and reports).
    pub fn len(&self) -> usize {
        self.tables.values().map(|(_, c)| c.len()).sum()
    }

    /// The restore input.
    pub fn script(&self) -> String {
        let mut out = String::new();
        for (table, (decls, cmds)) in &self.tables {
            if decls.is_empty() && cmds.is_empty() {
                continue;
            }
            out.push('*');
            out.push_str(table);
            out.push('\n');
            for l in decls.iter().chain(cmds) {
                out.push_str(l);
                out.push('\n');
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

/// `iptables-save` inside `ns`.
pub async fn save(ns: &NsHandle) -> Result<Saved> {
    let out = ns
        .command("iptables-save")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| NetworkError::Spawn {
            program: "iptables-save".into(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(NetworkError::Tool {
            program: "iptables-save".into(),
            said: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }
        .into());
    }
    Ok(Saved::parse(&String::from_utf8_lossy(&out.stdout)))
}

/// Remove `chains` entirely: every jump to them from other chains (duplicates
/// too), then their rules, then the chains themselves.
pub async fn remove_chains(ns: &NsHandle, chains: &[(&str, String)]) -> Result<usize> {
    let ours = |t: &str, c: &str| chains.iter().any(|(ct, cc)| *ct == t && cc == c);
    transact(ns, |s| {
        let mut b = Batch::default();
        for r in s.all() {
            if r.target().is_some_and(|t| ours(&r.table, t)) && !ours(&r.table, &r.chain) {
                b.delete(r);
            }
        }
        let present: Vec<&(&str, String)> =
            chains.iter().filter(|(t, c)| s.has_chain(t, c)).collect();
        for (t, c) in &present {
            b.flush(t, c);
        }
        for (t, c) in &present {
            b.delete_chain(t, c);
        }
        b
    })
    .await
}

/// `iptables-restore --noflush` of `batch` inside `ns` (a no-op when empty).
pub async fn restore(ns: &NsHandle, batch: &Batch) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let script = batch.script();
    let out = ns
        .run_with_input("iptables-restore", &["-w", "--noflush"], script.as_bytes())
        .await
        .map_err(|e| NetworkError::Spawn {
            program: "iptables-restore".into(),
            source: e,
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(NetworkError::Tool {
        program: "iptables-restore".into(),
        said: format!("{}\n{script}", String::from_utf8_lossy(&out.stderr).trim()),
    }
    .into())
}

/// Read the tables, let `plan` decide, apply. A failed restore (someone changed a
/// chain between the two) is planned again from a fresh read, twice at most.
/// Returns the number of commands applied.
pub async fn transact(ns: &NsHandle, plan: impl Fn(&Saved) -> Batch) -> Result<usize> {
    let mut last = None;
    for attempt in 0..3u64 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
        }
        let saved = save(ns).await?;
        let batch = plan(&saved);
        match restore(ns, &batch).await {
            Ok(()) => return Ok(batch.len()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| NetworkError::Other("iptables-restore failed".into()).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVE: &str = "# Generated by iptables-save v1.8.9 (nf_tables)
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:X-FWD - [0:0]
-A FORWARD -j X-FWD
-A X-FWD -i br0 ! -o br0 -m comment --comment \"dh-net:abc\" -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:X - [0:0]
-A X -d 1.2.3.4/32 ! -i br0 -p tcp -m tcp --dport 80 -m comment --comment \"dh-port:c1\" -j DNAT --to-destination 10.0.0.2:80
COMMIT
";

    #[test]
    fn saved_rules_are_found_in_our_spelling() {
        let s = Saved::parse(SAVE);
        assert!(s.has_chain("filter", "X-FWD") && s.has_chain("nat", "X"));
        assert!(!s.has_chain("nat", "X-FWD"));
        assert!(s.has_rule(
            "filter",
            "X-FWD",
            "-i br0 ! -o br0 -m comment --comment dh-net:abc -j ACCEPT"
        ));
        assert!(!s.has_rule("filter", "FORWARD", "-i br0 -j ACCEPT"));
        let r = s.rules("nat", "X").next().unwrap();
        assert_eq!(r.tag.as_deref(), Some("dh-port:c1"));
        assert_eq!(r.target(), Some("DNAT"));
        assert_eq!(
            s.rules("filter", "FORWARD").next().unwrap().target(),
            Some("X-FWD")
        );
        assert_eq!(s.all().count(), 3);
    }

    #[test]
    fn batch_declares_then_runs_commands_per_table() {
        let s = Saved::parse(SAVE);
        let mut b = Batch::default();
        assert!(b.is_empty());
        b.new_chain("filter", "Y");
        b.insert_first("filter", "FORWARD", "-j Y");
        b.delete(s.rules("nat", "X").next().unwrap());
        b.flush("nat", "X");
        b.delete_chain("nat", "X");
        assert_eq!(b.len(), 4);
        assert_eq!(
            b.script(),
            "*filter\n:Y - [0:0]\n-I FORWARD 1 -j Y\nCOMMIT\n*nat\n-D X -d 1.2.3.4/32 ! -i br0 -p tcp -m tcp --dport 80 -m comment --comment \"dh-port:c1\" -j DNAT --to-destination 10.0.0.2:80\n-F X\n-X X\nCOMMIT\n"
        );
    }
}

/// The read-only commands a virtual host's `iptables` and `iptables-save`
/// may run in its namespace: `iptables` with `-L`/`-S` and display options,
/// `iptables-save` with a table and counters. `Err` says what is refused.
/// The engine owns the rules, so nothing that changes them (or zeroes
/// counters) gets through.
pub fn check_listing(program: &str, args: &[String]) -> std::result::Result<(), String> {
    let plain = |a: &str| {
        !a.is_empty()
            && a.len() <= 64
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            && !a.starts_with('-')
    };
    let (shorts, longs, lists): (&str, &[&str], bool) = match program {
        "iptables" => (
            "LSnvxtw",
            &[
                "list",
                "list-rules",
                "numeric",
                "verbose",
                "exact",
                "line-numbers",
                "table",
                "wait",
            ],
            true,
        ),
        "iptables-save" => ("tc", &["table", "counters"], false),
        other => return Err(format!("{other}: not a listing command")),
    };
    let refuse = |a: &str| {
        Err(format!(
            "{program}: {a:?} is not available in a virtual host: the engine manages the rules here; \
             list them with `iptables -L` / `iptables -S` (options -t, -n, -v, -x, --line-numbers) or `iptables-save`"
        ))
    };
    let mut listed = !lists;
    for a in args {
        if let Some(long) = a.strip_prefix("--") {
            let name = long
                .split_once('=')
                .map_or(long, |(n, v)| if plain(v) { n } else { "" });
            if !longs.contains(&name) {
                return refuse(a);
            }
            listed |= name == "list" || name == "list-rules";
        } else if let Some(flags) = a.strip_prefix('-') {
            if flags.is_empty() || !flags.chars().all(|c| shorts.contains(c)) {
                return refuse(a);
            }
            listed |= flags.contains(['L', 'S']);
        } else if !plain(a) {
            return refuse(a);
        }
    }
    if !listed {
        return refuse(&args.join(" "));
    }
    Ok(())
}

/// Run a listing that [`check_listing`] allows inside `ns`: (exit code,
/// stdout, stderr), within ten seconds.
pub async fn list(
    ns: &NsHandle,
    program: &str,
    args: &[String],
) -> Result<(i32, Vec<u8>, Vec<u8>)> {
    check_listing(program, args).map_err(Error::InvalidParameter)?;
    let run = ns
        .command(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(10), run)
        .await
        .map_err(|_| NetworkError::Timeout {
            program: program.into(),
        })?
        .map_err(|e| NetworkError::Spawn {
            program: program.into(),
            source: e,
        })?;
    Ok((out.status.code().unwrap_or(1), out.stdout, out.stderr))
}

#[cfg(test)]
mod listing_tests {
    use super::check_listing;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn listings_pass_and_changes_do_not() {
        for ok in [
            "-L",
            "-n -L -t nat",
            "-nvL",
            "-t nat -nL DOCKER",
            "--list --numeric --line-numbers",
            "-S FORWARD",
            "--table=filter -L",
            "-w 5 -L",
        ] {
            assert_eq!(check_listing("iptables", &args(ok)), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "-n",
            "-t nat",
            "-F",
            "-L -Z",
            "-A INPUT -j DROP",
            "-L --flush",
            "-L $(reboot)",
            "--table=a/b -L",
            "-P INPUT DROP",
            "-X",
        ] {
            assert!(check_listing("iptables", &args(bad)).is_err(), "{bad}");
        }
        assert_eq!(check_listing("iptables-save", &args("")), Ok(()));
        assert_eq!(check_listing("iptables-save", &args("-t nat -c")), Ok(()));
        assert!(check_listing("iptables-save", &args("-M /bin/x")).is_err());
        assert!(check_listing("iptables-restore", &args("")).is_err());
        assert!(check_listing("ip6tables", &args("-L")).is_err());
    }
}
