//! A big folder's fetch split over two connections: while the worker
//! fetches the first half of a long list of messages on its own
//! connection, a helper thread fetches the second half on a spare one and
//! hands the messages over through a bounded channel. Only the worker's
//! thread stores them and writes the ledger, so each message goes through
//! the same steps in the same order as with a single fetch (pending before
//! the store, pair after): an interrupted run leaves nothing new to
//! recover from. If the spare connection cannot be opened or fails, the
//! worker fetches what it did not hand over itself.

use crate::mail::{Message, MsgId};
use crate::store::{Store, StoreOpener};
use anyhow::{anyhow, bail, Result};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Fewest messages worth a second connection: below this its login and
/// SELECT cost more than the shared fetch gains.
pub const SPLIT_FROM: usize = 2_000;

/// Messages on their way from the helper to the worker: what the split
/// adds to memory is bounded by this many messages, not by the folder.
const IN_FLIGHT: usize = 128;

/// The connections to a store that may be opened beyond those in use,
/// shared by a channel's workers: an extra worker and a second fetch both
/// take one, so together they never pass the store's `connections:`.
pub struct SpareConnections<'a> {
    opener: &'a StoreOpener,
    free: AtomicUsize,
}

impl<'a> SpareConnections<'a> {
    pub fn new(opener: &'a StoreOpener, free: usize) -> SpareConnections<'a> {
        SpareConnections {
            opener,
            free: AtomicUsize::new(free),
        }
    }

    /// One spare connection's place, if one is free; given back when the
    /// place is dropped.
    pub fn take(&self) -> Option<Taken<'_>> {
        self.free
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |free| {
                free.checked_sub(1)
            })
            .ok()
            .map(|_| Taken(&self.free))
    }
}

/// A spare connection's place, taken (see [`SpareConnections::take`]).
pub struct Taken<'a>(&'a AtomicUsize);

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Where a second connection fetches from: the folder the worker has
/// open on the source store, as it was when the worker opened it.
pub struct SecondFetch<'a> {
    pub spare: &'a SpareConnections<'a>,
    /// The folder's name on the source store.
    pub folder: String,
    /// Its UIDVALIDITY at the worker's opening: a second connection that
    /// sees another one would fetch other messages under the same ids.
    pub uidvalidity: Option<u32>,
}

impl SecondFetch<'_> {
    /// A new connection with the folder open, the same folder as the
    /// worker's.
    fn open(&self) -> Result<Box<dyn Store>> {
        let mut store = self.spare.opener.open()?;
        let status = store.open_folder(&self.folder)?;
        if status.uidvalidity != self.uidvalidity {
            bail!(
                "folder {:?} changed its UIDVALIDITY since the worker opened it",
                self.folder
            );
        }
        Ok(store)
    }
}

/// Fetches `ids` from `from` like [`Store::fetch_messages`], over a second
/// connection too when the list is long and a spare connection is free.
pub fn fetch(
    from: &mut dyn Store,
    ids: &[MsgId],
    second: Option<&SecondFetch<'_>>,
    sink: &mut dyn FnMut(&MsgId, Message) -> Result<()>,
) -> Result<()> {
    let Some(second) = second.filter(|_| ids.len() >= SPLIT_FROM) else {
        return from.fetch_messages(ids, sink);
    };
    let Some(_taken) = second.spare.take() else {
        return from.fetch_messages(ids, sink);
    };
    log::info!(
        "folder {}: fetching {} message(s) over two connections",
        second.folder,
        ids.len()
    );
    fetch_split(from, ids, || second.open(), sink)
}

/// Fetches the first half of `ids` from `from` and the second half from
/// the store `open_second` opens, on a thread of its own; hands every
/// message to `sink` on this thread.
fn fetch_split(
    from: &mut dyn Store,
    ids: &[MsgId],
    open_second: impl FnOnce() -> Result<Box<dyn Store>> + Send,
    sink: &mut dyn FnMut(&MsgId, Message) -> Result<()>,
) -> Result<()> {
    let (mine, theirs) = ids.split_at(ids.len() / 2);
    let (to_worker, from_helper) = mpsc::sync_channel::<(MsgId, Message)>(IN_FLIGHT);
    let left_by_helper = std::thread::scope(|scope| {
        let helper = scope.spawn(move || fetch_for_worker(open_second, theirs, to_worker));
        // The helper's messages are taken between the worker's own, so
        // that the helper rarely waits on a full channel.
        let own = from.fetch_messages(mine, &mut |id, message| {
            sink(id, message)?;
            while let Ok((id, message)) = from_helper.try_recv() {
                sink(&id, message)?;
            }
            Ok(())
        });
        let drained = own.and_then(|()| {
            from_helper
                .iter()
                .try_for_each(|(id, message)| sink(&id, message))
        });
        // Dropped before the helper is waited for: a helper blocked on a
        // full channel then stops.
        drop(from_helper);
        let helper = helper.join();
        drained?;
        Ok::<_, anyhow::Error>(
            helper
                .unwrap_or_else(|_| Err((anyhow!("the helper thread panicked"), theirs.to_vec()))),
        )
    })?;
    if let Err((err, left)) = left_by_helper {
        log::info!(
            "second connection: {err:#}; fetching its {} remaining message(s) on the first",
            left.len()
        );
        from.fetch_messages(&left, sink)?;
    }
    Ok(())
}

