//! Content identity: what makes two messages in two stores one message
//! (the engine pairs by it in [`crate::sync::pairing`]).
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

use super::content::sha256_hex;
use std::ops::Range;

/// The header field that a tool adds to its own copies and that is no
/// part of the message.
const TOOL_FIELD: &str = "X-TUID";

/// The header fields a server must send for [`Identity::from_header`], in
/// IMAP's `HEADER.FIELDS` syntax.
pub const HEADER_FIELDS: &str = "(MESSAGE-ID X-TUID)";

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
    (content.len() + super::content::bare_lfs(content).count()) as u64
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
