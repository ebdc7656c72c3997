//! Logging in as users set it up (a wrong password is tested in `pull`):
//! passwords from commands (with and without a shell), the warning about a
//! readable password file, the -vv log that never shows a secret, and OAuth2
//! (XOAUTH2 and OAUTHBEARER) against Dovecot validating tokens at an
//! introspection URL served by the test itself.

use super::common::{env, run_ok, stderr};
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use crate::support::mail::{sample_date, sample_message};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tempfile::TempDir;

/// Writes a config whose `server` store is alice's account over implicit
/// TLS, with `credentials` (indented store keys) instead of the password.
fn config_with(env: &mut TestEnv, dovecot: &Dovecot, credentials: &str) -> PathBuf {
    let store = dovecot
        .imap_store_yaml("server", "alice", "implicit")
        .replace(
            &format!("    password: {}\n", dovecot.password("alice")),
            credentials,
        );
    let yaml = format!(
        "stores:\n{store}  local:\n    type: maildir\n    path: {maildir}\n\
         channels:\n  mail:\n    far: server\n    near: local\nstate_dir: {state}\n",
        maildir = env.maildir().display(),
        state = env.root().join("state").display(),
    );
    env.write_config(&yaml)
}

fn seed_inbox(dovecot: &Dovecot, count: u64) {
    let mut client = dovecot.client("alice");
    for seed in 0..count {
        client.append("INBOX", &sample_message(seed), &[], Some(sample_date(seed)));
    }
}

fn inbox_count(env: &TestEnv) -> usize {
    let dir = env.maildir().join("INBOX");
    ["cur", "new"]
        .iter()
        .map(|sub| std::fs::read_dir(dir.join(sub)).map_or(0, |d| d.count()))
        .sum()
}

#[test]
fn password_never_appears_at_vv_but_the_protocol_does() {
    let dovecot = Dovecot::start();
    seed_inbox(&dovecot, 3);
    for auth in ["login", "plain"] {
        let mut env = env();
        config_with(
            &mut env,
            &dovecot,
            &format!(
                "    auth: {auth}\n    password: {}\n",
                dovecot.password("alice")
            ),
        );
        let output = run_ok(&env, &["-vv", "sync", "mail"]);
        let everything = format!(
            "{}{}",
            stderr(&output),
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(
            !everything.contains(dovecot.password("alice")),
            "{everything}"
        );
        // Nor its SASL PLAIN encoding.
        assert!(!everything.contains("AGFsaWNlAGFsaWNlLXB3"), "{everything}");
        let expected = match auth {
            "login" => "C: LOGIN \"alice\" <hidden>",
            _ => "C: AUTHENTICATE PLAIN",
        };
        assert!(everything.contains(expected), "{everything}");
        assert!(everything.contains("C: UID FETCH"), "{everything}");
        assert!(everything.contains("S: OK"), "{everything}");
        // -v level lines: the folder and its counts.
        assert!(
            everything.contains("info: folder INBOX: 3 message(s) on the far side"),
            "{everything}"
        );
        assert_eq!(inbox_count(&env), 3);
    }
}

#[test]
fn password_command_runs_without_a_shell_or_with_one_when_needed() {
    let dovecot = Dovecot::start();
    seed_inbox(&dovecot, 1);
    let password = dovecot.password("alice");
    for command in [
        // A plain command line: quotes are honoured, no shell is run.
        format!("printf '%s\\n' '{password}'"),
        // Shell syntax: a pipe, through sh -c.
        format!("printf 'first\\n{password}\\n' | tail -n 1"),
    ] {
        let mut env = env();
        config_with(
            &mut env,
            &dovecot,
            &format!(
                "    password_command: \"{}\"\n",
                command.replace('\\', "\\\\").replace('"', "\\\"")
            ),
        );
        run_ok(&env, &["sync", "mail"]);
        assert_eq!(inbox_count(&env), 1, "{command}");
    }
}

#[test]
fn failing_password_command_reports_its_stderr() {
    let dovecot = Dovecot::start();
    let mut env = env();
    config_with(
        &mut env,
        &dovecot,
        "    password_command: \"sh -c 'echo gpg: decryption failed: No secret key >&2; exit 2'\"\n",
    );
    let output = env.run(&["sync", "mail"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("the password command `sh -c"), "{err}");
    assert!(err.contains("exit status: 2"), "{err}");
    assert!(
        err.contains("it said: gpg: decryption failed: No secret key"),
        "{err}"
    );
}

#[test]
fn readable_password_file_is_warned_about_unless_quiet() {
    let dovecot = Dovecot::start();
    let mut env = env();
    let path = config_with(
        &mut env,
        &dovecot,
        &format!("    password: {}\n", dovecot.password("alice")),
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = stderr(&run_ok(&env, &["sync", "mail"]));
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("can be read by other users"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("chmod 600"), "{err}");
    assert!(!err.contains(dovecot.password("alice")), "{err}");
    assert_eq!(stderr(&run_ok(&env, &["-q", "sync", "mail"])), "");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(stderr(&run_ok(&env, &["sync", "mail"])), "");
}

// ---------------------------------------------------------------------------
// OAuth2 against Dovecot's oauth2 passdb.

const GOOD_TOKEN: &str = "ya29.good-token-for-alice";

/// An OAuth2 introspection endpoint (RFC 7662) on loopback: answers
/// Dovecot's POST `token=...` with `{"active": true, "username": "alice"}`
/// for the good token and `{"active": false}` for any other. Records the
/// tokens it was asked about.
struct Introspection {
    port: u16,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Introspection {
    fn start() -> Introspection {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let record = asked.clone();
        // Lives until the test process ends; each test has its own port.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || answer(stream, &record));
            }
        });
        Introspection { port, asked }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/introspect", self.port)
    }
}

fn answer(stream: TcpStream, asked: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    let body = String::from_utf8_lossy(&body).into_owned();
    let token = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .unwrap_or_default()
        .to_string();
    let json = if token == GOOD_TOKEN {
        r#"{"active": true, "username": "alice"}"#
    } else {
        r#"{"active": false}"#
    };
    asked.lock().unwrap().push(token);
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{json}",
        json.len()
    );
}

