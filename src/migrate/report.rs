//! The report of `mailferry migrate --accounts`: one JSON line per account,
//! appended as each account finishes (so a report survives a kill -9 of the
//! run, but for a last line cut short, which readers skip), a summary table
//! at the end, and the reading back that `--retry-failed` needs.
//!
//! A line holds counts, times and error messages, never a password: the
//! errors come from the stores and the password sources, which name a
//! variable or a command but never print what they give.

use super::Migration;
use crate::error::ConfigError;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How an account's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every message is on the target (or was skipped on purpose, such as
    /// one over max_size).
    Done,
    /// Something failed: a login, a folder, some messages. Run it again.
    Failed,
    /// Stopped by a signal before the end. Run it again.
    Interrupted,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountReport {
    pub account: String,
    pub source_user: String,
    pub target_user: String,
    pub status: Status,
    /// Messages copied by this run.
    pub copied: usize,
    /// Messages the target held already (from an earlier run or not).
    pub already_there: usize,
    /// Messages left out on purpose (over max_size, flagged deleted).
    pub skipped: usize,
    /// Messages that could not be copied.
    pub failed: usize,
    /// Bytes of the messages copied by this run.
    pub bytes: u64,
    pub seconds: f64,
    /// The last error of the account, if any.
    pub last_error: Option<String>,
}

impl AccountReport {
    /// The report of an account whose migration ran to its end (perhaps with
    /// failed folders or messages), or was stopped by a signal.
    pub fn of_migration(
        names: AccountNames<'_>,
        migration: &Migration,
        seconds: f64,
        interrupted: bool,
    ) -> AccountReport {
        let folders = &migration.folders;
        let last_error = migration
            .errors
            .last()
            .cloned()
            .or_else(|| folders.iter().rev().find_map(|f| f.failed.last().cloned()));
        AccountReport {
            status: if migration.failed() {
                Status::Failed
            } else if interrupted {
                Status::Interrupted
            } else {
                Status::Done
            },
            copied: folders.iter().map(|f| f.copied).sum(),
            already_there: folders.iter().map(|f| f.already_there).sum(),
            skipped: folders.iter().map(|f| f.skipped.len()).sum(),
            failed: folders.iter().map(|f| f.failed.len()).sum(),
            bytes: folders.iter().map(|f| f.bytes_copied).sum(),
            seconds,
            last_error,
            ..AccountReport::empty(names)
        }
    }

    /// The report of an account that could not be migrated at all (a
    /// refused login, a server that cannot be reached).
    pub fn of_error(names: AccountNames<'_>, error: &anyhow::Error, seconds: f64) -> AccountReport {
        AccountReport {
            status: if crate::interrupt::is_interrupted(error) {
                Status::Interrupted
            } else {
                Status::Failed
            },
            seconds,
            last_error: Some(format!("{error:#}")),
            ..AccountReport::empty(names)
        }
    }

    fn empty(names: AccountNames<'_>) -> AccountReport {
        AccountReport {
            account: names.account.to_string(),
            source_user: names.source_user.to_string(),
            target_user: names.target_user.to_string(),
            status: Status::Done,
            copied: 0,
            already_there: 0,
            skipped: 0,
            failed: 0,
            bytes: 0,
            seconds: 0.0,
            last_error: None,
        }
    }
}

/// Who an account report is about.
#[derive(Debug, Clone, Copy)]
pub struct AccountNames<'a> {
    pub account: &'a str,
    pub source_user: &'a str,
    pub target_user: &'a str,
}

