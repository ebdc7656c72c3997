//! Modified UTF-7 (RFC 3501 section 5.1.3), the encoding IMAP servers use for
//! mailbox names: printable ASCII stands for itself (`&` is written `&-`),
//! everything else is UTF-16 in a base64 variant between `&` and `-`.
//!
//! Decoding is strict: it accepts exactly what [`encode`] produces, so a name
//! read from a server and encoded again is byte for byte the name the server
//! sent, and commands built from it name the same mailbox.

use anyhow::{bail, Result};

/// The base64 alphabet of RFC 3501: `,` replaces `/`, there is no padding.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn is_printable_ascii(c: u32) -> bool {
    (0x20..=0x7e).contains(&c)
}

/// Encodes a UTF-8 name into modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_printable_ascii(c as u32) {
            flush_encoded(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush_encoded(&mut out, &mut pending);
    out
}

/// Writes a run of non-ASCII characters (as UTF-16 units) as `&...-`.
fn flush_encoded(out: &mut String, units: &mut Vec<u16>) {
    if units.is_empty() {
        return;
    }
    let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // 1 byte needs 2 sextets, 2 bytes 3, 3 bytes 4; no padding.
        let sextets = chunk.len() + 1;
        for i in 0..sextets {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out.push('-');
    units.clear();
}

fn sextet(byte: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == byte).map(|p| p as u32)
}

/// Decodes a modified UTF-7 name into UTF-8. Input that [`encode`] would
/// never produce is an error: raw non-ASCII or control characters, an
/// unterminated or malformed `&...-` section, broken UTF-16, or printable
/// ASCII hidden inside a section.
pub fn decode(encoded: &str) -> Result<String> {
    let bytes = encoded.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !is_printable_ascii(u32::from(b)) {
            bail!("mailbox name {encoded:?} is not valid modified UTF-7: it contains a raw non-ASCII or control character");
        }
        if b != b'&' {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let Some(len) = bytes[i + 1..].iter().position(|&c| c == b'-') else {
            bail!("mailbox name {encoded:?} is not valid modified UTF-7: '&' section is not closed by '-'");
        };
        let section = &bytes[i + 1..i + 1 + len];
        if section.is_empty() {
            out.push('&');
        } else {
            decode_section(section, encoded, &mut out)?;
        }
        i += len + 2;
    }
    Ok(out)
}

/// Decodes the base64 between `&` and `-` and appends the characters.
fn decode_section(section: &[u8], encoded: &str, out: &mut String) -> Result<()> {
    let mut bits: u32 = 0;
    let mut bit_count = 0;
    let mut utf16_bytes = Vec::with_capacity(section.len() * 3 / 4);
    for &c in section {
        let Some(value) = sextet(c) else {
            bail!(
                "mailbox name {encoded:?} is not valid modified UTF-7: {:?} is not a base64 character",
                char::from(c)
            );
        };
        bits = (bits << 6) | value;
        bit_count += 6;
        if bit_count >= 8 {
            bit_count -= 8;
            utf16_bytes.push((bits >> bit_count) as u8);
            bits &= (1 << bit_count) - 1;
        }
    }
    // Leftover bits must be fewer than 6 and all zero, else the encoder was
    // not ours (or the data is damaged).
    if bit_count >= 6 || bits != 0 || utf16_bytes.len() % 2 != 0 {
        bail!("mailbox name {encoded:?} is not valid modified UTF-7: a '&' section has a broken length");
    }
    let units: Vec<u16> = utf16_bytes
        .chunks(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect();
    for decoded in char::decode_utf16(units) {
        let Ok(c) = decoded else {
            bail!("mailbox name {encoded:?} is not valid modified UTF-7: a '&' section holds broken UTF-16");
        };
        if is_printable_ascii(c as u32) {
            bail!("mailbox name {encoded:?} is not valid modified UTF-7: printable ASCII {c:?} must not be encoded");
        }
        out.push(c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example_round_trips() {
        let utf8 = "~peter/mail/台北/日本語";
        let utf7 = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        assert_eq!(encode(utf8), utf7);
        assert_eq!(decode(utf7).unwrap(), utf8);
    }

    #[test]
    fn ampersand_is_written_as_ampersand_dash() {
        assert_eq!(encode("&"), "&-");
        assert_eq!(encode("R&D"), "R&-D");
        assert_eq!(decode("&-").unwrap(), "&");
        assert_eq!(decode("R&-D").unwrap(), "R&D");
    }

    #[test]
    fn plain_ascii_is_unchanged() {
        assert_eq!(encode("Sent Items/2024"), "Sent Items/2024");
        assert_eq!(decode("Sent Items/2024").unwrap(), "Sent Items/2024");
    }

    #[test]
    fn accented_latin_and_astral_characters_round_trip() {
        assert_eq!(encode("Données"), "Donn&AOk-es");
        assert_eq!(decode("Donn&AOk-es").unwrap(), "Données");
        // U+1F4E7 needs a UTF-16 surrogate pair.
        let emoji = "Mail 📧";
        assert_eq!(decode(&encode(emoji)).unwrap(), emoji);
    }

    #[test]
    fn unterminated_section_is_an_error() {
        assert!(decode("&U,BTFw").is_err());
        assert!(decode("abc&").is_err());
    }

    #[test]
    fn invalid_base64_character_is_an_error() {
        assert!(decode("&U/BTFw-").is_err());
        assert!(decode("&U=-").is_err());
    }

    #[test]
    fn raw_utf8_and_control_characters_are_errors() {
        assert!(decode("Données").is_err());
        assert!(decode("a\tb").is_err());
    }

    #[test]
    fn encoded_printable_ascii_is_an_error() {
        // "&AGE-" is UTF-16 'a', which must be written plainly.
        assert!(decode("&AGE-").is_err());
    }

    #[test]
    fn broken_lengths_and_lone_surrogates_are_errors() {
        // One sextet cannot make a byte.
        assert!(decode("&A-").is_err());
        // Three bytes: not a whole UTF-16 unit.
        assert!(decode("&AOkA-").is_err());
        // A lone high surrogate (D83D).
        assert!(decode("&2D0-").is_err());
    }

    #[test]
    fn any_string_round_trips() {
        for name in [
            "",
            "INBOX",
            "a&b&&c",
            "日本&語",
            "x\u{7f}y",
            "tab\there",
            "é-&-é",
        ] {
            assert_eq!(decode(&encode(name)).unwrap(), name, "{name:?}");
        }
    }
}
