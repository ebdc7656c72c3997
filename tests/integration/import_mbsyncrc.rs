//! `mailferry import-mbsyncrc`: an mbsync user's configuration becomes one
//! that `mailferry check` accepts and that syncs, against a real Dovecot.

use super::common::{env, run_ok, stderr};
use crate::support::dovecot::Dovecot;
use crate::support::local::read_folder;
use crate::support::mail::{sample_date, sample_message};
use mailferry::config::Config;
use std::fs;
use std::path::Path;

const REALISTIC: &str = include_str!("../fixtures/realistic.mbsyncrc");

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn realistic_mbsyncrc_converts_to_a_config_the_parser_accepts() {
    let env = env();
    let file = env.home().join(".mbsyncrc");
    fs::write(&file, REALISTIC).unwrap();

    // No argument: ~/.mbsyncrc, as mbsync reads it.
    let output = run_ok(&env, &["import-mbsyncrc"]);
    let yaml = stdout(&output);
    let config = Config::from_yaml(&yaml, Path::new("imported.yaml"))
        .unwrap_or_else(|err| panic!("{err}\n{yaml}"));
    assert_eq!(config.channels.len(), 5);
    assert_eq!(config.groups.len(), 2);
    assert!(
        stderr(&output).contains("could not be translated"),
        "{}",
        stderr(&output)
    );

    // -q: the YAML only.
    let quiet = run_ok(&env, &["-q", "import-mbsyncrc", file.to_str().unwrap()]);
    assert_eq!(stdout(&quiet), yaml);
    assert_eq!(stderr(&quiet), "");
}

/// Runs `mailferry import-mbsyncrc -` with `text` on its standard input.
fn import_from_stdin(env: &crate::support::env::TestEnv, text: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = env
        .command()
        .args(["import-mbsyncrc", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailferry");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(text.as_bytes())
        .expect("write the mbsyncrc");
    drop(stdin);
    child.wait_with_output().expect("wait for mailferry")
}

#[test]
fn mbsyncrc_piped_on_stdin_with_dash() {
    let env = env();
    let file = env.root().join("mbsyncrc");
    fs::write(&file, REALISTIC).unwrap();
    let from_file = run_ok(&env, &["import-mbsyncrc", file.to_str().unwrap()]);

    let piped = import_from_stdin(&env, REALISTIC);
    assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
    // The same YAML; only the first comment names where it came from.
    let (piped_yaml, file_yaml) = (stdout(&piped), stdout(&from_file));
    let (piped_first, piped_rest) = piped_yaml.split_once('\n').unwrap_or_default();
    let (_, file_rest) = file_yaml.split_once('\n').unwrap_or_default();
    assert_eq!(piped_rest, file_rest);
    assert!(
        piped_first.contains("converted from <stdin>"),
        "{piped_first}"
    );
    assert!(
        stderr(&piped).contains("of <stdin> could not be translated"),
        "{}",
        stderr(&piped)
    );

    let broken = import_from_stdin(&env, "IMAPAccount a\nHost h\nPass \"unterminated\n");
    assert_eq!(broken.status.code(), Some(2), "{}", stderr(&broken));
    assert!(
        stderr(&broken).contains("<stdin>:3: missing closing double quote"),
        "{}",
        stderr(&broken)
    );
    assert_eq!(stdout(&broken), "");
}

#[test]
fn malformed_mbsyncrc_exits_2_naming_file_and_line() {
    let env = env();
    let file = env.root().join("broken.mbsyncrc");
    fs::write(&file, "IMAPAccount a\nHost h\nPass \"unterminated\n").unwrap();
    let output = env.run(&["import-mbsyncrc", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!(
            "{}:3: missing closing double quote",
            file.display()
        )),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "");

    let missing = env.run(&["import-mbsyncrc", "/no/such/mbsyncrc"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("/no/such/mbsyncrc"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn imported_config_passes_check_and_syncs_against_dovecot() {
    let dovecot = Dovecot::start();
    let mut client = dovecot.client("alice");
    client.create("Lists");
    client.create("Junk");
    client.append("INBOX", &sample_message(1), &[], Some(sample_date(1)));
    client.append(
        "Lists",
        &sample_message(2),
        &["\\Seen"],
        Some(sample_date(2)),
    );
    client.append("Junk", &sample_message(3), &[], Some(sample_date(3)));
    client.logout();

    let mut env = env();
    let mail = env.root().join("Mail");
    let ca = dovecot.ca_path();
    // Two accounts as an mbsync user writes them: one with an IMAPAccount,
    // implicit TLS and a password command; one with the account inside the
    // store, STARTTLS (mbsync's default) and a password in the file.
    let mbsyncrc = format!(
        "Create Near\nExpunge Both\nSyncState *\n\n\
         IMAPAccount alice\nHost localhost\nPort {imaps}\nUser alice\n\
         PassCmd \"echo {alice_pw}\"\nSSLType IMAPS\nCertificateFile {ca}\n\n\
         IMAPStore alice-remote\nAccount alice\n\n\
         MaildirStore alice-local\nPath {mail}/alice/\nInbox {mail}/alice/INBOX\nSubFolders Verbatim\n\n\
         Channel alice\nFar :alice-remote:\nNear :alice-local:\nPatterns * !Junk\nSync Pull\n\n\
         IMAPStore bob-remote\nHost localhost\nPort {imap}\nUser bob\nPass \"{bob_pw}\"\nCertificateFile {ca}\n\n\
         MaildirStore bob-local\nPath {mail}/bob/\nInbox {mail}/bob/INBOX\n\n\
         Channel bob\nFar :bob-remote:\nNear :bob-local:\n\n\
         Group everyone alice bob\n",
        imaps = dovecot.imaps_port(),
        imap = dovecot.imap_port(),
        alice_pw = dovecot.password("alice"),
        bob_pw = dovecot.password("bob"),
        ca = ca.display(),
        mail = mail.display(),
    );
    let file = env.root().join("mbsyncrc");
    fs::write(&file, mbsyncrc).unwrap();

    let yaml = stdout(&run_ok(&env, &["import-mbsyncrc", file.to_str().unwrap()]));
    assert!(!yaml.contains(dovecot.password("bob")), "{yaml}");
    let state = env.root().join("state");
    env.write_config(&format!("{yaml}state_dir: {}\n", state.display()));

    // bob's password was in the mbsyncrc and is asked for by name.
    let check = env
        .command()
        .arg("check")
        .env("MAILFERRY_PASSWORD_BOB_REMOTE", dovecot.password("bob"))
        .output()
        .unwrap();
    let check_out = stdout(&check);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{check_out}\n{}",
        stderr(&check)
    );
    assert!(check_out.contains("store alice-remote: ok"), "{check_out}");
    assert!(check_out.contains("store bob-remote: ok"), "{check_out}");

    // As cron would run it: nothing printed when all is well.
    let sync = run_ok(&env, &["-q", "sync", "alice"]);
    assert_eq!(
        (stdout(&sync), stderr(&sync)),
        (String::new(), String::new())
    );
    assert_eq!(read_folder(&mail.join("alice/INBOX")).len(), 1);
    assert_eq!(read_folder(&mail.join("alice/Lists")).len(), 1);
    assert!(
        !mail.join("alice/Junk").exists(),
        "Patterns !Junk was not kept"
    );
}
