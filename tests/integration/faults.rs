//! Network faults between mailferry and the real Dovecot, made by the
//! fault proxy (tests/support/proxy.rs): the connection cut after N bytes in
//! either direction, at offsets chosen to hit every phase of a two-way sync
//! (greeting, login, listing, fetching, appending, flag changes, expunges,
//! logout); closed right after the server acted on an APPEND, STORE or
//! EXPUNGE but before the client heard; stalled past the timeout; slowed to
//! a trickle. After each, one clean sync: both sides must equal the result
//! of an uninterrupted sync, with no duplicates and nothing lost.
//!
//! `MAILFERRY_SOAK=N` tries N times as many points; `MAILFERRY_FAULTS_DEBUG=1`
//! prints how each faulty run ended.

use super::common::{env, run_ok};
use super::scenario::{
    config_yaml, difference, dovecot, soak_factor, trial_user, views, Size, Template, Views,
};
use crate::support::dovecot::Dovecot;
use crate::support::proxy::{Command, Fault, FaultProxy};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Faults are aimed at byte offsets of a recorded reference run, so the
/// runs must send the same bytes in the same order: one connection (with
/// several, which worker takes which folder depends on timing).
const ONE_CONNECTION: &str = "    connections: 1\n";

/// A few hundred messages: 200 in INBOX, 100 in Archive, a tenth of each
/// changed each way on each side.
const SIZE: Size = Size {
    inbox: 200,
    archive: 100,
    every: 10,
};
/// Trials run at once (each its own proxy, account and device); most of a
/// trial is waiting (the retry's pause, the timeouts), not computing.
const PARALLEL: usize = 4;

/// One fault to try, with the read timeout the trial's config sets.
#[derive(Debug, Clone)]
struct Trial {
    fault: Fault,
    timeout: Option<u64>,
    /// Which command of the reference run the fault aims at.
    aim: String,
}

/// What a trial found.
#[derive(Debug)]
struct Outcome {
    trial: Trial,
    /// The faulty run's exit code (0: it recovered by itself, retrying).
    exit: Option<i32>,
    cut_during: Option<String>,
    cut: bool,
    /// The faulty run's last line of errors, for the failure messages.
    said: String,
}

#[test]
fn cuts_stalls_and_lost_answers_in_every_phase_then_a_clean_sync_equal_the_uninterrupted_result() {
    let started = Instant::now();
    let per_verb = 2 * soak_factor();
    let max_trials = 80 * soak_factor();
    let dovecot = dovecot(max_trials + 1);
    let template = Template::build(&dovecot, SIZE);

    // The reference: the same sync, uninterrupted, through a fault-free
    // proxy that records where each command begins.
    let reference_user = trial_user(0);
    let reference = template.clone_for(&dovecot, &reference_user);
    let expected = {
        let proxy = FaultProxy::start(dovecot.imap_port(), Fault::None);
        let mut device = reference;
        device.write_config(&config_yaml(
            &device,
            &reference_user,
            proxy.port(),
            None,
            ONE_CONNECTION,
        ));
        run_ok(&device, &["sync", "mail"]);
        let commands = proxy.commands();
        let totals = proxy.first_connection_bytes();
        let expected = views(&dovecot, &reference_user, &device.maildir()).unwrap();
        (expected, commands, totals)
    };
    let (expected, commands, totals) = expected;
    assert_reference_has_every_change(&expected);
    let verbs: BTreeSet<&str> = commands.iter().map(|c| c.verb.as_str()).collect();
    for phase in [
        "LOGIN",
        "LIST",
        "SELECT",
        "UID FETCH",
        "APPEND",
        "UID STORE",
        "UID EXPUNGE",
    ] {
        assert!(
            verbs.contains(phase),
            "the reference run has no {phase}: {verbs:?}"
        );
    }

    let trials = choose_trials(&commands, totals, per_verb);
    assert!(trials.len() <= max_trials, "{} trials", trials.len());
    let outcomes = run_trials(&dovecot, &template, &trials, &expected);

    // Every fault struck, and the cuts landed in every phase.
    let mut by_phase: BTreeMap<String, usize> = BTreeMap::new();
    for outcome in &outcomes {
        if let Fault::Trickle { .. } = outcome.trial.fault {
            // Slow is not broken: the run completes by itself, uncut.
            assert_eq!((outcome.exit, outcome.cut), (Some(0), false), "{outcome:?}");
            continue;
        }
        assert!(outcome.cut, "the fault never struck: {outcome:?}");
        // Once a folder is under way, a dropped connection is retried on
        // a new one within the run; only the connection's setup (greeting,
        // login, capabilities, ENABLE QRESYNC, the folder list and the
        // NAMESPACE sent with it) fails the run.
        let in_folder = outcome.cut_during.as_deref().is_some_and(|verb| {
            !matches!(
                verb,
                "LOGIN" | "CAPABILITY" | "LIST" | "NAMESPACE" | "ENABLE"
            )
        });
        if in_folder {
            assert_eq!(
                outcome.exit,
                Some(0),
                "not recovered within the run: {outcome:?}"
            );
        }
        let phase = outcome
            .cut_during
            .clone()
            .unwrap_or_else(|| "greeting".to_string());
        *by_phase.entry(phase).or_default() += 1;
    }
    // Every kind of command of the uninterrupted run was interrupted.
    for phase in verbs.iter().copied().chain(["greeting"]) {
        assert!(
            by_phase.contains_key(phase),
            "no fault during {phase}: {by_phase:?}"
        );
    }
    let recovered_alone = outcomes
        .iter()
        .filter(|o| o.cut && o.exit == Some(0))
        .count();
    let lost_answers = outcomes
        .iter()
        .filter(|o| matches!(o.trial.fault, Fault::CloseAfterCommand { .. }))
        .count();
    let stalls = outcomes
        .iter()
        .filter(|o| matches!(o.trial.fault, Fault::StallAfter(_)))
        .count();
    eprintln!(
        "faults: {} interruption points ({lost_answers} lost answers after the server acted, \
         {stalls} stalls past the timeout, the rest cuts; {recovered_alone} recovered within the \
         run by retrying) and a trickle, by the command in flight: {by_phase:?}; each then \
         synced cleanly to the uninterrupted result: nothing lost, nothing duplicated; {:.1} s",
        outcomes.len() - 1,
        started.elapsed().as_secs_f64()
    );
}

