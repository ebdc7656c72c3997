//! `mailferry dedupe`: finds messages held more than once in a folder (the
//! leftovers of POP3 on one device and IMAP on another) and, when asked,
//! removes all copies but one.
//!
//! Two messages are copies of one message when their content identity is
//! the same ([`Identity`]: the same Message-ID and size, or the same
//! content when there is no Message-ID) *and* their content is
//! ([`content_digest`]: the bytes, line ends aside). Two messages with one
//! Message-ID and size but other bytes are look-alikes (one-time-code
//! mails, automated alerts): they are reported as such and both kept, as
//! neither is a copy of the other. Of each group the copy kept
//! is the one not flagged deleted with the most flags (the first listed
//! among equals: the oldest UID, or the oldest Maildir name); it is given
//! the flags the removed copies had, so that a reply mark or a flag set on
//! one of them is not lost. Exactly one copy of each group always stays,
//! and a group is left alone if its kept copy has vanished meanwhile.

use crate::mail::identity::{content_digest, Identity};
use crate::mail::{Flags, MessageInfo, MsgId};
use crate::store::Store;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// One message held more than once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateGroup {
    /// The Message-ID, or `content sha256:...` when there is none.
    pub identity: String,
    pub keep: MsgId,
    pub keep_flags: Flags,
    /// Flags of the removed copies that the kept one lacks.
    pub flags_to_add: Flags,
    pub remove: Vec<MsgId>,
}

/// Messages that share a Message-ID and size but not their content:
/// look-alikes, none of which is removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LookAlikes {
    /// The Message-ID they share.
    pub identity: String,
    /// One id per distinct content (the first listed of each), in listing
    /// order.
    pub messages: Vec<MsgId>,
}

/// What identifies a message's copies: its content identity and the
/// digest of its content.
pub type Content = (Identity, String);

/// The [`Content`] of a whole message.
pub fn content_of(message: &[u8]) -> Content {
    (Identity::of(message), content_digest(message))
}

/// What was found (and done) in one folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FolderDedupe {
    pub store: String,
    pub folder: String,
    pub messages: usize,
    pub groups: Vec<DuplicateGroup>,
    /// Look-alikes found (kept).
    pub look_alikes: Vec<LookAlikes>,
    /// Copies removed (0 without --apply).
    pub removed: usize,
}

impl FolderDedupe {
    /// Copies that are duplicates of another.
    pub fn duplicates(&self) -> usize {
        self.groups.iter().map(|g| g.remove.len()).sum()
    }
}

/// Groups the messages of a listing by content and decides, for each
/// content held more than once, which copy stays. Pure: `contents` maps
/// listed ids to their [`Content`] (messages without one are left out).
pub fn find_duplicates(
    listing: &[MessageInfo],
    contents: &HashMap<MsgId, Content>,
) -> Vec<DuplicateGroup> {
    group_in_listing_order(listing, contents, |content| content)
        .into_iter()
        .filter(|(_, copies)| copies.len() > 1)
        .map(|((identity, _), copies)| {
            let keep = copies
                .iter()
                .enumerate()
                .max_by_key(|(position, m)| {
                    (
                        !m.flags.contains(Flags::DELETED),
                        flag_count(m.flags),
                        std::cmp::Reverse(*position),
                    )
                })
                .map(|(_, m)| *m)
                .unwrap_or(copies[0]);
            let others: Vec<&MessageInfo> =
                copies.iter().copied().filter(|m| m.id != keep.id).collect();
            let their_flags = others
                .iter()
                .fold(Flags::EMPTY, |all, m| all.union(m.flags))
                .difference(Flags::DELETED);
            DuplicateGroup {
                identity: describe_identity(identity),
                keep: keep.id.clone(),
                keep_flags: keep.flags,
                flags_to_add: their_flags.difference(keep.flags),
                remove: others.iter().map(|m| m.id.clone()).collect(),
            }
        })
        .collect()
}

/// The look-alikes of a listing: identities held with more than one
/// content. Pure, as [`find_duplicates`].
pub fn find_look_alikes(
    listing: &[MessageInfo],
    contents: &HashMap<MsgId, Content>,
) -> Vec<LookAlikes> {
    group_in_listing_order(listing, contents, |(identity, _)| identity)
        .into_iter()
        .filter_map(|(identity, messages)| {
            let mut seen: HashSet<&String> = HashSet::new();
            let distinct: Vec<MsgId> = messages
                .iter()
                .filter(|m| {
                    contents
                        .get(&m.id)
                        .is_some_and(|(_, digest)| seen.insert(digest))
                })
                .map(|m| m.id.clone())
                .collect();
            (distinct.len() > 1).then(|| LookAlikes {
                identity: describe_identity(identity),
                messages: distinct,
            })
        })
        .collect()
}

