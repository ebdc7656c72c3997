//! The demo: starts a throwaway Dovecot, fills alice's account with about 300
//! realistic messages, syncs it into ./demo/Maildir with the release
//! `mailferry` binary, and shows what arrived. Run it with `scripts/demo`;
//! with `--keep` the server stays up for the README's examples, and
//! `scripts/demo --stop` stops it (demo/server.env says which it is).

#[path = "../tests/support/mod.rs"]
mod support;

use anyhow::{bail, Context, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::dovecot::Dovecot;
use support::imap_client::ImapTestClient;
use support::mail::{sample_date, sample_message};

const USER: &str = "alice";
const CHANNEL: &str = "demo";

/// A folder to fill: its name, how many messages, and what share of them
/// alice has already read.
struct DemoFolder {
    name: &'static str,
    messages: u64,
    read_percent: u64,
}

const FOLDERS: &[DemoFolder] = &[
    DemoFolder {
        name: "INBOX",
        messages: 90,
        read_percent: 70,
    },
    DemoFolder {
        name: "Work",
        messages: 50,
        read_percent: 85,
    },
    DemoFolder {
        name: "Work/Projects",
        messages: 40,
        read_percent: 60,
    },
    DemoFolder {
        name: "Lists/rust",
        messages: 80,
        read_percent: 20,
    },
    DemoFolder {
        name: "Archive/2024",
        messages: 40,
        read_percent: 100,
    },
];

fn main() -> Result<()> {
    let keep = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--keep") => true,
        Some(other) => bail!("unknown argument {other:?}; usage: scripts/demo [--keep | --stop]"),
    };
    let demo_dir = std::env::current_dir()?.join("demo");
    if demo_dir.exists() {
        fs::remove_dir_all(&demo_dir)
            .with_context(|| format!("cannot remove the previous {}", demo_dir.display()))?;
    }
    fs::create_dir_all(&demo_dir)
        .with_context(|| format!("cannot create {}", demo_dir.display()))?;
    let mailferry = release_binary()?;

    println!("Starting a throwaway Dovecot ...");
    let dovecot = Dovecot::start();
    println!(
        "  IMAPS on localhost:{}, user {USER}, password {}",
        dovecot.imaps_port(),
        dovecot.password(USER)
    );

    println!("Filling {USER}'s account ...");
    let mut client = dovecot.client(USER);
    fill_account(&mut client);

    let config_path = write_config(&dovecot, &demo_dir)?;
    println!(
        "\nRunning: {} --config {} sync {CHANNEL}",
        mailferry.display(),
        config_path.display()
    );
    let status = Command::new(&mailferry)
        .arg("--config")
        .arg(&config_path)
        .args(["sync", CHANNEL])
        .status()
        .with_context(|| format!("cannot run {}", mailferry.display()))?;

    println!();
    let all_match = print_comparison(&mut client, &demo_dir.join("Maildir"));
    drop(client);
    if !status.success() {
        bail!("mailferry sync {CHANNEL} failed ({status})");
    }
    if !all_match {
        bail!("the Maildir does not match the server (see the table above)");
    }
    if keep {
        let port = dovecot.imaps_port();
        let (pid, server_dir) = dovecot.keep_running();
        fs::write(
            demo_dir.join("server.env"),
            format!("pid={pid}\ndir={}\n", server_dir.display()),
        )
        .context("cannot write demo/server.env")?;
        print_how_to_try_it(&mailferry, port);
    } else {
        // The server goes away with `dovecot`; the Maildir stays.
        drop(dovecot);
        println!("\nOpen it with: mutt -f ./demo/Maildir/INBOX");
    }
    Ok(())
}

/// What to do with the server `--keep` left running, and how to stop it.
fn print_how_to_try_it(mailferry: &Path, port: u16) {
    let binary_dir = mailferry
        .parent()
        .map_or_else(String::new, |dir| dir.display().to_string());
    println!(
        "
The server keeps running (IMAPS on localhost:{port}); the config is demo/config.yaml.
From the repository root, with the binary just built on PATH:

  export PATH=\"{binary_dir}:$PATH\"

  # the README's searches, on the server and in the Maildir
  mailferry -c demo/config.yaml search server 'subject:café unseen'
  mailferry -c demo/config.yaml search laptop:Work 'larger:20k (flagged or answered)'

  # IDLE on INBOX and Work; change something in another client or in mutt, Ctrl-C to stop
  mailferry -c demo/config.yaml watch {CHANNEL}

  # read, flag or delete some mail, then sync again: your changes go to the server
  mutt -f ./demo/Maildir/INBOX
  mailferry -c demo/config.yaml sync {CHANNEL}

Stop the server (and remove its files) with: scripts/demo --stop"
    );
}

/// `target/release/mailferry`, beside the directory holding this example
/// (`target/release/examples/demo`).
fn release_binary() -> Result<PathBuf> {
    let example = std::env::current_exe()?;
    let binary = example
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("mailferry"))
        .context("cannot locate the target directory of this example")?;
    if !binary.is_file() {
        bail!(
            "{} is missing: run `cargo build --release` first (scripts/demo does)",
            binary.display()
        );
    }
    Ok(binary)
}

