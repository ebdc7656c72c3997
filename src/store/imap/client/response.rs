//! One framed server response parsed into a typed value that borrows from
//! the response's bytes: tagged and untagged statuses with their response
//! codes, and the untagged data a sync reads (CAPABILITY, ENABLED, EXISTS,
//! EXPUNGE, VANISHED, FETCH, LIST, STATUS, SEARCH, FLAGS, NAMESPACE).
//! Data of a kind not listed here comes as [`Data::Other`], so a server's
//! extension never fails a command; a response that cannot be read at all
//! is an error naming its first bytes.

use super::lexer::Lexer;
use std::borrow::Cow;

/// A response, as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response<'a> {
    /// `+ text`: the server waits for the rest of a command.
    Continuation(Cow<'a, str>),
    /// `tag OK|NO|BAD [code] text`: the end of a command's answer.
    Tagged { tag: &'a str, status: Status<'a> },
    /// `* ...`: data, or a status not tied to a command.
    Untagged(Data<'a>),
}

/// The kind of a status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Ok,
    No,
    Bad,
    PreAuth,
    Bye,
}

impl StatusKind {
    pub fn word(self) -> &'static str {
        match self {
            StatusKind::Ok => "OK",
            StatusKind::No => "NO",
            StatusKind::Bad => "BAD",
            StatusKind::PreAuth => "PREAUTH",
            StatusKind::Bye => "BYE",
        }
    }
}

/// A status with its response code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status<'a> {
    pub kind: StatusKind,
    pub code: Option<Code<'a>>,
    pub text: Cow<'a, str>,
}

impl Status<'_> {
    /// `NO [CODE] text` as the server put it, for messages and the log.
    pub fn describe(&self) -> String {
        match &self.code {
            Some(code) => format!("{} [{}] {}", self.kind.word(), code.name(), self.text),
            None => format!("{} {}", self.kind.word(), self.text),
        }
    }
}

/// A response code (`[...]` after the status word), RFC 3501 and the
/// extensions a sync meets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code<'a> {
    Alert,
    /// UIDPLUS: the folder's UIDVALIDITY and the UIDs given to the
    /// appended messages, as a set (`5` or `5:7`).
    AppendUid {
        uidvalidity: u32,
        uids: &'a str,
    },
    /// UIDPLUS: the source UIDs and the UIDs of their copies.
    CopyUid {
        uidvalidity: u32,
        from: &'a str,
        to: &'a str,
    },
    UidValidity(u32),
    UidNext(u32),
    HighestModseq(u64),
    NoModseq,
    Capability(Vec<&'a str>),
    TryCreate,
    ExpungeIssued,
    /// Microsoft 365's request to back off.
    Throttled,
    ReadOnly,
    ReadWrite,
    Closed,
    /// Any other code, by name, with its argument.
    Other {
        name: &'a str,
        argument: Option<&'a str>,
    },
}

impl Code<'_> {
    pub fn name(&self) -> &str {
        match self {
            Code::Alert => "ALERT",
            Code::AppendUid { .. } => "APPENDUID",
            Code::CopyUid { .. } => "COPYUID",
            Code::UidValidity(_) => "UIDVALIDITY",
            Code::UidNext(_) => "UIDNEXT",
            Code::HighestModseq(_) => "HIGHESTMODSEQ",
            Code::NoModseq => "NOMODSEQ",
            Code::Capability(_) => "CAPABILITY",
            Code::TryCreate => "TRYCREATE",
            Code::ExpungeIssued => "EXPUNGEISSUED",
            Code::Throttled => "THROTTLED",
            Code::ReadOnly => "READ-ONLY",
            Code::ReadWrite => "READ-WRITE",
            Code::Closed => "CLOSED",
            Code::Other { name, .. } => name,
        }
    }
}

