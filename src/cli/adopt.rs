//! `mailferry adopt`: pair an existing Maildir with the server before the
//! first sync, from mbsync's or OfflineIMAP's state or by content.

use super::Cli;
use crate::adopt::{adopt_channel, ChannelAdoption, FolderAdoption, Source};
use crate::config::Config;
use crate::error::{exit, UsageError};
use crate::output::Output;
use anyhow::Result;
use clap::Args;
use clap_complete::ArgValueCandidates;
use std::path::PathBuf;

/// Pairs the messages a Maildir already holds with the server's, so the
/// first sync copies nothing both sides have.
///
/// For a Maildir made by mbsync or OfflineIMAP (or anything else): every
/// folder of CHANNEL that mailferry has never synced is paired and the
/// pairs are written to mailferry's state. Nothing else is changed: no file
/// is renamed, moved or deleted, no message is copied, and the other tool's
/// files stay where they are. Then run `mailferry sync CHANNEL`.
///
/// With --from-mbsync or --from-offlineimap the pairs come from that tool's
/// state: exact, and a message deleted on the server since that tool last
/// ran is then deleted locally by the next sync (one written locally since
/// is uploaded). Without them, or for what that state does not pair,
/// messages are paired by content: Message-ID and size, read from the
/// server's headers only.
///
/// Examples:
///
///   mailferry adopt work --from-mbsync ~/Mail/work --dry-run
///
///   mailferry adopt work --from-offlineimap ~/.offlineimap/Account-work
///
///   mailferry adopt work
#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// The channel whose near side is the Maildir to adopt.
    #[arg(add = ArgValueCandidates::new(super::complete::channels))]
    pub channel: String,

    /// Read mbsync's state: the Maildir root with `.mbsyncstate` in each
    /// folder (SyncState *), or mbsync's SyncState directory.
    #[arg(long, value_name = "DIR", conflicts_with = "from_offlineimap")]
    pub from_mbsync: Option<PathBuf>,

    /// Read OfflineIMAP's plain-text status: the account's metadata
    /// directory, e.g. ~/.offlineimap/Account-NAME.
    #[arg(long, value_name = "DIR")]
    pub from_offlineimap: Option<PathBuf>,

    /// Show what would be paired and write nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Print what was found as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_adopt(cli: &Cli, args: &AdoptArgs, out: &Output) -> Result<i32> {
    let config = Config::load(cli.config.as_deref())?;
    let Some(channel) = config.channels.get(&args.channel) else {
        let known: Vec<&str> = config.channels.keys().map(String::as_str).collect();
        return Err(UsageError(format!(
            "no channel named {:?} in {} (channels: {})",
            args.channel,
            config.path.display(),
            known.join(", ")
        ))
        .into());
    };
    let source = match (&args.from_mbsync, &args.from_offlineimap) {
        (Some(dir), _) => Source::Mbsync(crate::config::expand_tilde(&dir.to_string_lossy())),
        (_, Some(dir)) => Source::OfflineImap(crate::config::expand_tilde(&dir.to_string_lossy())),
        (None, None) => Source::Content,
    };
    let result = adopt_channel(&config, channel, &source, args.dry_run)?;
    for error in &result.errors {
        out.error(error);
    }
    if args.json {
        out.data(&serde_json::to_string_pretty(&result)?);
    } else {
        show(&result, args.dry_run, out);
    }
    Ok(if result.errors.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}

fn show(result: &ChannelAdoption, dry_run: bool, out: &Output) {
    let mut total = FolderAdoption::default();
    for folder in &result.folders {
        out.result(&format!(
            "{}:{}: {}",
            result.channel,
            folder.folder,
            describe(folder)
        ));
        for note in &folder.notes {
            out.result(&format!("{}:{}:   {note}", result.channel, folder.folder));
        }
        total.paired += folder.paired;
        total.local_only += folder.local_only;
        total.server_only += folder.server_only;
        total.ambiguous += folder.ambiguous;
    }
    let outcome = if dry_run {
        "nothing written (--dry-run)"
    } else {
        "state written; run `mailferry sync` next"
    };
    out.result(&format!(
        "{}: {} folder(s): {}; {outcome}",
        result.channel,
        result.folders.len(),
        describe(&total)
    ));
}

/// "120 paired, 3 local only, 2 server only, 0 ambiguous".
fn describe(folder: &FolderAdoption) -> String {
    format!(
        "{} paired, {} local only, {} server only, {} ambiguous",
        folder.paired, folder.local_only, folder.server_only, folder.ambiguous
    )
}
