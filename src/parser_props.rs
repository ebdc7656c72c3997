//! Property tests for every parser of outside data: the config, the state
//! file and its journal, Maildir file names, modified UTF-7, POP3 replies,
//! the mbsyncrc reader, the search query language and the IMAP client's
//! framing and response parser. Whatever the input, a parser returns a value
//! or an error that names the file (where there is one); it never panics,
//! and a damaged state file never loads as records it did not hold.
//!
//! Test-only; the hostile-server integration tests drive the IMAP parser
//! through a whole sync too.

use crate::config::{Config, Layout};
use crate::import::mbsyncrc::MbsyncRc;
use crate::import::translate::{translate, Options};
use crate::mail::Pair;
use crate::search::imap::search_keys;
use crate::search::local::Candidate;
use crate::state::{FolderState, Record, StateFile};
use crate::store::imap::client::frame::{Framer, Limits};
use crate::store::imap::client::response::{self, Data, Fetch, Response};
use crate::store::imap::search::Literals;
use crate::store::maildir::MaildirStore;
use crate::store::pop3::client::{parse_list_line, parse_status, parse_uidl_line, Pop3Client};
use crate::store::{mutf7, Store};
use proptest::prelude::*;
use std::io::{Cursor, Read, Write};
use std::path::Path;

/// Pieces of IMAP responses.
const IMAP_PIECES: &[&str] = &[
    "* ",
    "a1 ",
    "+ ",
    "OK ",
    "NO ",
    "BYE ",
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    "{3}\n",
    "{0}\n",
    "{99999999999}\n",
    "\"",
    "\\",
    "~{2}\n",
    "NIL ",
    "12 ",
    "FETCH ",
    "UID ",
    "BODY[] ",
    "BODY[HEADER.FIELDS (X)] ",
    "FLAGS ",
    "LIST ",
    "STATUS ",
    "SEARCH ",
    "VANISHED ",
    "(EARLIER) ",
    "APPENDUID 1 2:3",
    "UIDVALIDITY ",
    "\\Seen ",
    "x",
    " ",
    "\u{e9}",
    "\0",
];

/// Text made of pieces that mean something to the parser at hand, so the
/// cases reach deep into it instead of failing on the first byte.
fn text_from(pieces: &'static [&'static str], lines: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::collection::vec(prop::sample::select(pieces), 0..6).prop_map(|words| words.concat()),
        0..lines,
    )
    .prop_map(|lines| lines.join("\n"))
}

const YAML_PIECES: &[&str] = &[
    "stores:",
    "channels:",
    "groups:",
    "state_dir: ",
    "  ",
    "    ",
    "- ",
    "work:",
    "laptop:",
    "type: ",
    "imap",
    "maildir",
    "pop3",
    "host: ",
    "port: ",
    "993",
    "0",
    "-1",
    "99999999999",
    "tls: ",
    "none",
    "implicit",
    "starttls",
    "user: ",
    "password: ",
    "password_env: ",
    "path: ",
    "~/Mail",
    "/abs",
    "../up",
    "far: ",
    "near: ",
    "folders: ",
    "[\"*\", \"!Junk\"]",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "&a ",
    "*a",
    "!!binary ",
    "<<: ",
    "layout: ",
    "verbatim",
    "maildir++",
    "direction: ",
    "both",
    "max_size: ",
    "10M",
    "1e400",
    "timeout: ",
    "folder_map: ",
    "connections: ",
    "\t",
    "#",
    ": ",
    ":",
    ",",
    "null",
    "~",
    "\u{0}",
    "é",
    "\u{202e}",
];

const SEARCH_PIECES: &[&str] = &[
    "from:",
    "to:",
    "subject:",
    "body:",
    "text:",
    "since:",
    "before:",
    "larger:",
    "smaller:",
    "2024-01-01",
    "2024-13-45",
    "99999999999999999999",
    "10M",
    "alice",
    "\"two words\"",
    "\"",
    "\\",
    "(",
    ")",
    " ",
    "or ",
    "and ",
    "not ",
    "seen",
    "unseen",
    "flagged",
    "é",
    "\r\n",
    "\n",
    "{5}",
    "\u{0}",
    ":",
    "\t",
];

const MBSYNC_PIECES: &[&str] = &[
    "IMAPAccount ",
    "IMAPStore ",
    "MaildirStore ",
    "Channel ",
    "Group ",
    "Host ",
    "Port ",
    "User ",
    "Pass ",
    "PassCmd ",
    "SSLType ",
    "IMAPS",
    "STARTTLS",
    "None",
    "Account ",
    "Path ",
    "Inbox ",
    "SubFolders ",
    "Verbatim",
    "Maildir++",
    "Far ",
    "Near ",
    "Master ",
    "Slave ",
    "Patterns ",
    "Create ",
    "Expunge ",
    "Sync ",
    "Both",
    "Pull",
    "All",
    ":work:",
    ":local:",
    "work",
    "\"quoted name\"",
    "\"",
    "\\",
    "*",
    "!",
    "%",
    "~/",
    "#",
    " ",
    "\t",
    "993",
    "-1",
    "\u{0}",
    "é",
];

