//! The list of accounts of `mailferry migrate --accounts FILE`: a CSV file
//! with a header line, or a YAML file with an `accounts:` sequence, each
//! account naming its source and target user and where their passwords are.
//!
//! Columns (CSV) or keys (YAML), every one but `source_user` optional:
//! `name` (what the account is called in the report, its shard and its
//! state; default the source user), `source_user`, `target_user` (default
//! the source user), and per side `source_password_env` /
//! `target_password_env` (the name of an environment variable holding the
//! password) or `source_password_command` / `target_password_command` (a
//! command printing it, where `{user}` stands for the user). A side with
//! neither uses the password of its template store, `{user}` replaced in a
//! `password_command` there too. Passwords themselves are never in the
//! file. `source_store` / `target_store` name another template store of the
//! configuration than the command line's for one account (a list mixing
//! POP3 and IMAP sources).
//!
//! Errors name the file, the line and the column or key.

use crate::config::key_path::KeyPath;
use crate::config::PasswordSource;
use crate::error::ConfigError;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// One account to migrate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Unique in the list: the report, the shard and the state go by it.
    pub name: String,
    pub source: Login,
    pub target: Login,
}

/// A user on one side, and where the password comes from (None: from the
/// template store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The template store, when not the command line's.
    pub store: Option<String>,
    pub user: String,
    pub password: Option<PasswordSource>,
}

/// The columns of the CSV header, the keys of a YAML account.
const FIELDS: [&str; 9] = [
    "name",
    "source_store",
    "target_store",
    "source_user",
    "target_user",
    "source_password_env",
    "target_password_env",
    "source_password_command",
    "target_password_command",
];

/// Reads and checks an account list; the format goes by the extension
/// (`.csv`, or `.yaml` / `.yml`).
pub fn load(path: &Path) -> Result<Vec<Account>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| ConfigError {
        file: path.to_owned(),
        line: None,
        key: None,
        message: format!("cannot read the account list: {err}"),
    })?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => parse_csv(&text, path),
        Some("yaml" | "yml") => parse_yaml(&text, path),
        _ => Err(ConfigError {
            file: path.to_owned(),
            line: None,
            key: None,
            message: "an account list is a .csv file (with a header line) or a .yaml / .yml file"
                .to_string(),
        }),
    }
}

/// An account as written, before its checks; `at` says where each field is.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: Option<String>,
    source_store: Option<String>,
    target_store: Option<String>,
    source_user: Option<String>,
    target_user: Option<String>,
    source_password_env: Option<String>,
    target_password_env: Option<String>,
    source_password_command: Option<String>,
    target_password_command: Option<String>,
}

impl RawAccount {
    fn set(&mut self, field: &str, value: String) {
        // Empty cells are absent values: CSV has no other way to say it.
        let value = Some(value).filter(|v| !v.trim().is_empty());
        match field {
            "name" => self.name = value,
            "source_store" => self.source_store = value,
            "target_store" => self.target_store = value,
            "source_user" => self.source_user = value,
            "target_user" => self.target_user = value,
            "source_password_env" => self.source_password_env = value,
            "target_password_env" => self.target_password_env = value,
            "source_password_command" => self.source_password_command = value,
            "target_password_command" => self.target_password_command = value,
            // The header is checked against FIELDS before any cell is set.
            _ => {}
        }
    }
}

/// Locates a field of one account in the file, for an error.
trait Locate {
    /// (line, key) of `field` of this account, or of the account itself.
    fn locate(&self, field: Option<&str>) -> (Option<usize>, Option<String>);
}

/// Checks an account and resolves its defaults.
fn check(raw: RawAccount, at: &dyn Locate, file: &Path) -> Result<Account, ConfigError> {
    let error = |field: Option<&str>, message: String| {
        let (line, key) = at.locate(field);
        ConfigError {
            file: file.to_owned(),
            line,
            key,
            message,
        }
    };
    let source_user = raw.source_user.ok_or_else(|| {
        error(
            Some("source_user"),
            "every account needs a source_user".to_string(),
        )
    })?;
    let target_user = raw.target_user.unwrap_or_else(|| source_user.clone());
    let name = raw.name.unwrap_or_else(|| source_user.clone());
    for (field, value) in [
        ("name", &name),
        ("source_user", &source_user),
        ("target_user", &target_user),
    ] {
        if value.chars().any(char::is_control) || value.trim() != value {
            return Err(error(
                Some(field),
                format!("{value:?} has a control character or surrounding spaces"),
            ));
        }
    }
    let password =
        |side: &str, env: Option<String>, command: Option<String>, user: &str| match (env, command)
        {
            (Some(_), Some(_)) => Err(error(
                Some(&format!("{side}_password_command")),
                format!("give {side}_password_env or {side}_password_command, not both"),
            )),
            (Some(variable), None) => Ok(Some(PasswordSource::Env(variable))),
            (None, Some(template)) => Ok(Some(PasswordSource::Command(with_user(&template, user)))),
            (None, None) => Ok(None),
        };
    Ok(Account {
        source: Login {
            store: raw.source_store,
            password: password(
                "source",
                raw.source_password_env,
                raw.source_password_command,
                &source_user,
            )?,
            user: source_user,
        },
        target: Login {
            store: raw.target_store,
            password: password(
                "target",
                raw.target_password_env,
                raw.target_password_command,
                &target_user,
            )?,
            user: target_user,
        },
        name,
    })
}

