//! Realistic RFC 5322 messages for tests and the demo, deterministic from a
//! seed: varied senders, subjects (some UTF-8, RFC 2047 encoded), MIME types
//! and body sizes of 1-20 KB, CRLF line endings, a unique Message-ID each.

use chrono::{DateTime, FixedOffset};
use std::sync::atomic::{AtomicU64, Ordering};

const PEOPLE: &[(&str, &str)] = &[
    ("Alice Martin", "alice@example.org"),
    ("Bob Okafor", "bob@example.net"),
    ("Chloé Dubois", "chloe.dubois@example.fr"),
    ("Dmitri Volkov", "dmitri@example.com"),
    ("Eun-ji Park", "eunji.park@example.kr"),
    ("Farah Haddad", "farah@example.org"),
    ("Gustavo Lima", "glima@example.com.br"),
    ("Hiroshi Tanaka", "tanaka@example.jp"),
    ("Rust Users Forum", "noreply@users.rust-lang.example"),
    ("CI Robot", "ci@builds.example.com"),
];

const ASCII_SUBJECTS: &[&str] = &[
    "Quarterly planning notes",
    "Re: build failure on main",
    "Lunch on Thursday?",
    "Invoice 2024-117 attached",
    "[rust] Announcing a new release",
    "Fwd: conference travel details",
    "Review request: sync state journal",
    "Minutes of the weekly meeting",
    "Your password will expire soon",
    "Re: Re: offsite agenda",
];

/// Subjects that need RFC 2047 encoding.
const UTF8_SUBJECTS: &[&str] = &[
    "Réunion de l'équipe — ordre du jour",
    "Grüße aus München",
    "会議の議事録",
    "Спасибо за помощь",
    "Café ☕ on Friday?",
];

const WORDS: &[&str] = &[
    "the", "sync", "folder", "message", "server", "state", "journal", "flags", "review", "meeting",
    "release", "we", "should", "could", "please", "update", "tomorrow", "notes", "draft", "change",
    "mailbox", "offline", "laptop", "network", "backup", "project", "team", "plan", "question",
    "answer", "because", "after", "before", "about", "with", "without", "and", "or", "but", "a",
];

/// 2024-01-01T00:00:00Z: sample dates fall within the year after it.
const SAMPLE_EPOCH: i64 = 1_704_067_200;
const SECONDS_PER_YEAR: i64 = 365 * 24 * 3600;

/// A small deterministic generator (SplitMix64), so the same seed always
/// gives the same message without pulling in a random-number crate.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5EED_F00D)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The date a sample message with this seed carries, somewhere in 2024, in
/// one of a few time zones. Use it as the APPEND internal date to keep the
/// Date header and INTERNALDATE consistent.
pub fn sample_date(seed: u64) -> DateTime<FixedOffset> {
    let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(7));
    let timestamp = SAMPLE_EPOCH + rng.below(SECONDS_PER_YEAR as u64) as i64;
    let offset_hours = *rng.pick(&[0, 1, 2, -5, -8, 9, 5]);
    let zone = FixedOffset::east_opt(offset_hours * 3600).unwrap();
    DateTime::from_timestamp(timestamp, 0)
        .unwrap()
        .with_timezone(&zone)
}

/// A realistic message, the same for the same seed, with a Message-ID that
/// no other seed produces.
pub fn sample_message(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let from = *rng.pick(PEOPLE);
    let to = *rng.pick(PEOPLE);
    let subject = if rng.below(4) == 0 {
        encode_header_word(rng.pick::<&str>(UTF8_SUBJECTS))
    } else {
        rng.pick(ASCII_SUBJECTS).to_string()
    };
    let body_size = 1024 + rng.below(19 * 1024) as usize;
    let headers = Headers {
        from,
        to,
        subject,
        date: sample_date(seed),
        message_id: format!("<sample.{seed}@mailferry.test>"),
    };
    match rng.below(3) {
        0 => plain_ascii(&headers, &paragraphs(&mut rng, body_size)),
        1 => plain_utf8(&headers, &paragraphs(&mut rng, body_size)),
        // Text and HTML carry the same words: each half the size.
        _ => alternative(&headers, &paragraphs(&mut rng, body_size / 2), seed),
    }
}

