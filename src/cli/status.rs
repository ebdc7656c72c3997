//! `mailferry status`: when each channel last synced and what its state
//! holds, read from the state directory alone (it never connects), for
//! people and for monitoring (`--max-age` sets the exit status).

use super::Cli;
use crate::config::Config;
use crate::error::{exit, UsageError};
use crate::mail::Side;
use crate::output::Output;
use crate::state::{epoch_seconds, state_path, FolderList, LastRun, StateFile};
use anyhow::Result;
use clap::Args;
use clap_complete::ArgValueCandidates;
use serde::Serialize;

/// Shows when each channel last synced, how the last run ended, and per
/// folder how many messages each side held at the last sync. Reads the
/// state only; it never connects.
///
/// With --max-age, exits 1 when a channel has not synced successfully
/// within that time (or never has), for a monitoring check or cron.
/// Examples:
///
///   mailferry status
///
///   mailferry status work --max-age 2h || notify-send "mail backup is stale"
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Channels or groups (default: every channel).
    #[arg(
        value_name = "TARGETS",
        add = ArgValueCandidates::new(super::complete::channels_and_groups)
    )]
    pub targets: Vec<String>,

    /// Print the status as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Exit with status 1 when a channel's last successful sync is older
    /// than this: seconds, or a duration such as 90m, 2h, 1d.
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    pub max_age: Option<u64>,
}

/// One channel's status.
#[derive(Debug, Serialize)]
struct ChannelStatus {
    channel: String,
    /// The last run, if any.
    last_run: Option<LastRun>,
    folders: Vec<FolderStatus>,
    /// Whether the last success is older than --max-age (or missing).
    stale: bool,
}

/// One folder pair as its state left it.
#[derive(Debug, Serialize)]
struct FolderStatus {
    folder: String,
    /// Messages on the far and the near side at the last sync.
    far: usize,
    near: usize,
    /// Copies a run began and did not see finished, and uploads not yet
    /// found on the server: work the next run takes up.
    pending: usize,
}

pub fn cmd_status(cli: &Cli, args: &StatusArgs, out: &Output) -> Result<i32> {
    let config = Config::load(cli.config.as_deref())?;
    let all = args.targets.is_empty();
    let targets = config.resolve_targets(&args.targets, all)?;
    if let Some(target) = targets.iter().find(|t| t.folder.is_some()) {
        return Err(UsageError(format!(
            "status takes channels and groups, not a folder ({}:{})",
            target.channel,
            target.folder.as_deref().unwrap_or_default()
        ))
        .into());
    }
    let now = epoch_seconds();
    let mut statuses = Vec::new();
    for target in &targets {
        let last_run = LastRun::load(&config.state_dir, &target.channel)?;
        let stale = match (args.max_age, &last_run) {
            (None, _) => false,
            (Some(max_age), run) => run
                .as_ref()
                .and_then(|run| run.last_success)
                .is_none_or(|success| now.saturating_sub(success) > max_age),
        };
        statuses.push(ChannelStatus {
            channel: target.channel.clone(),
            folders: folders(&config, &target.channel)?,
            last_run,
            stale,
        });
    }
    if args.json {
        out.data(&serde_json::to_string_pretty(&statuses)?);
    } else {
        for status in &statuses {
            show(status, now, out);
        }
    }
    if statuses.iter().any(|s| s.stale) {
        return Ok(exit::FAILED);
    }
    Ok(exit::OK)
}

fn folders(config: &Config, channel: &str) -> Result<Vec<FolderStatus>> {
    let mut found = Vec::new();
    for folder in FolderList::for_channel(&config.state_dir, channel).load()? {
        let state = StateFile::new(state_path(&config.state_dir, channel, &folder)).load()?;
        let held = |side: Side| {
            state
                .records
                .iter()
                .filter(|record| record.ids[side].is_some())
                .count()
        };
        found.push(FolderStatus {
            far: held(Side::Far),
            near: held(Side::Near),
            pending: state.pending.len() + state.unconfirmed.len(),
            folder,
        });
    }
    Ok(found)
}

fn show(status: &ChannelStatus, now: u64, out: &Output) {
    let name = &status.channel;
    let Some(run) = &status.last_run else {
        out.result(&format!("{name}: never synced"));
        return;
    };
    let success = match run.last_success {
        Some(time) => format!("last synced {} ({} ago)", when(time), ago(now, time)),
        None => "never synced successfully".to_string(),
    };
    let last = if run.status == exit::OK {
        "last run ok".to_string()
    } else {
        format!(
            "last run {} ended with status {}",
            when(run.finished),
            run.status
        )
    };
    let stale = if status.stale { "; STALE" } else { "" };
    out.result(&format!("{name}: {success}; {last}{stale}"));
    for error in &run.errors {
        out.result(&format!("  error: {error}"));
    }
    for folder in &status.folders {
        let pending = match folder.pending {
            0 => String::new(),
            n => format!("; {n} copies pending (the next run finishes them)"),
        };
        out.result(&format!(
            "  {}: {} far, {} near{pending}",
            folder.folder, folder.far, folder.near
        ));
    }
}

/// A time as users read it: `2026-12-05 22:40:01 UTC`.
fn when(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|time| time.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| seconds.to_string())
}

/// How long ago, in its largest unit: `42s`, `5m`, `3h`, `2d`.
fn ago(now: u64, then: u64) -> String {
    match now.saturating_sub(then) {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// `--max-age`: seconds, or a number with s, m, h or d.
fn parse_age(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..split]
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 90m, 2h or 1d"))?;
    let unit = match &text[split..] {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("unknown unit {other:?}: use s, m, h or d")),
    };
    Ok(number * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_seconds_minutes_hours_and_days() {
        assert_eq!(parse_age("90"), Ok(90));
        assert_eq!(parse_age("90m"), Ok(5400));
        assert_eq!(parse_age("2h"), Ok(7200));
        assert_eq!(parse_age("1d"), Ok(86_400));
        assert!(parse_age("soon").is_err());
        assert!(parse_age("2w").is_err());
        assert_eq!(ago(1000, 1000 - 59), "59s");
        assert_eq!(ago(10_000, 10_000 - 7200), "2h");
        assert_eq!(when(0), "1970-01-01 00:00:00 UTC");
    }
}