/// A password command template with `{user}` replaced by the user, quoted
/// for the shell so that no user name can add words or shell syntax to the
/// command (it is run as words, or through `sh -c`: the quoting holds for
/// both).
pub fn with_user(template: &str, user: &str) -> String {
    template.replace("{user}", &shell_words::quote(user))
}

/// Refuses a name used twice: the report, the shards and the state of two
/// accounts would be one.
fn check_unique(
    accounts: &[Account],
    locate: impl Fn(usize) -> (Option<usize>, Option<String>),
    file: &Path,
) -> Result<(), ConfigError> {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (index, account) in accounts.iter().enumerate() {
        if let Some(&earlier) = first.get(account.name.as_str()) {
            let (line, key) = locate(index);
            let (earlier_line, _) = locate(earlier);
            let earlier = earlier_line.map_or(String::new(), |l| format!(" (line {l})"));
            return Err(ConfigError {
                file: file.to_owned(),
                line,
                key,
                message: format!(
                    "the account {:?} is listed twice{earlier}; give one of them a name",
                    account.name
                ),
            });
        }
        first.insert(&account.name, index);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// CSV

/// One CSV record: its cells, the line each cell starts on and its column.
struct Record {
    cells: Vec<String>,
    /// (line, column), both 1-based.
    places: Vec<(usize, usize)>,
    line: usize,
}

struct CsvPlace<'a> {
    record: &'a Record,
    header: &'a [String],
}

impl Locate for CsvPlace<'_> {
    fn locate(&self, field: Option<&str>) -> (Option<usize>, Option<String>) {
        let column = field.and_then(|f| self.header.iter().position(|h| h == f));
        match column {
            Some(column) => (
                Some(
                    self.record
                        .places
                        .get(column)
                        .map_or(self.record.line, |p| p.0),
                ),
                Some(format!("column {} ({})", column + 1, self.header[column])),
            ),
            // Not a column of this file (a default was used): the line says
            // enough.
            None => (Some(self.record.line), None),
        }
    }
}

fn parse_csv(text: &str, file: &Path) -> Result<Vec<Account>, ConfigError> {
    let error = |line: usize, key: Option<String>, message: String| ConfigError {
        file: file.to_owned(),
        line: Some(line),
        key,
        message,
    };
    let records = csv_records(text).map_err(|(line, message)| error(line, None, message))?;
    let mut records = records.into_iter();
    let Some(header) = records.next() else {
        return Err(error(
            1,
            None,
            format!(
                "the file is empty; expected a header line naming some of: {}",
                FIELDS.join(", ")
            ),
        ));
    };
    for (column, name) in header.cells.iter().enumerate() {
        let key = Some(format!("column {}", column + 1));
        if !FIELDS.contains(&name.as_str()) {
            return Err(error(
                header.line,
                key,
                format!(
                    "unknown column {name:?}, expected one of {}",
                    FIELDS.join(", ")
                ),
            ));
        }
        if header.cells[..column].contains(name) {
            return Err(error(
                header.line,
                key,
                format!("the column {name:?} is named twice"),
            ));
        }
    }
    if !header.cells.iter().any(|c| c == "source_user") {
        return Err(error(
            header.line,
            None,
            "the header has no source_user column".to_string(),
        ));
    }
    let records: Vec<Record> = records.collect();
    let mut accounts = Vec::new();
    for record in &records {
        if record.cells.len() != header.cells.len() {
            return Err(error(
                record.line,
                None,
                format!(
                    "{} cell(s) where the header has {} column(s)",
                    record.cells.len(),
                    header.cells.len()
                ),
            ));
        }
        let mut raw = RawAccount::default();
        for (field, value) in header.cells.iter().zip(&record.cells) {
            raw.set(field, value.clone());
        }
        let place = CsvPlace {
            record,
            header: &header.cells,
        };
        accounts.push(check(raw, &place, file)?);
    }
    check_unique(
        &accounts,
        |index| {
            CsvPlace {
                record: &records[index],
                header: &header.cells,
            }
            .locate(Some("name"))
        },
        file,
    )?;
    Ok(accounts)
}

