//! Adopting a Maildir that another synchronizer made: pairing every local
//! message with its server copy and writing mailferry's state, so the first
//! sync moves only what really changed and never copies a message both
//! sides already hold.
//!
//! The pairs come from the other tool's own state where the user points at
//! it ([`mbsync`], [`offlineimap`]): exact, and it tells a message deleted
//! on the server since that tool last ran (its local copy is deleted by the
//! next sync) from one written locally since (it is uploaded). Whatever that
//! state does not pair, and every message when no state is given, is paired
//! by content identity ([`crate::mail::identity`]), from headers only.
//!
//! Adopting writes only mailferry's state file: it never renames, moves or
//! deletes the user's files, and leaves the other tool's files in place.

pub mod mbsync;
pub mod offlineimap;

use crate::config::{ChannelConfig, Config, StoreConfig};
use crate::mail::{Flags, FolderStatus, MessageInfo, MsgId, Pair, Side};
use crate::state::{state_path, ChannelLock, FolderState, Record, StateFile};
use crate::store::maildir::MaildirTree;
use crate::store::{Store, StoreOpener};
use crate::sync::pairing::{pair_unrecorded, Evidence};
use crate::sync::patterns::selects;
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Where the pairs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Content identity only (Message-ID and size, from headers).
    Content,
    /// mbsync's `.mbsyncstate` files: in each mailbox under this directory
    /// (`SyncState *`), or named after the mailboxes in it (`SyncState DIR/`).
    Mbsync(PathBuf),
    /// OfflineIMAP's metadata directory of the account (the one holding
    /// `LocalStatus/`).
    OfflineImap(PathBuf),
}

/// What adopting one folder found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FolderAdoption {
    pub folder: String,
    /// Messages paired with their server copy.
    pub paired: usize,
    /// Local messages with no server copy: the next sync uploads them.
    pub local_only: usize,
    /// Server messages with no local copy: the next sync downloads them.
    pub server_only: usize,
    /// Messages held more than once on a side: left untouched.
    pub ambiguous: usize,
    /// Everything else worth saying, one line each.
    pub notes: Vec<String>,
}

/// What adopting a channel found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChannelAdoption {
    pub channel: String,
    pub folders: Vec<FolderAdoption>,
    /// Folders that could not be adopted, with the reason, one line each.
    pub errors: Vec<String>,
}

/// Pairs that another tool's state records, in UIDs: the far side's IMAP
/// UID and the UID the near side's file name carries as `,U=<uid>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownPairs {
    /// The far folder's UIDVALIDITY the state was written for, when the
    /// state says.
    pub far_uidvalidity: Option<u32>,
    pub entries: Vec<KnownPair>,
    /// What the reader noticed (a check it could not make), one line each.
    pub notes: Vec<String>,
}

/// One message both sides held when the other tool last synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownPair {
    pub far_uid: u32,
    pub near_uid: u32,
    /// The flags both sides had then.
    pub flags: Flags,
}

/// Adopts the channel's folders that exist on both sides and have no
/// mailferry state yet. With `dry_run` nothing is written.
pub fn adopt_channel(
    config: &Config,
    channel: &ChannelConfig,
    source: &Source,
    dry_run: bool,
) -> Result<ChannelAdoption> {
    let _lock = ChannelLock::acquire(&config.state_dir, &channel.name, false)?;
    let maildir = near_maildir(config, channel)?;
    let mut far = StoreOpener::new(config, &channel.far)?.open()?;
    let mut near = StoreOpener::new(config, &channel.near)?.open()?;
    // The channel names folders by their near names; `folder_map` gives
    // the far name where it differs.
    let far_to_near = &channel.folder_map;
    let near_to_far: HashMap<&str, &str> = far_to_near
        .iter()
        .map(|(far, near)| (near.as_str(), far.as_str()))
        .collect();
    let far_names: BTreeSet<String> = folder_names(&mut *far)?
        .into_iter()
        .map(|name| far_to_near.get(&name).cloned().unwrap_or(name))
        .collect();
    let listed = Pair::new(far_names, folder_names(&mut *near)?);
    let mut result = ChannelAdoption {
        channel: channel.name.clone(),
        ..ChannelAdoption::default()
    };
    let mut wanted: BTreeSet<&String> = listed[Side::Far].union(&listed[Side::Near]).collect();
    wanted.retain(|name| selects(&channel.folders, name));
    for name in wanted {
        if let Some(side) = Side::BOTH.into_iter().find(|&s| !listed[s].contains(name)) {
            result.folders.push(FolderAdoption {
                folder: name.clone(),
                notes: vec![format!(
                    "only on the {} side; nothing to pair (the next sync creates it on the \
                     {side} side)",
                    side.other()
                )],
                ..FolderAdoption::default()
            });
            continue;
        }
        let names = Pair::new(
            near_to_far.get(name.as_str()).copied().unwrap_or(name),
            name.as_str(),
        );
        let state_file = StateFile::new(state_path(&config.state_dir, &channel.name, name));
        match adopt_folder(
            names,
            (&mut *far, &mut *near),
            &maildir,
            source,
            &state_file,
            dry_run,
        ) {
            Ok(folder) => result.folders.push(folder),
            Err(err) => result
                .errors
                .push(format!("{}: folder {name}: {err:#}", channel.name)),
        }
    }
    Ok(result)
}