/// A Dovecot that accepts XOAUTH2 and OAUTHBEARER and checks tokens with
/// `introspection`, and the directory of its oauth2 settings (keep it as
/// long as the server).
fn oauth2_dovecot(introspection: &Introspection) -> (Dovecot, TempDir) {
    oauth2_dovecot_with(introspection, None)
}

fn oauth2_dovecot_with(
    introspection: &Introspection,
    capability: Option<&str>,
) -> (Dovecot, TempDir) {
    let dir = tempfile::Builder::new()
        .prefix("mfoauth-")
        .tempdir_in("/tmp")
        .unwrap();
    let settings = dir.path().join("oauth2.conf.ext");
    std::fs::write(
        &settings,
        format!(
            "introspection_mode = post\nintrospection_url = {}\nusername_attribute = username\n\
             active_attribute = active\nactive_value = true\n",
            introspection.url()
        ),
    )
    .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&settings, std::fs::Permissions::from_mode(0o644)).unwrap();
    let extra_config = format!(
        "auth_mechanisms = plain login xoauth2 oauthbearer\n\
         passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {}\n}}\n",
        settings.display()
    );
    let dovecot = Dovecot::start_with(DovecotOptions {
        extra_config,
        imap_capability: capability.map(str::to_string),
        ..DovecotOptions::default()
    });
    (dovecot, dir)
}

#[test]
fn xoauth2_and_oauthbearer_log_in_with_a_token_from_the_command() {
    let introspection = Introspection::start();
    let (dovecot, _settings) = oauth2_dovecot(&introspection);
    seed_inbox(&dovecot, 2);
    for mechanism in ["xoauth2", "oauthbearer"] {
        let mut env = env();
        config_with(
            &mut env,
            &dovecot,
            &format!(
                "    auth: {mechanism}\n    oauth2_token_command: printf '%s\\n' {GOOD_TOKEN}\n"
            ),
        );
        let output = run_ok(&env, &["-vv", "sync", "mail"]);
        let err = stderr(&output);
        assert_eq!(inbox_count(&env), 2, "{mechanism}");
        assert!(!err.contains(GOOD_TOKEN), "{err}");
        // Dovecot offers SASL-IR: the initial response is on the command line.
        assert!(
            err.contains(&format!(
                "C: AUTHENTICATE {} <hidden>",
                mechanism.to_uppercase()
            )),
            "{err}"
        );
    }
    assert!(introspection
        .asked
        .lock()
        .unwrap()
        .iter()
        .all(|token| token == GOOD_TOKEN));
}

#[test]
fn refused_token_reports_the_servers_oauth2_error() {
    let introspection = Introspection::start();
    let (dovecot, _settings) = oauth2_dovecot(&introspection);
    for mechanism in ["xoauth2", "oauthbearer"] {
        let mut env = env();
        config_with(
            &mut env,
            &dovecot,
            &format!("    auth: {mechanism}\n    oauth2_token_command: echo expired-token\n"),
        );
        let output = env.run(&["sync", "mail"]);
        assert_eq!(output.status.code(), Some(1), "{mechanism}");
        let err = stderr(&output);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("login refused by localhost for user alice"),
            "{err}"
        );
        assert!(err.contains("the server's OAuth2 error: {"), "{err}");
        assert!(!err.contains("expired-token"), "{err}");
    }
}

#[test]
fn without_sasl_ir_the_initial_response_answers_the_first_continuation() {
    let introspection = Introspection::start();
    let (dovecot, _settings) = oauth2_dovecot_with(
        &introspection,
        Some("IMAP4rev1 LITERAL+ ID ENABLE IDLE UIDPLUS CONDSTORE QRESYNC NAMESPACE MOVE"),
    );
    seed_inbox(&dovecot, 1);
    for mechanism in ["XOAUTH2", "OAUTHBEARER"] {
        let mut env = env();
        config_with(
            &mut env,
            &dovecot,
            &format!(
                "    auth: {}\n    oauth2_token_command: printf '%s\\n' {GOOD_TOKEN}\n",
                mechanism.to_lowercase()
            ),
        );
        let err = stderr(&run_ok(&env, &["-vv", "sync", "mail"]));
        assert!(
            err.contains(&format!("C: AUTHENTICATE {mechanism}\n")),
            "{err}"
        );
        assert!(err.contains("C: <hidden> (initial response)"), "{err}");
        assert!(!err.contains(GOOD_TOKEN), "{err}");
        assert_eq!(inbox_count(&env), 1);
    }
}
