//! TLS as users meet it: each way a secure connection can be refused says
//! which (a certificate that does not verify, one issued for another name, a
//! pin that does not match, a server without STARTTLS), a right pin works
//! with a self-signed certificate and no CA file, TLS 1.3 can be required,
//! and `tls: none` warns on every run that is not -q.

use super::common::{env, run_ok, stderr};
use super::imap_store::config;
use crate::support::dovecot::{Dovecot, DovecotOptions};
use mailferry::config::{CertFingerprint, Secret, TlsMode, TlsVersion};
use mailferry::store::imap::ImapStore;
use mailferry::store::Store;
use std::path::Path;
use std::process::Command;

/// The pin of a PEM certificate as users get it:
/// `openssl x509 -noout -fingerprint -sha256`.
fn openssl_fingerprint(cert: &Path) -> String {
    let output = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let (_, hex) = text.trim().split_once('=').unwrap();
    format!("sha256:{hex}")
}

fn connect_error(config: &mailferry::config::ImapConfig, dovecot: &Dovecot) -> String {
    match ImapStore::connect(config, &Secret::new(dovecot.password("alice"))) {
        Ok(_) => panic!("connected, but expected a TLS error"),
        Err(error) => format!("{error:#}"),
    }
}

#[test]
fn right_pin_connects_to_a_self_signed_server_without_ca_file_in_both_modes() {
    let dovecot = Dovecot::start();
    let pin = CertFingerprint::parse(&openssl_fingerprint(&dovecot.ca_path())).unwrap();
    for tls in [TlsMode::Implicit, TlsMode::Starttls] {
        let mut config = config(&dovecot, tls);
        config.ca_file = Vec::new();
        config.tls_fingerprint = Some(pin);
        // The name is not checked either: the pin names the certificate.
        config.host = "127.0.0.1".to_string();
        let mut store = ImapStore::connect(&config, &Secret::new(dovecot.password("alice")))
            .unwrap_or_else(|e| panic!("{tls:?}: {e:#}"));
        assert!(store
            .list_folders()
            .unwrap()
            .iter()
            .any(|f| f.name == "INBOX"));
    }
}

#[test]
fn wrong_pin_is_refused_even_when_the_ca_would_verify() {
    let dovecot = Dovecot::start();
    let right = openssl_fingerprint(&dovecot.ca_path());
    let wrong = openssl_fingerprint(&dovecot.untrusted_ca_path());
    for tls in [TlsMode::Implicit, TlsMode::Starttls] {
        let mut config = config(&dovecot, tls);
        config.tls_fingerprint = Some(CertFingerprint::parse(&wrong).unwrap());
        let error = connect_error(&config, &dovecot);
        assert_eq!(
            error,
            format!(
                "TLS certificate of localhost:{} does not match tls_fingerprint: the server's \
                 is {right}, the config pins {wrong}",
                config.port
            )
        );
    }
}

#[test]
fn certificate_from_an_unknown_ca_is_refused_naming_ca_file() {
    let dovecot = Dovecot::start();
    let mut config = config(&dovecot, TlsMode::Implicit);
    config.ca_file = vec![dovecot.untrusted_ca_path()];
    let error = connect_error(&config, &dovecot);
    assert!(
        error.starts_with(&format!(
            "TLS certificate of localhost:{} does not verify",
            config.port
        )),
        "{error}"
    );
    assert!(
        error.contains("set ca_file, or pin it with tls_fingerprint"),
        "{error}"
    );
}

