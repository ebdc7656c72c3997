//! Content identity: pairing messages that both sides hold but no record
//! pairs, instead of copying them again. This happens on a first sync of a
//! Maildir that already has the mail (adopting it), after a UIDVALIDITY
//! change, and after a crash lost the result of a copy.
//!
//! The rules live here and nowhere else. A message's identity is:
//! - its Message-ID plus its size *in CRLF form*: the number of bytes the
//!   message has once every bare LF is written as CRLF. That is exactly what
//!   an IMAP server reports as RFC822.SIZE (RFC 3501 counts the message in
//!   its RFC 5322 form, which ends lines with CRLF), so the server side is
//!   decided from `RFC822.SIZE` and `BODY.PEEK[HEADER.FIELDS (MESSAGE-ID
//!   X-TUID)]` alone, never a body; a Maildir file written with LF line ends
//!   (as mbsync, OfflineIMAP and most mail readers write them) counts its
//!   bytes plus its bare LFs, which is local I/O;
//! - when it has no Message-ID, a SHA-256 of its content with every CR
//!   removed. Only these messages are fetched whole, and the pairing
//!   reports how many there were.
//!
//! Both leave out `X-TUID` header fields: mbsync writes one
//! (`X-TUID: <12 characters>`) into every message it stores, to find it
//! again, so an mbsync Maildir's copy is otherwise the server's copy plus
//! that line.
//!
//! Where an identity occurs more than once among a side's candidates, the
//! messages that share it are read whole on both sides and compared by
//! [`content_digest`] (line ends and `X-TUID` aside): look-alikes (one
//! Message-ID and size, other bytes, as one-time-code mails can be) each
//! pair with their own content. A content still held more than once on a
//! side (the same message filed twice) is ambiguous: such messages are
//! reported and left untouched, neither paired nor copied, as guessing
//! wrong would pair a message with the other copy's flags or upload a
//! duplicate.
//!
//! How much the headers alone decide is the caller's [`Evidence`]. When
//! adopting a Maildir or re-pairing a renumbered server, nearly every
//! candidate is a copy and reading bodies would mean downloading the
//! mailbox, so an identity held once on each side pairs from headers
//! alone. The one case this takes wrong: two look-alikes in no record, one
//! only on each side; they are paired as one message and neither is
//! copied. In an ordinary sync the few messages no record holds on both
//! sides are as likely look-alikes that arrived one on each side (or that
//! an interrupted run copied one of) as copies, so every identity found on
//! both sides is compared by content there.

use crate::flags::Flags;
use crate::state::{FolderState, Pair, Record, Side};
use crate::store::{sha256_hex, MessageInfo, MsgId, Store};
use anyhow::Result;
use std::collections::HashMap;
use std::ops::Range;

/// The header field that a tool adds to its own copies and that is no
/// part of the message.
const TOOL_FIELD: &str = "X-TUID";

/// The header fields a server must send for [`Identity::from_header`], in
/// IMAP's `HEADER.FIELDS` syntax.
pub const HEADER_FIELDS: &str = "(MESSAGE-ID X-TUID)";

/// What pairs two messages that share an identity, one on each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Headers, where the identity occurs once on each side; content only
    /// where it occurs more than once on a side. For adopting a mailbox
    /// (a first sync) and re-pairing a renumbered side.
    HeadersWhereUnique,
    /// Always the content: the messages are read whole on both sides.
    /// For an ordinary sync, where look-alikes are as likely as copies.
    Content,
}

/// What identifies a message's content across stores.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The Message-ID header's value and the size in CRLF form (without
    /// `X-TUID` fields).
    MessageId { id: String, crlf_size: u64 },
    /// SHA-256 (hex) of the content with CRs and `X-TUID` fields removed,
    /// for messages without a Message-ID.
    Content(String),
}