/// The near store's Maildir tree: adopting reads the Maildir's
/// directories for what its file names say.
fn near_maildir(config: &Config, channel: &ChannelConfig) -> Result<MaildirTree> {
    match config.stores.get(&channel.near) {
        Some(StoreConfig::Maildir(maildir)) => Ok(MaildirTree::of(maildir)),
        _ => bail!(
            "channel {}: adopt needs the near store ({}) to be a Maildir",
            channel.name,
            channel.near
        ),
    }
}

fn folder_names(store: &mut dyn Store) -> Result<BTreeSet<String>> {
    let description = store.describe();
    Ok(store
        .list_folders()
        .with_context(|| format!("listing folders of {description}"))?
        .into_iter()
        .map(|f| f.name)
        .collect())
}

/// Adopts one folder pair; `names` are its names on each side, the near
/// one being the channel's name for it.
fn adopt_folder(
    names: Pair<&str>,
    (far, near): (&mut dyn Store, &mut dyn Store),
    tree: &MaildirTree,
    source: &Source,
    state_file: &StateFile,
    dry_run: bool,
) -> Result<FolderAdoption> {
    let name = names[Side::Near];
    let mut state = state_file.load()?;
    if !state.records.is_empty() || !state.pending.is_empty() {
        bail!(
            "mailferry has synced it already (state {}); adopting is for folders it has never \
             synced",
            state_file.path().display()
        );
    }
    let status = Pair::new(
        far.open_folder(names[Side::Far])
            .with_context(|| format!("opening far folder {}", names[Side::Far]))?,
        near.open_folder(name)
            .with_context(|| format!("opening near folder {name}"))?,
    );
    let listings = Pair::new(far.list_messages()?, near.list_messages()?);
    let folder_dir = tree.folder_dir(name)?;

    let mut adoption = FolderAdoption {
        folder: name.to_string(),
        ..FolderAdoption::default()
    };
    let known = match source {
        Source::Content => None,
        Source::Mbsync(dir) => Some(mbsync::known_pairs(dir, name, &folder_dir)?),
        Source::OfflineImap(dir) => Some(offlineimap::known_pairs(dir, name)?),
    };
    if let Some(known) = known {
        check_uidvalidity(name, &known, &status[Side::Far])?;
        adoption.notes.extend(known.notes.iter().cloned());
        let in_new = files_in_new(&folder_dir)?;
        let (records, notes) = records_from_known(&known, &listings, &in_new);
        adoption.notes.extend(notes);
        state.records = records.into();
    }

    let found = pair_unrecorded(
        &state,
        Pair::new(&listings[Side::Far][..], &listings[Side::Near][..]),
        Pair::new(far, near),
        Evidence::HeadersWhereUnique,
    )?;
    state.records.extend(found.pairs.iter().cloned());
    if found.hashed[Side::Far] > 0 {
        adoption.notes.push(format!(
            "{} server message(s) have no Message-ID and were fetched to compare their content",
            found.hashed[Side::Far]
        ));
    }
    adoption.ambiguous = found.ambiguous;
    count(&mut adoption, &state, &listings, &found.ambiguous_ids);

    if !dry_run {
        state.uidvalidity = Pair::new(
            status[Side::Far].uidvalidity,
            status[Side::Near].uidvalidity,
        );
        state_file.save(&state)?;
    }
    Ok(adoption)
}

/// UIDs of another tool's state name the server's messages only while the
/// folder's UIDVALIDITY is the one it recorded.
fn check_uidvalidity(folder: &str, known: &KnownPairs, far: &FolderStatus) -> Result<()> {
    match (known.far_uidvalidity, far.uidvalidity) {
        (Some(recorded), Some(now)) if recorded != now => bail!(
            "the server's UIDVALIDITY of {folder} is {now}, but the state read says {recorded}: \
             its UIDs no longer name the same messages; adopt by content instead (without \
             --from-...)"
        ),
        _ => Ok(()),
    }
}

