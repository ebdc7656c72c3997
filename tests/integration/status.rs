//! `mailferry status` after the runs a cron user has: none yet, a good
//! one, a failed one; its exit status with `--max-age`; it never connects.

use super::common::{dovecot_with_inbox_and_work, env, run_ok, stderr, write_config};
use std::fs;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn status_before_after_a_good_and_after_a_failed_sync() {
    let dovecot = dovecot_with_inbox_and_work();
    let mut device = env();
    let maildir = device.maildir();
    let config = write_config(&mut device, &dovecot, "alice", &maildir, "");

    // Before any sync.
    let never = run_ok(&device, &["status"]);
    assert_eq!(stdout(&never), "mail: never synced\n");
    let stale = device.run(&["status", "--max-age", "1h"]);
    assert_eq!(stale.status.code(), Some(1), "{}", stderr(&stale));

    // After a good one.
    run_ok(&device, &["sync", "mail"]);
    let good = stdout(&run_ok(&device, &["status", "mail", "--max-age", "1h"]));
    assert!(good.starts_with("mail: last synced "), "{good}");
    assert!(good.contains("last run ok"), "{good}");
    assert!(good.contains("  INBOX: 3 far, 3 near\n"), "{good}");
    assert!(good.contains("  Work: 1 far, 1 near\n"), "{good}");

    // After a failed one (the password changed on the server, say): the
    // last success stays, the error is shown, and it never connected to
    // say so (the server is gone by then).
    let yaml = fs::read_to_string(&config).unwrap();
    let wrong = yaml.replace(
        &format!("password: {}", dovecot.password("alice")),
        "password: not-the-password",
    );
    assert_ne!(wrong, yaml);
    device.write_config(&wrong);
    let failed = device.run(&["sync", "mail"]);
    assert_ne!(failed.status.code(), Some(0), "{}", stderr(&failed));
    drop(dovecot);
    let after = device.run(&["status", "--json"]);
    assert_eq!(after.status.code(), Some(0), "{}", stderr(&after));
    let json: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    let channel = &json[0];
    assert_eq!(channel["channel"], "mail");
    assert_ne!(channel["last_run"]["status"], 0, "{json}");
    assert!(channel["last_run"]["last_success"].is_u64(), "{json}");
    let error = channel["last_run"]["errors"][0]
        .as_str()
        .unwrap_or_default();
    assert!(!error.is_empty(), "{json}");
    assert!(
        !error.contains("not-the-password"),
        "no secret in the status: {error}"
    );
    assert_eq!(channel["folders"][0]["folder"], "INBOX");
    assert_eq!(channel["folders"][0]["far"], 3);
    let text = stdout(&run_ok(&device, &["status"]));
    assert!(text.contains("ended with status"), "{text}");
    assert!(text.contains("  error: "), "{text}");
    run_ok(&device, &["status", "--max-age", "1h"]);
    // A last success two days ago (as if cron had stopped running it):
    // stale for --max-age 1d, not for 3d.
    let last_run = device.root().join("state/mail/last-run");
    let record = fs::read_to_string(&last_run).unwrap();
    let two_days_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 2 * 86_400;
    let old: String = record
        .lines()
        .map(|line| match line.split_once(' ') {
            Some(("success", _)) => format!("success {two_days_ago}\n"),
            _ => format!("{line}\n"),
        })
        .collect();
    assert_ne!(old, record);
    fs::write(&last_run, old).unwrap();
    let stale = device.run(&["status", "--max-age", "1d"]);
    assert_eq!(stale.status.code(), Some(1), "{}", stdout(&stale));
    assert!(stdout(&stale).contains("(2d ago)") && stdout(&stale).contains("STALE"));
    run_ok(&device, &["status", "--max-age", "3d"]);

    // A folder is not a target here.
    let usage = device.run(&["status", "mail:INBOX"]);
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
}