#[test]
fn certificate_for_another_name_is_refused_naming_the_host() {
    // The server presents a certificate for mail.example.org, which the
    // client trusts, but the client asked for localhost.
    let keys = tempfile::Builder::new()
        .prefix("mftls-")
        .tempdir_in("/tmp")
        .unwrap();
    let (cert, key) = (keys.path().join("cert.pem"), keys.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args(["-subj", "/CN=mail.example.org"])
        .args(["-addext", "subjectAltName=DNS:mail.example.org"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success());
    use std::os::unix::fs::PermissionsExt;
    for path in [keys.path(), &cert, &key] {
        let mode = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let dovecot = Dovecot::start_with(DovecotOptions {
        extra_config: format!(
            "ssl_cert = <{}\nssl_key = <{}\n",
            cert.display(),
            key.display()
        ),
        ..DovecotOptions::default()
    });
    let mut config = config(&dovecot, TlsMode::Implicit);
    config.ca_file = vec![cert.clone()];
    let error = connect_error(&config, &dovecot);
    assert!(
        error.starts_with(&format!(
            "TLS certificate of localhost:{} is not valid for the name localhost",
            config.port
        )),
        "{error}"
    );
}

#[test]
fn starttls_missing_is_refused_through_the_binary() {
    let dovecot = Dovecot::start_with(DovecotOptions {
        tls: false,
        ..DovecotOptions::default()
    });
    let mut env = env();
    let store = dovecot
        .imap_store_yaml("server", "alice", "none")
        .replace("tls: none", "tls: starttls")
        .replace("host: 127.0.0.1", "host: localhost");
    env.write_config(&format!("stores:\n{store}"));
    let output = env.run(&["list", "server"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(&format!(
            "server localhost:{} does not offer STARTTLS; refusing to send the password in clear",
            dovecot.imap_port()
        )),
        "{err}"
    );
}

#[test]
fn tls_1_3_can_be_required() {
    let dovecot = Dovecot::start();
    let mut config = config(&dovecot, TlsMode::Implicit);
    config.tls_min_version = TlsVersion::V1_3;
    let store = ImapStore::connect(&config, &Secret::new(dovecot.password("alice")))
        .unwrap_or_else(|e| panic!("{e:#}"));
    store.logout().unwrap();
}

#[test]
fn tls_none_warns_on_every_run_unless_quiet() {
    let dovecot = Dovecot::start();
    let mut env = env();
    env.write_config(&format!(
        "stores:\n{}",
        dovecot.imap_store_yaml("server", "alice", "none")
    ));
    let warning = "mailferry: warning: store server has tls: none: sending the password \
                   unencrypted to 127.0.0.1";
    for _ in 0..2 {
        let output = run_ok(&env, &["list", "server"]);
        // `list` also tells the namespace in use on stderr; the warning
        // must be there once.
        let warnings: Vec<String> = stderr(&output)
            .lines()
            .filter(|line| line.contains("warning"))
            .map(str::to_string)
            .collect();
        assert_eq!(warnings, [warning]);
    }
    assert_eq!(stderr(&run_ok(&env, &["-q", "list", "server"])), "");
}

#[test]
fn tls_1_3_minimum_refuses_a_server_that_stops_at_1_2() {
    // Dovecot 2.3 cannot cap its TLS version, so a TLS 1.2 server of our own
    // with the harness's certificate stands in for an old one.
    let dovecot = Dovecot::start();
    let cert = std::fs::read(dovecot.ca_path()).unwrap();
    let key = std::fs::read(dovecot.ca_path().with_file_name("key.pem")).unwrap();
    let identity = native_tls::Identity::from_pkcs8(&cert, &key).unwrap();
    let acceptor = native_tls::TlsAcceptor::builder(identity)
        .max_protocol_version(Some(native_tls::Protocol::Tlsv12))
        .build()
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let _ = acceptor.accept(stream);
    });
    let mut config = config(&dovecot, TlsMode::Implicit);
    config.port = port;
    config.tls_min_version = TlsVersion::V1_3;
    let error = connect_error(&config, &dovecot);
    assert!(
        error.starts_with(&format!(
            "TLS handshake with localhost:{port} failed: the server does not offer the TLS \
             version tls_min_version asks for"
        )),
        "{error}"
    );
    server.join().unwrap();
}
