//! A message's bytes in the two line-end forms it travels in (CRLF on the
//! wire and on IMAP servers, LF in Maildir files) and its SHA-256 digest.

/// The message with every bare LF written as CRLF, as IMAP servers hold
/// it (RFC 5322 form); borrowed when nothing changes.
pub fn with_crlf(content: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let bare_lf = |(i, &b): (usize, &u8)| b == b'\n' && (i == 0 || content[i - 1] != b'\r');
    if !content.iter().enumerate().any(bare_lf) {
        return std::borrow::Cow::Borrowed(content);
    }
    let mut out = Vec::with_capacity(content.len() + content.len() / 40);
    for (i, &b) in content.iter().enumerate() {
        if bare_lf((i, &b)) {
            out.push(b'\r');
        }
        out.push(b);
    }
    std::borrow::Cow::Owned(out)
}

/// `content` with every CRLF written as LF (a lone CR stays): the line
/// ends of Maildir files as mail delivery agents and readers write them.
pub fn with_lf(content: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !content.windows(2).any(|pair| pair == b"\r\n") {
        return std::borrow::Cow::Borrowed(content);
    }
    let mut out = Vec::with_capacity(content.len());
    for (i, &b) in content.iter().enumerate() {
        if b == b'\r' && content.get(i + 1) == Some(&b'\n') {
            continue;
        }
        out.push(b);
    }
    std::borrow::Cow::Owned(out)
}

/// SHA-256 of a message's bytes, lower-case hex: the content identity used
/// to find an upload again.
pub fn sha256_hex(content: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{with_crlf, with_lf};
    use std::borrow::Cow;

    #[test]
    fn bare_lfs_become_crlf_and_crlf_content_is_borrowed() {
        assert_eq!(&*with_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(&*with_crlf(b"\n"), b"\r\n");
        assert!(matches!(with_crlf(b"a\r\nb"), Cow::Borrowed(_)));
        assert!(matches!(with_crlf(b""), Cow::Borrowed(_)));
    }

    #[test]
    fn crlf_becomes_lf_and_a_lone_cr_stays() {
        assert_eq!(&*with_lf(b"a\r\nb\nc\rd\r\n"), b"a\nb\nc\rd\n");
        assert!(matches!(with_lf(b"a\nb\n"), Cow::Borrowed(_)));
        // Back to the wire, a file written LF is the server's bytes again.
        let wire = b"Subject: x\r\n\r\nbody\r\n";
        assert_eq!(&*with_crlf(&with_lf(wire)), wire);
    }
}
