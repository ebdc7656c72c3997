//! Hooks: shell commands the user has run after a sync (`post_sync`, per
//! channel and once per run) and when `watch` brings new mail in
//! (`on_new_mail`), such as `notmuch new` or a notification.
//!
//! A hook runs as `sh -c LINE` under the rules of the password command
//! (see [`crate::command`]): its own process group, stdin closed, stopped
//! with everything it started after `hook_timeout` or when mailferry is
//! stopped. What the sync did reaches it in `MAILFERRY_*` environment
//! variables. A hook that fails or hangs is reported but changes neither
//! the sync nor its exit status: the mail is synced whatever the hook does.

use crate::command::{run_bounded, Failure};
use crate::mail::Side;
use crate::output::Output;
use crate::sync::channel::ChannelResult;
use crate::sync::folder::FolderResult;
use std::process::Command;
use std::time::Duration;

/// The environment of a channel's `post_sync`:
/// - `MAILFERRY_CHANNEL`: the channel's name;
/// - `MAILFERRY_EXIT_STATUS`: what `sync` would exit with for this channel
///   alone (0 done, 1 something failed, 3 another run held the lock, ...);
/// - `MAILFERRY_NEW`: messages copied to the near side (new mail);
/// - `MAILFERRY_NEW_BY_FOLDER`: one line `FOLDER=COUNT` per folder that
///   received new messages, in folder order;
/// - `MAILFERRY_UPLOADED`: messages copied to the far side.
pub fn channel_environment(
    channel: &str,
    status: i32,
    result: Option<&ChannelResult>,
) -> Vec<(&'static str, String)> {
    let folders = result.map(|r| r.folders.as_slice()).unwrap_or_default();
    folders_environment(channel, status, folders)
}

/// [`channel_environment`] for the folders a sync (or a round of
/// `watch`, for `on_new_mail`) went through.
pub fn folders_environment(
    channel: &str,
    status: i32,
    folders: &[FolderResult],
) -> Vec<(&'static str, String)> {
    let new: usize = folders.iter().map(|f| f.report.copied[Side::Near]).sum();
    let uploaded: usize = folders.iter().map(|f| f.report.copied[Side::Far]).sum();
    let by_folder: Vec<String> = folders
        .iter()
        .filter(|f| f.report.copied[Side::Near] > 0)
        .map(|f| format!("{}={}", f.folder, f.report.copied[Side::Near]))
        .collect();
    vec![
        ("MAILFERRY_CHANNEL", channel.to_string()),
        ("MAILFERRY_EXIT_STATUS", status.to_string()),
        ("MAILFERRY_NEW", new.to_string()),
        ("MAILFERRY_NEW_BY_FOLDER", by_folder.join("\n")),
        ("MAILFERRY_UPLOADED", uploaded.to_string()),
    ]
}

/// The environment of the run's `post_sync` (the top-level key):
/// `MAILFERRY_CHANNELS` (the channels synced, one per line),
/// `MAILFERRY_EXIT_STATUS` (the run's), `MAILFERRY_NEW` and
/// `MAILFERRY_UPLOADED` (summed over the channels).
pub fn run_environment(
    channels: &[String],
    status: i32,
    results: &[ChannelResult],
) -> Vec<(&'static str, String)> {
    let count = |side: Side| -> usize {
        results
            .iter()
            .flat_map(|r| &r.folders)
            .map(|f| f.report.copied[side])
            .sum()
    };
    vec![
        ("MAILFERRY_CHANNELS", channels.join("\n")),
        ("MAILFERRY_EXIT_STATUS", status.to_string()),
        ("MAILFERRY_NEW", count(Side::Near).to_string()),
        ("MAILFERRY_UPLOADED", count(Side::Far).to_string()),
    ]
}

/// Runs a hook for a command that reports to the user: what it prints
/// shows at -v, its failure as a warning.
pub fn run_reported(
    what: &str,
    line: &str,
    env: &[(&'static str, String)],
    limit: Duration,
    out: &Output,
) {
    match run(what, line, env, limit) {
        Ok(printed) => {
            for printed_line in printed.lines() {
                out.detail(&format!("{what}: {printed_line}"));
            }
        }
        Err(message) => out.warning(&message),
    }
}

/// Runs `line` as the hook `what` (e.g. "post_sync of channel work").
/// `Ok` holds what it printed on stdout; `Err` a line for the user saying
/// how it failed, with the last line it wrote to stderr.
pub fn run(
    what: &str,
    line: &str,
    env: &[(&'static str, String)],
    limit: Duration,
) -> Result<String, String> {
    let mut command = Command::new("sh");
    command.arg("-c").arg(line);
    for (name, value) in env {
        command.env(name, value);
    }
    let finished = match run_bounded(command, limit) {
        Ok(finished) => finished,
        Err(Failure::Start(error)) => return Err(format!("{what}: cannot run sh: {error}")),
        Err(Failure::TimedOut(limit)) => {
            return Err(format!(
                "{what} did not finish within {} s and was stopped, with every process it \
                 started (raise hook_timeout if it is only slow)",
                limit.as_secs()
            ))
        }
        Err(Failure::Interrupted) => return Err(format!("{what} was stopped with mailferry")),
    };
    let stdout = String::from_utf8_lossy(&finished.stdout).into_owned();
    if finished.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&finished.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    let how = match finished.status.code() {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_string(),
    };
    Err(match last {
        Some(last) => format!("{what} failed ({how}): {}", last.trim()),
        None => format!("{what} failed ({how})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(30);

    #[test]
    fn the_hook_sees_its_environment_and_its_output_is_returned() {
        let env = [("MAILFERRY_CHANNEL", "work".to_string())];
        let out = run(
            "post_sync",
            "printf '%s' \"$MAILFERRY_CHANNEL\"",
            &env,
            LIMIT,
        );
        assert_eq!(out, Ok("work".to_string()));
    }

    #[test]
    fn a_failing_hook_is_described_with_its_last_error_line() {
        let out = run(
            "post_sync of channel work",
            "echo one >&2; echo two >&2; exit 7",
            &[],
            LIMIT,
        );
        assert_eq!(
            out,
            Err("post_sync of channel work failed (exit status 7): two".to_string())
        );
    }

    #[test]
    fn a_hanging_hook_is_stopped_at_the_limit() {
        let out = run("post_sync", "sleep 1000", &[], Duration::from_millis(200));
        let message = out.unwrap_err();
        assert!(message.contains("did not finish within"), "{message}");
    }

    #[test]
    fn a_channel_that_did_not_run_reports_nothing_new() {
        let env = channel_environment("work", 3, None);
        assert!(env.contains(&("MAILFERRY_EXIT_STATUS", "3".to_string())));
        assert!(env.contains(&("MAILFERRY_NEW", "0".to_string())));
        assert!(env.contains(&("MAILFERRY_NEW_BY_FOLDER", String::new())));
    }
}