impl Identity {
    /// The identity of a whole message, whatever its line ends.
    pub fn of(content: &[u8]) -> Identity {
        match message_id(content) {
            Some(id) => Identity::MessageId {
                id,
                crlf_size: crlf_size(content) - tool_field_size(content),
            },
            None => Identity::Content(content_hash(content)),
        }
    }

    /// The identity from a message's header fields (at least those of
    /// [`HEADER_FIELDS`], as `BODY[HEADER.FIELDS ...]` returns them) and its
    /// size in CRLF form (RFC822.SIZE). `None` when the header has no
    /// Message-ID: then only the content can identify the message.
    pub fn from_header(header: &[u8], crlf_size: u64) -> Option<Identity> {
        message_id(header).map(|id| Identity::MessageId {
            id,
            crlf_size: crlf_size.saturating_sub(tool_field_size(header)),
        })
    }

    /// Whether this identity needed the whole message.
    pub fn is_content_hash(&self) -> bool {
        matches!(self, Identity::Content(_))
    }
}

/// The message's size with every bare LF counted as CRLF.
pub fn crlf_size(content: &[u8]) -> u64 {
    let bare_lfs = content
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && (i == 0 || content[i - 1] != b'\r'))
        .count();
    (content.len() + bare_lfs) as u64
}

fn content_hash(content: &[u8]) -> String {
    sha256_hex(&without_tool_fields_and_crs(content))
}

/// The content without `X-TUID` fields and without CRs.
fn without_tool_fields_and_crs(content: &[u8]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(content.len());
    let mut next = 0;
    for (name, range) in header_fields(content) {
        if is_tool_field(name) {
            kept.extend_from_slice(&content[next..range.start]);
            next = range.end;
        }
    }
    kept.extend_from_slice(&content[next..]);
    kept.retain(|&b| b != b'\r');
    kept
}

fn is_tool_field(name: &[u8]) -> bool {
    name.trim_ascii()
        .eq_ignore_ascii_case(TOOL_FIELD.as_bytes())
}

/// The CRLF-form size of the `X-TUID` fields in the header.
fn tool_field_size(content: &[u8]) -> u64 {
    header_fields(content)
        .filter(|(name, _)| is_tool_field(name))
        .map(|(_, range)| crlf_size(&content[range]))
        .sum()
}

/// The Message-ID header's value (trimmed, unfolded).
pub fn message_id(content: &[u8]) -> Option<String> {
    let value: String = header_field(content, "message-id")?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("");
    (!value.is_empty()).then_some(value)
}

/// A header field's value, unfolded and trimmed (non-UTF-8 bytes replaced).
fn header_field(content: &[u8], name: &str) -> Option<String> {
    let (_, range) = header_fields(content)
        .find(|(field, _)| field.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))?;
    let field = String::from_utf8_lossy(&content[range]);
    let (_, value) = field.split_once(':')?;
    Some(value.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// How messages name a message to a user: its Message-ID and subject,
/// never anything of its body.
pub fn message_label(content: &[u8]) -> String {
    let id = message_id(content).unwrap_or_else(|| "without Message-ID".to_string());
    match header_field(content, "subject").filter(|s| !s.is_empty()) {
        Some(subject) => format!("message {id} ({subject:?})"),
        None => format!("message {id}"),
    }
}

/// The fields of the header part (which ends at the first empty line;
/// CRLF and LF line ends both work): each field's name and the byte range
/// of its lines, continuation lines and line ends included.
fn header_fields(content: &[u8]) -> impl Iterator<Item = (&[u8], Range<usize>)> {
    let mut lines = Vec::new();
    let mut start = 0;
    while start < content.len() {
        let end = content[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(content.len(), |i| start + i + 1);
        let line = &content[start..end];
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            break;
        }
        lines.push((
            start..end,
            text.starts_with(b" ") || text.starts_with(b"\t"),
        ));
        start = end;
    }
    let mut fields: Vec<Range<usize>> = Vec::new();
    for (range, continues) in lines {
        match fields.last_mut() {
            Some(field) if continues => field.end = range.end,
            _ => fields.push(range),
        }
    }
    fields.into_iter().filter_map(move |range| {
        let line = &content[range.clone()];
        let colon = line.iter().position(|&b| b == b':')?;
        Some((&line[..colon], range))
    })
}

/// What identity pairing found, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pairing {
    /// New records: messages found on both sides.
    pub pairs: Vec<Record>,
    /// Messages held more than once on a side, byte for byte (line ends
    /// aside), while the other side also has them: not paired, and not to
    /// be copied. Counted once per content.
    pub ambiguous: usize,
    /// The messages of those contents, per side: the caller leaves them
    /// out of the plan so that they are neither copied nor deleted.
    pub ambiguous_ids: Pair<Vec<MsgId>>,
    /// Per side, how many messages had no Message-ID and so were
    /// identified by a hash of their whole content (on IMAP: fetched).
    pub hashed: Pair<usize>,
    /// Per side, how many messages shared their Message-ID and size with
    /// another and were read whole to tell them apart.
    pub compared: Pair<usize>,
}