/// The helper's part: opens the second connection and sends each message
/// of `ids` to the worker. On failure, the error and the ids it did not
/// send.
fn fetch_for_worker(
    open: impl FnOnce() -> Result<Box<dyn Store>>,
    ids: &[MsgId],
    to_worker: mpsc::SyncSender<(MsgId, Message)>,
) -> std::result::Result<(), (anyhow::Error, Vec<MsgId>)> {
    let mut not_sent: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let fetched = open().and_then(|mut store| {
        store.fetch_messages(ids, &mut |id, message| {
            to_worker
                .send((id.clone(), message))
                .map_err(|_| anyhow!("the worker stopped taking messages"))?;
            not_sent.remove(id.as_str());
            Ok(())
        })
    });
    fetched.map_err(|err| {
        let left = ids
            .iter()
            .filter(|id| not_sent.contains(id.as_str()))
            .cloned()
            .collect();
        (err, left)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::{Flags, FolderStatus, MessageInfo};
    use crate::store::memory::{MemoryData, MemoryFolder, MemoryStore};
    use crate::store::FolderInfo;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    fn server(count: u32) -> Arc<Mutex<MemoryData>> {
        let messages: BTreeMap<u32, Message> = (1..=count)
            .map(|uid| {
                let message = Message {
                    flags: Flags::EMPTY,
                    date: None,
                    content: format!("Subject: {uid}\r\n\r\nbody {uid}\r\n").into_bytes(),
                };
                (uid, message)
            })
            .collect();
        let mut data = MemoryData::default();
        data.folders.insert(
            "INBOX".to_string(),
            MemoryFolder {
                uidvalidity: 7,
                uidnext: count + 1,
                messages,
            },
        );
        Arc::new(Mutex::new(data))
    }

    fn connection(data: &Arc<Mutex<MemoryData>>) -> MemoryStore {
        let mut store = MemoryStore::new(data.clone());
        store.open_folder("INBOX").unwrap();
        store
    }

    fn ids(count: u32) -> Vec<MsgId> {
        (1..=count).map(|uid| uid.to_string()).collect()
    }

    /// Fetches `count` messages with the second connection `open_second`
    /// opens; every id handed over, in the order handed.
    fn fetched(
        count: u32,
        open_second: impl FnOnce() -> Result<Box<dyn Store>> + Send,
    ) -> Vec<MsgId> {
        let data = server(count);
        let mut first = connection(&data);
        let mut handed = Vec::new();
        fetch_split(&mut first, &ids(count), open_second, &mut |id, message| {
            assert_eq!(
                message.content,
                format!("Subject: {id}\r\n\r\nbody {id}\r\n").into_bytes()
            );
            handed.push(id.clone());
            Ok(())
        })
        .unwrap();
        handed
    }

    fn exactly_once(mut handed: Vec<MsgId>, count: u32) {
        assert_eq!(handed.len(), count as usize);
        handed.sort_by_key(|id| id.parse::<u32>().unwrap());
        assert_eq!(handed, ids(count));
    }

    #[test]
    fn both_connections_hand_over_their_half_and_every_message_comes_once() {
        let data = server(3000);
        let second = data.clone();
        let opened = Arc::new(Mutex::new(false));
        let seen = opened.clone();
        let handed = fetched(3000, move || {
            *seen.lock().unwrap() = true;
            Ok(Box::new(connection(&second)) as Box<dyn Store>)
        });
        assert!(*opened.lock().unwrap(), "the second connection was used");
        exactly_once(handed, 3000);
    }

    #[test]
    fn a_second_connection_that_cannot_be_opened_leaves_its_half_to_the_first() {
        let handed = fetched(2500, || Err(anyhow!("too many connections")));
        exactly_once(handed, 2500);
    }

    /// A connection that drops after handing over `left` messages.
    struct Dropping {
        inner: MemoryStore,
        left: usize,
    }

    impl Store for Dropping {
        fn describe(&self) -> String {
            "dropping".to_string()
        }
        fn list_folders(&mut self) -> Result<Vec<FolderInfo>> {
            self.inner.list_folders()
        }
        fn create_folder(&mut self, name: &str) -> Result<()> {
            self.inner.create_folder(name)
        }
        fn open_folder(&mut self, name: &str) -> Result<FolderStatus> {
            self.inner.open_folder(name)
        }
        fn list_messages(&mut self) -> Result<Vec<MessageInfo>> {
            self.inner.list_messages()
        }
        fn fetch_messages(
            &mut self,
            ids: &[MsgId],
            sink: &mut dyn FnMut(&MsgId, Message) -> Result<()>,
        ) -> Result<()> {
            let left = &mut self.left;
            self.inner.fetch_messages(ids, &mut |id, message| {
                if *left == 0 {
                    bail!("connection reset by peer");
                }
                *left -= 1;
                sink(id, message)
            })
        }
        fn prepare_append(&mut self) -> Result<String> {
            self.inner.prepare_append()
        }
        fn append(&mut self, ticket: &str, message: &Message) -> Result<Option<MsgId>> {
            self.inner.append(ticket, message)
        }
        fn find_appended(&mut self, ticket: &str, size: u64, sha256: &str) -> Result<Vec<MsgId>> {
            self.inner.find_appended(ticket, size, sha256)
        }
        fn set_flags(&mut self, id: &MsgId, add: Flags, remove: Flags) -> Result<()> {
            self.inner.set_flags(id, add, remove)
        }
        fn delete_messages(&mut self, ids: &[MsgId]) -> Result<()> {
            self.inner.delete_messages(ids)
        }
    }

    #[test]
    fn a_second_connection_failing_midway_leaves_the_rest_of_its_half_to_the_first() {
        let data = server(3000);
        let handed = fetched(3000, move || {
            Ok(Box::new(Dropping {
                inner: connection(&data),
                left: 700,
            }) as Box<dyn Store>)
        });
        exactly_once(handed, 3000);
    }

    #[test]
    fn a_sink_error_stops_both_connections_and_is_returned() {
        let data = server(3000);
        let second = data.clone();
        let mut first = connection(&data);
        let mut handed = 0;
        let outcome = fetch_split(
            &mut first,
            &ids(3000),
            move || Ok(Box::new(connection(&second)) as Box<dyn Store>),
            &mut |_, _| {
                handed += 1;
                if handed == 400 {
                    bail!("journal cannot be written");
                }
                Ok(())
            },
        );
        assert_eq!(
            outcome.unwrap_err().to_string(),
            "journal cannot be written"
        );
        assert_eq!(handed, 400, "nothing handed over after the error");
    }

    /// How many times `fetch` opened a second connection for `count`
    /// messages with `spare` connections spare; checks every message came
    /// once.
    fn second_connections_opened(count: u32, spare_count: usize) -> usize {
        let data = server(count);
        let opens = Arc::new(Mutex::new(0));
        let (counted, second) = (opens.clone(), data.clone());
        let opener = StoreOpener::from_fn("far", move || {
            *counted.lock().unwrap() += 1;
            Ok(Box::new(MemoryStore::new(second.clone())) as Box<dyn Store>)
        });
        let spare = SpareConnections::new(&opener, spare_count);
        let second = SecondFetch {
            spare: &spare,
            folder: "INBOX".to_string(),
            uidvalidity: Some(7),
        };
        let mut handed = Vec::new();
        fetch(
            &mut connection(&data),
            &ids(count),
            Some(&second),
            &mut |id, _| {
                handed.push(id.clone());
                Ok(())
            },
        )
        .unwrap();
        exactly_once(handed, count);
        assert_eq!(
            spare.free.load(Ordering::Acquire),
            spare_count,
            "the place taken was given back"
        );
        let opened = *opens.lock().unwrap();
        opened
    }

    #[test]
    fn only_a_long_fetch_with_a_spare_connection_is_split() {
        assert_eq!(second_connections_opened(SPLIT_FROM as u32, 1), 1);
        assert_eq!(second_connections_opened(SPLIT_FROM as u32 - 1, 1), 0);
        assert_eq!(second_connections_opened(SPLIT_FROM as u32, 0), 0);
    }

    #[test]
    fn a_second_connection_seeing_another_uidvalidity_is_not_used() {
        let data = server(SPLIT_FROM as u32);
        let second = data.clone();
        let opener = StoreOpener::from_fn("far", move || {
            Ok(Box::new(MemoryStore::new(second.clone())) as Box<dyn Store>)
        });
        let spare = SpareConnections::new(&opener, 1);
        let fetch_from = SecondFetch {
            spare: &spare,
            folder: "INBOX".to_string(),
            uidvalidity: Some(8),
        };
        let mut handed = Vec::new();
        fetch(
            &mut connection(&data),
            &ids(SPLIT_FROM as u32),
            Some(&fetch_from),
            &mut |id, _| {
                handed.push(id.clone());
                Ok(())
            },
        )
        .unwrap();
        exactly_once(handed, SPLIT_FROM as u32);
        assert!(spare.take().is_some(), "its place was given back");
    }

    #[test]
    fn spare_connections_are_taken_up_to_their_number_and_given_back() {
        let opener = StoreOpener::from_fn("far", || Err(anyhow!("unused")));
        let spare = SpareConnections::new(&opener, 1);
        let taken = spare.take();
        assert!(taken.is_some());
        assert!(spare.take().is_none(), "only one was spare");
        drop(taken);
        assert!(spare.take().is_some(), "given back");
    }
}
