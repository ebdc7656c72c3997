//! Folder renames, whole trees at a time: a folder renamed on one side is
//! renamed on the other with every folder below it, the states of all of
//! them follow, and nothing is copied again.
//!
//! # Recognising a rename
//! The folder plan ([`super::folders`]) sees a rename as a folder `P` that
//! vanished from side `d` (synced before, still on the other side `o`) and
//! a folder `Q` new on `d`. `P` → `Q` is taken for a rename of the tree
//! (`P` with every `P/…`) when all of this holds:
//! - the shape fits: every folder `o` has under `P` either moved along
//!   (`d` lists its new name `Q/…`, not its old one) or is gone from `d`
//!   (or new on `o`) — renaming `P` on `o` must move no folder `d` kept —;
//!   `o` has nothing under `Q` yet; neither tree is inside the other;
//!   neither is the INBOX. Of the new names `P` could have got, only those
//!   that most of its tree moved along with are kept. Parents are tried
//!   before their children: once a tree is renamed, its children are no
//!   longer planned apart (if it is not, each child may be on its own).
//! - the contents fit: each folder that moved is compared with its old
//!   self on `o`. When one of the two is empty that tells nothing; else
//!   they are alike when they hold about as many messages (within a factor
//!   of two) and at least half of a sample of up to [`RENAME_SAMPLE`]
//!   messages of the new folder have their content identity (Message-ID,
//!   size, ...) in the old one, and unlike otherwise. UIDs cannot tell, as
//!   they restart in every folder (and servers may renumber a renamed
//!   folder). At least one folder of the tree must be alike and none
//!   unlike; or every folder of both trees is empty (no message is at
//!   stake) and no other candidate has the same old name, or the same new
//!   name with as much of a tree moved along.
//! - `create` allows making folders on `o` (a rename makes new names).
//!
//! What is not recognised is planned as what it looks like: `P` deleted on
//! `d` (recreated or removed as `remove` says, a removal only when `o`'s
//! copy holds nothing `d` never saw) and `Q` created on `o` with its
//! messages copied. At worst a copy, never a loss.
//!
//! # Carrying one out, and crash safety
//! 1. the rename is recorded, durably
//!    ([`RenameRecord`](crate::state::RenameRecord));
//! 2. the tree is renamed on `o` in one call (an IMAP RENAME moves the
//!    children; a Maildir moves its directory, or in Maildir++ each dotted
//!    directory);
//! 3. each folder's state file (and journal) moves to its new name;
//! 4. the channel's folder list is saved with the new names;
//! 5. the record is removed.
//!
//! A run that finds a record finishes the rename before it plans: if `o`
//! lists nothing under `Q` the rename never started (the states did not
//! move either), and the record is dropped for the plan to decide afresh;
//! otherwise whatever `o` still has under `P` is moved, then steps 3–5 run
//! (each is idempotent). A rename the store refuses leaves both trees as
//! they are for this run (neither synced, nothing created or deleted), with
//! an error naming both and the store's words; the next run tries again.

use super::channel::ChannelRun;
use super::folders::{plan_folders, FolderAction, FolderPlanItem, FolderPolicy};
use super::ledger::check_interrupt;
use crate::mail::identity::Identity;
use crate::mail::{MsgId, Pair, Side};
use crate::state::FolderRename;
use crate::store::{folder_name, Store};
use anyhow::{Context, Result};
use std::collections::BTreeSet;

/// How many messages of a folder that appeared are compared with one that
/// vanished to tell a rename.
pub const RENAME_SAMPLE: usize = 20;

/// What follows `root` in `name` when `name` is `root` or below it: `""`
/// or `"/rest"`.
pub fn below<'a>(name: &'a str, root: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(root)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// `name`'s new name when the tree `from` becomes `to`.
pub fn moved(name: &str, from: &str, to: &str) -> Option<String> {
    below(name, from).map(|rest| format!("{to}{rest}"))
}

/// Renames the names of the tree `from` in `names`.
pub fn rename_names(names: &mut BTreeSet<String>, from: &str, to: &str) {
    let moving: Vec<String> = names
        .iter()
        .filter(|name| below(name, from).is_some())
        .cloned()
        .collect();
    for name in moving {
        names.remove(&name);
        if let Some(new) = moved(&name, from, to) {
            names.insert(new);
        }
    }
}

