//! Reading an mbsync (isync) configuration file into its sections, with the
//! file's own rules: keywords are case-insensitive; arguments are separated
//! by blanks; a double quote starts or ends a quoted stretch (so an argument
//! may hold blanks), a backslash takes the next character literally; a token
//! starting with `#` starts a comment that runs to the end of the line; an
//! empty line ends a section, a comment line does not.
//!
//! This module only splits the file up and checks its shape (the section
//! keywords, a value after every keyword, a section name). What each keyword
//! means is [`super::translate`]'s business. Every error names the file and
//! the line, as mbsync's own messages do.

use crate::error::ConfigError;
use std::path::{Path, PathBuf};

/// One `Keyword arg...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// 1-based line number in the file.
    pub line: usize,
    /// As written (keywords compare case-insensitively: see [`Setting::is`]).
    pub keyword: String,
    /// At least one: a keyword without a value is an error.
    pub args: Vec<String>,
}

impl Setting {
    pub fn is(&self, keyword: &str) -> bool {
        self.keyword.eq_ignore_ascii_case(keyword)
    }

    /// The first argument, which is the whole value of most keywords.
    pub fn value(&self) -> &str {
        &self.args[0]
    }
}

/// The kinds of section an mbsync configuration has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    ImapAccount,
    ImapStore,
    MaildirStore,
    Channel,
    Group,
}

impl SectionKind {
    fn from_keyword(keyword: &str) -> Option<SectionKind> {
        [
            ("IMAPAccount", SectionKind::ImapAccount),
            ("IMAPStore", SectionKind::ImapStore),
            ("MaildirStore", SectionKind::MaildirStore),
            ("Channel", SectionKind::Channel),
            ("Group", SectionKind::Group),
        ]
        .into_iter()
        .find(|(word, _)| keyword.eq_ignore_ascii_case(word))
        .map(|(_, kind)| kind)
    }

    /// The keyword that opens such a section, as mbsync's manual spells it.
    pub fn keyword(self) -> &'static str {
        match self {
            SectionKind::ImapAccount => "IMAPAccount",
            SectionKind::ImapStore => "IMAPStore",
            SectionKind::MaildirStore => "MaildirStore",
            SectionKind::Channel => "Channel",
            SectionKind::Group => "Group",
        }
    }
}

/// A section: its opening line and the settings up to the next empty line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub kind: SectionKind,
    pub name: String,
    pub line: usize,
    /// Arguments after the name on the opening line (a Group's channels).
    pub extra_args: Vec<String>,
    pub settings: Vec<Setting>,
}

/// A whole file: options outside any section (they must come first), then
/// the sections in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MbsyncRc {
    pub file: PathBuf,
    pub globals: Vec<Setting>,
    pub sections: Vec<Section>,
}

/// The error for a configuration that cannot be read at all.
fn unreadable(file: &Path, err: std::io::Error) -> ConfigError {
    ConfigError {
        file: file.to_owned(),
        line: None,
        key: None,
        message: format!("cannot read the mbsync configuration: {err}"),
    }
}

