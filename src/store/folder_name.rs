//! Folder names: validation and mapping to Maildir paths.
//!
//! Folder names come from servers and are data, not paths: a name is
//! checked here before it ever becomes a directory, so that no name can
//! reach outside the Maildir root or collide with Maildir's own `cur/`,
//! `new/` and `tmp/`. Canonical names are UTF-8, with `/` between levels and
//! `INBOX` for the inbox.

use crate::config::Layout;
use std::fmt;
use std::path::PathBuf;

/// The canonical name of the inbox.
pub const INBOX: &str = "INBOX";

/// Why a folder name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Empty,
    Absolute,
    EmptyComponent,
    DotComponent,
    DotDotComponent,
    ControlCharacter,
    Backslash,
    /// A component named `cur`, `new` or `tmp`.
    MaildirSubdirectory,
    /// Maildir++ and flatten only: a component containing a dot, the
    /// separator of those layouts.
    DotInComponent,
    /// A component starting with a dot: Maildir++ would read it as a
    /// separator, and the Verbatim listing skips hidden directories, so the
    /// folder would vanish from the next listing.
    LeadingDot,
    /// Not the INBOX, yet its directory is the one the store's `inbox:`
    /// names: two folders would share one maildir.
    InboxDirectory,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Problem::Empty => "it is empty",
            Problem::Absolute => "it starts with \"/\", which would make it an absolute path",
            Problem::EmptyComponent => "it has an empty component (\"//\" or a trailing \"/\")",
            Problem::DotComponent => "it has a \".\" component",
            Problem::DotDotComponent => {
                "it has a \"..\" component, which would leave the Maildir root"
            }
            Problem::ControlCharacter => "it contains a control character",
            Problem::Backslash => "it contains a backslash",
            Problem::MaildirSubdirectory => {
                "it has a component named \"cur\", \"new\" or \"tmp\", which Maildir reserves"
            }
            Problem::DotInComponent => {
                "a component contains \".\", which the Maildir++ and flatten layouts use \
                 between levels"
            }
            Problem::LeadingDot => {
                "a component starts with \".\", which would hide it from folder listings"
            }
            Problem::InboxDirectory => {
                "its directory is the store's inbox directory, which holds the INBOX"
            }
        })
    }
}

/// A folder name that cannot safely become a Maildir directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderNameError {
    pub name: String,
    pub problem: Problem,
}

impl fmt::Display for FolderNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug formatting quotes the name and escapes control characters,
        // so a hostile name cannot garble the terminal.
        write!(f, "refusing folder name {:?}: {}", self.name, self.problem)
    }
}

impl std::error::Error for FolderNameError {}

/// Checks that a canonical folder name is safe to turn into a path, in any
/// layout.
pub fn validate(name: &str) -> Result<(), FolderNameError> {
    let refuse = |problem| {
        Err(FolderNameError {
            name: name.to_owned(),
            problem,
        })
    };
    if name.is_empty() {
        return refuse(Problem::Empty);
    }
    if name.chars().any(|c| c < ' ' || c == '\x7f') {
        return refuse(Problem::ControlCharacter);
    }
    if name.contains('\\') {
        return refuse(Problem::Backslash);
    }
    if name.starts_with('/') {
        return refuse(Problem::Absolute);
    }
    for component in name.split('/') {
        match component {
            "" => return refuse(Problem::EmptyComponent),
            "." => return refuse(Problem::DotComponent),
            ".." => return refuse(Problem::DotDotComponent),
            "cur" | "new" | "tmp" => return refuse(Problem::MaildirSubdirectory),
            _ => {}
        }
    }
    Ok(())
}

/// The folder's directory relative to the Maildir root. In Maildir++ the
/// inbox is the root itself, so its path is empty.
pub fn relative_path(name: &str, layout: Layout) -> Result<PathBuf, FolderNameError> {
    validate(name)?;
    let refuse = |problem| {
        Err(FolderNameError {
            name: name.to_owned(),
            problem,
        })
    };
    if name.split('/').any(|component| component.starts_with('.')) {
        return refuse(Problem::LeadingDot);
    }
    let dotted = || {
        if name.split('/').any(|component| component.contains('.')) {
            return Err(FolderNameError {
                name: name.to_owned(),
                problem: Problem::DotInComponent,
            });
        }
        Ok(name.replace('/', "."))
    };
    match layout {
        Layout::Verbatim => Ok(PathBuf::from(name)),
        Layout::MaildirPlusPlus => {
            if name == INBOX {
                return Ok(PathBuf::new());
            }
            Ok(PathBuf::from(format!(".{}", dotted()?)))
        }
        Layout::Flatten => Ok(PathBuf::from(dotted()?)),
    }
}

/// The canonical name of a Maildir++ folder directory (`.Work.Projects` ->
/// `Work/Projects`), or `None` when the directory name is not a folder name
/// that [`relative_path`] could have produced.
pub fn from_maildirpp_dir(dir_name: &str) -> Option<String> {
    let dotted = dir_name.strip_prefix('.')?;
    let name = dotted.replace('.', "/");
    // `.INBOX` would be a second inbox beside the root; `INBOX/Sub` is fine.
    if name == INBOX {
        return None;
    }
    match relative_path(&name, Layout::MaildirPlusPlus) {
        Ok(path) if path.as_os_str() == dir_name => Some(name),
        _ => None,
    }
}

