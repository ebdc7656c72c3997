//! Listing the server's folders, each with its status in the same answer
//! where the server offers LIST-STATUS (RFC 5819) and CONDSTORE: then one
//! round trip tells which folders changed since the last sync, and an
//! unchanged folder is never selected.
//!
use super::client::response::{Data, Response};
use super::client::Command;
use super::{protocol, ImapStore};
use crate::store::FolderInfo;
use anyhow::Result;
use std::collections::{HashMap, HashSet};

/// One folder of a LIST answer, with its STATUS when asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listed {
    /// The name as the server spells it, unescaped.
    pub raw_name: String,
    pub delimiter: Option<char>,
    pub selectable: bool,
    pub special_use: Option<&'static str>,
    /// From the STATUS answer that came with it: a version when every
    /// part of one was given.
    pub version: Option<String>,
}

impl ImapStore {
    /// Lists every folder; with LIST-STATUS and CONDSTORE also notes each
    /// one's version for [`crate::store::FolderVersions::folder_version`].
    pub(super) fn list_all_folders(&mut self) -> Result<Vec<FolderInfo>> {
        let with_status = self.has_capability("LIST-STATUS") && self.has_capability("CONDSTORE");
        let special_use = self.has_capability("SPECIAL-USE");
        let doing = format!("listing folders on {}", self.host);
        // The personal namespace is asked in the same round trip, so the
        // names below can be read without its prefix.
        let namespace_tag = if self.namespace_unsettled() {
            Some(self.send_ahead(&Command::text("NAMESPACE"), "asking for the namespaces")?)
        } else {
            None
        };
        let command = list_command(with_status, special_use);
        let list_tag = self.send_ahead(&Command::text(&command), &doing)?;
        match namespace_tag {
            Some(tag) => {
                let namespaces = self.namespace_answer(&tag)?;
                self.learn_namespace(namespaces);
            }
            None => self.settle_namespace()?,
        }
        let answer = self.answer_ahead(&list_tag, &doing)?;
        let listed = parse_list(answer.untagged_bytes())?;
        drop(answer);
        if self.delimiter.is_none() {
            if let Some(first) = listed.first() {
                self.learn_delimiter(first.delimiter);
            }
        }
        self.listed_versions.clear();
        let mut entries = Vec::new();
        for entry in listed {
            if !entry.selectable {
                continue;
            }
            match self.canonical_name(&entry.raw_name, entry.delimiter) {
                Ok((name, is_outside)) => entries.push((name, is_outside, entry)),
                Err(e) => self
                    .warnings
                    .push(format!("{}: skipping folder: {e:#}", self.host)),
            }
        }
        let personal: HashSet<String> = entries
            .iter()
            .filter(|(_, is_outside, _)| !is_outside)
            .map(|(name, _, _)| name.clone())
            .collect();
        let mut outside = HashSet::new();
        let mut folders = Vec::new();
        for (name, is_outside, entry) in entries {
            if is_outside {
                // Cyrus' shared folders sit at the top, beside INBOX: one
                // may have the name a personal folder has here.
                if personal.contains(&name) {
                    self.warnings.push(format!(
                        "{}: skipping folder {:?}: it lies outside the personal namespace and \
                         has the name of a personal folder",
                        self.host, entry.raw_name
                    ));
                    continue;
                }
                outside.insert(name.clone());
            }
            if let Some(version) = entry.version {
                self.listed_versions.insert(name.clone(), version);
            }
            folders.push(FolderInfo::only_if_named(
                name,
                entry.special_use.map(str::to_string),
                is_outside,
            ));
        }
        self.outside.clone_from(&outside);
        self.share_facts(|facts| facts.outside = outside);
        folders.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(folders)
    }
}

/// The LIST command of a folder listing: with each folder's status in
/// the same answer (`with_status`, LIST-STATUS) and, with it, the
/// special-use attributes, which a server gives with RETURN options only
/// when they are asked for too (RFC 6154).
pub(super) fn list_command(with_status: bool, special_use: bool) -> String {
    if !with_status {
        return r#"LIST "" "*""#.to_string();
    }
    let special_use = if special_use { "SPECIAL-USE " } else { "" };
    format!(
        r#"LIST "" "*" RETURN ({special_use}STATUS (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ))"#
    )
}