/// A possible rename of a tree, and the folders to compare: (old name on
/// the side not renamed, new name on the renamed side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub rename: FolderRename,
    pub renamed_on: Side,
    pub compare: Vec<(String, String)>,
}

/// Every rename whose shape fits (see the module doc), in plan order, so a
/// parent comes before its children.
pub fn candidates(
    items: &[FolderPlanItem],
    listed: &Pair<BTreeSet<String>>,
    known: &BTreeSet<String>,
) -> Vec<Candidate> {
    let mut found = Vec::new();
    for vanished in items {
        let (FolderAction::Remove { deleted_on } | FolderAction::Recreate { deleted_on }) =
            vanished.action
        else {
            continue;
        };
        let (renamed_on, target) = (deleted_on, deleted_on.other());
        let from = &vanished.name;
        let fitting: Vec<Candidate> = items
            .iter()
            .filter(|appeared| appeared.action == (FolderAction::Create { side: target }))
            .filter_map(|appeared| {
                let to = &appeared.name;
                let compare = tree_fits(from, to, &listed[target], &listed[renamed_on], known)?;
                Some(Candidate {
                    rename: FolderRename {
                        side: target,
                        from: from.clone(),
                        to: to.clone(),
                    },
                    renamed_on,
                    compare,
                })
            })
            .collect();
        // Of the new names `from` could have got, those that most of its
        // tree moved along with.
        let most = fitting.iter().map(|c| c.compare.len()).max();
        found.extend(
            fitting
                .into_iter()
                .filter(|c| Some(c.compare.len()) == most),
        );
    }
    found
}

/// The pairs to compare when renaming `from` to `to` on the side listing
/// `on_target` fits what the renamed side lists; `None` when it does not.
fn tree_fits(
    from: &str,
    to: &str,
    on_target: &BTreeSet<String>,
    on_renamed: &BTreeSet<String>,
    known: &BTreeSet<String>,
) -> Option<Vec<(String, String)>> {
    let is_inbox = |name: &str| name.eq_ignore_ascii_case(folder_name::INBOX);
    if is_inbox(from) || is_inbox(to) || below(to, from).is_some() || below(from, to).is_some() {
        return None;
    }
    if on_target.iter().any(|name| below(name, to).is_some()) {
        return None;
    }
    let mut compare = Vec::new();
    for old in on_target.iter().filter(|name| below(name, from).is_some()) {
        if on_renamed.contains(old) {
            // The renamed side kept it: renaming the tree would move it.
            return None;
        }
        let new = moved(old, from, to)?;
        if on_renamed.contains(&new) && known.contains(old) {
            compare.push((old.clone(), new));
        }
    }
    Some(compare)
}

/// How a folder that appeared compares with the one that vanished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Likeness {
    Alike,
    Unlike,
    /// Both are empty: nothing to lose or copy twice either way.
    Empty,
    /// One of them is empty: no evidence.
    Unknown,
}

/// The content identities of some messages of the open folder (from
/// headers where the store can: no bodies are fetched from a server).
fn identities_of(store: &mut dyn Store, ids: &[MsgId]) -> Result<Vec<Identity>> {
    Ok(store
        .identities(ids)?
        .into_iter()
        .map(|(_, identity)| identity)
        .collect())
}