impl MbsyncRc {
    /// Reads and splits a file.
    pub fn read(file: &Path) -> Result<MbsyncRc, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|err| unreadable(file, err))?;
        MbsyncRc::parse(&text, file)
    }

    /// Reads and splits the configuration piped in on standard input;
    /// messages call it `<stdin>`.
    pub fn read_stdin() -> Result<MbsyncRc, ConfigError> {
        let name = Path::new("<stdin>");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|err| unreadable(name, err))?;
        MbsyncRc::parse(&text, name)
    }

    /// Splits configuration text; `file` is used in messages.
    pub fn parse(text: &str, file: &Path) -> Result<MbsyncRc, ConfigError> {
        let error = |line: usize, message: String| ConfigError {
            file: file.to_owned(),
            line: Some(line),
            key: None,
            message,
        };
        let mut rc = MbsyncRc {
            file: file.to_owned(),
            globals: Vec::new(),
            sections: Vec::new(),
        };
        // The section that is open, if any: an empty line closes it.
        let mut open: Option<Section> = None;
        for (index, raw_line) in text.lines().enumerate() {
            let line = index + 1;
            let tokens = match tokenize(raw_line) {
                Ok(Line::Empty) => {
                    rc.sections.extend(open.take());
                    continue;
                }
                Ok(Line::Comment) => continue,
                Ok(Line::Tokens(tokens)) => tokens,
                Err(message) => return Err(error(line, message)),
            };
            let Some((keyword, args)) = tokens.split_first() else {
                continue;
            };
            if args.is_empty() {
                return Err(error(line, format!("{keyword} needs a value")));
            }
            let setting = Setting {
                line,
                keyword: keyword.clone(),
                args: args.to_vec(),
            };
            match (&mut open, SectionKind::from_keyword(keyword)) {
                // A Group may hold `Channel` lines, which are not a new section.
                (Some(section), _) if section.kind == SectionKind::Group && setting.is("Channel") => {
                    section.settings.push(setting)
                }
                (Some(section), None) => section.settings.push(setting),
                (Some(section), Some(_)) => {
                    return Err(error(
                        line,
                        format!(
                            "{keyword} starts a new section, but the {} section of line {} is still open; \
                             put an empty line between sections",
                            section.kind.keyword(),
                            section.line
                        ),
                    ))
                }
                (None, Some(kind)) => {
                    open = Some(Section {
                        kind,
                        name: args[0].clone(),
                        line,
                        extra_args: args[1..].to_vec(),
                        settings: Vec::new(),
                    });
                }
                (None, None) if !GLOBAL_KEYWORDS.iter().any(|word| setting.is(word)) => {
                    return Err(error(
                        line,
                        format!(
                            "{keyword:?} is not a section keyword (IMAPAccount, IMAPStore, \
                             MaildirStore, Channel, Group) nor a global option"
                        ),
                    ))
                }
                (None, None) if !rc.sections.is_empty() => {
                    return Err(error(
                        line,
                        format!("global option {keyword} after the first section; mbsync takes global options only before all sections"),
                    ))
                }
                (None, None) => rc.globals.push(setting),
            }
        }
        rc.sections.extend(open);
        Ok(rc)
    }
}

/// Keywords mbsync accepts outside any section.
const GLOBAL_KEYWORDS: &[&str] = &[
    "Sync",
    "Create",
    "Remove",
    "Expunge",
    "MaxMessages",
    "ExpireUnread",
    "CopyArrivalDate",
    "SyncState",
    "FSync",
    "FieldDelimiter",
    "BufferLimit",
];

/// What one line of the file holds.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// Nothing but blanks: ends a section.
    Empty,
    /// Only a comment: ignored, does not end a section.
    Comment,
    /// At least one token.
    Tokens(Vec<String>),
}