/// The uninterrupted result holds every kind of change.
fn assert_reference_has_every_change(expected: &Views) {
    let inbox = &expected[0];
    let has = |prefix: &str| inbox.iter().any(|(id, _)| id.starts_with(prefix));
    assert!(has("<near-INBOX."), "local mail copied up: {inbox:?}");
    assert!(has("<far-new-INBOX."), "server mail copied down");
    assert!(inbox.iter().any(|(_, flags)| flags.contains('F')));
    // About 200 - 20 deleted here - 20 expunged there + 21 + 21 new.
    assert!(
        (190..=210).contains(&inbox.len()),
        "{} in INBOX",
        inbox.len()
    );
}

/// Cut points: in the greeting; for each kind of command, `per_verb` of
/// its occurrences (first, last, evenly between), cut half way through the
/// server's answer and half way through the client's command; the answer
/// to an APPEND, UID STORE and UID EXPUNGE lost after the server acted;
/// a stall in the body fetch and in the uploads; a trickle.
fn choose_trials(commands: &[Command], totals: (usize, usize), per_verb: usize) -> Vec<Trial> {
    let mut trials = vec![Trial {
        fault: Fault::CutAfter(5),
        timeout: None,
        aim: "greeting".into(),
    }];
    let mut by_verb: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, command) in commands.iter().enumerate() {
        by_verb.entry(&command.verb).or_default().push(index);
    }
    let span = |index: usize| {
        let command = &commands[index];
        let (client_end, server_end) = commands
            .get(index + 1)
            .map(|next| (next.client_offset, next.server_offset))
            .unwrap_or(totals);
        (
            (command.client_offset, client_end),
            (command.server_offset, server_end),
        )
    };
    for (verb, indexes) in &by_verb {
        let picks = spread(indexes.len(), per_verb);
        for &pick in &picks {
            let index = indexes[pick];
            let ((client_start, client_end), (server_start, server_end)) = span(index);
            let aim = format!("{verb} #{}", pick + 1);
            // Half way through the answer (at least its first byte).
            if server_end > server_start {
                trials.push(Trial {
                    fault: Fault::CutAfter(server_start + (server_end - server_start) / 2),
                    timeout: None,
                    aim: format!("{aim}, answer"),
                });
            }
            if client_end > client_start + 1 {
                trials.push(Trial {
                    fault: Fault::CutClientAfter(client_start + (client_end - client_start) / 2),
                    timeout: None,
                    aim: format!("{aim}, command"),
                });
            }
            if matches!(*verb, "APPEND" | "UID STORE" | "UID EXPUNGE") {
                let verb: &'static str = match *verb {
                    "APPEND" => "APPEND",
                    "UID STORE" => "UID STORE",
                    _ => "UID EXPUNGE",
                };
                trials.push(Trial {
                    fault: Fault::CloseAfterCommand {
                        verb,
                        nth: pick + 1,
                    },
                    timeout: None,
                    aim: format!("{aim}, answer lost"),
                });
            }
        }
    }
    // Stalls in the body fetch and the uploads: the client must time out.
    for verb in ["UID FETCH", "APPEND"] {
        let indexes = &by_verb[verb];
        let index = indexes[indexes.len() - 1];
        let (_, (server_start, server_end)) = span(index);
        trials.push(Trial {
            fault: Fault::StallAfter(server_start + (server_end - server_start) / 2),
            timeout: Some(1),
            aim: format!("{verb} (last), stalled"),
        });
    }
    // A trickle slow enough that the largest answer takes longer than the
    // timeout, though no single read waits that long.
    let largest = (0..commands.len())
        .map(|index| {
            let (_, (start, end)) = span(index);
            end - start
        })
        .max()
        .unwrap_or(1);
    trials.push(Trial {
        fault: Fault::Trickle {
            chunk: (largest / 120).max(16),
            pause: Duration::from_millis(10),
        },
        timeout: Some(1),
        aim: format!("trickle (largest answer {largest} bytes)"),
    });
    trials
}

