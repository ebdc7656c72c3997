//! Where a Maildir store keeps each folder: the root, the layout and the
//! `inbox:` path together map folder names to directories and list the
//! folders a tree holds.
//!
//! The INBOX may live apart from the layout's place for it (mbsync's
//! `Inbox`): inside the root under any name (`~/Mail/x/INBOX`,
//! `~/Mail/x/inbox`), the root itself, or elsewhere. That directory is the
//! INBOX and nothing else: a listing never reports it as a second folder,
//! and no other name may map to it.

use super::is_maildir;
use crate::config::{Layout, LineEndings, MaildirConfig};
use crate::store::error::LocalIo;
use crate::store::folder_name::{self, FolderNameError, Problem, INBOX};
use anyhow::Result;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A Maildir tree: its root, its layout and, if configured, its INBOX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirTree {
    root: PathBuf,
    layout: Layout,
    inbox: Option<PathBuf>,
    line_endings: LineEndings,
}

/// A folder's directory as `base` joined with `relative`: every level of
/// `relative` is inside the tree and is checked for symbolic links before
/// a write; `base` (the root, or the configured inbox) is the user's choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderDir {
    pub base: PathBuf,
    pub relative: PathBuf,
}

impl FolderDir {
    pub fn path(&self) -> PathBuf {
        self.base.join(&self.relative)
    }
}

impl MaildirTree {
    /// A tree whose INBOX is where the layout puts it.
    pub fn new(root: PathBuf, layout: Layout) -> MaildirTree {
        MaildirTree {
            root,
            layout,
            inbox: None,
            line_endings: LineEndings::default(),
        }
    }

    pub fn of(config: &MaildirConfig) -> MaildirTree {
        MaildirTree {
            root: config.path.clone(),
            layout: config.layout,
            inbox: config.inbox.clone(),
            line_endings: config.line_endings,
        }
    }

