//! `mailferry migrate FROM TO --accounts FILE`: many accounts, sharded,
//! several at a time, with a report (see [`crate::migrate::runner`]).

use super::migrate::MigrateArgs;
use crate::config::Config;
use crate::error::exit;
use crate::migrate::accounts::{self, Account};
use crate::migrate::report::{finished_accounts, AccountReport, ReportFile, Status, Summary};
use crate::migrate::runner::{check_stores, default_jobs, run_accounts};
use crate::migrate::shard::Shard;
use crate::migrate::MigrateRequest;
use crate::output::Output;
use anyhow::Result;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub fn cmd_migrate_accounts(
    config: &Config,
    args: &MigrateArgs,
    list: &Path,
    template: MigrateRequest,
    out: &Output,
) -> Result<i32> {
    let started = Instant::now();
    let all = accounts::load(list)?;
    let listed = all.len();
    let shard = match &args.shard {
        Some(text) => Shard::parse(text, args.shards, &|name| std::env::var(name).ok())?,
        None => Shard::WHOLE,
    };
    let mut finished = HashSet::new();
    for report in &args.retry_failed {
        finished.extend(finished_accounts(report)?);
    }
    let accounts: Vec<Account> = all
        .into_iter()
        .filter(|a| shard.contains(&a.name) && !finished.contains(&a.name))
        .collect();
    check_stores(config, &template, &accounts)?;
    let report_file = args.report.as_deref().map(ReportFile::open).transpose()?;
    let jobs = args.jobs.map_or_else(default_jobs, usize::from);
    out.summary(&format!(
        "{} of {listed} account(s) to migrate{}{}, {jobs} at a time",
        accounts.len(),
        if shard == Shard::WHOLE {
            String::new()
        } else {
            format!(" in shard {shard}")
        },
        if args.retry_failed.is_empty() {
            String::new()
        } else {
            format!(", {} done already", finished.len())
        },
    ));

    let report_failed = AtomicBool::new(false);
    let reports = run_accounts(config, &template, &accounts, jobs, &|report| {
        if let Some(file) = &report_file {
            if let Err(error) = file.write(report) {
                out.error(&format!("{error:#}"));
                report_failed.store(true, Ordering::Relaxed);
            }
        }
        if args.json {
            match serde_json::to_string(report) {
                Ok(line) => out.data(&line),
                Err(error) => out.error(&format!("{error}")),
            }
        } else {
            out.result(&one_line(report, args.dry_run));
        }
    });

    let mut summary = Summary::default();
    for report in &reports {
        summary.add(report);
    }
    summary.set_seconds(started.elapsed().as_secs_f64());
    if args.json {
        // stdout holds only the JSON lines.
        if !out.is_quiet() {
            eprint!("{}", summary.table());
        }
    } else {
        out.result(summary.table().trim_end());
    }
    Ok(
        if summary.all_done() && !report_failed.load(Ordering::Relaxed) {
            exit::OK
        } else {
            exit::FAILED
        },
    )
}

/// The line printed when an account finishes.
fn one_line(report: &AccountReport, dry_run: bool) -> String {
    let status = match report.status {
        Status::Done if dry_run => "dry run",
        Status::Done => "done",
        Status::Failed => "FAILED",
        Status::Interrupted => "interrupted",
    };
    let copied = if dry_run { "to copy" } else { "copied" };
    let mut line = format!(
        "{}: {status}: {} {copied}, {} already there, {} skipped, {} failed, {} bytes, {:.1} s",
        report.account,
        report.copied,
        report.already_there,
        report.skipped,
        report.failed,
        report.bytes,
        report.seconds
    );
    if let Some(error) = &report.last_error {
        line.push_str(&format!("; last error: {error}"));
    }
    line
}
