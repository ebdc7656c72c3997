//! `mailferry migrate --accounts` against the real Dovecot: 30 source
//! accounts (half read over POP3, half over IMAP) moved onto 30 target
//! accounts, in one process, in three shards run at once (one of them
//! aborted mid-account, then killed with kill -9, and resumed), and with an
//! account whose password is wrong, retried alone once it is fixed. What a
//! user checks: each target holds its source's messages, once each.

use super::common::{env, run_ok, stderr};
use super::pop3::pop3_store_yaml;
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::mail::{sample_date, sample_message};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ACCOUNTS: usize = 30;
/// Messages per source account: few, so that 30 accounts stay quick on a
/// busy machine; every account still copies several.
const MESSAGES: u64 = 3;

fn source(k: usize) -> String {
    format!("s{k}")
}

fn target(k: usize) -> String {
    format!("t{k}")
}

fn seeds(k: usize) -> impl Iterator<Item = u64> {
    (0..MESSAGES).map(move |m| k as u64 * 100 + m)
}

/// A Dovecot with the 30 source accounts seeded (every fifth target holds
/// one of its messages already), a config with the templates `pop` and
/// `imap` (sources) and `server` (target), and an account list.
struct Provider {
    dovecot: Dovecot,
    env: TestEnv,
    list: PathBuf,
}

impl Provider {
    fn start() -> Provider {
        let mut users = Vec::new();
        for k in 0..ACCOUNTS {
            users.push((source(k), format!("{}-pw", source(k))));
            users.push((target(k), format!("{}-pw", target(k))));
        }
        let dovecot = Dovecot::start_with(DovecotOptions {
            users,
            ..DovecotOptions::default()
        });
        for k in 0..ACCOUNTS {
            let mut client = dovecot.client(&source(k));
            for seed in seeds(k) {
                client.append("INBOX", &sample_message(seed), &[], Some(sample_date(seed)));
            }
            if k.is_multiple_of(5) {
                let seed = k as u64 * 100;
                dovecot.client(&target(k)).append(
                    "INBOX",
                    &sample_message(seed),
                    &[],
                    Some(sample_date(seed)),
                );
            }
        }
        let mut env = env();
        // The templates' own users and passwords are replaced per account.
        env.write_config(&format!(
            "stores:\n{pop}{imap}{server}state_dir: {state}\n",
            pop = pop3_store_yaml(&dovecot, "pop", "s0", "implicit", ""),
            imap = dovecot.imap_store_yaml("imap", "s0", "implicit"),
            server = dovecot.imap_store_yaml("server", "t0", "implicit"),
            state = env.root().join("state").display(),
        ));
        let list = env.root().join("accounts.csv");
        std::fs::write(&list, account_csv(None)).unwrap();
        Provider { dovecot, env, list }
    }

    /// `mailferry migrate pop server --accounts LIST ARGS`, with every
    /// source password in its variable.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.env.command();
        command
            .args(["migrate", "pop", "server", "--accounts"])
            .arg(&self.list)
            .args(args);
        for k in 0..ACCOUNTS {
            command.env(format!("PW_S{k}"), format!("{}-pw", source(k)));
        }
        command
    }

    fn path(&self, name: &str) -> PathBuf {
        self.env.root().join(name)
    }

    /// Every target holds exactly its source's messages, once each.
    fn assert_every_target_complete(&self) {
        for k in 0..ACCOUNTS {
            let mut held: Vec<String> = self
                .dovecot
                .client(&target(k))
                .messages("INBOX")
                .into_iter()
                .map(|m| m.message_id.unwrap_or_default())
                .collect();
            held.sort();
            let mut expected: Vec<String> = seeds(k)
                .map(|seed| format!("<sample.{seed}@mailferry.test>"))
                .collect();
            expected.sort();
            assert_eq!(held, expected, "target of account {}", source(k));
        }
    }
}

/// The list: odd accounts read over IMAP (`source_store`), even ones over
/// POP3 (the command line's template); sources' passwords in variables,
/// but every third from a command; targets' from a command. `wrong_target`
/// takes its target password from the variable TARGET_PW instead.
fn account_csv(wrong_target: Option<usize>) -> String {
    let mut csv = "source_user,source_store,target_user,source_password_env,\
                   source_password_command,target_password_env,target_password_command\n"
        .to_string();
    for k in 0..ACCOUNTS {
        let store = if k % 2 == 1 { "imap" } else { "" };
        let (env, command) = if k.is_multiple_of(3) {
            (String::new(), "printf %s {user}-pw".to_string())
        } else {
            (format!("PW_S{k}"), String::new())
        };
        let (target_env, target_command) = if wrong_target == Some(k) {
            ("TARGET_PW", "")
        } else {
            ("", "printf %s {user}-pw")
        };
        csv.push_str(&format!(
            "{},{store},{},{env},{command},{target_env},{target_command}\n",
            source(k),
            target(k)
        ));
    }
    csv
}

