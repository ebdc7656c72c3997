//! `mailferry sync`: sync channels, groups or single folders.

use super::progress::TerminalProgress;
use super::Cli;
use crate::config::Config;
use crate::error::exit;
use crate::hooks;
use crate::mail::Side;
use crate::output::Output;
use crate::state::{epoch_seconds, LastRun};
use crate::sync::channel::{sync_channel, ChannelResult};
use crate::sync::exec::Report;
use crate::sync::folder::RunOptions;
use anyhow::Result;
use clap::Args;
use clap_complete::ArgValueCandidates;
use std::sync::Arc;

/// Syncs channels: new messages, flags and deletions, both ways.
///
/// Targets are channel names, group names, or CHANNEL:FOLDER for one
/// folder. Examples:
///
///   mailferry sync --all
///
///   mailferry sync work
///
///   mailferry sync work:INBOX --dry-run
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Channels, groups, or CHANNEL:FOLDER.
    #[arg(
        value_name = "TARGETS",
        required_unless_present = "all",
        add = ArgValueCandidates::new(super::complete::channels_and_groups)
    )]
    pub targets: Vec<String>,

    /// Sync every channel of the configuration.
    #[arg(short, long, conflicts_with = "targets")]
    pub all: bool,

    /// Show what would be done and change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Print what was done (or, with --dry-run, the plan) as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Carry out plans that delete more than max_delete_ratio of a folder.
    #[arg(long)]
    pub force: bool,

    /// Wait for another run holding a channel's lock instead of exiting with status 3.
    #[arg(long)]
    pub wait: bool,
}

pub fn cmd_sync(cli: &Cli, args: &SyncArgs, out: &Output) -> Result<i32> {
    let config = Config::load(cli.config.as_deref())?;
    let targets = config.resolve_targets(&args.targets, args.all)?;
    let used_stores = targets
        .iter()
        .filter_map(|target| config.channels.get(&target.channel))
        .flat_map(|channel| [channel.far.as_str(), channel.near.as_str()]);
    for warning in config.warnings_for(used_stores) {
        out.warning(&warning);
    }
    let options = RunOptions {
        dry_run: args.dry_run,
        force: args.force,
        wait_for_lock: args.wait,
        interrupt: super::test_hooks::crash_after_steps(),
        stop_on_signal: true,
        progress: if out.shows_progress() && !args.json && !args.dry_run {
            Arc::new(TerminalProgress::new())
        } else {
            crate::sync::progress::silent()
        },
        // Only printed with these.
        keep_plans: args.json || args.dry_run,
    };

    let mut status = exit::OK;
    let mut results: Vec<ChannelResult> = Vec::new();
    for target in &targets {
        let Some(channel) = config.channels.get(&target.channel) else {
            continue;
        };
        let mut channel_status = exit::OK;
        let mut synced: Option<&ChannelResult> = None;
        // What `mailferry status` will show of this run.
        let mut errors: Vec<String> = Vec::new();
        match sync_channel(&config, channel, target.folder.as_deref(), &options) {
            Ok(result) => {
                errors.extend(result.errors.iter().cloned());
                for folder in &result.folders {
                    for failure in &folder.report.failures {
                        errors.push(format!("folder {}: {failure}", folder.folder));
                    }
                }
                if !result.errors.is_empty() {
                    channel_status = exit::FAILED;
                }
                for error in &result.errors {
                    out.error(error);
                }
                for folder in &result.folders {
                    for note in &folder.report.notes {
                        out.summary(&format!(
                            "{}: folder {}: {note}",
                            result.channel, folder.folder
                        ));
                    }
                    for failure in &folder.report.failures {
                        channel_status = exit::FAILED;
                        out.error(&format!(
                            "{}: folder {}: {failure}",
                            result.channel, folder.folder
                        ));
                    }
                }
                if !args.json {
                    show(&result, args.dry_run, out);
                }
                results.push(result);
                synced = results.last();
            }
            Err(err) => {
                channel_status = crate::error::exit_status(&err);
                out.error(&format!("{}: {err:#}", target.channel));
                errors.push(format!("{err:#}"));
            }
        }
        status = status.max(channel_status);
        // A dry run changed nothing, and a run that found the lock taken
        // did not run: the one holding it records its own outcome.
        if !args.dry_run && channel_status != exit::LOCKED {
            if let Err(error) = LastRun::record(
                &config.state_dir,
                &channel.name,
                epoch_seconds(),
                channel_status,
                &errors,
            ) {
                out.warning(&format!("{}: {error:#}", channel.name));
            }
        }
        if let Some(line) = channel.post_sync.as_deref().filter(|_| hooks_run(args)) {
            let env = hooks::channel_environment(&channel.name, channel_status, synced);
            let what = format!("post_sync of channel {}", channel.name);
            run_hook(&what, line, &env, &config, out);
        }
    }
    if let Some(line) = config.post_sync.as_deref().filter(|_| hooks_run(args)) {
        let channels: Vec<String> = targets.iter().map(|t| t.channel.clone()).collect();
        let env = hooks::run_environment(&channels, status, &results);
        run_hook("post_sync", line, &env, &config, out);
    }
    if args.json {
        out.data(&serde_json::to_string_pretty(&results)?);
    }
    Ok(status)
}

/// Hooks run after real syncs only: not for --dry-run, and not once a
/// signal asked mailferry to stop.
fn hooks_run(args: &SyncArgs) -> bool {
    !args.dry_run && !crate::interrupt::requested()
}

/// Runs a hook, bounded by the config's hook_timeout.
fn run_hook(what: &str, line: &str, env: &[(&'static str, String)], config: &Config, out: &Output) {
    let limit = std::time::Duration::from_secs(config.hook_timeout_secs);
    hooks::run_reported(what, line, env, limit, out);
}

fn show(result: &ChannelResult, dry_run: bool, out: &Output) {
    for action in &result.folder_actions {
        if dry_run {
            out.result(&format!("{}: {action}", result.channel));
        } else {
            out.summary(&format!("{}: {action}", result.channel));
        }
    }
    if dry_run {
        for folder in &result.folders {
            if folder.plan.is_empty() && folder.plan.skipped.is_empty() {
                out.result(&format!(
                    "{}:{}: nothing to do",
                    result.channel, folder.folder
                ));
            } else {
                out.result(&format!("{}:{}:", result.channel, folder.folder));
                for line in folder.plan.to_string().lines() {
                    out.result(&format!("  {line}"));
                }
            }
        }
        return;
    }
    let mut total = Report::default();
    for folder in &result.folders {
        if out.verbosity() > 0 && !folder.report.is_quiet() {
            out.detail(&format!(
                "{}:{}: {}",
                result.channel,
                folder.folder,
                describe(&folder.report)
            ));
        }
        total.add(&folder.report);
    }
    out.summary(&format!(
        "{}: {} folder(s): {}",
        result.channel,
        result.folders.len(),
        describe(&total)
    ));
}

/// "far->near: 3 new, 1 flags, 0 deleted; near->far: ..." in words.
fn describe(report: &Report) -> String {
    let mut parts = Vec::new();
    for side in [Side::Near, Side::Far] {
        parts.push(format!(
            "to {side}: {} new, {} flag changes, {} deleted",
            report.copied[side], report.flagged[side], report.deleted[side]
        ));
    }
    if report.skipped > 0 {
        parts.push(format!("{} skipped", report.skipped));
    }
    if !report.failures.is_empty() {
        parts.push(format!("{} failed", report.failures.len()));
    }
    parts.join("; ")
}