/// A state file as mailferry writes it, with a few records and a pending copy.
fn saved_state(dir: &Path) -> (StateFile, FolderState) {
    let file = StateFile::new(dir.join("INBOX.state"));
    let mut state = FolderState {
        uidvalidity: Pair::new(Some(1_700_000_000), None),
        ..FolderState::default()
    };
    for n in 1..=6u32 {
        state.records.pair(Record {
            ids: Pair::new(Some(n.to_string()), Some(format!("1700000000.M{n}.host"))),
            flags: crate::mail::Flags::EMPTY,
        });
    }
    file.save(&state).unwrap();
    let saved = file.load().unwrap();
    (file, saved)
}

/// A stream that plays back `input` as the server and swallows what the
/// client writes.
struct Playback {
    input: Cursor<Vec<u8>>,
}

impl Read for Playback {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Playback {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const POP3_LINES: &[&str] = &[
    "+OK",
    "+OK ready <1.2@host>",
    "-ERR no",
    "-ERR [IN-USE] locked",
    ".",
    "..",
    "..stuffed",
    "1 abc",
    "2 200",
    "1 1",
    "0 0",
    "4294967296 1",
    "1 99999999999999999999",
    "x y",
    "",
    "1",
    "1 a b",
    "+OK 2 300",
    "SASL PLAIN",
    "STLS",
    "UIDL",
    "\u{0}",
    "é",
    "1 \u{7f}",
];

fn pop3_session() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        prop::collection::vec(prop::sample::select(POP3_LINES), 0..40).prop_map(|lines| {
            let mut bytes = b"+OK ready\r\n".to_vec();
            for line in lines {
                bytes.extend_from_slice(line.as_bytes());
                bytes.extend_from_slice(b"\r\n");
            }
            bytes
        }),
    ]
}