/// Splits CSV text into records (RFC 4180: `,` between cells, `"` around a
/// cell that holds `,`, `"` (doubled) or a line break; LF or CRLF between
/// records). Blank lines and lines starting with `#` are skipped. Errors:
/// (line, message).
fn csv_records(text: &str) -> Result<Vec<Record>, (usize, String)> {
    let mut records = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        // At the start of a line.
        match chars.peek() {
            Some('\n') => {
                chars.next();
                line += 1;
                continue;
            }
            Some('\r') => {
                chars.next();
                continue;
            }
            Some('#') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                line += 1;
                continue;
            }
            _ => {}
        }
        let mut record = Record {
            cells: Vec::new(),
            places: Vec::new(),
            line,
        };
        let mut column = 1;
        loop {
            record.places.push((line, column));
            let mut cell = String::new();
            if chars.peek() == Some(&'"') {
                let opened = line;
                chars.next();
                loop {
                    match chars.next() {
                        None => {
                            return Err((
                                opened,
                                format!("column {column}: a quoted cell is never closed"),
                            ))
                        }
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            cell.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            cell.push(c);
                        }
                    }
                }
                match chars.peek() {
                    None | Some(',' | '\n' | '\r') => {}
                    Some(_) => {
                        return Err((
                            line,
                            format!("column {column}: text after the closing quote"),
                        ))
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if matches!(c, ',' | '\n' | '\r') {
                        break;
                    }
                    if c == '"' {
                        return Err((
                            line,
                            format!("column {column}: a quote inside an unquoted cell"),
                        ));
                    }
                    cell.push(c);
                    chars.next();
                }
            }
            record.cells.push(cell.trim().to_string());
            match chars.next() {
                Some(',') => column += 1,
                Some('\r') => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    line += 1;
                    break;
                }
                Some('\n') => {
                    line += 1;
                    break;
                }
                None => break,
                Some(_) => unreachable!("cells end at a comma, a line break or the end"),
            }
        }
        records.push(record);
    }
    Ok(records)
}

// ---------------------------------------------------------------------------
// YAML

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with the key accounts")]
struct RawList {
    accounts: Vec<RawAccount>,
}

struct YamlPlace<'a> {
    text: &'a str,
    index: usize,
}

impl Locate for YamlPlace<'_> {
    fn locate(&self, field: Option<&str>) -> (Option<usize>, Option<String>) {
        let item = KeyPath::of(["accounts"]).index(self.index);
        let path = match field {
            Some(field) => item.clone().key(field),
            None => item.clone(),
        };
        // An absent key has no line: the account's is the next best.
        let line = path.line_in(self.text).or_else(|| item.line_in(self.text));
        (line, Some(path.to_string()))
    }
}

