//! Message flags as one small set, and their spelling on each side:
//! IMAP system flags (`\Seen`) and Maildir info letters (`:2,S`).

use serde::{Serialize, Serializer};
use std::fmt;

/// The flags mailferry synchronises, as a bit set.
///
/// Only these six travel between sides; other IMAP keywords and unknown
/// Maildir letters are left alone where they are.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

/// One flag with its two spellings. Ordered by Maildir letter, because the
/// Maildir spec requires the info letters in ASCII order.
struct FlagSpec {
    bit: u8,
    letter: char,
    imap: &'static str,
}

const SPECS: [FlagSpec; 6] = [
    FlagSpec {
        bit: 1 << 4,
        letter: 'D',
        imap: "\\Draft",
    },
    FlagSpec {
        bit: 1 << 2,
        letter: 'F',
        imap: "\\Flagged",
    },
    FlagSpec {
        bit: 1 << 5,
        letter: 'P',
        imap: "$Forwarded",
    },
    FlagSpec {
        bit: 1 << 1,
        letter: 'R',
        imap: "\\Answered",
    },
    FlagSpec {
        bit: 1 << 0,
        letter: 'S',
        imap: "\\Seen",
    },
    FlagSpec {
        bit: 1 << 3,
        letter: 'T',
        imap: "\\Deleted",
    },
];

impl Flags {
    pub const EMPTY: Flags = Flags(0);
    pub const SEEN: Flags = Flags(1 << 0);
    pub const ANSWERED: Flags = Flags(1 << 1);
    pub const FLAGGED: Flags = Flags(1 << 2);
    pub const DELETED: Flags = Flags(1 << 3);
    pub const DRAFT: Flags = Flags(1 << 4);
    pub const FORWARDED: Flags = Flags(1 << 5);

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
    pub fn intersection(self, other: Flags) -> Flags {
        Flags(self.0 & other.0)
    }
    /// The flags in `self` that are not in `other`.
    pub fn difference(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// Parses Maildir info letters (the part after `:2,`). Letters we do not
    /// synchronise (lower-case keywords, unknown capitals) are returned apart
    /// so a rename can keep them.
    pub fn from_maildir_letters(letters: &str) -> (Flags, String) {
        let mut flags = Flags::EMPTY;
        let mut unknown = String::new();
        for c in letters.chars() {
            match SPECS.iter().find(|s| s.letter == c) {
                Some(spec) => flags.0 |= spec.bit,
                None => unknown.push(c),
            }
        }
        (flags, unknown)
    }

    /// The Maildir info letters, in the ASCII order the spec requires.
    pub fn to_maildir_letters(self) -> String {
        SPECS
            .iter()
            .filter(|s| self.0 & s.bit != 0)
            .map(|s| s.letter)
            .collect()
    }

    /// Maps one IMAP flag name; `None` for keywords we do not synchronise.
    pub fn from_imap_name(name: &str) -> Option<Flags> {
        SPECS
            .iter()
            .find(|s| s.imap.eq_ignore_ascii_case(name))
            .map(|s| Flags(s.bit))
    }

    /// The flags among a server's list of flag names (keywords we do not
    /// synchronise and `\Recent` are left out).
    pub fn from_imap_names<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Flags {
        names
            .into_iter()
            .filter_map(|name| Flags::from_imap_name(name.as_ref()))
            .fold(Flags::EMPTY, Flags::union)
    }

    /// The IMAP names of the flags in this set, e.g. `["\\Seen", "\\Flagged"]`.
    pub fn imap_names(self) -> Vec<&'static str> {
        SPECS
            .iter()
            .filter(|s| self.0 & s.bit != 0)
            .map(|s| s.imap)
            .collect()
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({})", self.to_maildir_letters())
    }
}

/// Displays as Maildir letters, or `-` for none: compact in plans and state.
impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("-")
        } else {
            f.write_str(&self.to_maildir_letters())
        }
    }
}

impl Serialize for Flags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_maildir_letters())
    }
}

impl std::str::FromStr for Flags {
    type Err = String;
    /// Parses the `Display` form; unknown letters are an error here because
    /// this form is only ever written by mailferry itself.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "-" {
            return Ok(Flags::EMPTY);
        }
        let (flags, unknown) = Flags::from_maildir_letters(s);
        if unknown.is_empty() {
            Ok(flags)
        } else {
            Err(format!("unknown flag letters {unknown:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maildir_letters_are_written_in_ascii_order() {
        let flags = Flags::SEEN.union(Flags::DRAFT).union(Flags::FLAGGED);
        assert_eq!(flags.to_maildir_letters(), "DFS");
    }

    #[test]
    fn unknown_maildir_letters_are_kept_apart() {
        let (flags, unknown) = Flags::from_maildir_letters("SaRx");
        assert_eq!(flags, Flags::SEEN.union(Flags::ANSWERED));
        assert_eq!(unknown, "ax");
    }

    #[test]
    fn imap_names_map_both_ways_case_insensitively() {
        assert_eq!(Flags::from_imap_name("\\seen"), Some(Flags::SEEN));
        assert_eq!(Flags::from_imap_name("$Forwarded"), Some(Flags::FORWARDED));
        assert_eq!(Flags::from_imap_name("$Junk"), None);
        assert_eq!(Flags::DELETED.imap_names(), vec!["\\Deleted"]);
    }

    #[test]
    fn display_round_trips_through_from_str() {
        for bits in 0..64u8 {
            let flags = Flags(bits);
            assert_eq!(flags.to_string().parse::<Flags>(), Ok(flags));
        }
    }
}
