//! Content identity: pairing messages that both sides hold but no record
//! pairs, instead of copying them again. This happens on a first sync of a
//! Maildir that already has the mail, after a UIDVALIDITY change, and after
//! a crash lost the result of a copy.
//!
//! A message's identity is its Message-ID plus its size, or, when it has no
//! Message-ID, a hash of its content. Both are taken with line endings
//! normalised (CR removed), because a file a mail reader wrote with LF line
//! ends is the same message as the server's CRLF copy.

use crate::state::{FolderState, Pair, Record, Side};
use crate::store::{sha256_hex, Message, MessageInfo, MsgId, Store};
use anyhow::Result;
use std::collections::{HashMap, HashSet};

/// What identifies a message's content across stores.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    MessageId { id: String, size: u64 },
    Content(String),
}

impl Identity {
    pub fn of(content: &[u8]) -> Identity {
        let normalised: Vec<u8> = content.iter().copied().filter(|&b| b != b'\r').collect();
        match message_id(&normalised) {
            Some(id) => Identity::MessageId {
                id,
                size: normalised.len() as u64,
            },
            None => Identity::Content(sha256_hex(&normalised)),
        }
    }
}

/// The Message-ID header's value (trimmed, unfolded) from the header part.
fn message_id(content: &[u8]) -> Option<String> {
    let header_end = content
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(content.len());
    let header = String::from_utf8_lossy(&content[..header_end]);
    let mut lines = header.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("message-id") {
            continue;
        }
        let mut value = value.trim().to_string();
        while let Some(next) = lines.peek() {
            if !next.starts_with([' ', '\t']) {
                break;
            }
            value.push_str(next.trim());
            lines.next();
        }
        return (!value.is_empty()).then_some(value);
    }
    None
}

/// What identity pairing found, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pairing {
    /// New records: messages found on both sides.
    pub pairs: Vec<Record>,
    /// Identities held by more than one unpaired message on a side: left
    /// unpaired (and so copied as new) rather than guessed.
    pub ambiguous: usize,
}

/// Pairs the messages that each side lists but no record holds, by
/// content identity. Only sizes that could match are fetched.
pub fn pair_unrecorded(
    state: &FolderState,
    listings: Pair<&[MessageInfo]>,
    stores: Pair<&mut dyn Store>,
) -> Result<Pairing> {
    let Pair([far_store, near_store]) = stores;
    let unpaired = Pair::new(
        unrecorded(state, Side::Far, listings[Side::Far]),
        unrecorded(state, Side::Near, listings[Side::Near]),
    );
    if unpaired[Side::Far].is_empty() || unpaired[Side::Near].is_empty() {
        return Ok(Pairing::default());
    }
    let identities = Pair::new(
        identities(far_store, &unpaired[Side::Far])?,
        identities(near_store, &unpaired[Side::Near])?,
    );
    Ok(match_identities(&identities, &unpaired))
}

fn unrecorded<'a>(
    state: &FolderState,
    side: Side,
    listing: &'a [MessageInfo],
) -> Vec<&'a MessageInfo> {
    let recorded: HashSet<&str> = state
        .records
        .iter()
        .filter_map(|r| r.ids[side].as_deref())
        .collect();
    listing
        .iter()
        .filter(|m| !recorded.contains(m.id.as_str()))
        .collect()
}

fn identities(
    store: &mut dyn Store,
    messages: &[&MessageInfo],
) -> Result<HashMap<MsgId, Identity>> {
    let ids: Vec<MsgId> = messages.iter().map(|m| m.id.clone()).collect();
    let mut found = HashMap::new();
    store.fetch_messages(&ids, &mut |id, message: Message| {
        found.insert(id.clone(), Identity::of(&message.content));
        Ok(())
    })?;
    Ok(found)
}

/// Pairs identities that occur exactly once on each side.
fn match_identities(
    identities: &Pair<HashMap<MsgId, Identity>>,
    unpaired: &Pair<Vec<&MessageInfo>>,
) -> Pairing {
    let mut by_identity: Pair<HashMap<&Identity, Vec<&MessageInfo>>> = Pair::default();
    for side in Side::BOTH {
        for message in &unpaired[side] {
            if let Some(identity) = identities[side].get(&message.id) {
                by_identity[side].entry(identity).or_default().push(message);
            }
        }
    }
    let mut pairing = Pairing::default();
    for (identity, far) in &by_identity[Side::Far] {
        let Some(near) = by_identity[Side::Near].get(identity) else {
            continue;
        };
        if far.len() != 1 || near.len() != 1 {
            pairing.ambiguous += 1;
            continue;
        }
        // The record's flags are the near side's: the far side's
        // differences then show as far-side changes and win, as the server
        // is the shared truth when nothing else is known.
        pairing.pairs.push(Record {
            ids: Pair::new(Some(far[0].id.clone()), Some(near[0].id.clone())),
            flags: near[0].flags,
        });
    }
    pairing.pairs.sort_by(|a, b| a.ids.0.cmp(&b.ids.0));
    pairing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::Flags;

    #[test]
    fn line_endings_do_not_change_identity() {
        let crlf = b"Message-ID: <a@b>\r\nSubject: x\r\n\r\nbody\r\n";
        let lf = b"Message-ID: <a@b>\nSubject: x\n\nbody\n";
        assert_eq!(Identity::of(crlf), Identity::of(lf));
    }

    #[test]
    fn message_id_header_is_found_case_insensitively_and_unfolded() {
        let message = b"Subject: x\nmessage-id:\n <folded@host>\n\nbody with Message-ID: <no@no>\n";
        assert_eq!(
            Identity::of(message),
            Identity::MessageId {
                id: "<folded@host>".into(),
                size: message.len() as u64
            }
        );
    }

    #[test]
    fn messages_without_message_id_are_identified_by_content() {
        assert!(matches!(
            Identity::of(b"Subject: x\n\nbody\n"),
            Identity::Content(_)
        ));
        assert_ne!(
            Identity::of(b"Subject: x\n\nbody\n"),
            Identity::of(b"Subject: y\n\nbody\n")
        );
    }

    fn info(id: &str) -> MessageInfo {
        MessageInfo {
            id: id.into(),
            flags: Flags::SEEN,
            size: 10,
        }
    }

    #[test]
    fn unique_identities_pair_and_duplicates_stay_unpaired() {
        let far = [info("1"), info("2"), info("3")];
        let near = [info("a"), info("b"), info("c")];
        let same = Identity::Content("same".into());
        let identities = Pair::new(
            HashMap::from([
                ("1".to_string(), Identity::Content("one".into())),
                ("2".to_string(), same.clone()),
                ("3".to_string(), same.clone()),
            ]),
            HashMap::from([
                ("a".to_string(), Identity::Content("one".into())),
                ("b".to_string(), same),
                ("c".to_string(), Identity::Content("other".into())),
            ]),
        );
        let unpaired = Pair::new(far.iter().collect(), near.iter().collect());
        let pairing = match_identities(&identities, &unpaired);
        assert_eq!(pairing.pairs.len(), 1);
        assert_eq!(
            pairing.pairs[0].ids,
            Pair::new(Some("1".into()), Some("a".into()))
        );
        assert_eq!(pairing.ambiguous, 1);
    }
}
