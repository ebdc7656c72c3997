//! Group commit into a real Maildir: a pull larger than one batch,
//! interrupted after every few journal steps (inside a batch's pending
//! entries, between its flush and its pairs, between batches) and resumed,
//! ends with every message in the Maildir exactly once, nothing left in
//! tmp/, and a second sync with nothing to do.

use super::exec::Stores;
use super::folder::{sync_folder, RunOptions};
use super::ledger::Interrupt;
use super::plan::Policy;
use crate::config::Layout;
use crate::mail::{Flags, Message, Pair, Side};
use crate::state::StateFile;
use crate::store::maildir::MaildirStore;
use crate::store::memory::{MemoryData, MemoryStore};
use crate::store::Store;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

const FOLDER: &str = "INBOX";
/// Several groups (64 messages each), so a crash can fall between two.
const MESSAGES: usize = 300;

fn server_with_messages() -> Arc<Mutex<MemoryData>> {
    let data = Arc::new(Mutex::new(MemoryData::default()));
    let mut far = MemoryStore::new(data.clone());
    far.create_folder(FOLDER).unwrap();
    far.open_folder(FOLDER).unwrap();
    for n in 0..MESSAGES {
        let ticket = far.prepare_append().unwrap();
        let flags = if n % 2 == 0 {
            Flags::SEEN
        } else {
            Flags::EMPTY
        };
        far.append(
            &ticket,
            &Message {
                flags,
                date: Some(1_700_000_000),
                content: format!("Message-ID: <{n}@batch>\r\n\r\nbody {n}\r\n").into_bytes(),
            },
        )
        .unwrap();
    }
    data
}

fn sync(data: &Arc<Mutex<MemoryData>>, root: &Path, state: &StateFile, stop_after: Option<usize>) {
    let mut far = MemoryStore::new(data.clone());
    let mut near = MaildirStore::new(root.to_path_buf(), Layout::Verbatim);
    near.set_fsync(false);
    near.create_folder(FOLDER).unwrap();
    let options = RunOptions {
        interrupt: stop_after.map(|steps| (steps, Interrupt::Error)),
        ..RunOptions::default()
    };
    let mut stores = Stores {
        far: &mut far,
        near: &mut near,
    };
    let outcome = sync_folder(
        &mut stores,
        Pair::new(FOLDER, FOLDER),
        state,
        &Policy::default(),
        &options,
    );
    if stop_after.is_none() {
        let result = outcome.unwrap();
        assert!(result.report.failures.is_empty(), "{:?}", result.report);
    }
}

/// Message-ID to how many files in new/ and cur/ hold it.
fn local_messages(folder: &Path) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(folder.join(sub)).unwrap() {
            let content = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let id = content.lines().next().unwrap().to_string();
            *found.entry(id).or_insert(0) += 1;
        }
    }
    found
}

#[test]
fn a_pull_interrupted_anywhere_in_a_group_resumes_without_loss_or_duplicates() {
    let data = server_with_messages();
    // pending, pair and resolved for each message, and a little more.
    let steps = 3 * MESSAGES + 5;
    for stop_after in (0..steps)
        .step_by(29)
        .chain([63, 64, 65, 191, 192, 193, 255, 256])
    {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("mail");
        let state = StateFile::new(dir.path().join("INBOX.state"));
        sync(&data, &root, &state, Some(stop_after));
        sync(&data, &root, &state, None);

        let folder = root.join(FOLDER);
        let messages = local_messages(&folder);
        assert_eq!(messages.len(), MESSAGES, "stopped after {stop_after}");
        assert!(
            messages.values().all(|&count| count == 1),
            "stopped after {stop_after}: a message was stored twice"
        );
        assert_eq!(
            std::fs::read_dir(folder.join("tmp")).unwrap().count(),
            0,
            "stopped after {stop_after}: tmp/ keeps unfinished files"
        );
        let loaded = state.load().unwrap();
        assert_eq!(loaded.records.len(), MESSAGES);
        assert!(loaded.pending.is_empty());
        // Nothing is left for a further sync.
        let mut far = MemoryStore::new(data.clone());
        let mut near = MaildirStore::new(root.clone(), Layout::Verbatim);
        let again = sync_folder(
            &mut Stores {
                far: &mut far,
                near: &mut near,
            },
            Pair::new(FOLDER, FOLDER),
            &state,
            &Policy::default(),
            &RunOptions::default(),
        )
        .unwrap();
        assert!(
            again.plan.is_empty(),
            "stopped after {stop_after}: {}",
            again.plan
        );
        assert_eq!(again.report.copied[Side::Near], 0);
    }
}