/// Untagged data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data<'a> {
    Status(Status<'a>),
    Capability(Vec<&'a str>),
    Enabled(Vec<&'a str>),
    Exists(u32),
    Recent(u32),
    Expunge(u32),
    /// QRESYNC: UIDs gone, as a set; `earlier` when they are the answer
    /// to a SELECT or FETCH with QRESYNC/VANISHED rather than news.
    Vanished {
        earlier: bool,
        uids: &'a str,
    },
    /// A message's data items, unparsed (see [`FetchItems`]): a listing
    /// of 100,000 messages is read one response at a time, with no tree
    /// built per message.
    Fetch {
        seq: u32,
        items: &'a [u8],
    },
    List(ListData<'a>),
    MailboxStatus(StatusData<'a>),
    /// SEARCH's UIDs (or numbers), with `(MODSEQ n)` when CONDSTORE adds it.
    Search(Vec<u32>),
    Flags(Vec<&'a str>),
    /// The three namespace lists, unparsed.
    Namespace(&'a [u8]),
    Other {
        name: &'a str,
        rest: &'a [u8],
    },
}

/// `* LIST (attributes) "delimiter" name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListData<'a> {
    pub attributes: Vec<&'a str>,
    pub delimiter: Option<char>,
    pub name: Cow<'a, [u8]>,
}

/// `* STATUS name (ITEM n ...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusData<'a> {
    pub name: Cow<'a, [u8]>,
    pub items: Vec<(&'a str, u64)>,
}

/// Why a response cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The response's first bytes, printable.
    pub snippet: String,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a response that cannot be parsed: {}", self.snippet)
    }
}

/// Parses one framed response (as [`super::frame::Framer`] delimited it).
pub fn parse(bytes: &[u8]) -> Result<Response<'_>, Malformed> {
    parse_inner(bytes).ok_or_else(|| Malformed {
        snippet: snippet(bytes),
    })
}

fn parse_inner(bytes: &[u8]) -> Option<Response<'_>> {
    let mut lexer = Lexer::new(bytes);
    if lexer.eat(b'+') {
        lexer.eat(b' ');
        return Some(Response::Continuation(lexer.rest_of_line()));
    }
    if lexer.eat(b'*') {
        if !lexer.eat(b' ') {
            return None;
        }
        return untagged(&mut lexer).map(Response::Untagged);
    }
    let tag = lexer.atom()?;
    if !lexer.eat(b' ') {
        return None;
    }
    let word = lexer.atom()?;
    let status = status(word, &mut lexer)?;
    if matches!(status.kind, StatusKind::PreAuth | StatusKind::Bye) {
        return None;
    }
    Some(Response::Tagged { tag, status })
}

fn status_kind(word: &str) -> Option<StatusKind> {
    Some(match word.to_ascii_uppercase().as_str() {
        "OK" => StatusKind::Ok,
        "NO" => StatusKind::No,
        "BAD" => StatusKind::Bad,
        "PREAUTH" => StatusKind::PreAuth,
        "BYE" => StatusKind::Bye,
        _ => return None,
    })
}

/// The rest of a status response after its word.
fn status<'a>(word: &str, lexer: &mut Lexer<'a>) -> Option<Status<'a>> {
    let kind = status_kind(word)?;
    lexer.eat(b' ');
    let code = if lexer.peek() == Some(b'[') {
        let bracketed = lexer.bracketed()?;
        Some(code(&bracketed[1..bracketed.len() - 1]))
    } else {
        None
    };
    lexer.eat(b' ');
    Some(Status {
        kind,
        code,
        text: lexer.rest_of_line(),
    })
}

