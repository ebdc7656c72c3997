//! kill -9 at random moments: a two-way sync of a few thousand messages
//! with changes on both sides, a POP3 download that deletes from the server
//! as it goes, and a POP3-to-IMAP migration, each SIGKILLed again and again
//! at moments drawn from a seeded generator (the seed is printed; replay
//! with MAILFERRY_SOAK_SEED) and resumed each time. The end is always the
//! uninterrupted result: nothing lost, nothing twice.
//!
//! MAILFERRY_SOAK=N makes N times as many kills.

use super::common::run_ok;
use super::pop3::pop3_store_yaml;
use super::scenario::{
    config_yaml, difference, dovecot, fill_server_inbox, message, soak_factor, trial_user, views,
    Rng, Size, Template,
};
use crate::support::dovecot::Dovecot;
use crate::support::env::TestEnv;
use crate::support::local::read_folder;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Kills per scenario by default (times MAILFERRY_SOAK).
const KILLS: usize = 12;
/// The same for the POP3 download and the migration, which are simpler.
const KILLS_SIMPLE: usize = 8;

/// How a run that was not killed ended, or that it was.
pub(super) enum RunEnd {
    Killed,
    Finished,
}

/// Starts `mailferry ARGS` and SIGKILLs it after `delay` unless it ended
/// first; a run that ends by itself must succeed.
pub(super) fn run_and_kill(device: &TestEnv, args: &[&str], delay: Duration) -> RunEnd {
    let log = device.root().join("run.log");
    let mut child = device
        .command()
        .args(args)
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + delay;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "mailferry {args:?} failed on its own ({status:?}):\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
            return RunEnd::Finished;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(5)));
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    if status.signal() == Some(libc::SIGKILL) {
        return RunEnd::Killed;
    }
    assert!(
        status.success(),
        "mailferry {args:?} failed on its own ({status:?}):\n{}",
        fs::read_to_string(&log).unwrap_or_default()
    );
    RunEnd::Finished
}

/// Kills runs of `args` at random moments until `kills` kills landed or a
/// run finished; `after_kill` checks what must hold at any moment. The
/// first kill comes within `longest` (about an uninterrupted run); each
/// resumed run has less left to do, so the window shrinks after each kill.
/// Returns the kills that landed.
fn kill_repeatedly(
    device: &TestEnv,
    args: &[&str],
    rng: &mut Rng,
    longest: Duration,
    kills: usize,
    mut after_kill: impl FnMut(),
) -> usize {
    let mut landed = 0;
    // A resumed or warm run is quicker than the measured one: aim at its
    // first half or so, so that most first draws land.
    let mut window = (longest.as_millis() as u64 * 3 / 5).max(20);
    while landed < kills {
        let delay = Duration::from_millis(rng.between(5, window));
        match run_and_kill(device, args, delay) {
            RunEnd::Killed => {
                landed += 1;
                after_kill();
                window = (window / 2).max(50);
            }
            RunEnd::Finished => break,
        }
    }
    landed
}

/// Kills per round: a round ends with a run that gets through, then its
/// result is checked.
const KILLS_PER_ROUND: usize = 6;