/// The listed messages with a content, grouped by `key` of it, groups and
/// members in listing order.
fn group_in_listing_order<'a, K: Eq + std::hash::Hash>(
    listing: &'a [MessageInfo],
    contents: &'a HashMap<MsgId, Content>,
    key: impl Fn(&'a Content) -> K,
) -> Vec<(K, Vec<&'a MessageInfo>)> {
    let mut order: Vec<&MessageInfo> = listing.iter().collect();
    order.sort_by(|a, b| listing_order(&a.id, &b.id));
    let mut groups: Vec<(K, Vec<&MessageInfo>)> = Vec::new();
    let mut index: HashMap<K, usize> = HashMap::new();
    for message in order {
        let Some(content) = contents.get(&message.id) else {
            continue;
        };
        match index.get(&key(content)) {
            Some(&at) => groups[at].1.push(message),
            None => {
                index.insert(key(content), groups.len());
                groups.push((key(content), vec![message]));
            }
        }
    }
    groups
}

/// Finds the duplicates of one folder and, with `apply`, removes them.
pub fn dedupe_folder(store: &mut dyn Store, folder: &str, apply: bool) -> Result<FolderDedupe> {
    let description = store.describe();
    if store.source_only() {
        bail!("{description} is a POP3 store: dedupe works on IMAP and Maildir stores");
    }
    store
        .open_folder(folder)
        .with_context(|| format!("opening folder {folder} of {description}"))?;
    let listing = store.list_messages()?;
    let ids: Vec<MsgId> = listing.iter().map(|m| m.id.clone()).collect();
    let mut contents = HashMap::new();
    store.fetch_messages(&ids, &mut |id, message| {
        // Nothing is removed before every body is read: a signal stops here.
        crate::interrupt::check()?;
        contents.insert(id.clone(), content_of(&message.content));
        Ok(())
    })?;
    let mut result = FolderDedupe {
        store: description,
        folder: folder.to_string(),
        messages: listing.len(),
        groups: find_duplicates(&listing, &contents),
        look_alikes: find_look_alikes(&listing, &contents),
        removed: 0,
    };
    if apply && !result.groups.is_empty() {
        result.removed = remove_duplicates(store, &result.groups)?;
    }
    Ok(result)
}

/// Removes the extra copies of each group whose kept copy is still there,
/// after giving it the removed copies' flags.
fn remove_duplicates(store: &mut dyn Store, groups: &[DuplicateGroup]) -> Result<usize> {
    let present: HashSet<MsgId> = store.list_messages()?.into_iter().map(|m| m.id).collect();
    let mut doomed = Vec::new();
    for group in groups {
        if !present.contains(&group.keep) {
            continue;
        }
        if !group.flags_to_add.is_empty() {
            store
                .set_flags(&group.keep, group.flags_to_add, Flags::EMPTY)
                .with_context(|| format!("giving message {} its copies' flags", group.keep))?;
        }
        doomed.extend(
            group
                .remove
                .iter()
                .filter(|id| **id != group.keep && present.contains(*id))
                .cloned(),
        );
    }
    if !doomed.is_empty() {
        store
            .delete_messages(&doomed)
            .with_context(|| format!("removing {} duplicate(s)", doomed.len()))?;
    }
    Ok(doomed.len())
}

fn flag_count(flags: Flags) -> usize {
    flags.to_maildir_letters().len()
}

/// Numeric ids (UIDs) by value, others (Maildir names, which begin with
/// the delivery time) by text.
fn listing_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