/// Appends report lines to a file, one whole line per write, from any
/// number of threads.
pub struct ReportFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl ReportFile {
    /// Opens (or creates) the report for appending: a resumed run adds to
    /// the lines of the run before it.
    pub fn open(path: &Path) -> Result<ReportFile> {
        // A fresh volume (a Kubernetes PersistentVolumeClaim) has no
        // reports directory yet.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the report {}", path.display()))?;
        Ok(ReportFile {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// Writes one account's line and flushes it to the file.
    pub fn write(&self, report: &AccountReport) -> Result<()> {
        let mut line = serde_json::to_string(report)?;
        line.push('\n');
        // A poisoned lock only means another thread panicked mid-write; the
        // file is still there to append to.
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        // One write of the whole line: with O_APPEND, lines of runs sharing
        // the file do not interleave.
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .with_context(|| format!("cannot write to the report {}", self.path.display()))
    }
}

/// The accounts a report shows as done, by their last line (a later run's
/// line replaces an earlier one). A last line without its line break is a
/// line cut short by a kill and is skipped; any other line that is not a
/// report line is an error naming the file and the line.
pub fn finished_accounts(path: &Path) -> Result<HashSet<String>, ConfigError> {
    let error = |line: Option<usize>, message: String| ConfigError {
        file: path.to_owned(),
        line,
        key: None,
        message,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|err| error(None, format!("cannot read the report: {err}")))?;
    let mut last: BTreeMap<String, Status> = BTreeMap::new();
    let complete = text.rfind('\n').map_or(0, |end| end + 1);
    for (index, line) in text[..complete].lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let report: AccountReport = serde_json::from_str(line).map_err(|err| {
            error(
                Some(index + 1),
                format!("not a line of a migration report: {err}"),
            )
        })?;
        last.insert(report.account, report.status);
    }
    Ok(last
        .into_iter()
        .filter(|(_, status)| *status == Status::Done)
        .map(|(account, _)| account)
        .collect())
}

/// The totals of a run, by status.
#[derive(Debug, Default)]
pub struct Summary {
    rows: BTreeMap<Status, Row>,
    /// (account, last error) of each account that did not finish.
    unfinished: Vec<(String, String)>,
    seconds: f64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Row {
    accounts: usize,
    copied: usize,
    already_there: usize,
    skipped: usize,
    failed: usize,
    bytes: u64,
}

impl Row {
    fn add(&mut self, other: Row) {
        self.accounts += other.accounts;
        self.copied += other.copied;
        self.already_there += other.already_there;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.bytes += other.bytes;
    }
}

impl Summary {
    pub fn add(&mut self, report: &AccountReport) {
        self.rows.entry(report.status).or_default().add(Row {
            accounts: 1,
            copied: report.copied,
            already_there: report.already_there,
            skipped: report.skipped,
            failed: report.failed,
            bytes: report.bytes,
        });
        if report.status != Status::Done {
            let error = report
                .last_error
                .clone()
                .unwrap_or_else(|| "interrupted".to_string());
            self.unfinished.push((report.account.clone(), error));
        }
    }

    /// The wall-clock time of the whole run, for the table.
    pub fn set_seconds(&mut self, seconds: f64) {
        self.seconds = seconds;
    }

    /// Whether every account is done.
    pub fn all_done(&self) -> bool {
        self.rows.keys().all(|status| *status == Status::Done)
    }

    /// The table printed at the end of a run, then the accounts that did
    /// not finish with their last error.
    pub fn table(&self) -> String {
        let mut text = format!(
            "{:<12} {:>8} {:>10} {:>13} {:>8} {:>8} {:>12}\n",
            "status", "accounts", "copied", "already there", "skipped", "failed", "bytes"
        );
        let mut total = Row::default();
        let line = |label: &str, row: &Row| {
            format!(
                "{:<12} {:>8} {:>10} {:>13} {:>8} {:>8} {:>12}\n",
                label,
                row.accounts,
                row.copied,
                row.already_there,
                row.skipped,
                row.failed,
                row.bytes
            )
        };
        for (status, row) in &self.rows {
            let label = match status {
                Status::Done => "done",
                Status::Failed => "failed",
                Status::Interrupted => "interrupted",
            };
            text.push_str(&line(label, row));
            total.add(*row);
        }
        text.push_str(&line("total", &total));
        text.push_str(&format!(
            "{} account(s) in {:.1} s\n",
            total.accounts, self.seconds
        ));
        if !self.unfinished.is_empty() {
            text.push_str("not finished (run again, or with --retry-failed REPORT):\n");
            for (account, error) in &self.unfinished {
                text.push_str(&format!("  {account}: {error}\n"));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(account: &str, status: Status) -> AccountReport {
        AccountReport {
            status,
            copied: 3,
            bytes: 300,
            last_error: (status != Status::Done).then(|| "login refused".to_string()),
            ..AccountReport::empty(AccountNames {
                account,
                source_user: account,
                target_user: account,
            })
        }
    }

    #[test]
    fn finished_accounts_go_by_the_last_line_and_skip_a_line_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        // Its directory is made if missing.
        let path = dir.path().join("reports/report.jsonl");
        let file = ReportFile::open(&path).unwrap();
        file.write(&report("alice", Status::Done)).unwrap();
        file.write(&report("bob", Status::Failed)).unwrap();
        file.write(&report("carol", Status::Failed)).unwrap();
        file.write(&report("carol", Status::Done)).unwrap();
        file.write(&report("dave", Status::Done)).unwrap();
        file.write(&report("dave", Status::Interrupted)).unwrap();
        drop(file);
        // A kill in the middle of a line.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"account\":\"erin\",\"sta");
        std::fs::write(&path, text).unwrap();
        let mut finished: Vec<String> = finished_accounts(&path).unwrap().into_iter().collect();
        finished.sort();
        assert_eq!(finished, ["alice", "carol"]);
    }

    #[test]
    fn a_line_that_is_not_a_report_line_is_an_error_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.jsonl");
        let good = serde_json::to_string(&report("alice", Status::Done)).unwrap();
        std::fs::write(&path, format!("{good}\nalice,bob\n")).unwrap();
        let message = finished_accounts(&path).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("{}:2: not a line", path.display())),
            "{message}"
        );
    }

    #[test]
    fn the_summary_counts_by_status_and_lists_what_did_not_finish() {
        let mut summary = Summary::default();
        summary.add(&report("alice", Status::Done));
        summary.add(&report("bob", Status::Done));
        summary.add(&report("carol", Status::Failed));
        summary.set_seconds(2.0);
        assert!(!summary.all_done());
        let table = summary.table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].starts_with("done"), "{table}");
        assert!(lines[1]
            .split_whitespace()
            .eq(["done", "2", "6", "0", "0", "0", "600"]));
        assert!(lines[3]
            .split_whitespace()
            .eq(["total", "3", "9", "0", "0", "0", "900"]));
        assert!(table.contains("  carol: login refused\n"), "{table}");
    }

    #[test]
    fn a_report_line_is_json_with_every_field() {
        let line = serde_json::to_string(&report("bob", Status::Failed)).unwrap();
        assert_eq!(
            line,
            "{\"account\":\"bob\",\"source_user\":\"bob\",\"target_user\":\"bob\",\
             \"status\":\"failed\",\"copied\":3,\"already_there\":0,\"skipped\":0,\
             \"failed\":0,\"bytes\":300,\"seconds\":0.0,\"last_error\":\"login refused\"}"
        );
    }
}