/// A short text/plain message with the given subject (RFC 2047 encoded if
/// needed) and body; its Message-ID is unique within the test process.
pub fn message_with(subject: &str, body: &str) -> Vec<u8> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let serial = COUNTER.fetch_add(1, Ordering::Relaxed);
    let headers = Headers {
        from: PEOPLE[1],
        to: PEOPLE[0],
        subject: encode_header_word(subject),
        date: sample_date(serial),
        message_id: format!("<made.{}.{serial}@mailferry.test>", std::process::id()),
    };
    let body = body.replace("\r\n", "\n").replace('\n', "\r\n");
    if body.is_ascii() {
        plain_ascii(&headers, &body)
    } else {
        plain_utf8(&headers, &body)
    }
}

struct Headers {
    from: (&'static str, &'static str),
    to: (&'static str, &'static str),
    subject: String,
    date: DateTime<FixedOffset>,
    message_id: String,
}

impl Headers {
    fn render(&self, content_headers: &str) -> String {
        format!(
            "From: {} <{}>\r\nTo: {} <{}>\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: {}\r\n\
             MIME-Version: 1.0\r\n{content_headers}\r\n",
            encode_header_word(self.from.0),
            self.from.1,
            encode_header_word(self.to.0),
            self.to.1,
            self.subject,
            self.date.to_rfc2822(),
            self.message_id,
        )
    }
}

fn plain_ascii(headers: &Headers, body: &str) -> Vec<u8> {
    let head = headers.render(
        "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n",
    );
    format!("{head}{body}").into_bytes()
}

fn plain_utf8(headers: &Headers, body: &str) -> Vec<u8> {
    let head = headers
        .render("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n");
    format!("{head}Grüße, ☕ und bis bald.\r\n\r\n{body}").into_bytes()
}

fn alternative(headers: &Headers, body: &str, seed: u64) -> Vec<u8> {
    let boundary = format!("=_mailferry_{seed:x}");
    let head = headers.render(&format!(
        "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n"
    ));
    let html: String = body
        .split("\r\n\r\n")
        .map(|p| format!("<p>{}</p>\r\n", p.replace("\r\n", " ")))
        .collect();
    format!(
        "{head}This is a multi-part message in MIME format.\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{body}\r\n\
         --{boundary}\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n\
         <html><body>\r\n{html}</body></html>\r\n--{boundary}--\r\n"
    )
    .into_bytes()
}

/// Paragraphs of wrapped lines (at most 72 characters), about `size` bytes.
fn paragraphs(rng: &mut Rng, size: usize) -> String {
    let mut text = String::with_capacity(size + 128);
    let mut line = String::new();
    let mut words_in_paragraph = 0;
    while text.len() + line.len() < size {
        let mut word = rng.pick::<&str>(WORDS).to_string();
        if words_in_paragraph == 0 {
            word[..1].make_ascii_uppercase();
        }
        if line.len() + word.len() + 1 > 72 {
            text.push_str(line.trim_end());
            text.push_str("\r\n");
            line.clear();
        }
        line.push_str(&word);
        line.push(' ');
        words_in_paragraph += 1;
        if words_in_paragraph > 40 && rng.below(12) == 0 {
            text.push_str(line.trim_end());
            text.push_str(".\r\n\r\n");
            line.clear();
            words_in_paragraph = 0;
        }
    }
    text.push_str(line.trim_end());
    text.push_str(".\r\n");
    text
}

/// The text as is if it is printable ASCII, else RFC 2047 Q-encoded words
/// (each at most 75 characters, folded onto continuation lines).
fn encode_header_word(text: &str) -> String {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return text.to_string();
    }
    const PREFIX: &str = "=?UTF-8?Q?";
    const SUFFIX: &str = "?=";
    const MAX_WORD: usize = 75;
    let mut words = Vec::new();
    let mut word = String::from(PREFIX);
    for character in text.chars() {
        let mut bytes = [0; 4];
        let mut piece = String::new();
        for byte in character.encode_utf8(&mut bytes).bytes() {
            match byte {
                b' ' => piece.push('_'),
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b',' | b'-' | b'!' => {
                    piece.push(byte as char)
                }
                _ => piece.push_str(&format!("={byte:02X}")),
            }
        }
        // A character's bytes stay in one word: RFC 2047 forbids splitting it.
        if word.len() + piece.len() + SUFFIX.len() > MAX_WORD {
            word.push_str(SUFFIX);
            words.push(std::mem::replace(&mut word, String::from(PREFIX)));
        }
        word.push_str(&piece);
    }
    word.push_str(SUFFIX);
    words.push(word);
    words.join("\r\n ")
}
