//! A big folder's first pull, fetched over two connections (the engine's
//! `split_fetch`): the Maildir gets every message once, with its flags,
//! also when the run is killed (as by `kill -9`) at points spread over
//! the fetch and then run again.

use super::big_folders::fill_inbox;
use super::common::{
    assert_no_duplicates, env, local_view, run_ok, stderr, write_config_for, Modseq, Variant,
};
use crate::support::dovecot::{Dovecot, DovecotOptions};
use crate::support::env::TestEnv;
use std::path::PathBuf;

/// The environment variable of mailferry's crash hook.
const ABORT_AFTER: &str = "MAILFERRY_TEST_ABORT_AFTER_STEPS";
/// Enough to be split (the engine splits from 2,000).
const MESSAGES: usize = 2500;
/// Journal steps after which a run is killed: early, in each half of the
/// copies (three steps each: pending, pair, resolved), and near the end.
const KILL_AFTER: [usize; 4] = [3, 1800, 4600, 7450];
const TWO_CONNECTIONS: Variant = Variant {
    modseq: Modseq::Qresync,
    connections: 2,
};

/// A device for `user`, whose INBOX on the server holds [`MESSAGES`].
fn device(dovecot: &Dovecot, user: &str) -> (TestEnv, PathBuf) {
    fill_inbox(dovecot, user, MESSAGES);
    let mut env = env();
    let maildir = env.maildir();
    write_config_for(&mut env, dovecot, user, &maildir, TWO_CONNECTIONS);
    (env, maildir)
}

/// What the user checks: every message once, every third one read.
fn assert_pulled_exactly_once(maildir: &std::path::Path, what: &str) {
    let view = local_view(&maildir.join("INBOX"));
    assert_no_duplicates(&view, what);
    assert_eq!(view.len(), MESSAGES, "{what}");
    let read = view
        .iter()
        .filter(|(_, letters)| letters.contains('S'))
        .count();
    assert_eq!(read, MESSAGES.div_ceil(3), "{what}: read messages");
}

#[test]
fn a_split_first_pull_killed_at_several_points_ends_with_every_message_once() {
    let users: Vec<(String, String)> = std::iter::once("whole".to_string())
        .chain((0..KILL_AFTER.len()).map(|k| format!("k{k}")))
        .map(|user| (user.clone(), format!("{user}-pw")))
        .collect();
    let dovecot = Dovecot::start_with(DovecotOptions {
        users,
        ..DovecotOptions::default()
    });

    let (env, maildir) = device(&dovecot, "whole");
    let output = run_ok(&env, &["sync", "mail", "-v"]);
    assert!(
        stderr(&output).contains(&format!(
            "fetching {MESSAGES} message(s) over two connections"
        )),
        "the pull was not split:\n{}",
        stderr(&output)
    );
    assert_pulled_exactly_once(&maildir, "uninterrupted");

    for (k, steps) in KILL_AFTER.into_iter().enumerate() {
        let (env, maildir) = device(&dovecot, &format!("k{k}"));
        let output = env
            .command()
            .env(ABORT_AFTER, steps.to_string())
            .args(["sync", "mail"])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            None,
            "after step {steps}: expected an abort, got {output:?}"
        );
        run_ok(&env, &["sync", "mail"]);
        assert_pulled_exactly_once(&maildir, &format!("killed after step {steps}"));
        // And a further run finds nothing to do.
        let again = run_ok(&env, &["sync", "mail"]);
        assert_pulled_exactly_once(&maildir, &format!("run again after step {steps}"));
        assert!(again.status.success());
    }
}
