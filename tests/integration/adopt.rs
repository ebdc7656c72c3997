//! probe
use super::common::env;
use crate::support::dovecot::Dovecot;
use crate::support::mail::{sample_date, sample_message};
use crate::support::mbsync::Mbsync;

#[test]
fn probe_mbsync() {
    let dovecot = Dovecot::start();
    let mut c = dovecot.client("alice");
    c.create("Work");
    for seed in 0..5 { c.append("INBOX", &sample_message(seed), if seed % 2 == 0 { &["\\Seen"] } else { &[] }, Some(sample_date(seed))); }
    c.append("Work", &sample_message(9), &["\\Flagged"], Some(sample_date(9)));
    let env = env();
    let m = Mbsync::new(&dovecot, "alice", &env.maildir(), env.root());
    m.sync();
    let _ = std::process::Command::new("cp").args(["-a", env.maildir().to_str().unwrap(), "/tmp/mbprobe"]).status();
    let msgs = c.messages("INBOX");
    for m in &msgs { println!("server uid {} size {} len {}", m.uid, m.size, m.content.len()); }
}
