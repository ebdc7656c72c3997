//! `mailferry search`: find messages on a server (IMAP SEARCH) or in a
//! Maildir (by reading the files), without syncing anything.

use super::Cli;
use crate::config::Config;
use crate::error::{exit, UsageError};
use crate::output::{self, Output};
use crate::search::{query, search_store, Match, Target};
use anyhow::Result;
use clap::Args;
use clap_complete::ArgValueCandidates;
use std::path::PathBuf;

const QUERY_HELP: &str = "\
Query criteria (side by side they must all match; `or`, `not` and
parentheses combine them; keywords in any case):
  from:TEXT  to:TEXT  subject:TEXT   header contains TEXT
  body:TEXT  text:TEXT               body (or header and body) contains TEXT
  since:YYYY-MM-DD  before:YYYY-MM-DD   arrival date on/after, before
  larger:SIZE  smaller:SIZE          size in bytes, or with k, M, G
  seen unseen flagged unflagged answered unanswered draft
Quote values with spaces: subject:\"monthly report\". Matching ignores case.

Output: one line per message, tab-separated: store:folder, date (arrival,
UTC), from, subject, flags (Maildir letters: D draft, F flagged, P passed,
R replied, S seen, T trashed; - for none), size.";

/// Searches the folders of a store, on the server for IMAP stores.
///
/// The last argument is the query, the ones before it are stores, each
/// with an optional folder (STORE:FOLDER). A store without a folder is
/// searched in every folder, several at once. Examples:
///
///   mailferry search work 'from:alice subject:invoice since:2024-01-01'
///
///   mailferry search work:INBOX work:Archive 'larger:5M or (flagged unseen)'
///
///   mailferry search work 'text:"project x"' --fetch ~/found
///
/// IMAP stores run IMAP SEARCH, so nothing is downloaded but the result
/// lines, and no message is marked read. Maildir stores are searched by
/// reading every file.
#[derive(Debug, Args)]
#[command(after_help = QUERY_HELP)]
pub struct SearchArgs {
    /// Stores, each with an optional folder (STORE:FOLDER).
    #[arg(
        value_name = "STORE[:FOLDER]",
        required = true,
        num_args = 1..,
        add = ArgValueCandidates::new(super::complete::stores)
    )]
    pub targets: Vec<String>,

    /// The query, quoted as one argument (criteria below).
    #[arg(value_name = "QUERY")]
    pub query: String,

    /// Print the matches as a JSON array.
    #[arg(long)]
    pub json: bool,

    /// Also copy the matching messages into a Maildir at DIR (created if
    /// missing; one subdirectory per folder, e.g. DIR/INBOX/cur).
    #[arg(long, value_name = "DIR")]
    pub fetch: Option<PathBuf>,
}

pub fn cmd_search(cli: &Cli, args: &SearchArgs, out: &Output) -> Result<i32> {
    let query = query::parse(&args.query).map_err(|e| UsageError(e.to_string()))?;
    let config = Config::load(cli.config.as_deref())?;
    let targets = parse_targets(&config, &args.targets)?;

    let mut status = exit::OK;
    let mut matches: Vec<Match> = Vec::new();
    for target in &targets {
        match search_store(&config, target, &query, args.fetch.as_deref()) {
            Ok(result) => {
                for error in &result.errors {
                    out.error(error);
                    status = exit::FAILED;
                }
                matches.extend(result.matches);
            }
            Err(err) => {
                status = status.max(crate::error::exit_status(&err));
                out.error(&format!("{err:#}"));
            }
        }
    }
    if args.json {
        out.data(&serde_json::to_string_pretty(&matches)?);
    } else {
        for found in matches.iter().take_while(|_| !output::stdout_closed()) {
            out.result(&result_line(found));
        }
        out.summary(&format!("{} message(s) found", matches.len()));
    }
    Ok(status)
}