/// Unique names of the files in `new/`. mailferry reads no flags from
/// files there (the Maildir rule), while mbsync files unread flagged mail
/// there as `new/x:2,F`; such messages are recorded with the flags
/// mailferry sees, so the server's flags come back down rather than being
/// taken as removed locally.
fn files_in_new(folder_dir: &Path) -> Result<HashSet<MsgId>> {
    let dir = folder_dir.join("new");
    let entries = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list messages in {}", dir.display()))?;
    let mut names = HashSet::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if let Some(name) = entry.file_name().to_str() {
            let unique = name.split_once(':').map_or(name, |(unique, _)| unique);
            names.insert(unique.to_string());
        }
    }
    Ok(names)
}

/// The UID a Maildir file name carries as `,U=<uid>` (mbsync, OfflineIMAP).
pub fn uid_in_name(unique_name: &str) -> Option<u32> {
    unique_name
        .split(',')
        .skip(1)
        .find_map(|field| field.strip_prefix("U=")?.parse().ok())
}

/// Turns another tool's pairs into records:
/// - the local file is there: a pair, whether or not the server still has
///   the message (if not, it was deleted there since, and the next sync
///   deletes the local copy, as the other tool would have);
/// - the local file is gone (deleted locally since): a tombstone, so the
///   server's copy is neither downloaded again nor deleted.
///
/// Returns the records and notes on what the second and third cases found.
fn records_from_known(
    known: &KnownPairs,
    listings: &Pair<Vec<MessageInfo>>,
    in_new: &HashSet<MsgId>,
) -> (Vec<Record>, Vec<String>) {
    let far_ids: HashSet<&str> = listings[Side::Far].iter().map(|m| m.id.as_str()).collect();
    let mut near_by_uid: HashMap<u32, Vec<&MessageInfo>> = HashMap::new();
    for message in &listings[Side::Near] {
        if let Some(uid) = uid_in_name(&message.id) {
            near_by_uid.entry(uid).or_default().push(message);
        }
    }
    let mut records = Vec::new();
    let mut used_far = HashSet::new();
    let mut used_near = HashSet::new();
    let (mut gone_on_server, mut gone_locally, mut doubtful) = (0, 0, 0);
    for entry in &known.entries {
        let far_id = entry.far_uid.to_string();
        if !used_far.insert(entry.far_uid) || !used_near.insert(entry.near_uid) {
            doubtful += 1;
            continue;
        }
        match near_by_uid.get(&entry.near_uid).map(Vec::as_slice) {
            Some([near]) => {
                if !far_ids.contains(far_id.as_str()) {
                    gone_on_server += 1;
                }
                let flags = if in_new.contains(&near.id) {
                    near.flags
                } else {
                    entry.flags
                };
                records.push(Record {
                    ids: Pair::new(Some(far_id), Some(near.id.clone())),
                    flags,
                });
            }
            None | Some([]) => {
                gone_locally += 1;
                records.push(Record {
                    ids: Pair::new(Some(far_id), None),
                    flags: entry.flags,
                });
            }
            // Two files claim one UID (a copy made by hand): which one the
            // state meant is unknown; content identity decides.
            Some(_) => doubtful += 1,
        }
    }
    let mut notes = Vec::new();
    if gone_on_server > 0 {
        notes.push(format!(
            "{gone_on_server} message(s) were deleted on the server since the last sync by the \
             other tool: the next sync deletes the local copies"
        ));
    }
    if gone_locally > 0 {
        notes.push(format!(
            "{gone_locally} message(s) were deleted locally since the last sync by the other \
             tool: they are left on the server and not downloaded again"
        ));
    }
    if doubtful > 0 {
        notes.push(format!(
            "{doubtful} entry(ies) of the other tool's state name a UID twice; those messages \
             are paired by content instead"
        ));
    }
    (records, notes)
}

