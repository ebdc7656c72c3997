//! Folders too big to list in one command: the IMAP store lists them in UID
//! slices, and the slices together must list exactly what the server holds,
//! also where expunges left holes in the UIDs.

use crate::support::dovecot::Dovecot;
use crate::support::mail::sample_message;
use mailferry::config::{Secret, TlsMode};
use mailferry::mail::{Flags, MsgId};
use mailferry::store::imap::ImapStore;
use mailferry::store::Store;
use std::fs;

const USER: &str = "alice";

/// Writes `count` messages straight into `user`'s INBOX on the server,
/// every third one read, and has Dovecot index them.
pub(super) fn fill_inbox(dovecot: &Dovecot, user: &str, count: usize) {
    let maildir = dovecot.user_maildir(user);
    let (uid, gid) = dovecot.mail_owner();
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(maildir.join(sub)).unwrap();
        std::os::unix::fs::chown(maildir.join(sub), Some(uid), Some(gid)).unwrap();
    }
    std::os::unix::fs::chown(&maildir, Some(uid), Some(gid)).unwrap();
    for n in 0..count {
        let content = sample_message(n as u64);
        let letters = if n % 3 == 0 { "S" } else { "" };
        let name = format!(
            "{}.M{n}P1.test,S={}:2,{letters}",
            1_600_000_000 + n,
            content.len()
        );
        let path = maildir.join("cur").join(name);
        fs::write(&path, &content).unwrap();
        std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
    }
    let resync = dovecot.doveadm(&["force-resync", "-u", user, "INBOX"]);
    assert!(resync.status.success(), "{resync:?}");
}

fn connect(dovecot: &Dovecot) -> ImapStore {
    let config = super::imap_store::config(dovecot, TlsMode::None);
    ImapStore::connect(&config, &Secret::new(dovecot.password(USER))).unwrap()
}

#[test]
fn a_big_folder_with_holes_in_its_uids_is_listed_whole_and_once() {
    let dovecot = Dovecot::start();
    fill_inbox(&dovecot, USER, 7000);
    let mut store = connect(&dovecot);
    store.open_folder("INBOX").unwrap();
    // Holes: a block in the middle and every seventh message elsewhere,
    // so that some slices come back nearly empty and the UIDs are sparse.
    let gone: Vec<MsgId> = (1..=7000u32)
        .filter(|uid| (2500..4500).contains(uid) || uid % 7 == 0)
        .map(|uid| uid.to_string())
        .collect();
    store.delete_messages(&gone).unwrap();
    // Flags set after the fill must show in whatever slice holds them.
    for uid in ["1", "2001", "6998"] {
        store
            .set_flags(&uid.to_string(), Flags::FLAGGED, Flags::EMPTY)
            .unwrap();
    }
    // Mail that arrives after SELECT has UIDs at or above the UIDNEXT the
    // slices were cut from; the open last slice lists it too.
    let mut client = dovecot.client(USER);
    client.append("INBOX", &sample_message(99_999), &["\\Seen"], None);

    let listed = store.list_messages().unwrap();
    let expected = client.messages("INBOX");
    assert_eq!(listed.len(), 7000 - gone.len() + 1);
    assert_eq!(listed.len(), expected.len());
    for (ours, theirs) in listed.iter().zip(&expected) {
        assert_eq!(ours.id, theirs.uid.to_string());
        assert_eq!(u64::from(theirs.size), ours.size, "UID {}", theirs.uid);
        assert_eq!(
            ours.flags.contains(Flags::SEEN),
            theirs.has_flag("\\Seen"),
            "UID {}",
            theirs.uid
        );
        assert_eq!(
            ours.flags.contains(Flags::FLAGGED),
            theirs.has_flag("\\Flagged"),
            "UID {}",
            theirs.uid
        );
    }
}