fn code(inside: &[u8]) -> Code<'_> {
    let mut lexer = Lexer::new(inside);
    let Some(name) = lexer.atom() else {
        return Code::Other {
            name: "",
            argument: None,
        };
    };
    let parsed = match name.to_ascii_uppercase().as_str() {
        "ALERT" => Some(Code::Alert),
        "APPENDUID" => (|| {
            Some(Code::AppendUid {
                uidvalidity: lexer.number()?,
                uids: lexer.atom()?,
            })
        })(),
        "COPYUID" => (|| {
            Some(Code::CopyUid {
                uidvalidity: lexer.number()?,
                from: lexer.atom()?,
                to: lexer.atom()?,
            })
        })(),
        "UIDVALIDITY" => lexer.number().map(Code::UidValidity),
        "UIDNEXT" => lexer.number().map(Code::UidNext),
        "HIGHESTMODSEQ" => lexer.number().map(Code::HighestModseq),
        "NOMODSEQ" => Some(Code::NoModseq),
        "CAPABILITY" => Some(Code::Capability(Lexer::atoms(lexer.rest()))),
        "TRYCREATE" => Some(Code::TryCreate),
        "EXPUNGEISSUED" => Some(Code::ExpungeIssued),
        "THROTTLED" => Some(Code::Throttled),
        "READ-ONLY" => Some(Code::ReadOnly),
        "READ-WRITE" => Some(Code::ReadWrite),
        "CLOSED" => Some(Code::Closed),
        _ => None,
    };
    parsed.unwrap_or_else(|| {
        let rest = inside.get(name.len()..).unwrap_or_default();
        let argument = std::str::from_utf8(rest).ok().map(str::trim);
        Code::Other {
            name,
            argument: argument.filter(|a| !a.is_empty()),
        }
    })
}

fn untagged<'a>(lexer: &mut Lexer<'a>) -> Option<Data<'a>> {
    if let Some(number) = lexer.number::<u32>() {
        let word = lexer.atom()?.to_ascii_uppercase();
        return match word.as_str() {
            "EXISTS" => Some(Data::Exists(number)),
            "RECENT" => Some(Data::Recent(number)),
            "EXPUNGE" => Some(Data::Expunge(number)),
            "FETCH" => Some(Data::Fetch {
                seq: number,
                items: lexer.list()?,
            }),
            _ => None,
        };
    }
    let name = lexer.atom()?;
    let upper = name.to_ascii_uppercase();
    if status_kind(&upper).is_some() {
        return status(&upper, lexer).map(Data::Status);
    }
    Some(match upper.as_str() {
        "CAPABILITY" => Data::Capability(Lexer::atoms(lexer.rest())),
        "ENABLED" => Data::Enabled(Lexer::atoms(lexer.rest())),
        "FLAGS" => Data::Flags(Lexer::atoms(lexer.list()?)),
        "SEARCH" => Data::Search(search(lexer)?),
        "VANISHED" => {
            lexer.skip_spaces();
            let earlier = if lexer.peek() == Some(b'(') {
                let inside = lexer.list()?;
                Lexer::atoms(inside)
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case("EARLIER"))
            } else {
                false
            };
            Data::Vanished {
                earlier,
                uids: lexer.atom()?,
            }
        }
        "LIST" | "LSUB" => Data::List(list(lexer)?),
        "STATUS" => Data::MailboxStatus(status_data(lexer)?),
        "NAMESPACE" => {
            lexer.skip_spaces();
            Data::Namespace(lexer.rest())
        }
        _ => Data::Other {
            name,
            rest: lexer.rest(),
        },
    })
}

fn search(lexer: &mut Lexer<'_>) -> Option<Vec<u32>> {
    let mut numbers = Vec::new();
    loop {
        lexer.skip_spaces();
        if lexer.at_end() {
            return Some(numbers);
        }
        if lexer.peek() == Some(b'(') {
            // `(MODSEQ n)` of CONDSTORE ends the list.
            lexer.list()?;
            continue;
        }
        numbers.push(lexer.number()?);
    }
}

fn list<'a>(lexer: &mut Lexer<'a>) -> Option<ListData<'a>> {
    let attributes = Lexer::atoms(lexer.list()?);
    let delimiter = match lexer.nstring()? {
        None => None,
        Some(bytes) => Some(std::str::from_utf8(&bytes).ok()?.chars().next()?),
    };
    let name = lexer.astring()?;
    Some(ListData {
        attributes,
        delimiter,
        name,
    })
}

