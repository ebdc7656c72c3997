//! A store that stands in for a side a step does not use: it holds no
//! folder and refuses every operation, so a step that reached for that side
//! by mistake fails loudly instead of acting on the wrong folder.

use super::{FolderInfo, Store};
use crate::mail::{Flags, FolderStatus, Message, MessageInfo, MsgId};
use anyhow::{bail, Result};

/// See the module.
pub struct Unavailable;

/// The refusal of every operation.
fn refused<T>(operation: &str) -> Result<T> {
    bail!("internal error: {operation} was asked of a store this step does not use")
}

impl Store for Unavailable {
    fn describe(&self) -> String {
        "(a store this step does not use)".to_string()
    }

    fn list_folders(&mut self) -> Result<Vec<FolderInfo>> {
        refused("listing folders")
    }

    fn create_folder(&mut self, _name: &str) -> Result<()> {
        refused("creating a folder")
    }

    fn open_folder(&mut self, _name: &str) -> Result<FolderStatus> {
        refused("opening a folder")
    }

    fn list_messages(&mut self) -> Result<Vec<MessageInfo>> {
        refused("listing messages")
    }

    fn fetch_messages(
        &mut self,
        _ids: &[MsgId],
        _sink: &mut dyn FnMut(&MsgId, Message) -> Result<()>,
    ) -> Result<()> {
        refused("fetching messages")
    }

    fn prepare_append(&mut self) -> Result<String> {
        refused("adding a message")
    }

    fn append(&mut self, _ticket: &str, _message: &Message) -> Result<Option<MsgId>> {
        refused("adding a message")
    }

    fn find_appended(&mut self, _ticket: &str, _size: u64, _sha256: &str) -> Result<Vec<MsgId>> {
        refused("looking for an added message")
    }

    fn set_flags(&mut self, _id: &MsgId, _add: Flags, _remove: Flags) -> Result<()> {
        refused("setting flags")
    }

    fn delete_messages(&mut self, _ids: &[MsgId]) -> Result<()> {
        refused("deleting messages")
    }
}