/// Pairs the messages that each side lists but no record holds, by
/// content identity, with `evidence` deciding when headers suffice.
/// Nothing is fetched unless both sides have unpaired messages.
pub fn pair_unrecorded(
    state: &FolderState,
    listings: Pair<&[MessageInfo]>,
    stores: Pair<&mut dyn Store>,
    evidence: Evidence,
) -> Result<Pairing> {
    let unpaired = Pair::new(
        unrecorded(state, Side::Far, listings[Side::Far]),
        unrecorded(state, Side::Near, listings[Side::Near]),
    );
    let matched = match_by_content(
        Pair::new(&unpaired[Side::Far], &unpaired[Side::Near]),
        stores,
        evidence,
    )?;
    let near_flags: HashMap<&str, Flags> = listings[Side::Near]
        .iter()
        .map(|m| (m.id.as_str(), m.flags))
        .collect();
    // The record's flags are the near side's: the far side's differences
    // then show as far-side changes and win, as the server is the shared
    // truth when nothing else is known.
    let pairs = matched
        .pairs
        .into_iter()
        .map(|Pair([far, near])| Record {
            flags: near_flags
                .get(near.as_str())
                .copied()
                .unwrap_or(Flags::EMPTY),
            ids: Pair::new(Some(far), Some(near)),
        })
        .collect();
    Ok(Pairing {
        pairs,
        ambiguous: matched.ambiguous,
        ambiguous_ids: matched.ambiguous_ids,
        hashed: matched.hashed,
        compared: matched.compared,
    })
}

fn unrecorded(state: &FolderState, side: Side, listing: &[MessageInfo]) -> Vec<MsgId> {
    listing
        .iter()
        .filter(|m| !state.records.holds(side, &m.id))
        .map(|m| m.id.clone())
        .collect()
}

/// Which messages of two sides are one message, as content identity
/// decides it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matching {
    /// (far id, near id) of each message found on both sides.
    pub pairs: Vec<Pair<MsgId>>,
    /// Contents held more than once on a side while the other side holds
    /// them too (see [`Pairing::ambiguous`]).
    pub ambiguous: usize,
    pub ambiguous_ids: Pair<Vec<MsgId>>,
    pub hashed: Pair<usize>,
    pub compared: Pair<usize>,
}