impl ChannelRun<'_, '_> {
    /// Finds the folder trees renamed on one side since the last sync and
    /// renames them on the other, re-planning the folders after each.
    /// `listed` and `known` (and `known_all`, the unselected too) change as
    /// the renames are made.
    pub(super) fn detect_renames(
        &mut self,
        items: &mut Vec<FolderPlanItem>,
        listed: &mut Pair<BTreeSet<String>>,
        known: &mut BTreeSet<String>,
        known_all: &mut BTreeSet<String>,
        policy: &FolderPolicy,
    ) {
        if self.stores.far.source_only() {
            return;
        }
        let mut tried: BTreeSet<(String, String)> = BTreeSet::new();
        // Each round makes at most one rename and ends the vanishing of at
        // least one folder, so rounds are bounded by the plan's length.
        for _round in 0..=items.len() {
            let Some(candidate) = self.first_rename(items, listed, known, &mut tried) else {
                return;
            };
            let FolderRename { side, from, to } = &candidate.rename;
            let moving: Vec<&String> = listed[*side]
                .iter()
                .filter(|name| below(name, from).is_some())
                .collect();
            self.note(format!(
                "rename folder {from} to {to} on the {side} side (renamed on the {} side){}",
                candidate.renamed_on,
                if moving.len() > 1 {
                    format!(", with the {} folder(s) below it", moving.len() - 1)
                } else {
                    String::new()
                }
            ));
            let leave_alone = |items: &mut Vec<FolderPlanItem>| {
                items.retain(|item| {
                    below(&item.name, from).is_none() && below(&item.name, to).is_none()
                })
            };
            if self.options.dry_run {
                leave_alone(items);
                continue;
            }
            match self.rename_tree(&candidate.rename, known_all) {
                Ok(()) => {
                    rename_names(&mut listed[*side], from, to);
                    rename_names(known, from, to);
                    *items = plan_folders(listed, known, policy);
                }
                Err(err) => {
                    self.result.errors.push(format!(
                        "{}: folder {from} was renamed to {to} on the {} side, but renaming it \
                         on the {side} side failed: {err:#}; neither is synced in this run",
                        self.channel.name, candidate.renamed_on
                    ));
                    leave_alone(items);
                }
            }
        }
    }

    /// The first candidate not tried yet whose contents fit.
    fn first_rename(
        &mut self,
        items: &[FolderPlanItem],
        listed: &Pair<BTreeSet<String>>,
        known: &BTreeSet<String>,
        tried: &mut BTreeSet<(String, String)>,
    ) -> Option<Candidate> {
        let all = candidates(items, listed, known);
        for candidate in all.iter().cloned() {
            let key = (candidate.rename.from.clone(), candidate.rename.to.clone());
            if !tried.insert(key) || !self.channel_allows_rename(candidate.rename.side) {
                continue;
            }
            // Another way to explain the same folders, as good as this one.
            let rival = |c: &Candidate| {
                c.rename.from == candidate.rename.from
                    || (c.rename.to == candidate.rename.to
                        && c.compare.len() >= candidate.compare.len())
            };
            let unambiguous = all.iter().filter(|c| rival(c)).count() == 1;
            match self.contents_fit(&candidate, unambiguous) {
                Ok(true) => return Some(candidate),
                Ok(false) => {}
                Err(err) => self.result.errors.push(format!(
                    "{}: checking whether {} was renamed to {}: {err:#}",
                    self.channel.name, candidate.rename.from, candidate.rename.to
                )),
            }
        }
        None
    }

    /// A rename creates the new names on `side`: `create` must allow it.
    fn channel_allows_rename(&self, side: Side) -> bool {
        match side {
            Side::Far => self.channel.create.far(),
            Side::Near => self.channel.create.near(),
        }
    }

    /// Whether the moved folders hold what their old selves hold: one
    /// alike and none unlike, or all empty when no other candidate shares
    /// the old or the new name (empty folders tell nothing apart).
    fn contents_fit(&mut self, candidate: &Candidate, unambiguous: bool) -> Result<bool> {
        let (mut alike, mut all_empty) = (false, unambiguous && !candidate.compare.is_empty());
        for (old, new) in &candidate.compare {
            match self.likeness(old, new, candidate.renamed_on)? {
                Likeness::Alike => alike = true,
                Likeness::Unlike => return Ok(false),
                Likeness::Empty => continue,
                Likeness::Unknown => {}
            }
            all_empty = false;
        }
        Ok(alike || all_empty)
    }

    /// Whether folder `new` on `renamed_on` holds the messages that folder
    /// `old` still holds on the other side.
    fn likeness(&mut self, old: &str, new: &str, renamed_on: Side) -> Result<Likeness> {
        let other = renamed_on.other();
        let old_folder = self.names.on(other, old);
        let new_folder = self.names.on(renamed_on, new);
        let old_store = self.stores.side(other);
        old_store.open_folder(&old_folder)?;
        let old_listing = old_store.list_messages()?;
        let new_store = self.stores.side(renamed_on);
        new_store.open_folder(&new_folder)?;
        let new_listing = new_store.list_messages()?;
        match (old_listing.is_empty(), new_listing.is_empty()) {
            (true, true) => return Ok(Likeness::Empty),
            (true, false) | (false, true) => return Ok(Likeness::Unknown),
            (false, false) => {}
        }
        if new_listing.len() * 2 < old_listing.len() || old_listing.len() * 2 < new_listing.len() {
            return Ok(Likeness::Unlike);
        }
        let sample: Vec<MsgId> = new_listing
            .iter()
            .take(RENAME_SAMPLE)
            .map(|m| m.id.clone())
            .collect();
        let sampled = identities_of(self.stores.side(renamed_on), &sample)?;
        let old_ids: Vec<MsgId> = old_listing.iter().map(|m| m.id.clone()).collect();
        let old_store = self.stores.side(other);
        old_store.open_folder(&old_folder)?;
        let known = identities_of(old_store, &old_ids)?;
        let matched = sampled.iter().filter(|i| known.contains(*i)).count();
        Ok(if matched > 0 && matched * 2 >= sampled.len() {
            Likeness::Alike
        } else {
            Likeness::Unlike
        })
    }