    /// The same tree with its INBOX at `inbox` (None: where the layout
    /// puts it).
    pub fn with_inbox(mut self, inbox: Option<PathBuf>) -> MaildirTree {
        self.inbox = inbox;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// How the message files written end their lines.
    pub fn line_endings(&self) -> LineEndings {
        self.line_endings
    }

    /// The same tree writing message files with these line ends.
    pub fn with_line_endings(mut self, line_endings: LineEndings) -> MaildirTree {
        self.line_endings = line_endings;
        self
    }

    /// Where folder `name` lives. Refuses names that could leave the root
    /// (see [`folder_name::relative_path`]) and, when an `inbox:` is
    /// configured, any other name whose directory would be the inbox's.
    pub fn locate(&self, name: &str) -> Result<FolderDir, FolderNameError> {
        if let (INBOX, Some(inbox)) = (name, &self.inbox) {
            return Ok(FolderDir {
                base: inbox.clone(),
                relative: PathBuf::new(),
            });
        }
        let relative = folder_name::relative_path(name, self.layout)?;
        if name != INBOX && self.is_inbox_dir(&self.root.join(&relative)) {
            return Err(FolderNameError {
                name: name.to_owned(),
                problem: Problem::InboxDirectory,
            });
        }
        Ok(FolderDir {
            base: self.root.clone(),
            relative,
        })
    }

    /// The directory of folder `name`.
    pub fn folder_dir(&self, name: &str) -> Result<PathBuf, FolderNameError> {
        self.locate(name).map(|dir| dir.path())
    }

    /// Whether `dir` is the configured inbox directory.
    fn is_inbox_dir(&self, dir: &Path) -> bool {
        self.inbox
            .as_deref()
            .is_some_and(|inbox| same_directory(inbox, dir))
    }

    /// The names of the folders the tree holds, sorted. Directories that
    /// cannot be folders of this layout are reported in `warnings` and
    /// skipped, never renamed or removed.
    pub fn folder_names(&self, warnings: &mut Vec<String>) -> Result<Vec<String>> {
        let mut names = Vec::new();
        match fs::metadata(&self.root) {
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error)
                    .local_io(|| format!("cannot read Maildir root {}", self.root.display()))
            }
            Ok(_) => self.list_root(&mut names, warnings)?,
        }
        if self.inbox.as_deref().is_some_and(is_maildir) {
            names.push(INBOX.to_owned());
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn list_root(&self, names: &mut Vec<String>, warnings: &mut Vec<String>) -> Result<()> {
        let root_is_inbox = self.layout == Layout::MaildirPlusPlus && self.inbox.is_none();
        if is_maildir(&self.root) && !root_is_inbox && !self.is_inbox_dir(&self.root) {
            let other_layout = match self.layout {
                Layout::Verbatim => "layout: maildir++, or ",
                _ => "",
            };
            warnings.push(format!(
                "{} is itself a maildir, but the {} layout keeps the inbox elsewhere; its \
                 messages are not synced (did you mean {other_layout}inbox: {}?)",
                self.root.display(),
                layout_name(self.layout),
                self.root.display()
            ));
        }
        if root_is_inbox && is_maildir(&self.root) {
            names.push(INBOX.to_owned());
        }
        match self.layout {
            Layout::Verbatim => self.list_verbatim(&self.root, "", names, warnings),
            Layout::MaildirPlusPlus | Layout::Flatten => self.list_dotted(names, warnings),
        }
    }

    /// Keeps `name` unless the INBOX lives elsewhere: then a directory the
    /// layout would call INBOX is not it, and is left alone.
    fn push_folder(
        &self,
        name: String,
        path: &Path,
        names: &mut Vec<String>,
        warnings: &mut Vec<String>,
    ) {
        if name == INBOX && self.inbox.is_some() {
            warnings.push(format!(
                "skipping {}: the INBOX of this store is {}",
                path.display(),
                self.inbox.as_deref().unwrap_or(&self.root).display()
            ));
        } else {
            names.push(name);
        }
    }

    fn list_verbatim(
        &self,
        dir: &Path,
        prefix: &str,
        names: &mut Vec<String>,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        let entries = fs::read_dir(dir)
            .local_io(|| format!("cannot list the folders in {}", dir.display()))?;
        for entry in entries {
            let entry = entry.local_io(|| format!("cannot list {}", dir.display()))?;
            let path = entry.path();
            // file_type() does not follow symlinks: linked folders are skipped.
            let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
            let os_name = entry.file_name();
            if !is_dir || os_name.as_bytes().starts_with(b".") {
                continue;
            }
            let Some(component) = os_name.to_str() else {
                warnings.push(format!(
                    "skipping {}: its name is not UTF-8",
                    path.display()
                ));
                continue;
            };
            if ["cur", "new", "tmp"].contains(&component) {
                continue;
            }
            let name = if prefix.is_empty() {
                component.to_owned()
            } else {
                format!("{prefix}/{component}")
            };
            if let Err(error) = folder_name::validate(&name) {
                warnings.push(format!("skipping {}: {error}", path.display()));
                continue;
            }
            // The inbox directory is the INBOX, not a folder of its own
            // name; folders below it keep their names.
            if is_maildir(&path) && !self.is_inbox_dir(&path) {
                self.push_folder(name.clone(), &path, names, warnings);
            }
            self.list_verbatim(&path, &name, names, warnings)?;
        }
        Ok(())
    }

    /// Maildir++ (`.Work.Projects`) and flatten (`Work.Projects`): every
    /// folder is a directory at the root.
    fn list_dotted(&self, names: &mut Vec<String>, warnings: &mut Vec<String>) -> Result<()> {
        let entries = fs::read_dir(&self.root)
            .local_io(|| format!("cannot list the folders in {}", self.root.display()))?;
        let plus_plus = self.layout == Layout::MaildirPlusPlus;
        for entry in entries {
            let entry = entry.local_io(|| format!("cannot list {}", self.root.display()))?;
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
            let hidden = entry.file_name().as_bytes().starts_with(b".");
            // Maildir++ folders are the dot directories that are maildirs,
            // flatten ones the others; `.notmuch` or `.git` are none of our
            // business in either.
            if !is_dir || hidden != plus_plus || !is_maildir(&path) || self.is_inbox_dir(&path) {
                continue;
            }
            let os_name = entry.file_name();
            let name = os_name.to_str().map(|dir_name| {
                if plus_plus {
                    folder_name::from_maildirpp_dir(dir_name)
                } else {
                    folder_name::from_flatten_dir(dir_name)
                }
            });
            match name {
                Some(Some(name)) => self.push_folder(name, &path, names, warnings),
                Some(None) => warnings.push(format!(
                    "skipping {}: its name is not a folder name mailferry can use safely",
                    path.display()
                )),
                None => warnings.push(format!(
                    "skipping {}: its name is not UTF-8",
                    path.display()
                )),
            }
        }
        Ok(())
    }
}

fn layout_name(layout: Layout) -> &'static str {
    match layout {
        Layout::Verbatim => "verbatim",
        Layout::MaildirPlusPlus => "maildir++",
        Layout::Flatten => "flatten",
    }
}