/// Pairs `candidates` of one side with those of the other by content
/// identity: with [`Evidence::HeadersWhereUnique`], the identity
/// (Message-ID and size, from headers where the store can) decides where
/// it occurs once on each side; where it occurs more than once on a side,
/// or always with [`Evidence::Content`], the messages that share it are
/// read whole on both sides and compared by [`content_digest`] (line ends
/// aside), and only a content held once on each side pairs. Two
/// look-alikes (one Message-ID and size, other bytes) held more than once
/// on a side, or at all with `Evidence::Content`, are never taken for one
/// message. Nothing is read unless both sides have candidates.
pub fn match_by_content(
    candidates: Pair<&[MsgId]>,
    stores: Pair<&mut dyn Store>,
    evidence: Evidence,
) -> Result<Matching> {
    if candidates[Side::Far].is_empty() || candidates[Side::Near].is_empty() {
        return Ok(Matching::default());
    }
    let Pair([far_store, near_store]) = stores;
    let identities = Pair::new(
        far_store
            .identities(candidates[Side::Far])?
            .into_iter()
            .collect(),
        near_store
            .identities(candidates[Side::Near])?
            .into_iter()
            .collect(),
    );
    let to_compare = needing_content(&identities, candidates, evidence);
    let digests = Pair::new(
        digests(far_store, &to_compare[Side::Far])?,
        digests(near_store, &to_compare[Side::Near])?,
    );
    Ok(match_identities(
        &identities,
        &digests,
        candidates,
        evidence,
    ))
}

/// The [`content_digest`] of each of `ids` that still exists.
fn digests(store: &mut dyn Store, ids: &[MsgId]) -> Result<HashMap<MsgId, String>> {
    let mut found = HashMap::new();
    if ids.is_empty() {
        return Ok(found);
    }
    store.fetch_messages(ids, &mut |id, message| {
        found.insert(id.clone(), content_digest(&message.content));
        Ok(())
    })?;
    Ok(found)
}

/// What two messages' contents are compared by: a SHA-256 (hex) of the
/// content with line ends normalised (every CR removed), without `X-TUID`
/// fields, and with every 8-bit header byte read as `X`. Two messages with
/// the same digest are copies of one message; with the same Message-ID and
/// size but other digests, they are look-alikes.
pub fn content_digest(content: &[u8]) -> String {
    let mut kept = without_tool_fields_and_crs(content);
    // Cyrus stores raw 8-bit header bytes as `X` (same size): a copy it
    // holds is the same message as the original. (The server-side lookup
    // after an upload makes the same allowance, see `find_stored`.)
    let header_end = kept
        .windows(2)
        .position(|pair| pair == b"\n\n")
        .unwrap_or(kept.len());
    for byte in &mut kept[..header_end] {
        if *byte >= 0x80 {
            *byte = b'X';
        }
    }
    sha256_hex(&kept)
}

/// The candidates whose identity occurs on both sides, more than once on
/// a side unless `evidence` is `Content`: they must be compared by
/// content.
fn needing_content(
    identities: &Pair<HashMap<MsgId, Identity>>,
    candidates: Pair<&[MsgId]>,
    evidence: Evidence,
) -> Pair<Vec<MsgId>> {
    let groups = group_by_identity(identities, candidates);
    let mut needed: Pair<Vec<MsgId>> = Pair::default();
    for (identity, far) in &groups[Side::Far] {
        let Some(near) = groups[Side::Near].get(identity) else {
            continue;
        };
        // A hash identity is the content already.
        let headers_decide =
            far.len() == 1 && near.len() == 1 && evidence == Evidence::HeadersWhereUnique;
        if !headers_decide && !identity.is_content_hash() {
            needed[Side::Far].extend(far.iter().map(|id| (*id).clone()));
            needed[Side::Near].extend(near.iter().map(|id| (*id).clone()));
        }
    }
    needed
}

/// Candidates by identity, per side, in the candidates' order.
fn group_by_identity<'a>(
    identities: &'a Pair<HashMap<MsgId, Identity>>,
    candidates: Pair<&'a [MsgId]>,
) -> Pair<HashMap<&'a Identity, Vec<&'a MsgId>>> {
    let mut groups: Pair<HashMap<&Identity, Vec<&MsgId>>> = Pair::default();
    for side in Side::BOTH {
        for id in candidates[side] {
            if let Some(identity) = identities[side].get(id) {
                groups[side].entry(identity).or_default().push(id);
            }
        }
    }
    groups
}