    /// Test hook: a rename step counts as a journaled step.
    fn rename_step(&mut self) -> Result<()> {
        check_interrupt(self.options.interrupt, self.rename_steps)?;
        self.rename_steps += 1;
        Ok(())
    }

    /// Renames the tree on `rename.side`, then moves what mailferry keeps
    /// of it (see the module doc for the order).
    fn rename_tree(
        &mut self,
        rename: &FolderRename,
        known_all: &mut BTreeSet<String>,
    ) -> Result<()> {
        self.rename_step()?;
        self.renames.save(rename)?;
        self.rename_step()?;
        let side = rename.side;
        let (from, to) = (
            self.names.on(side, &rename.from),
            self.names.on(side, &rename.to),
        );
        if let Err(err) = self.stores.side(side).rename_folder(&from, &to) {
            // When nothing moved, the record goes: the next run plans afresh.
            if !self.lists_below(side, &rename.to)? {
                self.renames.clear()?;
            }
            return Err(err);
        }
        self.follow_rename(rename, known_all).context(
            "the folders were renamed, but what mailferry keeps of them was not all moved \
             (the next run finishes it)",
        )
    }

    /// Whether `side` lists a folder named `root` or below it.
    fn lists_below(&mut self, side: Side, root: &str) -> Result<bool> {
        Ok(self
            .list_names(side)?
            .0
            .iter()
            .any(|name| below(name, root).is_some()))
    }

    /// Steps 3 to 5: the states, the folder list, the record.
    fn follow_rename(
        &mut self,
        rename: &FolderRename,
        known_all: &mut BTreeSet<String>,
    ) -> Result<()> {
        let moving: Vec<String> = known_all
            .iter()
            .filter(|name| below(name, &rename.from).is_some())
            .cloned()
            .collect();
        for old in moving {
            let Some(new) = moved(&old, &rename.from, &rename.to) else {
                continue;
            };
            self.rename_step()?;
            self.state_file(&old)
                .rename_to(&self.state_file(&new))
                .with_context(|| format!("moving the state of folder {old} to {new}"))?;
        }
        rename_names(known_all, &rename.from, &rename.to);
        self.rename_step()?;
        self.folder_list.save(known_all)?;
        self.rename_step()?;
        self.renames.clear()
    }