/// Whether two paths name one directory: written alike (`~/Mail/x/` and
/// `~/Mail/x`), or resolving to the same place (a root reached through a
/// symbolic link).
fn same_directory(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_maildir(dir: &Path) {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
    }

    fn names(tree: &MaildirTree) -> (Vec<String>, Vec<String>) {
        let mut warnings = Vec::new();
        let names = tree.folder_names(&mut warnings).unwrap();
        (names, warnings)
    }

    #[test]
    fn an_inbox_inside_the_root_is_the_inbox_and_no_other_folder() {
        for (layout, sent) in [
            (Layout::Verbatim, "Sent"),
            (Layout::Flatten, "Sent"),
            (Layout::MaildirPlusPlus, ".Sent"),
        ] {
            for inbox_dir in ["INBOX", "inbox", "Inbox"] {
                let temp = tempfile::tempdir().unwrap();
                let root = temp.path().join("x");
                make_maildir(&root.join(inbox_dir));
                make_maildir(&root.join(sent));
                // As mbsync writes it: `Path ~/Mail/x/`, `Inbox ~/Mail/x/INBOX`.
                let inbox = PathBuf::from(format!("{}/{inbox_dir}", root.display()));
                let tree = MaildirTree::new(PathBuf::from(format!("{}/", root.display())), layout)
                    .with_inbox(Some(inbox));
                let (names, warnings) = names(&tree);
                assert_eq!(names, ["INBOX", "Sent"], "{layout:?} {inbox_dir}");
                assert!(warnings.is_empty(), "{warnings:?}");
                assert_eq!(tree.folder_dir("INBOX").unwrap(), root.join(inbox_dir));
                assert_eq!(tree.folder_dir("Sent").unwrap(), root.join(sent));
            }
        }
    }

    #[test]
    fn no_other_name_maps_to_the_inbox_directory() {
        let tree = MaildirTree::new(PathBuf::from("/m/x"), Layout::Verbatim)
            .with_inbox(Some(PathBuf::from("/m/x/Inbox/")));
        let error = tree.locate("Inbox").unwrap_err();
        assert_eq!(error.problem, Problem::InboxDirectory);
        // Below it is another matter: a subfolder, as in mbsync.
        assert_eq!(
            tree.folder_dir("Inbox/Lists").unwrap(),
            PathBuf::from("/m/x/Inbox/Lists")
        );
    }

    #[test]
    fn an_inbox_equal_to_the_root_holds_the_inbox_and_the_folders_below_it() {
        for (layout, sub) in [
            (Layout::Verbatim, "Work/Projects"),
            (Layout::Flatten, "Work.Projects"),
        ] {
            let temp = tempfile::tempdir().unwrap();
            let root = temp.path().join("x");
            make_maildir(&root);
            make_maildir(&root.join(sub));
            let tree = MaildirTree::new(root.clone(), layout).with_inbox(Some(root.clone()));
            let (names, warnings) = names(&tree);
            // In the verbatim layout `Work` is only a level, no maildir.
            assert_eq!(names, ["INBOX", "Work/Projects"], "{layout:?}");
            assert!(warnings.is_empty(), "{warnings:?}");
            assert_eq!(tree.folder_dir("INBOX").unwrap(), root);
        }
    }

    #[test]
    fn an_inbox_outside_the_root_is_listed_and_an_inbox_directory_in_the_root_is_not() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("x");
        let inbox = temp.path().join("Maildir");
        make_maildir(&inbox);
        make_maildir(&root.join("INBOX"));
        make_maildir(&root.join("Lists"));
        let tree = MaildirTree::new(root.clone(), Layout::Verbatim).with_inbox(Some(inbox.clone()));
        let (names, warnings) = names(&tree);
        assert_eq!(names, ["INBOX", "Lists"]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("the INBOX of this store is"),
            "{warnings:?}"
        );
        assert_eq!(tree.folder_dir("INBOX").unwrap(), inbox);
        // The store's root may be missing while its inbox is there.
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(names_of(&tree), ["INBOX"]);
    }

    fn names_of(tree: &MaildirTree) -> Vec<String> {
        names(tree).0
    }

    #[test]
    fn flatten_lists_plain_directories_and_skips_hidden_ones() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().to_path_buf();
        for dir in ["INBOX", "Work", "Work.Projects", ".notmuch", "a..b"] {
            make_maildir(&root.join(dir));
        }
        fs::create_dir_all(root.join("not-a-maildir")).unwrap();
        let tree = MaildirTree::new(root, Layout::Flatten);
        let (names, warnings) = names(&tree);
        assert_eq!(names, ["INBOX", "Work", "Work/Projects"]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("a..b"), "{warnings:?}");
    }

    #[test]
    fn a_root_that_is_a_maildir_but_not_the_inbox_is_warned_about() {
        let temp = tempfile::tempdir().unwrap();
        make_maildir(temp.path());
        let tree = MaildirTree::new(temp.path().to_path_buf(), Layout::Flatten);
        let (names, warnings) = names(&tree);
        assert!(names.is_empty(), "{names:?}");
        assert!(warnings[0].contains("did you mean inbox:"), "{warnings:?}");
    }
}
