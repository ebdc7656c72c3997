//! Pairing by content identity (see [`crate::mail::identity`]): the
//! messages that both sides hold but no record pairs are paired instead of
//! copied again, on a first sync of a Maildir that already has the mail
//! (adopting it), after a UIDVALIDITY change, and after a crash lost the
//! result of a copy.
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

use crate::mail::identity::{content_digest, Identity};
use crate::mail::{Flags, MessageInfo, MsgId, Pair, Side};
use crate::state::{FolderState, Record};
use crate::store::Store;
use anyhow::Result;
use std::collections::{HashMap, HashSet};

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
    // Only the paired messages' flags: a map of the whole listing would
    // cost what the folder holds on every resync.
    let paired_near: HashSet<&str> = matched
        .pairs
        .iter()
        .map(|pair| pair[Side::Near].as_str())
        .collect();
    let near_flags: HashMap<&str, Flags> = listings[Side::Near]
        .iter()
        .filter(|m| paired_near.contains(m.id.as_str()))
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
}