/// The report's lines, parsed.
fn report_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn accounts_of(lines: &[Value], status: &str) -> BTreeSet<String> {
    lines
        .iter()
        .filter(|line| line["status"] == status)
        .map(|line| line["account"].as_str().unwrap().to_string())
        .collect()
}

fn everyone() -> BTreeSet<String> {
    (0..ACCOUNTS).map(source).collect()
}

fn succeed(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn thirty_pop3_and_imap_accounts_in_one_process_then_a_second_run_finds_all_there() {
    let provider = Provider::start();
    let report = provider.path("report.jsonl");
    let stdout =
        succeed(&mut provider.command(&["--jobs", "4", "--report", report.to_str().unwrap()]));
    provider.assert_every_target_complete();

    let lines = report_lines(&report);
    assert_eq!(lines.len(), ACCOUNTS, "{stdout}");
    assert_eq!(accounts_of(&lines, "done"), everyone());
    for line in &lines {
        let k: usize = line["account"].as_str().unwrap()[1..].parse().unwrap();
        let there = usize::from(k.is_multiple_of(5));
        assert_eq!(line["copied"], MESSAGES as usize - there, "{line}");
        assert_eq!(line["already_there"], there, "{line}");
        assert!(line["bytes"].as_u64().unwrap() > 0, "{line}");
        assert_eq!(line["last_error"], Value::Null, "{line}");
    }
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(!text.contains("-pw"), "a password in the report: {text}");
    // The table at the end.
    assert!(
        stdout.lines().any(|l| l.split_whitespace().eq([
            "total",
            "30",
            &(ACCOUNTS * MESSAGES as usize - ACCOUNTS / 5).to_string(),
            &(ACCOUNTS / 5).to_string(),
            "0",
            "0",
            &lines
                .iter()
                .map(|l| l["bytes"].as_u64().unwrap())
                .sum::<u64>()
                .to_string()
        ])),
        "{stdout}"
    );

    // Everything is there now: nothing is copied twice.
    let again = succeed(&mut provider.command(&["--json"]));
    let lines: Vec<Value> = again
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), ACCOUNTS);
    for line in &lines {
        assert_eq!(line["status"], "done", "{line}");
        assert_eq!(line["copied"], 0, "{line}");
        assert_eq!(line["already_there"], MESSAGES, "{line}");
    }
    provider.assert_every_target_complete();
}

