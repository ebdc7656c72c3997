//! The SASL mechanisms of AUTHENTICATE: PLAIN, XOAUTH2 and OAUTHBEARER.
//!
//! XOAUTH2 (Google's and Microsoft's format, in no RFC) sends
//! `user=U ^A auth=Bearer T ^A ^A`; OAUTHBEARER (RFC 7628) sends a GS2
//! header and key-value pairs: `n,a=U, ^A host=H ^A port=P ^A auth=Bearer T
//! ^A ^A`. With SASL-IR (RFC 4959) the initial response goes on the
//! AUTHENTICATE line itself; otherwise the server's empty `+` asks for it.
//! A failed OAuth2 login is reported by a challenge holding a JSON error:
//! we record it and answer with the dummy response each mechanism asks for
//! (empty for XOAUTH2, ^A for OAUTHBEARER), after which the server says NO.

use crate::config::{AuthMethod, ImapConfig, Secret};
use std::cell::{Cell, RefCell};

/// SASL PLAIN: authorization identity empty, then user and password.
pub struct Plain<'a> {
    pub user: &'a str,
    pub secret: &'a Secret,
}

impl Plain<'_> {
    /// The one response PLAIN sends, whatever the challenge.
    pub fn response(&self) -> Vec<u8> {
        let mut response = Vec::new();
        response.push(0);
        response.extend_from_slice(self.user.as_bytes());
        response.push(0);
        response.extend_from_slice(self.secret.expose().as_bytes());
        response
    }
}

/// XOAUTH2 or OAUTHBEARER with a bearer token.
pub struct OAuth2 {
    mechanism: &'static str,
    /// The response after the SASL-IR or the first empty challenge.
    initial_response: Vec<u8>,
    /// The dummy response that ends a failed exchange.
    abort_response: Vec<u8>,
    /// Whether the initial response has gone out (on the command line with
    /// SASL-IR, so from the start).
    initial_sent: Cell<bool>,
    /// The JSON error a failing server sent as a challenge.
    server_error: RefCell<Option<String>>,
}

impl OAuth2 {
    pub fn new(config: &ImapConfig, token: &Secret) -> OAuth2 {
        let (mechanism, initial_response, abort_response) = match config.auth {
            AuthMethod::Oauthbearer => (
                "OAUTHBEARER",
                oauthbearer_response(&config.user, &config.host, config.port, token),
                vec![0x01],
            ),
            _ => ("XOAUTH2", xoauth2_response(&config.user, token), Vec::new()),
        };
        OAuth2 {
            mechanism,
            initial_response,
            abort_response,
            initial_sent: Cell::new(false),
            server_error: RefCell::new(None),
        }
    }

    /// The mechanism's name for AUTHENTICATE.
    pub fn mechanism(&self) -> &'static str {
        self.mechanism
    }

    /// The server's JSON error, if it sent one.
    pub fn server_error(&self) -> Option<String> {
        self.server_error.borrow().clone()
    }
}

impl OAuth2 {
    /// The response to a challenge: the initial response first (asked by
    /// an empty challenge, or given with SASL-IR), then the dummy that
    /// ends a failed exchange, keeping the server's error.
    pub fn process(&self, challenge: &[u8]) -> Vec<u8> {
        if !self.initial_sent.replace(true) {
            log::debug!("C: <hidden> (initial response)");
            return self.initial_response.clone();
        }
        // Any challenge after the initial response is the error report.
        let text = String::from_utf8_lossy(challenge).trim().to_string();
        log::debug!("S: + {text}");
        self.server_error.replace(Some(text));
        self.abort_response.clone()
    }
}

/// `user=U ^A auth=Bearer T ^A ^A`.
pub fn xoauth2_response(user: &str, token: &Secret) -> Vec<u8> {
    format!("user={user}\x01auth=Bearer {}\x01\x01", token.expose()).into_bytes()
}

/// RFC 7628 section 3.1: GS2 header `n,a=U,` (`,` and `=` in U escaped as
/// `=2C` and `=3D`), then host, port and the bearer token.
pub fn oauthbearer_response(user: &str, host: &str, port: u16, token: &Secret) -> Vec<u8> {
    let user = user.replace('=', "=3D").replace(',', "=2C");
    format!(
        "n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {}\x01\x01",
        token.expose()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_response_is_nul_separated() {
        let secret = Secret::new("pw");
        let auth = Plain {
            user: "alice",
            secret: &secret,
        };
        assert_eq!(auth.response(), b"\0alice\0pw");
    }

    #[test]
    fn xoauth2_response_is_googles_format() {
        assert_eq!(
            xoauth2_response("a@gmail.com", &Secret::new("ya29.tok")),
            b"user=a@gmail.com\x01auth=Bearer ya29.tok\x01\x01"
        );
    }

    #[test]
    fn oauthbearer_response_has_the_gs2_header_and_escapes_the_user() {
        assert_eq!(
            oauthbearer_response("a,b=c@x", "imap.x", 993, &Secret::new("t")),
            b"n,a=a=2Cb=3Dc@x,\x01host=imap.x\x01port=993\x01auth=Bearer t\x01\x01"
        );
    }
}