/// Maildir file names: arbitrary ones and ones shaped like real names
/// with odd sizes, info parts and flag letters.
fn maildir_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^/\u{0}]{1,40}",
        (
            "[0-9]{1,12}\\.[A-Za-z0-9_.]{0,12}",
            prop::option::of("[0-9]{0,25}"),
            prop::option::of(":[0-9,]{0,3}[A-Za-z:,]{0,8}"),
        )
            .prop_map(|(unique, size, info)| {
                let size = size.map(|s| format!(",S={s}")).unwrap_or_default();
                format!("{unique}{size}{}", info.unwrap_or_default())
            }),
    ]
    .prop_filter("a file name", |name| name != "." && name != "..")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn config_text_gives_a_config_or_an_error_naming_the_file(
        text in prop_oneof![any::<String>(), text_from(YAML_PIECES, 30)]
    ) {
        let path = Path::new("/home/a/.config/mailferry/config.yaml");
        if let Err(error) = Config::from_yaml(&text, path) {
            prop_assert_eq!(&error.file, path);
            prop_assert!(error.to_string().starts_with(&path.display().to_string()));
        }
    }

    #[test]
    fn mbsyncrc_text_gives_sections_or_an_error_naming_the_file(
        text in prop_oneof![any::<String>(), text_from(MBSYNC_PIECES, 30)]
    ) {
        let path = Path::new("/home/a/.mbsyncrc");
        match MbsyncRc::parse(&text, path) {
            Ok(rc) => {
                if let Err(error) = translate(&rc, Options { copy_passwords: false }) {
                    prop_assert_eq!(&error.file, path);
                }
            }
            Err(error) => prop_assert_eq!(&error.file, path),
        }
    }

    #[test]
    fn any_bytes_as_a_state_file_load_or_fail_naming_the_file(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            text_from(&["mailferry-state 1", "mailferry-state 99", "generation ", "7", "pair ",
                "pending ", "uidvalidity ", "far ", "near ", "modseq ", "- ", "17 ", "a ", "S",
                "%", "%zz", "\u{0}", " ", "\r"], 12).prop_map(String::into_bytes),
        ]
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("INBOX.state"));
        std::fs::write(file.path(), &bytes).unwrap();
        if let Err(error) = file.load() {
            prop_assert_eq!(error.path.as_path(), file.path());
            prop_assert!(error.to_string().starts_with(&file.path().display().to_string()));
        }
    }

    /// A state file cut short loads as an error or as a part of what it
    /// held: never as records it did not hold, so it cannot cause a
    /// deletion the full state would not.
    #[test]
    fn a_truncated_state_file_never_loads_records_it_did_not_hold(cut in 0usize..400) {
        let dir = tempfile::tempdir().unwrap();
        let (file, saved) = saved_state(dir.path());
        let bytes = std::fs::read(file.path()).unwrap();
        std::fs::write(file.path(), &bytes[..cut.min(bytes.len())]).unwrap();
        if let Ok(loaded) = file.load() {
            for record in &loaded.records {
                prop_assert!(saved.records.with_ids(&record.ids) == Some(record), "{:?}", record);
            }
            prop_assert!(loaded.uidvalidity[crate::mail::Side::Far].is_none()
                || loaded.uidvalidity == saved.uidvalidity);
        }
    }

    #[test]
    fn any_bytes_after_a_journal_header_load_or_fail_naming_the_journal(
        garbage in prop::collection::vec(any::<u8>(), 0..200)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (file, saved) = saved_state(dir.path());
        drop(file.journal(&saved).unwrap());
        let mut journal = std::fs::OpenOptions::new()
            .append(true)
            .open(file.journal_path())
            .unwrap();
        journal.write_all(&garbage).unwrap();
        drop(journal);
        if let Err(error) = file.load() {
            let named = error.path == file.journal_path() || error.path == file.path();
            prop_assert!(named, "{}", error);
        }
    }

    #[test]
    fn modified_utf7_decodes_anything_without_panicking(text in any::<String>()) {
        let _ = mutf7::decode(&text);
    }

    #[test]
    fn modified_utf7_round_trips_every_name(name in any::<String>()) {
        let encoded = mutf7::encode(&name);
        prop_assert!(encoded.is_ascii());
        prop_assert_eq!(mutf7::decode(&encoded).unwrap(), name);
    }

    #[test]
    fn imap_responses_frame_and_parse_or_fail_without_panicking(
        bytes in text_from(IMAP_PIECES, 4).prop_map(|text| text.replace('\n', "\r\n").into_bytes())
    ) {
        let limits = Limits { line: 64, literal: 64 };
        let mut framer = Framer::default();
        if let Ok(Some(length)) = framer.scan(&bytes, &limits) {
            prop_assert!(length <= bytes.len());
            if let Ok(Response::Untagged(Data::Fetch { items, .. })) = response::parse(&bytes[..length]) {
                let _ = Fetch::parse(items);
            }
        }
        let _ = response::parse(&bytes);
    }

    #[test]
    fn pop3_reply_lines_parse_or_fail_without_panicking(
        line in prop::collection::vec(any::<u8>(), 0..80)
    ) {
        let _ = parse_status(&line);
        let _ = parse_uidl_line(&line);
        let _ = parse_list_line(&line);
    }

    #[test]
    fn a_pop3_session_of_any_server_bytes_ends_in_values_or_errors(server in pop3_session()) {
        let stream = Playback { input: Cursor::new(server) };
        if let Ok(mut client) = Pop3Client::new(stream, "pop.test:110") {
            let _ = client.capa();
            let _ = client.stat();
            let _ = client.uidl();
            let _ = client.list();
            let _ = client.retr(1);
            let _ = client.dele(1);
            let _ = client.quit();
        }
    }

    #[test]
    fn any_maildir_file_names_are_listed_or_warned_about(
        names in prop::collection::vec(maildir_name(), 1..8),
        in_cur in prop::collection::vec(any::<bool>(), 8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = MaildirStore::new(dir.path().join("Mail"), Layout::Verbatim);
        store.create_folder("INBOX").unwrap();
        let inbox = dir.path().join("Mail/INBOX");
        for (name, cur) in names.iter().zip(&in_cur) {
            let sub = if *cur { "cur" } else { "new" };
            std::fs::write(inbox.join(sub).join(name), b"Subject: x\r\n\r\nbody\r\n").unwrap();
        }
        store.open_folder("INBOX").unwrap();
        let listed = store.list_messages().unwrap();
        prop_assert!(listed.len() <= names.len());
        let ids: Vec<String> = listed.iter().map(|m| m.id.clone()).collect();
        store.fetch_messages(&ids, &mut |_, _| Ok(())).unwrap();
        for id in &ids {
            let _ = store.set_flags(id, crate::mail::Flags::SEEN, crate::mail::Flags::EMPTY);
        }
        let _ = store.take_warnings();
    }

    #[test]
    fn search_queries_parse_or_fail_and_never_smuggle_a_line_break_to_the_server(
        text in prop_oneof![any::<String>(), text_from(SEARCH_PIECES, 1)],
        content in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let Ok(query) = crate::search::query::parse(&text) else {
            return Ok(());
        };
        // In a quoted string a CR or LF would end the command and start
        // another one of the server's choosing: it must be refused there.
        if let Ok(keys) = search_keys(&query, Literals::None) {
            prop_assert!(!keys.contains('\r') && !keys.contains('\n'), "{:?}", keys);
        }
        let _ = search_keys(&query, Literals::NonSynchronizing);
        let size = content.len() as u64;
        let _ = Candidate::new(&content, crate::mail::Flags::EMPTY, size, Some(0)).matches(&query);
    }
}
