//! A message as the stores hand it around: its id in a folder, what a
//! listing shows of it, the whole message, and what opening its folder tells.

use super::Flags;
use serde::Serialize;

/// A message's identity inside one folder of one store: the IMAP UID as a
/// decimal string, or the Maildir unique name (the file name before `:2,`).
pub type MsgId = String;

/// What opening a folder tells about it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FolderStatus {
    /// IMAP UIDVALIDITY; `None` for stores whose ids never change meaning
    /// (Maildir unique names).
    pub uidvalidity: Option<u32>,
    /// IMAP UIDNEXT, when the server reported it.
    pub uidnext: Option<u32>,
    /// CONDSTORE HIGHESTMODSEQ, when the server has it.
    pub highest_modseq: Option<u64>,
    /// Number of messages in the folder.
    pub exists: u32,
}

/// One message as a listing shows it: no body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MessageInfo {
    pub id: MsgId,
    pub flags: Flags,
    /// Size in bytes (RFC822.SIZE, or the file size).
    pub size: u64,
}

/// A whole message as fetched from one store or handed to another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub flags: Flags,
    /// Arrival time as seconds since the Unix epoch (IMAP INTERNALDATE,
    /// Maildir file mtime).
    pub date: Option<i64>,
    pub content: Vec<u8>,
}