/// Splits a line into tokens by mbsync's quoting rules.
fn tokenize(line: &str) -> Result<Line, String> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.peek() {
            None => break,
            // A comment starts only where a token would.
            Some('#') => {
                if tokens.is_empty() {
                    return Ok(Line::Comment);
                }
                break;
            }
            Some(_) => {}
        }
        let mut token = String::new();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(escaped) => token.push(escaped),
                    None => {
                        return Err("the line ends in a backslash (unterminated escape)".to_owned())
                    }
                },
                '"' => quoted = !quoted,
                c if c.is_whitespace() && !quoted => break,
                c => token.push(c),
            }
        }
        if quoted {
            return Err("missing closing double quote".to_owned());
        }
        tokens.push(token);
    }
    Ok(if tokens.is_empty() {
        Line::Empty
    } else {
        Line::Tokens(tokens)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(line: &str) -> Vec<String> {
        match tokenize(line).unwrap() {
            Line::Tokens(tokens) => tokens,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    fn parse(text: &str) -> Result<MbsyncRc, ConfigError> {
        MbsyncRc::parse(text, Path::new("/home/a/.mbsyncrc"))
    }

    #[test]
    fn blanks_separate_arguments_and_quotes_keep_them_together() {
        assert_eq!(
            tokens("Host   imap.example.com"),
            ["Host", "imap.example.com"]
        );
        assert_eq!(
            tokens(r#"PassCmd "pass show mail/work""#),
            ["PassCmd", "pass show mail/work"]
        );
        assert_eq!(tokens("\tPatterns * !Junk"), ["Patterns", "*", "!Junk"]);
    }

    #[test]
    fn quotes_may_cover_part_of_a_token() {
        assert_eq!(
            tokens(r#"Path ~/"My Mail"/work/"#),
            ["Path", "~/My Mail/work/"]
        );
        assert_eq!(tokens(r#"Pass """#), ["Pass", ""]);
    }

    #[test]
    fn backslash_takes_the_next_character_literally() {
        assert_eq!(
            tokens(r#"PassCmd "echo \"a b\" \\ c""#),
            ["PassCmd", r#"echo "a b" \ c"#]
        );
        assert_eq!(tokens(r"Pass a\ b"), ["Pass", "a b"]);
    }

    #[test]
    fn hash_starts_a_comment_only_at_a_token_start() {
        assert_eq!(tokenize("# a comment").unwrap(), Line::Comment);
        assert_eq!(tokenize("   # indented").unwrap(), Line::Comment);
        assert_eq!(tokens("Pass abc#def # trailing"), ["Pass", "abc#def"]);
        assert_eq!(
            tokens(r##"Pass "# not a comment""##),
            ["Pass", "# not a comment"]
        );
    }

    #[test]
    fn blank_lines_are_empty() {
        assert_eq!(tokenize("").unwrap(), Line::Empty);
        assert_eq!(tokenize(" \t ").unwrap(), Line::Empty);
    }

    #[test]
    fn unterminated_quotes_and_escapes_are_errors() {
        assert!(tokenize(r#"Pass "abc"#).unwrap_err().contains("quote"));
        assert!(tokenize(r"Pass abc\").unwrap_err().contains("backslash"));
    }

    #[test]
    fn sections_end_at_empty_lines_not_at_comments() {
        let rc = parse(
            "Create Both\n\nIMAPAccount work\nHost h\n# comment\nUser u\n\nimapstore work-remote\naccount work\n",
        )
        .unwrap();
        assert_eq!(rc.globals.len(), 1);
        assert_eq!(rc.sections.len(), 2);
        assert_eq!(rc.sections[0].kind, SectionKind::ImapAccount);
        assert_eq!(rc.sections[0].settings.len(), 2);
        assert_eq!(rc.sections[0].settings[1].line, 6);
        assert_eq!(rc.sections[1].kind, SectionKind::ImapStore);
        assert!(rc.sections[1].settings[0].is("Account"));
    }

    #[test]
    fn group_keeps_channels_from_its_line_and_from_channel_lines() {
        let rc = parse("Group all a b\nChannel c\nChannels d e\n").unwrap();
        let group = &rc.sections[0];
        assert_eq!(group.kind, SectionKind::Group);
        assert_eq!(group.name, "all");
        assert_eq!(group.extra_args, ["a", "b"]);
        assert_eq!(group.settings.len(), 2);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let err = parse("IMAPAccount a\nHost\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert_eq!(err.to_string(), "/home/a/.mbsyncrc:2: Host needs a value");

        let err = parse("IMAPAccount a\nHost h\nIMAPStore s\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("empty line"), "{err}");

        let err = parse("Frobnicate yes\n").unwrap_err();
        assert!(err.message.contains("not a section keyword"), "{err}");

        let err = parse("Channel c\nFar :a:\n\nExpunge Both\n").unwrap_err();
        assert_eq!(err.line, Some(4));
        assert!(err.message.contains("before all sections"), "{err}");

        let err = parse("IMAPAccount a\nPass \"x\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/home/a/.mbsyncrc:2: missing closing double quote"
        );
    }
}