/// Appends every folder's messages with dates over 2024 and a mix of read,
/// unread, flagged and answered.
fn fill_account(client: &mut ImapTestClient) {
    let mut seed = 0;
    for folder in FOLDERS {
        if folder.name != "INBOX" {
            client.create(folder.name);
        }
        for _ in 0..folder.messages {
            seed += 1;
            let flags = demo_flags(seed, folder.read_percent);
            client.append(
                folder.name,
                &sample_message(seed),
                &flags,
                Some(sample_date(seed)),
            );
        }
        println!("  {:<14} {:>3} messages", folder.name, folder.messages);
    }
}

/// Deterministic flags for a message: read with the folder's probability,
/// some read ones answered, a few flagged.
fn demo_flags(seed: u64, read_percent: u64) -> Vec<&'static str> {
    // A multiplicative hash spreads consecutive seeds over 0..100.
    let roll = |salt: u64| (seed.wrapping_add(salt).wrapping_mul(2_654_435_761) >> 7) % 100;
    let mut flags = Vec::new();
    if roll(0) < read_percent {
        flags.push("\\Seen");
        if roll(17) < 20 {
            flags.push("\\Answered");
        }
    }
    if roll(41) < 8 {
        flags.push("\\Flagged");
    }
    flags
}

/// A config syncing alice's account into ./demo/Maildir. Paths are absolute
/// so the result does not depend on where mailferry resolves relative ones.
fn write_config(dovecot: &Dovecot, demo_dir: &Path) -> Result<PathBuf> {
    let ca_path = demo_dir.join("ca.pem");
    fs::copy(dovecot.ca_path(), &ca_path)
        .with_context(|| format!("cannot copy the CA to {}", ca_path.display()))?;
    let config = format!(
        "# Written by examples/demo.rs: alice's account on a throwaway Dovecot.
state_dir: {state}
stores:
  server:
    type: imap
    host: localhost
    port: {port}
    tls: implicit
    ca_file: {ca}
    user: {USER}
    password: {password}
  laptop:
    type: maildir
    path: {maildir}
    layout: verbatim
channels:
  {CHANNEL}:
    far: server
    near: laptop
    folders: [\"*\"]
    # For `mailferry watch demo` (scripts/demo --keep): IDLE on Work too,
    # and a full sync every 10 minutes.
    watch: [Work]
    interval: 10m
",
        state = demo_dir.join("state").display(),
        port = dovecot.imaps_port(),
        ca = ca_path.display(),
        password = dovecot.password(USER),
        maildir = demo_dir.join("Maildir").display(),
    );
    let config_path = demo_dir.join("config.yaml");
    // The config holds a password: private, as mailferry asks of such files.
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&config_path)
        .and_then(|mut file| file.write_all(config.as_bytes()))
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    Ok(config_path)
}

/// Per folder: messages and unread on the server against the Maildir.
/// Returns whether every folder matches.
fn print_comparison(client: &mut ImapTestClient, maildir: &Path) -> bool {
    let mut all_match = true;
    println!(
        "{:<14} {:>7} {:>7} {:>8}   {:>7} {:>7} {:>8}",
        "folder", "server", "unread", "flagged", "maildir", "unread", "flagged"
    );
    for folder in FOLDERS {
        let messages = client.messages(folder.name);
        let server_unread = messages.iter().filter(|m| !m.has_flag("\\Seen")).count();
        let server_flagged = messages.iter().filter(|m| m.has_flag("\\Flagged")).count();
        let local = count_maildir(&maildir.join(folder.name));
        let matches = (local.total, local.unread, local.flagged)
            == (messages.len(), server_unread, server_flagged);
        all_match &= matches;
        let mark = if matches { "" } else { "  <- differs" };
        println!(
            "{:<14} {:>7} {:>7} {:>8}   {:>7} {:>7} {:>8}{mark}",
            folder.name,
            messages.len(),
            server_unread,
            server_flagged,
            local.total,
            local.unread,
            local.flagged
        );
    }
    all_match
}

#[derive(Default)]
struct MaildirCount {
    total: usize,
    unread: usize,
    flagged: usize,
}

/// Message files in a Maildir folder's new/ and cur/; unread are those in
/// new/ and those in cur/ without the S (seen) info flag, flagged those
/// with F.
fn count_maildir(folder: &Path) -> MaildirCount {
    let mut count = MaildirCount::default();
    for sub in ["new", "cur"] {
        let Ok(entries) = fs::read_dir(folder.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            count.total += 1;
            let info = match name.rsplit_once(":2,") {
                Some((_, info)) if sub == "cur" => info,
                _ => "",
            };
            if !info.contains('S') {
                count.unread += 1;
            }
            if info.contains('F') {
                count.flagged += 1;
            }
        }
    }
    count
}