#[test]
fn three_shards_at_once_split_the_list_and_a_shard_stopped_twice_resumes() {
    let provider = Provider::start();
    let reports: Vec<PathBuf> = (0..3)
        .map(|i| provider.path(&format!("shard{i}.jsonl")))
        .collect();
    let shard_args = |i: usize| {
        vec![
            "--jobs".to_string(),
            "2".to_string(),
            "--json".to_string(),
            "--shard".to_string(),
            format!("{i}/3"),
            "--report".to_string(),
            reports[i].display().to_string(),
        ]
    };
    let command = |i: usize| {
        let args = shard_args(i);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut command = provider.command(&args);
        command.stdout(Stdio::null()).stderr(Stdio::null());
        command
    };
    // The three at once; shard 1 is stopped by the crash hook at a
    // journaled step in the middle of an account (an abort: no cleanup,
    // as kill -9), while its other job is at some other point.
    let mut shards: Vec<_> = (0..3)
        .map(|i| {
            let mut command = command(i);
            if i == 1 {
                command.env("MAILFERRY_TEST_ABORT_AFTER_STEPS", "4");
            }
            command.spawn().unwrap()
        })
        .collect();
    let aborted = shards[1].wait().unwrap();
    assert!(
        aborted.signal().is_some(),
        "shard 1 was not stopped: {aborted:?}"
    );
    for i in [0, 2] {
        let status = shards[i].wait().unwrap();
        assert!(status.success(), "shard {i}: {status:?}");
    }

    // Resumed, and killed with kill -9 once an account is done, while the
    // next ones are under way (on a very busy machine the run may end
    // before the signal: then there was nothing left to kill).
    let mut resumed = command(1).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(resumed.stdout.take().unwrap()).lines();
    lines.next().unwrap().unwrap();
    let _ = resumed.kill();
    let status = resumed.wait().unwrap();
    assert!(
        status.signal() == Some(libc::SIGKILL) || status.success(),
        "{status:?}"
    );
    eprintln!("migrate --accounts shards: the resumed shard 1 ended with {status:?}");
    // And resumed to the end.
    succeed(command(1).stdout(Stdio::piped()));

    let done: Vec<BTreeSet<String>> = reports
        .iter()
        .map(|r| accounts_of(&report_lines(r), "done"))
        .collect();
    let mut union = BTreeSet::new();
    for (i, accounts) in done.iter().enumerate() {
        assert!(
            accounts.len() >= 5,
            "shard {i} has only {accounts:?} of {ACCOUNTS}"
        );
        for account in accounts {
            assert!(union.insert(account.clone()), "{account} in two shards");
        }
    }
    assert_eq!(union, everyone());
    // Each shard's report names only its own accounts.
    for (i, report) in reports.iter().enumerate() {
        let named: BTreeSet<String> = report_lines(report)
            .iter()
            .map(|l| l["account"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(named, done[i], "shard {i}");
    }
    provider.assert_every_target_complete();
}

#[test]
fn a_wrong_password_fails_one_account_the_others_finish_and_retry_failed_runs_only_it() {
    let provider = Provider::start();
    std::fs::write(&provider.list, account_csv(Some(7))).unwrap();
    let report = provider.path("report.jsonl");
    let report_arg = report.to_str().unwrap();
    let output = provider
        .command(&["--report", report_arg])
        .env("TARGET_PW", "not-the-password")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}{}", stderr(&output));
    let lines = report_lines(&report);
    assert_eq!(
        accounts_of(&lines, "failed"),
        BTreeSet::from(["s7".to_string()])
    );
    assert_eq!(accounts_of(&lines, "done").len(), ACCOUNTS - 1);
    let failed = lines.iter().find(|l| l["account"] == "s7").unwrap();
    let error = failed["last_error"].as_str().unwrap();
    assert!(error.contains("t7"), "{error}");
    assert!(stdout.contains("s7: FAILED: "), "{stdout}");
    assert!(stdout.contains("not finished"), "{stdout}");
    for text in [
        &stdout,
        &stderr(&output),
        &std::fs::read_to_string(&report).unwrap(),
    ] {
        assert!(!text.contains("not-the-password"), "{text}");
    }
    assert_eq!(provider.dovecot.client("t7").count("INBOX"), 0);

    // The password fixed, only the failed account runs.
    let retried = succeed(
        provider
            .command(&["--retry-failed", report_arg, "--report", report_arg])
            .env("TARGET_PW", "t7-pw"),
    );
    let account_lines: Vec<&str> = retried.lines().filter(|l| l.contains(": done: ")).collect();
    assert_eq!(account_lines.len(), 1, "{retried}");
    assert!(
        account_lines[0].starts_with("s7: done: 3 copied"),
        "{retried}"
    );
    let lines = report_lines(&report);
    assert_eq!(lines.len(), ACCOUNTS + 1);
    assert_eq!(lines[ACCOUNTS]["account"], "s7");
    provider.assert_every_target_complete();

    // Nothing left to retry.
    let nothing = run_ok(
        &provider.env,
        &[
            "migrate",
            "pop",
            "server",
            "--accounts",
            provider.list.to_str().unwrap(),
            "--retry-failed",
            report_arg,
        ],
    );
    let nothing = String::from_utf8_lossy(&nothing.stdout).into_owned();
    assert!(
        nothing.lines().any(|l| l
            .split_whitespace()
            .eq(["total", "0", "0", "0", "0", "0", "0"])),
        "{nothing}"
    );
}

#[test]
fn list_errors_name_the_file_line_and_column_and_a_dry_run_changes_nothing() {
    let provider = Provider::start();
    std::fs::write(
        &provider.list,
        "source_user,target_user\ns0,t0\ns1,t1,extra\n",
    )
    .unwrap();
    let output = provider.command(&[]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let expected = format!(
        "{}:3: 3 cell(s) where the header has 2 column(s)",
        provider.list.display()
    );
    assert!(stderr(&output).contains(&expected), "{}", stderr(&output));
    assert!(!provider.env.root().join("state/accounts").exists());

    std::fs::write(&provider.list, account_csv(None)).unwrap();
    let output = provider.command(&["--shard", "3/3"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("numbered from 0 to 2"),
        "{}",
        stderr(&output)
    );
    // A dry run changes nothing, says what it would copy, and writes no
    // report (whose lines would read as done to --retry-failed).
    let output = provider
        .command(&["--dry-run", "--report", "r.jsonl"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let planned = succeed(&mut provider.command(&["--dry-run", "--jobs", "8"]));
    assert!(
        planned.contains("s1: dry run: 3 to copy, 0 already there"),
        "{planned}"
    );
    assert!(
        planned.contains("s5: dry run: 2 to copy, 1 already there"),
        "{planned}"
    );
    assert_eq!(provider.dovecot.client("t1").count("INBOX"), 0);
}