fn describe_identity(identity: &Identity) -> String {
    match identity {
        Identity::MessageId { id, .. } => id.clone(),
        Identity::Content(hash) => format!("content sha256:{}", &hash[..hash.len().min(16)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str, flags: Flags) -> MessageInfo {
        MessageInfo {
            id: id.into(),
            flags,
            size: 10,
        }
    }

    /// A message with Message-ID `name`, size 10 and body `body`.
    fn with_body(name: &str, body: &str) -> Content {
        (
            Identity::MessageId {
                id: name.into(),
                crlf_size: 10,
            },
            content_digest(body.as_bytes()),
        )
    }

    fn same(name: &str) -> Content {
        with_body(name, "the same body")
    }

    #[test]
    fn the_copy_with_most_flags_stays_and_gets_the_others_flags() {
        let listing = [
            info("10", Flags::SEEN),
            info("2", Flags::EMPTY),
            info("7", Flags::SEEN.union(Flags::FLAGGED)),
            info("11", Flags::ANSWERED.union(Flags::DELETED)),
            info("3", Flags::EMPTY),
        ];
        let identities = HashMap::from([
            ("10".to_string(), same("<a>")),
            ("2".to_string(), same("<a>")),
            ("7".to_string(), same("<a>")),
            ("11".to_string(), same("<a>")),
            ("3".to_string(), same("<b>")),
        ]);
        let groups = find_duplicates(&listing, &identities);
        assert_eq!(
            groups,
            [DuplicateGroup {
                identity: "<a>".into(),
                keep: "7".into(),
                keep_flags: Flags::SEEN.union(Flags::FLAGGED),
                flags_to_add: Flags::ANSWERED,
                remove: vec!["2".into(), "10".into(), "11".into()],
            }]
        );
    }

    #[test]
    fn among_equals_the_first_listed_stays() {
        let listing = [info("9", Flags::SEEN), info("4", Flags::SEEN)];
        let hashed = || (Identity::Content("abc".into()), "abc".to_string());
        let identities = HashMap::from([("9".to_string(), hashed()), ("4".to_string(), hashed())]);
        let groups = find_duplicates(&listing, &identities);
        assert_eq!(groups[0].keep, "4");
        assert_eq!(groups[0].remove, ["9"]);
        assert_eq!(groups[0].identity, "content sha256:abc");
    }

    #[test]
    fn a_copy_flagged_deleted_is_never_the_one_kept_if_another_is_not() {
        let listing = [
            info("1", Flags::SEEN.union(Flags::FLAGGED).union(Flags::DELETED)),
            info("2", Flags::EMPTY),
        ];
        let identities = HashMap::from([
            ("1".to_string(), same("<a>")),
            ("2".to_string(), same("<a>")),
        ]);
        let groups = find_duplicates(&listing, &identities);
        assert_eq!(groups[0].keep, "2");
        assert_eq!(groups[0].flags_to_add, Flags::SEEN.union(Flags::FLAGGED));
    }

    #[test]
    fn single_copies_and_messages_without_identity_are_left_alone() {
        let listing = [info("1", Flags::EMPTY), info("2", Flags::EMPTY)];
        let identities = HashMap::from([("1".to_string(), same("<a>"))]);
        assert!(find_duplicates(&listing, &identities).is_empty());
    }

    #[test]
    fn look_alikes_are_no_copies_and_are_reported_while_true_copies_are_removed() {
        // One-time-code mails: one Message-ID and size, other codes; and
        // a true copy of the first.
        let listing = [
            info("1", Flags::SEEN),
            info("2", Flags::SEEN),
            info("3", Flags::EMPTY),
            info("4", Flags::EMPTY),
        ];
        let contents = HashMap::from([
            ("1".to_string(), with_body("<otp>", "Your code is 771204")),
            ("2".to_string(), with_body("<otp>", "Your code is 482913")),
            ("3".to_string(), with_body("<otp>", "Your code is 771204")),
            ("4".to_string(), with_body("<other>", "hello")),
        ]);
        let groups = find_duplicates(&listing, &contents);
        assert_eq!(groups.len(), 1, "{groups:?}");
        assert_eq!(
            (groups[0].keep.as_str(), &groups[0].remove[..]),
            ("1", &["3".to_string()][..])
        );
        assert_eq!(
            find_look_alikes(&listing, &contents),
            [LookAlikes {
                identity: "<otp>".into(),
                messages: vec!["1".into(), "2".into()],
            }]
        );
    }

    #[test]
    fn line_ends_do_not_make_a_look_alike() {
        let crlf = content_of(b"Message-ID: <a@b>\r\n\r\nbody\r\n");
        let lf = content_of(b"Message-ID: <a@b>\n\nbody\n");
        assert_eq!(crlf, lf);
        let listing = [info("1", Flags::EMPTY), info("2", Flags::EMPTY)];
        let contents = HashMap::from([("1".to_string(), crlf), ("2".to_string(), lf)]);
        assert_eq!(find_duplicates(&listing, &contents).len(), 1);
        assert!(find_look_alikes(&listing, &contents).is_empty());
    }
}