/// Groups `STORE[:FOLDER]` arguments by store, in the order given.
fn parse_targets(config: &Config, args: &[String]) -> Result<Vec<Target>> {
    let mut targets: Vec<Target> = Vec::new();
    for arg in args {
        let (store, folder) = match arg.split_once(':') {
            Some((store, folder)) => (store, Some(folder)),
            None => (arg.as_str(), None),
        };
        if config.store(store).is_none() {
            let known: Vec<&str> = config.stores.keys().map(String::as_str).collect();
            return Err(UsageError(format!(
                "no store named {store:?} in {} (stores: {}); the query must be the last \
                 argument, quoted as one",
                config.path.display(),
                known.join(", ")
            ))
            .into());
        }
        if folder == Some("") {
            return Err(UsageError(format!("{arg:?}: the folder name after ':' is empty")).into());
        }
        let whole_store = folder.is_none();
        match targets.iter_mut().find(|t| t.store == store) {
            // A bare store means every folder, whatever else was named.
            Some(target) if target.folders.is_empty() => {}
            Some(target) if whole_store => target.folders.clear(),
            Some(target) => {
                if let Some(folder) = folder.filter(|f| !target.folders.iter().any(|t| t == f)) {
                    target.folders.push(folder.to_string());
                }
            }
            None => targets.push(Target {
                store: store.to_string(),
                folders: folder.map(|f| vec![f.to_string()]).unwrap_or_default(),
            }),
        }
    }
    Ok(targets)
}

/// `store:folder<TAB>date<TAB>from<TAB>subject<TAB>flags<TAB>size`.
fn result_line(found: &Match) -> String {
    let date = found
        .date
        .as_deref()
        .map(|d| d.get(..16).unwrap_or(d).replace('T', " "))
        .unwrap_or_else(|| "-".to_string());
    format!(
        "{}:{}\t{date}\t{}\t{}\t{}\t{}",
        found.store,
        found.folder,
        one_line(&found.from),
        one_line(&found.subject),
        found.flags,
        human_size(found.size)
    )
}

/// Tabs and line breaks in a header would break the columns.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn human_size(bytes: u64) -> String {
    match bytes {
        0..=9_999 => format!("{bytes}"),
        10_000..=9_999_999 => format!("{}k", bytes.div_ceil(1024)),
        _ => format!("{:.1}M", bytes as f64 / (1024.0 * 1024.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_yaml(
            "stores:\n  work:\n    type: maildir\n    path: /m\n  home:\n    type: maildir\n    path: /h\n",
            std::path::Path::new("/c.yaml"),
        )
        .unwrap()
    }

    fn targets(args: &[&str]) -> Vec<Target> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_targets(&config(), &args).unwrap()
    }

    #[test]
    fn folders_group_by_store_and_a_bare_store_means_all() {
        assert_eq!(
            targets(&["work:INBOX", "home", "work:Sent"]),
            vec![
                Target {
                    store: "work".into(),
                    folders: vec!["INBOX".into(), "Sent".into()]
                },
                Target {
                    store: "home".into(),
                    folders: vec![]
                },
            ]
        );
        assert_eq!(targets(&["work:INBOX", "work"])[0].folders.len(), 0);
        assert_eq!(targets(&["work", "work:INBOX"])[0].folders.len(), 0);
    }

    #[test]
    fn an_unknown_store_hints_that_the_query_comes_last() {
        let args = vec!["from:alice".to_string()];
        let error = parse_targets(&config(), &args).unwrap_err();
        assert!(
            error.to_string().contains("no store named \"from\""),
            "{error}"
        );
        assert!(error.to_string().contains("last argument"), "{error}");
    }

    #[test]
    fn sizes_read_like_ls() {
        assert_eq!(human_size(512), "512");
        assert_eq!(human_size(20_480), "20k");
        assert_eq!(human_size(3 * 1024 * 1024), "3072k");
        assert_eq!(human_size(30 * 1024 * 1024), "30.0M");
    }
}
