//! A message's bytes in the two line-end forms it travels in (CRLF on the
//! wire and on IMAP servers, LF in Maildir files) and its SHA-256 digest.

/// The message with every bare LF written as CRLF, as IMAP servers hold
/// it (RFC 5322 form); borrowed when nothing changes.
pub fn with_crlf(content: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut bare = bare_lfs(content).peekable();
    if bare.peek().is_none() {
        return std::borrow::Cow::Borrowed(content);
    }
    let mut out = Vec::with_capacity(content.len() + content.len() / 40);
    let mut copied = 0;
    for lf in bare {
        out.extend_from_slice(&content[copied..lf]);
        out.push(b'\r');
        copied = lf;
    }
    out.extend_from_slice(&content[copied..]);
    std::borrow::Cow::Owned(out)
}

/// `content` with every CRLF written as LF (a lone CR stays): the line
/// ends of Maildir files as mail delivery agents and readers write them.
pub fn with_lf(content: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if memchr::memmem::find(content, b"\r\n").is_none() {
        return std::borrow::Cow::Borrowed(content);
    }
    let mut out = Vec::with_capacity(content.len());
    for piece in lf_pieces(content) {
        out.extend_from_slice(piece);
    }
    std::borrow::Cow::Owned(out)
}

/// [`with_lf`] of `content` as the pieces that make it, in order (all of
/// `content` but the CR of each CRLF): a big message is written or hashed
/// in its LF form without a second copy of it in memory.
pub fn lf_pieces(content: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut crs = memchr::memmem::find_iter(content, b"\r\n");
    let mut from = Some(0);
    std::iter::from_fn(move || {
        let start = from?;
        match crs.next() {
            Some(cr) => {
                from = Some(cr + 1);
                Some(&content[start..cr])
            }
            None => {
                from = None;
                Some(&content[start..])
            }
        }
    })
}

/// The size and SHA-256 (as [`sha256_hex`]) of the bytes `pieces` make
/// together.
pub fn size_and_sha256<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> (u64, String) {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut size = 0;
    for piece in pieces {
        hasher.update(piece);
        size += piece.len() as u64;
    }
    (size, hex(&hasher.finalize()))
}

/// The positions of the LFs in `content` that no CR precedes. Found with
/// memchr, not byte by byte: every message of a pull passes through here
/// or [`with_lf`], and a loop over bytes was a sixth of a first pull's CPU.
pub fn bare_lfs(content: &[u8]) -> impl Iterator<Item = usize> + '_ {
    memchr::memchr_iter(b'\n', content).filter(|&lf| lf == 0 || content[lf - 1] != b'\r')
}

/// SHA-256 of a message's bytes, lower-case hex: the content identity used
/// to find an upload again.
pub fn sha256_hex(content: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(content))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::{bare_lfs, lf_pieces, sha256_hex, size_and_sha256, with_crlf, with_lf};
    use std::borrow::Cow;

    #[test]
    fn bare_lfs_become_crlf_and_crlf_content_is_borrowed() {
        assert_eq!(&*with_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(&*with_crlf(b"\n"), b"\r\n");
        assert!(matches!(with_crlf(b"a\r\nb"), Cow::Borrowed(_)));
        assert!(matches!(with_crlf(b""), Cow::Borrowed(_)));
        assert_eq!(&*with_crlf(b"\r\n\n\r\r\n\nx"), b"\r\n\r\n\r\r\n\r\nx");
        assert_eq!(bare_lfs(b"\na\r\nb\n").collect::<Vec<_>>(), [0, 5]);
    }

    #[test]
    fn crlf_becomes_lf_and_a_lone_cr_stays() {
        assert_eq!(&*with_lf(b"a\r\nb\nc\rd\r\n"), b"a\nb\nc\rd\n");
        assert!(matches!(with_lf(b"a\nb\n"), Cow::Borrowed(_)));
        assert_eq!(&*with_lf(b"\r\r\n\r\n\r"), b"\r\n\n\r");
        // Back to the wire, a file written LF is the server's bytes again.
        let wire = b"Subject: x\r\n\r\nbody\r\n";
        assert_eq!(&*with_crlf(&with_lf(wire)), wire);
    }

    proptest::proptest! {
        /// The memchr versions agree with the plain definitions, byte for
        /// byte, on any bytes (mostly CRs, LFs and letters, to hit the edges).
        #[test]
        fn conversions_agree_with_their_definitions(
            content in proptest::collection::vec(
                proptest::sample::select(vec![b'\r', b'\n', b'a', 0x80]), 0..64)
        ) {
            let mut crlf = Vec::new();
            for (i, &b) in content.iter().enumerate() {
                if b == b'\n' && (i == 0 || content[i - 1] != b'\r') {
                    crlf.push(b'\r');
                }
                crlf.push(b);
            }
            let lf: Vec<u8> = content
                .iter()
                .enumerate()
                .filter(|&(i, &b)| !(b == b'\r' && content.get(i + 1) == Some(&b'\n')))
                .map(|(_, &b)| b)
                .collect();
            proptest::prop_assert_eq!(&*with_crlf(&content), &crlf[..]);
            proptest::prop_assert_eq!(&*with_lf(&content), &lf[..]);
            proptest::prop_assert_eq!(lf_pieces(&content).collect::<Vec<_>>().concat(), lf.clone());
            proptest::prop_assert_eq!(
                size_and_sha256(lf_pieces(&content)),
                (lf.len() as u64, sha256_hex(&lf))
            );
        }
    }
}