    /// Finishes a rename that an earlier run started and did not end (see
    /// the module doc).
    pub(super) fn finish_rename(
        &mut self,
        rename: &FolderRename,
        known_all: &mut BTreeSet<String>,
    ) -> Result<()> {
        let FolderRename { side, from, to } = rename;
        if !self.lists_below(*side, to)? {
            self.note(format!(
                "an interrupted run was about to rename folder {from} to {to} on the {side} \
                 side: the folders are planned afresh"
            ));
            return self.renames.clear();
        }
        self.note(format!(
            "finish renaming folder {from} to {to} on the {side} side (an earlier run was \
             interrupted)"
        ));
        // What is still under the old name moves, parents first (a move
        // takes the folders below along where the store can).
        let mut left = self.list_names(*side)?.0.len();
        while left > 0 {
            left -= 1;
            let (listed, _) = self.list_names(*side)?;
            let next = listed.iter().find_map(|name| {
                let new = moved(name, from, to)?;
                (!listed.contains(&new)).then(|| (name.clone(), new))
            });
            let Some((old, new)) = next else {
                break;
            };
            let (old_name, new_name) = (self.names.on(*side, &old), self.names.on(*side, &new));
            self.stores
                .side(*side)
                .rename_folder(&old_name, &new_name)
                .with_context(|| format!("renaming folder {old} to {new} on the {side} side"))?;
        }
        self.follow_rename(rename, known_all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn plan(far: &[&str], near: &[&str], known: &[&str]) -> Vec<Candidate> {
        let listed = Pair::new(set(far), set(near));
        let known = set(known);
        let policy = FolderPolicy {
            create: Pair::new(true, true),
            remove: Pair::new(false, false),
        };
        candidates(&plan_folders(&listed, &known, &policy), &listed, &known)
    }

    const TREE: [&str; 3] = ["Lists", "Lists/debian", "Lists/rust"];
    const RENAMED: [&str; 3] = ["Mailing", "Mailing/debian", "Mailing/rust"];

    #[test]
    fn a_tree_renamed_on_the_server_is_one_candidate_comparing_each_folder() {
        let found = plan(&RENAMED, &TREE, &TREE);
        // The children could each be a rename of their own; the parent
        // comes first and is the only one for `Lists`.
        assert_eq!(
            found.iter().filter(|c| c.rename.from == "Lists").count(),
            1,
            "{found:?}"
        );
        let candidate = &found[0];
        assert_eq!(candidate.renamed_on, Side::Far);
        assert_eq!(
            candidate.rename,
            FolderRename {
                side: Side::Near,
                from: "Lists".into(),
                to: "Mailing".into()
            }
        );
        assert_eq!(
            candidate.compare,
            vec![
                ("Lists".to_string(), "Mailing".to_string()),
                ("Lists/debian".to_string(), "Mailing/debian".to_string()),
                ("Lists/rust".to_string(), "Mailing/rust".to_string()),
            ]
        );
    }

    #[test]
    fn a_child_kept_under_the_old_name_rules_the_tree_rename_out() {
        // Only the parent was renamed locally (Maildir++ `.Lists` alone):
        // renaming it on the server would move `Lists/rust` along.
        let found = plan(&TREE, &["Mailing", "Lists/debian", "Lists/rust"], &TREE);
        assert!(found.iter().all(|c| c.rename.from != "Lists"), "{found:?}");
    }

    #[test]
    fn a_target_the_other_side_already_has_rules_the_rename_out() {
        let found = plan(&["Lists", "Mailing/x"], &["Mailing"], &["Lists"]);
        assert_eq!(found, Vec::new());
    }

    #[test]
    fn a_child_deleted_with_the_rename_moves_and_is_planned_as_deleted() {
        let found = plan(&TREE, &["Mailing", "Mailing/rust"], &TREE);
        assert_eq!(found[0].rename.to, "Mailing");
        // Lists/debian is not compared: it is not on the renamed side.
        assert_eq!(found[0].compare.len(), 2);
        assert_eq!(
            found.iter().filter(|c| c.rename.from == "Lists").count(),
            1,
            "{found:?}"
        );
    }

    #[test]
    fn renaming_into_its_own_tree_or_the_inbox_is_no_candidate() {
        assert_eq!(plan(&["Lists"], &["Lists/old"], &["Lists"]), Vec::new());
        assert_eq!(plan(&["Lists/old"], &["Lists"], &["Lists/old"]), Vec::new());
        assert_eq!(plan(&["INBOX"], &["Inbox2"], &["INBOX"]), Vec::new());
    }

    /// A memory server holding `folders` with that many messages each.
    fn memory_tree(folders: &[(&str, usize)]) -> crate::store::memory::MemoryStore {
        use crate::mail::Message;
        use crate::store::memory::{MemoryData, MemoryStore};
        use std::sync::{Arc, Mutex};

        let mut far = MemoryStore::new(Arc::new(Mutex::new(MemoryData::default())));
        for &(folder, count) in folders {
            far.create_folder(folder).unwrap();
            far.open_folder(folder).unwrap();
            for n in 0..count {
                let ticket = far.prepare_append().unwrap();
                let content = format!("Message-ID: <{folder}.{n}@t>\r\n\r\nbody\r\n");
                let message = Message {
                    flags: crate::mail::Flags::SEEN,
                    date: None,
                    content: content.into_bytes(),
                };
                far.append(&ticket, &message).unwrap();
            }
        }
        far
    }

    /// One sync of the test channel between the two stores.
    fn sync_once(
        state: &std::path::Path,
        far: &mut dyn Store,
        near: &mut dyn Store,
    ) -> super::super::channel::ChannelResult {
        use super::super::channel::{sync_stores, tests::channel};
        use super::super::folder::RunOptions;
        sync_stores(state, &channel(), far, near, None, &RunOptions::default()).unwrap()
    }

    /// The folders a store lists.
    fn folders_of(store: &mut dyn Store) -> BTreeSet<String> {
        let folders = store.list_folders().unwrap();
        folders.into_iter().map(|f| f.name).collect()
    }

    #[test]
    fn an_empty_tree_renamed_on_the_server_is_renamed_and_not_recreated() {
        use crate::store::maildir::MaildirStore;

        let dir = tempfile::tempdir().unwrap();
        let (root, state) = (dir.path().join("mail"), dir.path().join("state"));
        let mut far = memory_tree(&[("Lists", 0), ("Lists/debian", 0), ("Lists/rust", 0)]);
        let mut near = MaildirStore::new(root, crate::config::Layout::Verbatim);
        sync_once(&state, &mut far, &mut near);
        far.rename_folder("Lists", "Mailing").unwrap();
        let result = sync_once(&state, &mut far, &mut near);
        assert_eq!(result.errors, Vec::<String>::new());
        assert_eq!(
            result.folder_actions,
            vec![
                "rename folder Lists to Mailing on the near side (renamed on the far side), \
                 with the 2 folder(s) below it"
                    .to_string()
            ]
        );
        assert_eq!(folders_of(&mut near), set(&RENAMED));
        assert_eq!(folders_of(&mut far), set(&RENAMED));
    }

    #[test]
    fn a_maildirpp_rename_interrupted_half_way_is_finished_without_copying() {
        use crate::state::{FolderList, RenameRecord};
        use crate::store::maildir::MaildirStore;

        let dir = tempfile::tempdir().unwrap();
        let (root, state) = (dir.path().join("mail"), dir.path().join("state"));
        let mut far = memory_tree(&[("Lists", 3), ("Lists/debian", 2), ("Lists/rust", 2)]);
        let mut near = MaildirStore::new(root.clone(), crate::config::Layout::MaildirPlusPlus);
        sync_once(&state, &mut far, &mut near);
        // The server renamed the tree; the run renaming it locally was
        // killed after moving `.Lists` alone.
        far.rename_folder("Lists", "Mailing").unwrap();
        let record = RenameRecord::for_channel(&state, "test");
        record
            .save(&FolderRename {
                side: Side::Near,
                from: "Lists".into(),
                to: "Mailing".into(),
            })
            .unwrap();
        std::fs::rename(root.join(".Lists"), root.join(".Mailing")).unwrap();

        let result = sync_once(&state, &mut far, &mut near);
        assert_eq!(result.errors, Vec::<String>::new());
        assert!(
            result.folder_actions[0].contains("finish renaming folder Lists to Mailing"),
            "{:?}",
            result.folder_actions
        );
        for folder in &result.folders {
            assert!(
                folder.report.is_quiet(),
                "{}: {:?}",
                folder.folder,
                folder.report
            );
        }
        for (dir, count) in [
            (".Mailing", 3),
            (".Mailing.debian", 2),
            (".Mailing.rust", 2),
        ] {
            assert_eq!(
                std::fs::read_dir(root.join(dir).join("cur"))
                    .unwrap()
                    .count(),
                count
            );
        }
        for gone in [".Lists", ".Lists.debian", ".Lists.rust"] {
            assert!(!root.join(gone).exists(), "{gone}");
        }
        let known = FolderList::for_channel(&state, "test").load().unwrap();
        assert_eq!(known, set(&RENAMED));
        assert_eq!(record.load().unwrap(), None);
        let again = sync_once(&state, &mut far, &mut near);
        assert!(
            again.folder_actions.is_empty(),
            "{:?}",
            again.folder_actions
        );
    }

    #[test]
    fn names_of_a_tree_are_renamed_and_only_they() {
        let mut names = set(&["Lists", "Lists/rust", "Listserv", "Other"]);
        rename_names(&mut names, "Lists", "Mailing");
        assert_eq!(
            names,
            set(&["Listserv", "Mailing", "Mailing/rust", "Other"])
        );
        assert_eq!(below("Listserv", "Lists"), None);
        assert_eq!(moved("Lists/a/b", "Lists", "M"), Some("M/a/b".to_string()));
    }
}