/// Pairs what occurs once on each side: identities where `evidence` lets
/// headers decide, and elsewhere contents (by `digests`; a message
/// without a digest, vanished meanwhile, leaves its identity ambiguous).
fn match_identities(
    identities: &Pair<HashMap<MsgId, Identity>>,
    digests: &Pair<HashMap<MsgId, String>>,
    candidates: Pair<&[MsgId]>,
    evidence: Evidence,
) -> Matching {
    let mut matching = Matching::default();
    for side in Side::BOTH {
        matching.hashed[side] = candidates[side]
            .iter()
            .filter(|id| {
                identities[side]
                    .get(*id)
                    .is_some_and(Identity::is_content_hash)
            })
            .count();
        matching.compared[side] = digests[side].len();
    }
    let groups = group_by_identity(identities, candidates);
    for (identity, far) in &groups[Side::Far] {
        let Some(near) = groups[Side::Near].get(identity) else {
            continue;
        };
        let unique = far.len() == 1 && near.len() == 1;
        if unique && (evidence == Evidence::HeadersWhereUnique || identity.is_content_hash()) {
            matching
                .pairs
                .push(Pair::new(far[0].clone(), near[0].clone()));
            continue;
        }
        let (Some(far_contents), Some(near_contents)) = (
            by_digest(far, &digests[Side::Far]),
            by_digest(near, &digests[Side::Near]),
        ) else {
            matching.ambiguous += 1;
            matching.ambiguous_ids[Side::Far].extend(far.iter().map(|id| (*id).clone()));
            matching.ambiguous_ids[Side::Near].extend(near.iter().map(|id| (*id).clone()));
            continue;
        };
        for (digest, far) in &far_contents {
            let Some(near) = near_contents.get(digest) else {
                continue;
            };
            if far.len() == 1 && near.len() == 1 {
                matching
                    .pairs
                    .push(Pair::new(far[0].clone(), near[0].clone()));
            } else {
                matching.ambiguous += 1;
                matching.ambiguous_ids[Side::Far].extend(far.iter().map(|id| (*id).clone()));
                matching.ambiguous_ids[Side::Near].extend(near.iter().map(|id| (*id).clone()));
            }
        }
    }
    matching.pairs.sort_by(|a, b| a.0.cmp(&b.0));
    for side in Side::BOTH {
        matching.ambiguous_ids[side].sort();
    }
    matching
}