fn status_data<'a>(lexer: &mut Lexer<'a>) -> Option<StatusData<'a>> {
    let name = lexer.astring()?;
    let mut inside = Lexer::new(lexer.list()?);
    let mut items = Vec::new();
    while let Some(item) = inside.atom() {
        items.push((item, inside.number()?));
    }
    Some(StatusData { name, items })
}

/// The data items of a FETCH response, one at a time: `(name, value)`
/// with the name as sent (`UID`, `BODY[]`, `BODY[HEADER.FIELDS (X)]`).
pub struct FetchItems<'a> {
    lexer: Lexer<'a>,
}

/// The value of one FETCH data item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchValue<'a> {
    Number(u64),
    /// A string or literal; `None` for NIL.
    String(Option<Cow<'a, [u8]>>),
    /// A parenthesized list, unparsed (FLAGS, MODSEQ, ENVELOPE).
    List(&'a [u8]),
    /// An atom.
    Atom(&'a str),
}

impl<'a> FetchItems<'a> {
    pub fn new(items: &'a [u8]) -> FetchItems<'a> {
        FetchItems {
            lexer: Lexer::new(items),
        }
    }

    fn name(&mut self) -> Option<&'a str> {
        self.lexer.skip_spaces();
        let start = self.lexer.rest();
        let base = self.lexer.atom()?;
        let mut length = base.len();
        if let Some(section) = self.lexer.bracketed() {
            length += section.len();
            if self.lexer.peek() == Some(b'<') {
                let partial = self.lexer.atom()?;
                length += partial.len();
            }
        }
        std::str::from_utf8(&start[..length]).ok()
    }
}

impl<'a> Iterator for FetchItems<'a> {
    type Item = Result<(&'a str, FetchValue<'a>), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        self.lexer.skip_spaces();
        if self.lexer.at_end() {
            return None;
        }
        let malformed = |lexer: &Lexer<'_>| Malformed {
            snippet: snippet(lexer.rest()),
        };
        let Some(name) = self.name() else {
            let error = malformed(&self.lexer);
            self.lexer = Lexer::new(b"");
            return Some(Err(error));
        };
        self.lexer.skip_spaces();
        let value = match self.lexer.peek() {
            Some(b'(') => self.lexer.list().map(FetchValue::List),
            Some(b'"' | b'{' | b'~') => self.lexer.nstring().map(FetchValue::String),
            _ => self.lexer.atom().map(|atom| {
                if atom.eq_ignore_ascii_case("NIL") {
                    FetchValue::String(None)
                } else if let Ok(number) = atom.parse() {
                    FetchValue::Number(number)
                } else {
                    FetchValue::Atom(atom)
                }
            }),
        };
        match value {
            Some(value) => Some(Ok((name, value))),
            None => {
                let error = malformed(&self.lexer);
                self.lexer = Lexer::new(b"");
                Some(Err(error))
            }
        }
    }
}

/// The data items of one FETCH response a sync reads, gathered: a small
/// value made and dropped per message, never kept for a whole listing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fetch<'a> {
    pub uid: Option<u32>,
    pub size: Option<u64>,
    pub flags: Option<Vec<&'a str>>,
    pub modseq: Option<u64>,
    pub internal_date: Option<Cow<'a, [u8]>>,
    /// `BODY[]` (or `RFC822`, or a partial `BODY[]<n>`); inside, `None`
    /// for NIL (a message expunged meanwhile).
    pub body: Option<Option<Cow<'a, [u8]>>>,
    /// The first header section (`BODY[HEADER...]`, `RFC822.HEADER`).
    pub header: Option<Cow<'a, [u8]>>,
}