/// Reads the LIST (and STATUS) responses of a folder listing, in the
/// order given. Other untagged data is ignored; bytes that do not parse
/// are an error.
pub fn parse_list(lines: &[u8]) -> Result<Vec<Listed>> {
    let mut listed: Vec<Listed> = Vec::new();
    let mut statuses: HashMap<String, Option<String>> = HashMap::new();
    for response in protocol::responses(lines, "folder list") {
        match response? {
            Response::Untagged(Data::List(list)) => listed.push(Listed {
                raw_name: String::from_utf8_lossy(&list.name).into_owned(),
                delimiter: list.delimiter,
                selectable: !list.attributes.iter().any(|a| {
                    a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
                }),
                special_use: list.attributes.iter().find_map(|a| special_use(a)),
                version: None,
            }),
            Response::Untagged(Data::MailboxStatus(status)) => {
                let name = String::from_utf8_lossy(&status.name).into_owned();
                statuses.insert(name, version_of(&status.items));
            }
            _ => {}
        }
    }
    for entry in &mut listed {
        if let Some(version) = statuses.get(&entry.raw_name) {
            entry.version.clone_from(version);
        }
    }
    Ok(listed)
}

/// The special use (RFC 6154) a LIST attribute names, in its usual case.
fn special_use(attribute: &str) -> Option<&'static str> {
    [
        "\\All",
        "\\Archive",
        "\\Drafts",
        "\\Flagged",
        "\\Junk",
        "\\Sent",
        "\\Trash",
    ]
    .into_iter()
    .find(|name| name.eq_ignore_ascii_case(attribute))
}

fn version_of(status: &[(&str, u64)]) -> Option<String> {
    let item = |name: &str| {
        status
            .iter()
            .find(|(item, _)| item.eq_ignore_ascii_case(name))
            .map(|&(_, value)| value)
    };
    let narrow = |value: Option<u64>| value.and_then(|v| u32::try_from(v).ok());
    protocol::folder_version(
        narrow(item("UIDVALIDITY")),
        narrow(item("UIDNEXT")),
        narrow(item("MESSAGES")),
        item("HIGHESTMODSEQ"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_come_with_their_status_and_attributes() {
        let answer = b"* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
            * STATUS INBOX (MESSAGES 3 UIDNEXT 7 UIDVALIDITY 1700 HIGHESTMODSEQ 12)\r\n\
            * LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Mail\"\r\n\
            * STATUS \"Sent Mail\" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 1701 HIGHESTMODSEQ 1)\r\n\
            * LIST (\\Noselect \\HasChildren) \"/\" Archive\r\n\
            * LIST (\\HasNoChildren) \"/\" \"Quote\\\"d\"\r\n\
            a3 OK List completed\r\n";
        let listed = parse_list(answer).unwrap();
        assert_eq!(listed.len(), 4);
        assert_eq!(listed[0].raw_name, "INBOX");
        assert_eq!(listed[0].delimiter, Some('/'));
        assert_eq!(listed[0].version.as_deref(), Some("1700.7.3.12"));
        assert_eq!(listed[1].raw_name, "Sent Mail");
        assert_eq!(listed[1].special_use, Some("\\Sent"));
        assert_eq!(listed[1].version.as_deref(), Some("1701.1.0.1"));
        assert!(!listed[2].selectable, "\\Noselect");
        assert_eq!(listed[3].raw_name, "Quote\"d");
        assert_eq!(listed[3].version, None, "no STATUS came with it");
    }

    #[test]
    fn a_status_without_highestmodseq_gives_no_version() {
        let answer = b"* LIST () \"/\" INBOX\r\n\
            * STATUS INBOX (MESSAGES 3 UIDNEXT 7 UIDVALIDITY 1700)\r\n\
            a3 OK done\r\n";
        assert_eq!(parse_list(answer).unwrap()[0].version, None);
    }

    #[test]
    fn a_flat_server_has_no_delimiter() {
        let listed = parse_list(b"* LIST () NIL INBOX\r\na1 OK done\r\n").unwrap();
        assert_eq!(listed[0].delimiter, None);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_list(b"* LIST (((\r\na1 OK\r\n").is_err());
    }
}