/// The messages of one identity by content digest; `None` when one of
/// them has none.
fn by_digest<'a>(
    ids: &[&'a MsgId],
    digests: &'a HashMap<MsgId, String>,
) -> Option<HashMap<&'a String, Vec<&'a MsgId>>> {
    let mut groups: HashMap<&String, Vec<&MsgId>> = HashMap::new();
    for id in ids {
        groups.entry(digests.get(*id)?).or_default().push(id);
    }
    Some(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_do_not_change_identity() {
        let crlf = b"Message-ID: <a@b>\r\nSubject: x\r\n\r\nbody\r\n";
        let lf = b"Message-ID: <a@b>\nSubject: x\n\nbody\n";
        assert_eq!(Identity::of(crlf), Identity::of(lf));
        let without_id_crlf = b"Subject: x\r\n\r\nbody\r\n";
        let without_id_lf = b"Subject: x\n\nbody\n";
        assert_eq!(Identity::of(without_id_crlf), Identity::of(without_id_lf));
    }

    #[test]
    fn the_size_is_counted_in_crlf_form_as_imap_servers_report_it() {
        let lf = b"Message-ID: <a@b>\n\nbody\n";
        let crlf = b"Message-ID: <a@b>\r\n\r\nbody\r\n";
        assert_eq!(crlf_size(lf), crlf.len() as u64);
        assert_eq!(crlf_size(crlf), crlf.len() as u64);
        // Mixed line ends and a leading LF count once each.
        assert_eq!(crlf_size(b"\na\r\nb\n"), 8);
    }

    #[test]
    fn a_header_fetch_gives_the_same_identity_as_the_whole_message() {
        let whole = b"Subject: x\nMessage-ID: <a@b>\nFrom: y\n\nbody\n";
        // What BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)] and RFC822.SIZE return.
        let header = b"Message-ID: <a@b>\r\n\r\n";
        assert_eq!(
            Identity::from_header(header, crlf_size(whole)),
            Some(Identity::of(whole))
        );
        // No Message-ID: the header cannot decide.
        assert_eq!(Identity::from_header(b"\r\n", 10), None);
    }

    #[test]
    fn message_id_header_is_found_case_insensitively_and_unfolded() {
        let message =
            b"Subject: x\r\nmessage-id:\r\n <folded@host>\r\n\r\nbody with Message-ID: <no@no>\r\n";
        assert_eq!(
            Identity::of(message),
            Identity::MessageId {
                id: "<folded@host>".into(),
                crlf_size: message.len() as u64
            }
        );
    }

    #[test]
    fn the_x_tuid_field_mbsync_adds_to_its_copies_does_not_count() {
        let server = b"From: a\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n";
        let mbsync_copy = b"From: a\nMessage-ID: <a@b>\nX-TUID: I0qG9+oKK8HF\n\nbody\n";
        assert_eq!(Identity::of(mbsync_copy), Identity::of(server));
        // The server's header answer when its copy carries one too.
        let with_tuid = b"From: a\r\nMessage-ID: <a@b>\r\nX-TUID: I0qG9+oKK8HF\r\n\r\nbody\r\n";
        let header = b"Message-ID: <a@b>\r\nX-TUID: I0qG9+oKK8HF\r\n\r\n";
        assert_eq!(
            Identity::from_header(header, with_tuid.len() as u64),
            Some(Identity::of(server))
        );
        // Without a Message-ID the hash leaves it out as well.
        let server = b"Subject: x\r\n\r\nbody\r\n";
        let mbsync_copy = b"Subject: x\nX-TUID: abcdefghijkl\n\nbody\n";
        assert_eq!(Identity::of(mbsync_copy), Identity::of(server));
        // In the body it is content like any other.
        assert_ne!(
            Identity::of(b"Subject: x\n\nX-TUID: abcdefghijkl\n"),
            Identity::of(b"Subject: x\n\n")
        );
    }

    #[test]
    fn a_message_id_in_the_body_is_not_the_message_id() {
        let message = b"Subject: x\n\nMessage-ID: <in-body@host>\n";
        assert!(Identity::of(message).is_content_hash());
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

    fn ids(ids: &[&str]) -> Vec<MsgId> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    fn identities_of(pairs: &[(&str, Identity)]) -> HashMap<MsgId, Identity> {
        pairs
            .iter()
            .map(|(id, identity)| (id.to_string(), identity.clone()))
            .collect()
    }

    fn same_id_and_size() -> Identity {
        Identity::MessageId {
            id: "<code@bank>".into(),
            crlf_size: 60,
        }
    }

    #[test]
    fn unique_identities_pair_and_copies_held_twice_stay_unpaired() {
        let far = ids(&["1", "2", "3"]);
        let near = ids(&["a", "b", "c"]);
        let same = Identity::Content("same".into());
        let identities = Pair::new(
            identities_of(&[
                ("1", Identity::Content("one".into())),
                ("2", same.clone()),
                ("3", same.clone()),
            ]),
            identities_of(&[
                ("a", Identity::Content("one".into())),
                ("b", same),
                ("c", Identity::Content("other".into())),
            ]),
        );
        let candidates = Pair::new(&far[..], &near[..]);
        assert_eq!(
            needing_content(&identities, candidates, Evidence::HeadersWhereUnique),
            Pair::default()
        );
        let matching = match_identities(
            &identities,
            &Pair::default(),
            candidates,
            Evidence::HeadersWhereUnique,
        );
        assert_eq!(matching.pairs, [Pair::new("1".into(), "a".into())]);
        assert_eq!(matching.ambiguous, 1);
        assert_eq!(
            matching.ambiguous_ids,
            Pair::new(ids(&["2", "3"]), ids(&["b"]))
        );
        assert_eq!(matching.hashed, Pair::new(3, 3));
    }

    #[test]
    fn look_alikes_are_told_apart_by_content_and_each_pairs_with_its_own() {
        // Two one-time-code mails with one Message-ID and size on each
        // side, listed in another order.
        let far = ids(&["1", "2"]);
        let near = ids(&["a", "b"]);
        let identities = Pair::new(
            identities_of(&[("1", same_id_and_size()), ("2", same_id_and_size())]),
            identities_of(&[("a", same_id_and_size()), ("b", same_id_and_size())]),
        );
        let candidates = Pair::new(&far[..], &near[..]);
        let needed = needing_content(&identities, candidates, Evidence::HeadersWhereUnique);
        assert_eq!(needed, Pair::new(ids(&["1", "2"]), ids(&["a", "b"])));
        let digest = |text: &str| content_digest(text.as_bytes());
        let digests = Pair::new(
            HashMap::from([
                ("1".to_string(), digest("Your code is 771204")),
                ("2".to_string(), digest("Your code is 482913")),
            ]),
            HashMap::from([
                ("a".to_string(), digest("Your code is 482913")),
                ("b".to_string(), digest("Your code is 771204")),
            ]),
        );
        let matching = match_identities(
            &identities,
            &digests,
            candidates,
            Evidence::HeadersWhereUnique,
        );
        assert_eq!(
            matching.pairs,
            [
                Pair::new("1".into(), "b".into()),
                Pair::new("2".into(), "a".into())
            ]
        );
        assert_eq!(matching.ambiguous, 0);
        assert_eq!(matching.compared, Pair::new(2, 2));
    }

    #[test]
    fn a_look_alike_only_one_side_has_is_left_to_be_copied_and_true_copies_stay_ambiguous() {
        // Far: the twin 771204 and two true copies of 482913; near: one
        // copy of 482913 and nothing else.
        let far = ids(&["1", "2", "3"]);
        let near = ids(&["a"]);
        let identities = Pair::new(
            identities_of(&[
                ("1", same_id_and_size()),
                ("2", same_id_and_size()),
                ("3", same_id_and_size()),
            ]),
            identities_of(&[("a", same_id_and_size())]),
        );
        let digest = |text: &str| content_digest(text.as_bytes());
        let digests = Pair::new(
            HashMap::from([
                ("1".to_string(), digest("Your code is 771204")),
                ("2".to_string(), digest("Your code is 482913\r\n")),
                ("3".to_string(), digest("Your code is 482913\n")),
            ]),
            HashMap::from([("a".to_string(), digest("Your code is 482913\n"))]),
        );
        let matching = match_identities(
            &identities,
            &digests,
            Pair::new(&far[..], &near[..]),
            Evidence::HeadersWhereUnique,
        );
        assert!(matching.pairs.is_empty());
        assert_eq!(matching.ambiguous, 1);
        // The twin "1" is in neither list: it is new to the near side.
        assert_eq!(
            matching.ambiguous_ids,
            Pair::new(ids(&["2", "3"]), ids(&["a"]))
        );
    }

    #[test]
    fn a_message_that_vanished_before_it_was_compared_leaves_its_identity_ambiguous() {
        let far = ids(&["1", "2"]);
        let near = ids(&["a"]);
        let identities = Pair::new(
            identities_of(&[("1", same_id_and_size()), ("2", same_id_and_size())]),
            identities_of(&[("a", same_id_and_size())]),
        );
        let digests = Pair::new(
            HashMap::from([("1".to_string(), content_digest(b"x"))]),
            HashMap::from([("a".to_string(), content_digest(b"x"))]),
        );
        let matching = match_identities(
            &identities,
            &digests,
            Pair::new(&far[..], &near[..]),
            Evidence::HeadersWhereUnique,
        );
        assert!(matching.pairs.is_empty());
        assert_eq!(matching.ambiguous, 1);
    }

    #[test]
    fn in_an_ordinary_sync_one_look_alike_on_each_side_is_compared_and_not_paired() {
        // An interrupted run copied one code of two; a new code arrived on
        // the other side: one look-alike in no record on each side.
        let far = ids(&["2", "7"]);
        let near = ids(&["b", "q"]);
        let identities = Pair::new(
            identities_of(&[
                ("2", same_id_and_size()),
                ("7", Identity::Content("x".into())),
            ]),
            identities_of(&[
                ("b", same_id_and_size()),
                ("q", Identity::Content("x".into())),
            ]),
        );
        let candidates = Pair::new(&far[..], &near[..]);
        let headers = Evidence::HeadersWhereUnique;
        assert_eq!(
            needing_content(&identities, candidates, headers),
            Pair::default()
        );
        // A content-hash identity is the content already: never read.
        let needed = needing_content(&identities, candidates, Evidence::Content);
        assert_eq!(needed, Pair::new(ids(&["2"]), ids(&["b"])));
        let digest = |text: &str| content_digest(text.as_bytes());
        let look_alikes = Pair::new(
            HashMap::from([("2".to_string(), digest("Your code is 000002"))]),
            HashMap::from([("b".to_string(), digest("Your code is 000004"))]),
        );
        let matching = match_identities(&identities, &look_alikes, candidates, Evidence::Content);
        assert_eq!(matching.pairs, [Pair::new("7".into(), "q".into())]);
        assert_eq!(matching.ambiguous, 0);
        // The same pair by headers alone is taken for one message.
        let by_headers = match_identities(&identities, &Pair::default(), candidates, headers);
        assert_eq!(by_headers.pairs.len(), 2);
        // A true copy (line ends aside) still pairs when compared.
        let copies = Pair::new(
            HashMap::from([("2".to_string(), digest("Your code is 000002\r\n"))]),
            HashMap::from([("b".to_string(), digest("Your code is 000002\n"))]),
        );
        let matching = match_identities(&identities, &copies, candidates, Evidence::Content);
        assert_eq!(
            matching.pairs,
            [
                Pair::new("2".into(), "b".into()),
                Pair::new("7".into(), "q".into())
            ]
        );
    }

    #[test]
    fn a_copy_whose_8_bit_header_bytes_a_server_rewrote_has_the_same_digest() {
        let original = "Message-ID: <a@b>\nSubject: Caf\u{e9} \u{fc}ber\n\nBody \u{e9}t\u{e9}\n";
        let mut rewritten: Vec<u8> = Vec::new();
        let mut in_header = true;
        for line in original.split_inclusive('\n') {
            if line == "\n" {
                in_header = false;
            }
            for &byte in line.as_bytes() {
                rewritten.push(if in_header && byte >= 0x80 {
                    b'X'
                } else {
                    byte
                });
            }
        }
        assert_eq!(rewritten.len(), original.len());
        assert_eq!(
            content_digest(original.as_bytes()),
            content_digest(&rewritten)
        );
        // The body's bytes still count, and so do ASCII header bytes.
        let other_body = original.replace("Body", "Bodx");
        assert_ne!(
            content_digest(original.as_bytes()),
            content_digest(other_body.as_bytes())
        );
        let other_subject = original.replace("Caf", "Cav");
        assert_ne!(
            content_digest(original.as_bytes()),
            content_digest(other_subject.as_bytes())
        );
    }
}