fn parse_yaml(text: &str, file: &Path) -> Result<Vec<Account>, ConfigError> {
    let error = |line: Option<usize>, key: Option<String>, message: String| ConfigError {
        file: file.to_owned(),
        line,
        key,
        message,
    };
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|err| {
        let line = err.location().map(|at| at.line());
        error(line, None, format!("invalid YAML: {err}"))
    })?;
    let raw: RawList = serde_path_to_error::deserialize(&value).map_err(|err| {
        let mut path = KeyPath::default();
        for segment in err.path().iter() {
            path = match segment {
                serde_path_to_error::Segment::Map { key } => path.key(key),
                serde_path_to_error::Segment::Seq { index } => path.index(*index),
                _ => path,
            };
        }
        let message = err.inner().to_string();
        let message = match message.strip_prefix("unknown field `") {
            Some(rest) => {
                let key = rest.split('`').next().unwrap_or_default();
                if !matches!(path.segments().last(), Some(s) if *s == crate::config::key_path::Segment::Key(key.to_string()))
                {
                    path = path.clone().key(key);
                }
                let expected = if path.segments().len() > 1 {
                    FIELDS.join(", ")
                } else {
                    "accounts".to_string()
                };
                format!("unknown key, expected one of {expected}")
            }
            None => message,
        };
        error(
            path.line_in(text),
            (!path.is_root()).then(|| path.to_string()),
            message,
        )
    })?;
    let mut accounts = Vec::new();
    for (index, account) in raw.accounts.into_iter().enumerate() {
        accounts.push(check(account, &YamlPlace { text, index }, file)?);
    }
    check_unique(
        &accounts,
        |index| YamlPlace { text, index }.locate(Some("name")),
        file,
    )?;
    Ok(accounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<Vec<Account>, String> {
        parse_csv(text, Path::new("list.csv")).map_err(|e| e.to_string())
    }

    fn yaml(text: &str) -> Result<Vec<Account>, String> {
        parse_yaml(text, Path::new("list.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_csv_list_with_defaults_quotes_and_comments() {
        let accounts = csv(
            "source_user,target_user,source_password_env,target_password_command\r\n\
             # moved first\r\n\
             alice,alice@new.example,ALICE_PW,pass show new/{user}\r\n\
             \r\n\
             \"bob, jr\",,BOB_PW,\"printf '%s' \"\"x\"\"\"\n\
             carol,,,\n",
        )
        .unwrap();
        assert_eq!(accounts.len(), 3);
        assert_eq!(accounts[0].name, "alice");
        assert_eq!(accounts[0].target.user, "alice@new.example");
        assert_eq!(
            accounts[0].source.password,
            Some(PasswordSource::Env("ALICE_PW".to_string()))
        );
        // The user is quoted into the command.
        assert_eq!(
            accounts[0].target.password,
            Some(PasswordSource::Command(
                "pass show new/alice@new.example".to_string()
            ))
        );
        assert_eq!(accounts[1].name, "bob, jr");
        assert_eq!(accounts[1].target.user, "bob, jr");
        assert_eq!(
            accounts[1].target.password,
            Some(PasswordSource::Command("printf '%s' \"x\"".to_string()))
        );
        assert_eq!(accounts[2].source.password, None);
        assert_eq!(accounts[2].target.password, None);
    }

    #[test]
    fn a_user_cannot_add_shell_syntax_to_a_password_command() {
        assert_eq!(
            with_user("pass show mail/{user}", "x; rm -rf ~"),
            "pass show mail/'x; rm -rf ~'"
        );
    }

    #[test]
    fn csv_errors_name_the_line_and_the_column() {
        let cases = [
            ("", "list.csv:1: the file is empty"),
            (
                "source_user,password\n",
                "list.csv:1: column 2: unknown column \"password\"",
            ),
            (
                "target_user\nbob\n",
                "list.csv:1: the header has no source_user",
            ),
            (
                "source_user,target_user\nalice,bob\ncarol\n",
                "list.csv:3: 1 cell(s) where the header has 2 column(s)",
            ),
            (
                "source_user,target_user\nalice,bob\n,carol\n",
                "list.csv:3: column 1 (source_user): every account needs a source_user",
            ),
            (
                "source_user,source_password_env,source_password_command\nalice,A,cat\n",
                "list.csv:2: column 3 (source_password_command): give source_password_env or",
            ),
            (
                "source_user,target_user\nalice,bob\n\"carol\n",
                "list.csv:3: column 1: a quoted cell is never closed",
            ),
            (
                "source_user,target_user\nalice,b\"ob\n",
                "list.csv:2: column 2: a quote inside an unquoted cell",
            ),
            (
                "source_user\nalice\nbob\nalice\n",
                "list.csv:4: the account \"alice\" is listed twice (line 2)",
            ),
        ];
        for (text, expected) in cases {
            let message = csv(text).unwrap_err();
            assert!(message.starts_with(expected), "{text:?}: {message}");
        }
    }

    #[test]
    fn a_yaml_list() {
        let accounts = yaml(
            "accounts:\n  - source_user: alice\n    target_password_env: ALICE_NEW\n  \
             - name: bob-archive\n    source_user: bob\n    target_user: bob.archive\n",
        )
        .unwrap();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].target.user, "alice");
        assert_eq!(
            accounts[0].target.password,
            Some(PasswordSource::Env("ALICE_NEW".to_string()))
        );
        assert_eq!(accounts[1].name, "bob-archive");
        assert_eq!(accounts[1].target.user, "bob.archive");
    }

    #[test]
    fn yaml_errors_name_the_line_and_the_key() {
        let cases = [
            (
                "accounts:\n  - source_user: alice\n  - source_user: bob\n    pasword: x\n",
                "list.yaml:4: accounts[1].pasword: unknown key, expected one of name,",
            ),
            (
                "accounts:\n  - source_user: alice\n  - target_user: bob\n",
                "list.yaml:3: accounts[1].source_user: every account needs a source_user",
            ),
            (
                "users: []\n",
                "list.yaml:1: users: unknown key, expected one of accounts",
            ),
            (
                "accounts:\n  - source_user: alice\n  - source_user: bob\n    name: alice\n",
                "list.yaml:4: accounts[1].name: the account \"alice\" is listed twice",
            ),
            ("accounts: [\n", "list.yaml:"),
        ];
        for (text, expected) in cases {
            let message = yaml(text).unwrap_err();
            assert!(message.starts_with(expected), "{text:?}: {message}");
        }
    }
}