/// Fills the counts from the state as it will be written.
fn count(
    adoption: &mut FolderAdoption,
    state: &FolderState,
    listings: &Pair<Vec<MessageInfo>>,
    ambiguous: &Pair<Vec<MsgId>>,
) {
    let mut recorded: Pair<HashSet<&str>> = Pair::default();
    for record in &state.records {
        for side in Side::BOTH {
            if let Some(id) = &record.ids[side] {
                recorded[side].insert(id.as_str());
            }
        }
    }
    let present: Pair<HashSet<&str>> = Pair::new(
        listings[Side::Far].iter().map(|m| m.id.as_str()).collect(),
        listings[Side::Near].iter().map(|m| m.id.as_str()).collect(),
    );
    adoption.paired = state
        .records
        .iter()
        .filter(|r| {
            Side::BOTH.iter().all(|&side| {
                r.ids[side]
                    .as_deref()
                    .is_some_and(|id| present[side].contains(id))
            })
        })
        .count();
    let unpaired = |side: Side| {
        let ambiguous: HashSet<&str> = ambiguous[side].iter().map(String::as_str).collect();
        listings[side]
            .iter()
            .filter(|m| {
                !recorded[side].contains(m.id.as_str()) && !ambiguous.contains(m.id.as_str())
            })
            .count()
    };
    adoption.server_only = unpaired(Side::Far);
    adoption.local_only = unpaired(Side::Near);
}

/// Reads a small text file another tool wrote, saying which one it was
/// when it cannot be read.
fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow!("cannot read {what} {}: {e}", path.display()))
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

    #[test]
    fn uids_are_read_from_mbsync_and_offlineimap_file_names() {
        assert_eq!(uid_in_name("1700000000.123_4.host,U=17"), Some(17));
        assert_eq!(
            uid_in_name("1700000000_0.123.host,U=5,FMD5=7e33429f656f1e6e9d79b29c3f82c57e"),
            Some(5)
        );
        assert_eq!(uid_in_name("1700000000.123_4.host"), None);
        assert_eq!(uid_in_name("U=3.host"), None);
    }

    #[test]
    fn known_pairs_become_pairs_deletions_on_the_server_and_tombstones() {
        let known = KnownPairs {
            far_uidvalidity: Some(1),
            entries: vec![
                // Both still there.
                KnownPair {
                    far_uid: 1,
                    near_uid: 1,
                    flags: Flags::SEEN,
                },
                // Deleted on the server since.
                KnownPair {
                    far_uid: 2,
                    near_uid: 2,
                    flags: Flags::EMPTY,
                },
                // Deleted locally since.
                KnownPair {
                    far_uid: 3,
                    near_uid: 3,
                    flags: Flags::SEEN,
                },
                // Unread and flagged, filed in new/ by mbsync.
                KnownPair {
                    far_uid: 4,
                    near_uid: 4,
                    flags: Flags::FLAGGED,
                },
            ],
            notes: Vec::new(),
        };
        let listings = Pair::new(
            vec![
                info("1", Flags::SEEN),
                info("3", Flags::SEEN),
                info("4", Flags::FLAGGED),
                info("9", Flags::EMPTY),
            ],
            vec![
                info("a,U=1", Flags::SEEN),
                info("b,U=2", Flags::EMPTY),
                info("d,U=4", Flags::EMPTY),
                info("new-local", Flags::EMPTY),
            ],
        );
        let in_new = HashSet::from(["d,U=4".to_string()]);
        let (records, notes) = records_from_known(&known, &listings, &in_new);
        let pair = |far: &str, near: Option<&str>, flags| Record {
            ids: Pair::new(Some(far.to_string()), near.map(str::to_string)),
            flags,
        };
        assert_eq!(
            records,
            vec![
                pair("1", Some("a,U=1"), Flags::SEEN),
                pair("2", Some("b,U=2"), Flags::EMPTY),
                pair("3", None, Flags::SEEN),
                pair("4", Some("d,U=4"), Flags::EMPTY),
            ]
        );
        assert_eq!(notes.len(), 2, "{notes:?}");

        let state = FolderState {
            records: records.into(),
            ..FolderState::default()
        };
        let mut adoption = FolderAdoption::default();
        count(&mut adoption, &state, &listings, &Pair::default());
        assert_eq!(
            (adoption.paired, adoption.server_only, adoption.local_only),
            (2, 1, 1)
        );
    }

    #[test]
    fn a_changed_uidvalidity_refuses_the_other_tools_pairs() {
        let known = KnownPairs {
            far_uidvalidity: Some(5),
            ..KnownPairs::default()
        };
        let status = FolderStatus {
            uidvalidity: Some(6),
            ..FolderStatus::default()
        };
        let error = check_uidvalidity("INBOX", &known, &status).unwrap_err();
        assert!(error.to_string().contains("UIDVALIDITY"), "{error}");
        let same = FolderStatus {
            uidvalidity: Some(5),
            ..FolderStatus::default()
        };
        check_uidvalidity("INBOX", &known, &same).unwrap();
    }
}
