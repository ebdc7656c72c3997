//! `mailferry watch`: stay connected and sync channels as changes happen.

use super::Cli;
use crate::config::Config;
use crate::error::{exit, UsageError};
use crate::output::Output;
use crate::state::ChannelLock;
use crate::watch::watch_channel;
use anyhow::Result;
use clap::Args;
use clap_complete::ArgValueCandidates;

/// Syncs channels, then keeps them in step as changes happen.
///
/// After a full sync, one connection per watched folder waits in IMAP IDLE
/// (INBOX, plus the folders in the channel's `watch:` list); a change on
/// the server syncs that folder within seconds. The Maildir is checked
/// every 2 seconds for mail readers' changes, which are pushed too. A full
/// sync runs every `interval` (channel key, default 15m) anyway. On a
/// server without IDLE the watched folders are polled instead, every
/// `poll_interval` (channel key, default 1m), and the first line says so.
/// Dropped connections are reopened with backoff.
///
/// The channel's lock is held for the whole watch, so a `mailferry sync`
/// from cron exits with status 3 meanwhile. SIGINT or SIGTERM stops
/// cleanly: the folder being synced is finished and the state saved; a
/// second signal exits at once (the journal keeps even that safe).
///
/// Example: mailferry watch work
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Channels or groups to watch.
    #[arg(
        value_name = "CHANNEL",
        required = true,
        add = ArgValueCandidates::new(super::complete::channels_and_groups)
    )]
    pub channels: Vec<String>,

    /// Wait for another run holding a channel's lock instead of exiting with status 3.
    #[arg(long)]
    pub wait: bool,
}

pub fn cmd_watch(cli: &Cli, args: &WatchArgs, out: &Output) -> Result<i32> {
    let config = Config::load(cli.config.as_deref())?;
    let targets = config.resolve_targets(&args.channels, false)?;
    if let Some(target) = targets.iter().find(|t| t.folder.is_some()) {
        return Err(UsageError(format!(
            "watch takes whole channels, not {}:{}; list folders to watch under `watch:` in \
             the channel",
            target.channel,
            target.folder.as_deref().unwrap_or_default()
        ))
        .into());
    }
    let mut channels = Vec::new();
    for target in &targets {
        if let Some(channel) = config.channel(&target.channel) {
            if !channels
                .iter()
                .any(|c: &&crate::config::ChannelConfig| c.name == channel.name)
            {
                channels.push(channel);
            }
        }
    }
    // Every lock first, so a busy channel stops us before anything starts.
    let mut locks = Vec::new();
    for channel in &channels {
        locks.push(ChannelLock::acquire(
            &config.state_dir,
            &channel.name,
            args.wait,
        )?);
    }

    // A second signal while the first is being honoured exits at once.
    crate::interrupt::install()?;
    let stop = crate::interrupt::stop_flag();

    let mut status = exit::OK;
    std::thread::scope(|scope| {
        let handles: Vec<_> = channels
            .iter()
            .map(|channel| {
                let stop = &stop;
                let config = &config;
                scope.spawn(move || {
                    (
                        channel.name.clone(),
                        watch_channel(config, channel, stop, out),
                    )
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok((_, Ok(()))) => {}
                Ok((name, Err(error))) => {
                    status = status.max(crate::error::exit_status(&error));
                    out.error(&format!("{name}: {error:#}"));
                    // The other channels go on until stopped.
                }
                Err(_) => status = status.max(exit::FAILED),
            }
        }
    });
    drop(locks);
    Ok(status)
}