impl<'a> Fetch<'a> {
    /// Gathers the items of a FETCH response (see [`Data::Fetch`]).
    pub fn parse(items: &'a [u8]) -> Result<Fetch<'a>, Malformed> {
        let mut fetch = Fetch::default();
        for item in FetchItems::new(items) {
            let (name, value) = item?;
            let upper = name.to_ascii_uppercase();
            match (upper.as_str(), value) {
                ("UID", FetchValue::Number(uid)) => fetch.uid = u32::try_from(uid).ok(),
                ("RFC822.SIZE", FetchValue::Number(size)) => fetch.size = Some(size),
                ("FLAGS", FetchValue::List(list)) => fetch.flags = Some(Lexer::atoms(list)),
                ("MODSEQ", FetchValue::List(list)) => {
                    fetch.modseq = Lexer::new(list).number();
                }
                ("INTERNALDATE", FetchValue::String(date)) => fetch.internal_date = date,
                ("RFC822", FetchValue::String(body)) => fetch.body = Some(body),
                (name, FetchValue::String(body)) if name.starts_with("BODY[]") => {
                    fetch.body = Some(body);
                }
                (name, FetchValue::String(header))
                    if fetch.header.is_none()
                        && (name.starts_with("BODY[HEADER") || name == "RFC822.HEADER") =>
                {
                    fetch.header = header;
                }
                _ => {}
            }
        }
        Ok(fetch)
    }
}

/// The first bytes of a response, printable, for an error message.
pub fn snippet(bytes: &[u8]) -> String {
    const MOST: usize = 80;
    let shown = &bytes[..bytes.len().min(MOST)];
    let mut text: String = String::from_utf8_lossy(shown)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    text = text.trim_end().to_string();
    if bytes.len() > MOST {
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(bytes: &[u8]) -> Data<'_> {
        match parse(bytes).unwrap() {
            Response::Untagged(data) => data,
            other => panic!("not untagged data: {other:?}"),
        }
    }

    #[test]
    fn tagged_statuses_carry_their_codes() {
        let response = parse(b"a3 OK [APPENDUID 38505 3955:3957] APPEND completed\r\n").unwrap();
        let Response::Tagged { tag, status } = response else {
            panic!("not tagged")
        };
        assert_eq!(tag, "a3");
        assert_eq!(status.kind, StatusKind::Ok);
        assert_eq!(
            status.code,
            Some(Code::AppendUid {
                uidvalidity: 38505,
                uids: "3955:3957"
            })
        );
        assert_eq!(status.text, "APPEND completed");
        let copied = parse(b"a4 ok [COPYUID 7 1:3 10:12] Done\r\n").unwrap();
        let Response::Tagged { status, .. } = copied else {
            panic!("not tagged")
        };
        assert_eq!(
            status.code,
            Some(Code::CopyUid {
                uidvalidity: 7,
                from: "1:3",
                to: "10:12"
            })
        );
    }

    #[test]
    fn refusals_and_their_codes_are_told_apart() {
        for (line, code) in [
            (
                &b"a1 NO [TRYCREATE] No such folder\r\n"[..],
                Code::TryCreate,
            ),
            (b"a1 NO [THROTTLED] slow down\r\n", Code::Throttled),
            (b"a1 NO [EXPUNGEISSUED] gone\r\n", Code::ExpungeIssued),
            (
                b"a1 NO [OVERQUOTA] full\r\n",
                Code::Other {
                    name: "OVERQUOTA",
                    argument: None,
                },
            ),
        ] {
            let Ok(Response::Tagged { status, .. }) = parse(line) else {
                panic!("not tagged: {line:?}")
            };
            assert_eq!(status.kind, StatusKind::No);
            assert_eq!(status.code, Some(code));
        }
        let Ok(Response::Tagged { status, .. }) = parse(b"a2 BAD\r\n") else {
            panic!("not tagged")
        };
        assert_eq!((status.kind, status.text.as_ref()), (StatusKind::Bad, ""));
    }

    #[test]
    fn untagged_statuses_carry_select_codes() {
        assert_eq!(
            data(b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"),
            Data::Status(Status {
                kind: StatusKind::Ok,
                code: Some(Code::UidValidity(3_857_529_045)),
                text: "UIDs valid".into()
            })
        );
        let Data::Status(status) = data(b"* OK [HIGHESTMODSEQ 90060115205545359] Highest\r\n")
        else {
            panic!("not a status")
        };
        assert_eq!(
            status.code,
            Some(Code::HighestModseq(90_060_115_205_545_359))
        );
        let Data::Status(bye) = data(b"* BYE [ALERT] Server shutting down\r\n") else {
            panic!("not a status")
        };
        assert_eq!((bye.kind, bye.code), (StatusKind::Bye, Some(Code::Alert)));
        let Data::Status(greeting) =
            data(b"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR] Dovecot ready.\r\n")
        else {
            panic!("not a status")
        };
        assert_eq!(
            greeting.code,
            Some(Code::Capability(vec!["IMAP4rev1", "LITERAL+", "SASL-IR"]))
        );
    }

    #[test]
    fn message_data_is_read() {
        assert_eq!(data(b"* 23 EXISTS\r\n"), Data::Exists(23));
        assert_eq!(data(b"* 5 RECENT\r\n"), Data::Recent(5));
        assert_eq!(data(b"* 3 EXPUNGE\r\n"), Data::Expunge(3));
        assert_eq!(
            data(b"* VANISHED (EARLIER) 300:310,405\r\n"),
            Data::Vanished {
                earlier: true,
                uids: "300:310,405"
            }
        );
        assert_eq!(
            data(b"* VANISHED 7\r\n"),
            Data::Vanished {
                earlier: false,
                uids: "7"
            }
        );
        assert_eq!(
            data(b"* SEARCH 2 84 882\r\n"),
            Data::Search(vec![2, 84, 882])
        );
        assert_eq!(data(b"* SEARCH\r\n"), Data::Search(vec![]));
        assert_eq!(
            data(b"* SEARCH 2 5 (MODSEQ 917162500)\r\n"),
            Data::Search(vec![2, 5])
        );
        assert_eq!(
            data(b"* FLAGS (\\Answered \\Seen $Forwarded)\r\n"),
            Data::Flags(vec!["\\Answered", "\\Seen", "$Forwarded"])
        );
        assert_eq!(
            data(b"* CAPABILITY IMAP4rev1 UIDPLUS MOVE\r\n"),
            Data::Capability(vec!["IMAP4rev1", "UIDPLUS", "MOVE"])
        );
        assert_eq!(
            data(b"* ENABLED QRESYNC\r\n"),
            Data::Enabled(vec!["QRESYNC"])
        );
    }

    #[test]
    fn folders_are_listed_with_any_name_form() {
        assert_eq!(
            data(b"* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n"),
            Data::List(ListData {
                attributes: vec!["\\HasNoChildren", "\\Sent"],
                delimiter: Some('/'),
                name: Cow::Borrowed(b"Sent Items"),
            })
        );
        assert_eq!(
            data(b"* LIST () NIL INBOX\r\n"),
            Data::List(ListData {
                attributes: vec![],
                delimiter: None,
                name: Cow::Borrowed(b"INBOX"),
            })
        );
        let Data::List(literal) = data(b"* LIST () \".\" {5}\r\na\"b]c\r\n") else {
            panic!("not a list")
        };
        assert_eq!(literal.name.as_ref(), b"a\"b]c");
        let Data::List(escaped) = data(b"* LIST () \"\\\\\" \"x\\\\y\"\r\n") else {
            panic!("not a list")
        };
        assert_eq!(
            (escaped.delimiter, escaped.name.as_ref()),
            (Some('\\'), &b"x\\y"[..])
        );
        assert_eq!(
            data(b"* STATUS \"a b\" (UIDNEXT 17 MESSAGES 3 HIGHESTMODSEQ 9)\r\n"),
            Data::MailboxStatus(StatusData {
                name: Cow::Borrowed(b"a b"),
                items: vec![("UIDNEXT", 17), ("MESSAGES", 3), ("HIGHESTMODSEQ", 9)],
            })
        );
        assert_eq!(
            data(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"),
            Data::Namespace(b"((\"\" \"/\")) NIL NIL\r\n")
        );
    }

    #[test]
    fn fetch_items_come_one_at_a_time_with_any_body_bytes() {
        let bytes = b"* 12 FETCH (UID 4827 FLAGS (\\Seen) RFC822.SIZE 44 MODSEQ (65402) \
            BODY[HEADER.FIELDS (MESSAGE-ID)] {5}\r\n\0\xff)\r\n BODY[]<0> NIL \
            INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")\r\n";
        let Data::Fetch { seq, items } = data(bytes) else {
            panic!("not a fetch")
        };
        assert_eq!(seq, 12);
        let items: Vec<_> = FetchItems::new(items).map(Result::unwrap).collect();
        assert_eq!(
            items,
            vec![
                ("UID", FetchValue::Number(4827)),
                ("FLAGS", FetchValue::List(b"\\Seen")),
                ("RFC822.SIZE", FetchValue::Number(44)),
                ("MODSEQ", FetchValue::List(b"65402")),
                (
                    "BODY[HEADER.FIELDS (MESSAGE-ID)]",
                    FetchValue::String(Some(Cow::Borrowed(b"\0\xff)\r\n")))
                ),
                ("BODY[]<0>", FetchValue::String(None)),
                (
                    "INTERNALDATE",
                    FetchValue::String(Some(Cow::Borrowed(b"17-Jul-1996 02:44:25 -0700")))
                ),
            ]
        );
    }

    #[test]
    fn a_fetch_gathers_what_a_sync_reads() {
        let items = b"UID 7 RFC822.SIZE 120 FLAGS (\\Seen $Junk) MODSEQ (12) \
            INTERNALDATE \" 5-Jan-2024 10:00:00 +0100\" BODY[HEADER.FIELDS (MESSAGE-ID)] {4}\r\nab\r\n \
            BODY[] {2}\r\nhi";
        let fetch = Fetch::parse(items).unwrap();
        assert_eq!(fetch.uid, Some(7));
        assert_eq!(fetch.size, Some(120));
        assert_eq!(fetch.flags, Some(vec!["\\Seen", "$Junk"]));
        assert_eq!(fetch.modseq, Some(12));
        assert_eq!(
            fetch.internal_date.as_deref(),
            Some(&b" 5-Jan-2024 10:00:00 +0100"[..])
        );
        assert_eq!(fetch.header.as_deref(), Some(&b"ab\r\n"[..]));
        assert_eq!(fetch.body, Some(Some(Cow::Borrowed(&b"hi"[..]))));
        let gone = Fetch::parse(b"UID 8 BODY[] NIL").unwrap();
        assert_eq!(gone.body, Some(None));
    }

    #[test]
    fn continuations_and_unknown_data_are_kept() {
        assert_eq!(
            parse(b"+ Ready for literal data\r\n").unwrap(),
            Response::Continuation("Ready for literal data".into())
        );
        assert_eq!(parse(b"+\r\n").unwrap(), Response::Continuation("".into()));
        assert_eq!(
            data(b"* ID (\"name\" \"Dovecot\")\r\n"),
            Data::Other {
                name: "ID",
                rest: b" (\"name\" \"Dovecot\")\r\n"
            }
        );
    }

    #[test]
    fn unreadable_responses_name_their_start() {
        let error = parse(b"* 12 FETCH UID 5\r\n").unwrap_err();
        assert_eq!(error.snippet, "* 12 FETCH UID 5");
        assert!(parse(b"garbage\r\n").is_err());
        assert!(parse(b"a1 PREAUTH x\r\n").is_err());
        let long = [b'x'; 200];
        assert!(snippet(&long).ends_with("..."));
    }
}
