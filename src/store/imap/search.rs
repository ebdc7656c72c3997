//! Searching on the server: `UID SEARCH` with keys built by
//! [`crate::search::imap`], and a light fetch of what a result line shows
//! (flags, size, arrival date, a few header fields), never the bodies and
//! never setting `\Seen` (`BODY.PEEK`).

use super::client::response::Fetch;
use super::client::Command;
use super::ImapStore;
use crate::mail::Flags;
use anyhow::Result;

/// How the server lets us send 8-bit strings (in search keys, which
/// [`crate::search::imap`] builds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Literals {
    /// LITERAL+ (or LITERAL- for small strings): `{n+}` inline.
    NonSynchronizing,
    /// Neither: raw UTF-8 inside quotes.
    None,
}

/// Header fields fetched for a result line.
const SUMMARY_FIELDS: &str = "FROM TO SUBJECT DATE MESSAGE-ID";

/// What a search result shows of one message, as the server sent it.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub uid: u32,
    pub flags: Flags,
    pub size: u64,
    /// INTERNALDATE, unix seconds.
    pub date: Option<i64>,
    /// The raw header lines of [`SUMMARY_FIELDS`].
    pub header: Vec<u8>,
}

impl ImapStore {
    /// How this server lets us send 8-bit search strings.
    pub fn search_literals(&self) -> Literals {
        if self.has_capability("LITERAL+") {
            Literals::NonSynchronizing
        } else {
            Literals::None
        }
    }

    /// UIDs of the messages of the open folder matching `keys` (the text
    /// after `UID SEARCH`), ascending.
    pub fn search_uids(&mut self, keys: &str) -> Result<Vec<u32>> {
        self.open_folder_state()?;
        let doing = format!("searching folder {:?} failed", self.open_name());
        let answer = self.command(&Command::text(&format!("UID SEARCH {keys}")), &doing)?;
        Ok(super::searched_uids(&answer))
    }

    /// Flags, size, date and summary header fields of `uids` in the open
    /// folder, in UID order. UIDs that vanished meanwhile are left out.
    pub fn fetch_envelopes(&mut self, uids: &[u32]) -> Result<Vec<Envelope>> {
        self.open_folder_state()?;
        let mut envelopes = Vec::with_capacity(uids.len());
        let items = format!(
            "(UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS ({SUMMARY_FIELDS})])"
        );
        for batch in uids.chunks(super::FETCH_BATCH_COUNT) {
            let set = super::protocol::uid_set(batch);
            let doing = format!("fetching from folder {:?} failed", self.open_name());
            let answer = self.fetch_command(&format!("UID FETCH {set} {items}"), &doing)?;
            for items in super::fetched_items(&answer) {
                let fetch = Fetch::parse(items)
                    .map_err(|e| anyhow::anyhow!("{doing}: {} sent {e}", self.host))?;
                let Some(uid) = fetch.uid.filter(|uid| batch.contains(uid)) else {
                    continue;
                };
                let flags = Flags::from_imap_names(
                    fetch
                        .flags
                        .unwrap_or_default()
                        .iter()
                        .map(ToString::to_string),
                );
                let date = fetch.internal_date.and_then(|date| {
                    chrono::DateTime::parse_from_str(
                        &String::from_utf8_lossy(&date),
                        "%d-%b-%Y %H:%M:%S %z",
                    )
                    .ok()
                });
                envelopes.push(Envelope {
                    uid,
                    flags,
                    size: fetch.size.unwrap_or(0),
                    date: date.map(|d| d.timestamp()),
                    header: fetch.header.map(|h| h.into_owned()).unwrap_or_default(),
                });
            }
        }
        envelopes.sort_by_key(|e| e.uid);
        envelopes.dedup_by_key(|e| e.uid);
        Ok(envelopes)
    }
}