/// `count` positions spread over `0..len`: first, last, evenly between.
fn spread(len: usize, count: usize) -> Vec<usize> {
    if len == 0 {
        return Vec::new();
    }
    let mut picks: Vec<usize> = (0..count.max(1))
        .map(|i| {
            if count <= 1 {
                len / 2
            } else {
                i * (len - 1) / (count - 1)
            }
        })
        .collect();
    picks.dedup();
    picks
}

/// Runs every trial (a fresh clone each, [`PARALLEL`] at a time): the
/// faulty sync, then a clean one, then the comparison.
fn run_trials(
    dovecot: &Dovecot,
    template: &Template,
    trials: &[Trial],
    expected: &Views,
) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(trial) = trials.get(index) else {
                    break;
                };
                match run_trial(dovecot, template, index + 1, trial, expected) {
                    Ok(outcome) => outcomes.lock().unwrap().push(outcome),
                    Err(failure) => failures.lock().unwrap().push(failure),
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} trial(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    outcomes.into_inner().unwrap()
}

fn run_trial(
    dovecot: &Dovecot,
    template: &Template,
    number: usize,
    trial: &Trial,
    expected: &Views,
) -> Result<Outcome, String> {
    let user = trial_user(number);
    let mut device = template.clone_for(dovecot, &user);
    let proxy = FaultProxy::start(dovecot.imap_port(), trial.fault);
    device.write_config(&config_yaml(
        &device,
        &user,
        proxy.port(),
        trial.timeout,
        ONE_CONNECTION,
    ));
    let faulty = device.run(&["sync", "mail"]);
    let stderr = String::from_utf8_lossy(&faulty.stderr).into_owned();
    let what = format!("trial {number} ({}: {:?})", trial.aim, trial.fault);
    if stderr.contains("panicked") || !matches!(faulty.status.code(), Some(0 | 1)) {
        return Err(format!(
            "{what}: the faulty run ended with {:?}:\n{stderr}",
            faulty.status
        ));
    }
    let outcome = Outcome {
        trial: trial.clone(),
        exit: faulty.status.code(),
        cut_during: proxy.cut_during(),
        cut: proxy.cuts() == 1,
        said: stderr.lines().last().unwrap_or_default().to_string(),
    };
    if std::env::var_os("MAILFERRY_FAULTS_DEBUG").is_some() {
        eprintln!("{what}: exit {:?}: {}", outcome.exit, outcome.said);
    }
    drop(proxy);

    device.write_config(&config_yaml(&device, &user, dovecot.imap_port(), None, ""));
    let clean = device.run(&["sync", "mail"]);
    if !clean.status.success() {
        return Err(format!(
            "{what}: the clean sync after the fault failed ({:?}):\n{}\n(the faulty run said:\n{stderr})",
            clean.status.code(),
            String::from_utf8_lossy(&clean.stderr)
        ));
    }
    let got = views(dovecot, &user, &device.maildir()).map_err(|e| format!("{what}: {e}"))?;
    if &got != expected {
        return Err(format!(
            "{what}: the result differs from the uninterrupted sync:\n{}(the faulty run said:\n{stderr})",
            difference(expected, &got)
        ));
    }
    Ok(outcome)
}

#[test]
fn a_fresh_environment_is_unaffected_by_the_proxy_when_nothing_goes_wrong() {
    // The fault-free proxy is a faithful forwarder: a first sync through it
    // ends like one without it, and the transcript names the commands (of
    // the first connection only: on one connection, that is every folder's;
    // with workers an idle worker could take INBOX and leave the first
    // connection only the empty Archive, with nothing to fetch).
    let dovecot = dovecot(1);
    let mut client = dovecot.client("t000");
    client.create("Archive");
    for n in 0..5 {
        client.append("INBOX", &super::scenario::message("plain", n), &[], None);
    }
    let proxy = FaultProxy::start(dovecot.imap_port(), Fault::None);
    let mut device = env();
    device.write_config(&config_yaml(
        &device,
        "t000",
        proxy.port(),
        None,
        ONE_CONNECTION,
    ));
    run_ok(&device, &["sync", "mail"]);
    let verbs: Vec<String> = proxy.commands().into_iter().map(|c| c.verb).collect();
    assert_eq!(
        verbs.first().map(String::as_str),
        Some("LOGIN"),
        "{verbs:?}"
    );
    assert!(verbs.iter().any(|v| v == "UID FETCH"), "{verbs:?}");
    assert_eq!(proxy.cuts(), 0);
    let inbox = &views(&dovecot, "t000", &device.maildir()).unwrap()[0];
    assert_eq!(inbox.len(), 5);
}