#[test]
fn a_two_way_sync_of_thousands_killed_at_random_moments_ends_as_the_uninterrupted_one() {
    let started = Instant::now();
    let wanted_kills = KILLS * soak_factor();
    let mut rng = Rng::from_env("kill -9 soak, two-way sync");
    let dovecot = dovecot(2 + 2 * wanted_kills);
    let template = Template::build(
        &dovecot,
        Size {
            inbox: 1500,
            archive: 500,
            every: 20,
        },
    );
    let built = started.elapsed();

    let reference_user = trial_user(0);
    let mut reference = template.clone_for(&dovecot, &reference_user);
    reference.write_config(&config_yaml(
        &reference,
        &reference_user,
        dovecot.imap_port(),
        None,
        "",
    ));
    let timer = Instant::now();
    run_ok(&reference, &["sync", "mail"]);
    let uninterrupted = timer.elapsed();
    let expected = views(&dovecot, &reference_user, &reference.maildir()).unwrap();
    assert!(expected[0].len() > 1400, "{}", expected[0].len());

    // Rounds: a fresh clone, killed until a run gets through, then checked.
    let (mut kills, mut rounds) = (0, 0);
    while kills < wanted_kills {
        rounds += 1;
        assert!(
            rounds <= 2 * wanted_kills,
            "{rounds} rounds for {kills} kills"
        );
        let user = trial_user(rounds);
        let mut device = template.clone_for(&dovecot, &user);
        device.write_config(&config_yaml(&device, &user, dovecot.imap_port(), None, ""));
        kills += kill_repeatedly(
            &device,
            &["sync", "mail"],
            &mut rng,
            uninterrupted,
            (wanted_kills - kills).min(KILLS_PER_ROUND),
            || {},
        );
        run_ok(&device, &["sync", "mail"]);
        let got = views(&dovecot, &user, &device.maildir()).unwrap();
        assert!(
            got == expected,
            "round {rounds}: differs from the uninterrupted sync:\n{}",
            difference(&expected, &got)
        );
    }
    eprintln!(
        "kill -9 soak, two-way sync of {} + {} messages: {kills} kills in {rounds} rounds, each \
         round resumed to the uninterrupted result (nothing lost, nothing duplicated); \
         uninterrupted sync {:.1} s, template {:.1} s, all {:.1} s",
        template.size.inbox,
        template.size.archive,
        uninterrupted.as_secs_f64(),
        built.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// Message-IDs in a folder of the Maildir; panics on one held twice.
fn local_ids(dir: &std::path::Path) -> BTreeSet<String> {
    let messages = read_folder(dir);
    let ids: BTreeSet<String> = messages.iter().filter_map(|m| m.message_id()).collect();
    assert_eq!(
        ids.len(),
        messages.len(),
        "a message is held twice in {}",
        dir.display()
    );
    ids
}

/// Message-IDs in the server's INBOX of `user`; panics on one held twice.
fn server_ids(dovecot: &Dovecot, user: &str) -> BTreeSet<String> {
    let messages = dovecot.client(user).messages("INBOX");
    let ids: BTreeSet<String> = messages
        .iter()
        .filter_map(|m| m.message_id.clone())
        .collect();
    assert_eq!(
        ids.len(),
        messages.len(),
        "a message is held twice on the server"
    );
    ids
}

#[test]
fn a_pop3_download_that_empties_the_server_killed_at_random_moments_loses_nothing() {
    const MESSAGES: usize = 300;
    let started = Instant::now();
    let wanted_kills = KILLS_SIMPLE * soak_factor();
    let mut rng = Rng::from_env("kill -9 soak, POP3 download");
    let dovecot = dovecot(1);
    let user = trial_user(0);
    let mut device = TestEnv::new(env!("CARGO_BIN_EXE_mailferry").into());
    let maildir = device.maildir();
    device.write_config(&format!(
        "stores:\n{pop}  local:\n    type: maildir\n    path: {maildir}\n\
         channels:\n  mail:\n    far: pop\n    near: local\nstate_dir: {state}\n",
        pop = pop3_store_yaml(
            &dovecot,
            "pop",
            &user,
            "none",
            "    leave_on_server: false\n"
        ),
        maildir = maildir.display(),
        state = device.root().join("state").display(),
    ));
    let inbox = maildir.join("INBOX");
    // How long one round takes uninterrupted: the first round's mail,
    // fetched once without kills.
    let first: Vec<Vec<u8>> = (0..MESSAGES).map(|n| message("pop-first", n)).collect();
    fill_server_inbox(&dovecot, &user, &first, "pop-first");
    let timer = Instant::now();
    run_ok(&device, &["sync", "mail"]);
    let uninterrupted = timer.elapsed();

    // Rounds: new mail on the server, runs killed until one gets through
    // (and empties the server), then the check.
    let mut all: BTreeSet<String> = (0..MESSAGES)
        .map(|n| format!("<pop-first.{n}@mailferry.test>"))
        .collect();
    assert_eq!(local_ids(&inbox), all);
    let (mut kills, mut rounds) = (0, 0);
    while kills < wanted_kills {
        let origin = format!("pop{rounds}");
        let batch: Vec<Vec<u8>> = (0..MESSAGES).map(|n| message(&origin, n)).collect();
        fill_server_inbox(&dovecot, &user, &batch, &origin);
        all.extend((0..MESSAGES).map(|n| format!("<{origin}.{n}@mailferry.test>")));
        rounds += 1;
        // At any moment each message is on the server or in the Maildir
        // (or both, between storing and deleting); never twice locally.
        let check = || {
            let local = if inbox.exists() {
                local_ids(&inbox)
            } else {
                BTreeSet::new()
            };
            let server = server_ids(&dovecot, &user);
            let lost: Vec<&String> = all
                .iter()
                .filter(|id| !local.contains(*id) && !server.contains(*id))
                .collect();
            assert!(lost.is_empty(), "lost after a kill: {lost:?}");
        };
        kills += kill_repeatedly(
            &device,
            &["sync", "mail"],
            &mut rng,
            uninterrupted,
            (wanted_kills - kills).min(KILLS_PER_ROUND),
            check,
        );
        run_ok(&device, &["sync", "mail"]);
        assert_eq!(local_ids(&inbox), all, "the Maildir after round {rounds}");
        assert!(
            server_ids(&dovecot, &user).is_empty(),
            "the server after round {rounds}"
        );
    }
    eprintln!(
        "kill -9 soak, POP3 download with leave_on_server: false, {rounds} round(s) of {MESSAGES} \
         messages: {kills} kills, after each every message on the server or in the Maildir; at \
         the end all in the Maildir once, none on the server; {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_pop3_to_imap_migration_killed_at_random_moments_copies_each_message_once() {
    const MESSAGES: usize = 300;
    let started = Instant::now();
    let wanted_kills = KILLS_SIMPLE * soak_factor();
    let mut rng = Rng::from_env("kill -9 soak, migration");
    let dovecot = dovecot(3 + 2 * wanted_kills);
    let source = trial_user(0);
    let batch: Vec<Vec<u8>> = (0..MESSAGES).map(|n| message("migrate", n)).collect();
    fill_server_inbox(&dovecot, &source, &batch, "migrate");
    let all: BTreeSet<String> = (0..MESSAGES)
        .map(|n| format!("<migrate.{n}@mailferry.test>"))
        .collect();

    let device_for = |target: &str| {
        let mut device = TestEnv::new(env!("CARGO_BIN_EXE_mailferry").into());
        device.write_config(&format!(
            "stores:\n{pop}  server:\n    type: imap\n    host: 127.0.0.1\n    port: {port}\n    \
             tls: none\n    user: {target}\n    password: {target}-pw\nstate_dir: {state}\n",
            pop = pop3_store_yaml(&dovecot, "pop", &source, "none", ""),
            port = dovecot.imap_port(),
            state = device.root().join("state").display(),
        ));
        device
    };
    // How long it takes uninterrupted (into a target of its own).
    let reference = trial_user(1);
    let timer = Instant::now();
    run_ok(&device_for(&reference), &["migrate", "pop", "server"]);
    let uninterrupted = timer.elapsed();
    assert_eq!(server_ids(&dovecot, &reference), all);

    // Rounds: a fresh target account, runs killed until one gets through.
    let (mut kills, mut rounds) = (0, 0);
    while kills < wanted_kills {
        rounds += 1;
        assert!(
            rounds <= 2 * wanted_kills,
            "{rounds} rounds for {kills} kills"
        );
        let target = trial_user(1 + rounds);
        let device = device_for(&target);
        let check = || {
            // server_ids fails on a message held twice.
            let held = server_ids(&dovecot, &target);
            assert!(held.is_subset(&all));
        };
        kills += kill_repeatedly(
            &device,
            &["migrate", "pop", "server"],
            &mut rng,
            uninterrupted,
            (wanted_kills - kills).min(KILLS_PER_ROUND),
            check,
        );
        run_ok(&device, &["migrate", "pop", "server"]);
        assert_eq!(server_ids(&dovecot, &target), all, "round {rounds}");
    }
    assert_eq!(
        server_ids(&dovecot, &source),
        all,
        "the source is left as it was"
    );
    eprintln!(
        "kill -9 soak, migration of {MESSAGES} messages POP3 to IMAP: {kills} kills in {rounds} \
         round(s), never a message twice, at the end each once; {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