/// The canonical name of a flatten folder directory (`Work.Projects` ->
/// `Work/Projects`), or `None` when the directory name is not a folder name
/// that [`relative_path`] could have produced.
pub fn from_flatten_dir(dir_name: &str) -> Option<String> {
    let name = dir_name.replace('.', "/");
    match relative_path(&name, Layout::Flatten) {
        Ok(path) if path.as_os_str() == dir_name => Some(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem_of(name: &str) -> Problem {
        validate(name).unwrap_err().problem
    }

    #[test]
    fn ordinary_names_are_accepted() {
        for name in [
            "INBOX",
            "Work/Projects",
            "Ünïcode ✉",
            "a b/c-d_e",
            "INBOX/Sub",
        ] {
            assert_eq!(validate(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn each_unsafe_name_is_refused_for_its_reason() {
        let cases = [
            ("", Problem::Empty),
            ("/etc", Problem::Absolute),
            ("a//b", Problem::EmptyComponent),
            ("a/", Problem::EmptyComponent),
            ("./a", Problem::DotComponent),
            ("a/.", Problem::DotComponent),
            ("..", Problem::DotDotComponent),
            ("../etc", Problem::DotDotComponent),
            ("a/../../b", Problem::DotDotComponent),
            ("a\0b", Problem::ControlCharacter),
            ("a\nb", Problem::ControlCharacter),
            ("a\x1bb", Problem::ControlCharacter),
            ("a\x7fb", Problem::ControlCharacter),
            ("cur", Problem::MaildirSubdirectory),
            ("a/new", Problem::MaildirSubdirectory),
            ("tmp/b", Problem::MaildirSubdirectory),
            ("a\\b", Problem::Backslash),
            ("..\\..\\etc", Problem::Backslash),
        ];
        for (name, problem) in cases {
            assert_eq!(problem_of(name), problem, "{name:?}");
        }
    }

    #[test]
    fn the_message_names_the_folder_and_the_reason() {
        assert_eq!(
            validate("../etc").unwrap_err().to_string(),
            "refusing folder name \"../etc\": it has a \"..\" component, \
             which would leave the Maildir root"
        );
    }

    #[test]
    fn verbatim_paths_are_the_name_itself() {
        assert_eq!(
            relative_path("INBOX", Layout::Verbatim),
            Ok(PathBuf::from("INBOX"))
        );
        assert_eq!(
            relative_path("Work/Projects", Layout::Verbatim),
            Ok(PathBuf::from("Work/Projects"))
        );
    }

    #[test]
    fn maildirpp_paths_are_dotted_and_inbox_is_the_root() {
        let layout = Layout::MaildirPlusPlus;
        assert_eq!(relative_path("INBOX", layout), Ok(PathBuf::new()));
        assert_eq!(
            relative_path("Work/Projects", layout),
            Ok(PathBuf::from(".Work.Projects"))
        );
    }

    #[test]
    fn maildirpp_refuses_dots_inside_components() {
        let error = relative_path("v1.2/notes", Layout::MaildirPlusPlus).unwrap_err();
        assert_eq!(error.problem, Problem::DotInComponent);
        // The same name is a plain directory name in the Verbatim layout.
        assert!(relative_path("v1.2/notes", Layout::Verbatim).is_ok());
    }

    #[test]
    fn leading_dots_are_refused_in_both_layouts() {
        for layout in [Layout::Verbatim, Layout::MaildirPlusPlus, Layout::Flatten] {
            let error = relative_path("a/.hidden", layout).unwrap_err();
            assert_eq!(error.problem, Problem::LeadingDot);
        }
    }

    #[test]
    fn relative_path_validates_first() {
        let error = relative_path("../etc", Layout::MaildirPlusPlus).unwrap_err();
        assert_eq!(error.problem, Problem::DotDotComponent);
    }

    #[test]
    fn maildirpp_names_round_trip() {
        for name in ["Work", "Work/Projects", "INBOX/Sub", "Ünïcode ✉/x y"] {
            let path = relative_path(name, Layout::MaildirPlusPlus).unwrap();
            let dir_name = path.to_str().unwrap();
            assert_eq!(from_maildirpp_dir(dir_name).as_deref(), Some(name));
        }
    }

    #[test]
    fn flatten_paths_are_dotted_without_a_leading_dot() {
        let layout = Layout::Flatten;
        assert_eq!(relative_path("INBOX", layout), Ok(PathBuf::from("INBOX")));
        assert_eq!(
            relative_path("Work/Projects", layout),
            Ok(PathBuf::from("Work.Projects"))
        );
        let error = relative_path("v1.2/notes", layout).unwrap_err();
        assert_eq!(error.problem, Problem::DotInComponent);
        let error = relative_path("../etc", layout).unwrap_err();
        assert_eq!(error.problem, Problem::DotDotComponent);
    }

    #[test]
    fn flatten_names_round_trip() {
        for name in [
            "INBOX",
            "Work",
            "Work/Projects",
            "INBOX/Sub",
            "Ünïcode ✉/x y",
        ] {
            let path = relative_path(name, Layout::Flatten).unwrap();
            let dir_name = path.to_str().unwrap();
            assert_eq!(from_flatten_dir(dir_name).as_deref(), Some(name));
        }
    }

    #[test]
    fn flatten_directories_that_are_not_folders_map_to_none() {
        // `..` would become the name `/`, `.notmuch` a hidden directory,
        // `a..b` an empty level: none of them is a folder.
        for dir_name in [
            "", ".", "..", ".notmuch", "Work.", "a..b", "cur", "a.tmp", "a\\b", "a\nb",
        ] {
            assert_eq!(from_flatten_dir(dir_name), None, "{dir_name:?}");
        }
    }

    #[test]
    fn maildirpp_directories_that_are_not_folders_map_to_none() {
        for dir_name in [
            "Work", "", ".", "..", "..Work", ".Work.", ".a..b", ".INBOX", ".cur", ".a.tmp",
            ".a\\b", ".a\nb",
        ] {
            assert_eq!(from_maildirpp_dir(dir_name), None, "{dir_name:?}");
        }
    }
}
