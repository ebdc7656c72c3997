//! The migration benchmark behind `scripts/bench-migrate`: a provider's
//! worth of POP3 accounts (100 of 200 messages by default) moved onto IMAP
//! accounts of the same Dovecot by one `mailferry migrate --accounts`
//! process, at each `--jobs` asked for (1, 2, 4, 8), each time into fresh
//! target accounts with a fresh state. Measured around each run: wall time,
//! mailferry's CPU time and peak RSS (`/usr/bin/time -f '%e %U %S %M'`),
//! and Dovecot's CPU time (its processes' utime+stime from /proc, before
//! and after), which tells whether mailferry or the server is the limit.
//! Every run's report must say every account done and every message
//! copied, or the run does not count.

#[path = "../tests/support/mod.rs"]
mod support;

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};
use support::dovecot::{Dovecot, DovecotOptions};
use support::mail::sample_message;

struct Options {
    accounts: usize,
    messages: usize,
    jobs: Vec<usize>,
    mailferry: PathBuf,
    out: Option<PathBuf>,
}

fn usage() -> &'static str {
    "usage: bench_migrate [--accounts N] [--messages N] [--jobs 1,2,4,8] [--mailferry PATH] \
     [--out FILE]"
}

fn parse_options() -> Result<Options> {
    let mut options = Options {
        accounts: 100,
        messages: 200,
        jobs: vec![1, 2, 4, 8],
        mailferry: PathBuf::from("target/release/mailferry"),
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--accounts" => options.accounts = value()?.parse()?,
            "--messages" => options.messages = value()?.parse()?,
            "--jobs" => {
                options.jobs = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--mailferry" => options.mailferry = PathBuf::from(value()?),
            "--out" => options.out = Some(PathBuf::from(value()?)),
            "--help" | "-h" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => bail!("unknown option {other}\n{}", usage()),
        }
    }
    Ok(options)
}

fn source(k: usize) -> String {
    format!("src{k:03}")
}

fn target(jobs: usize, k: usize) -> String {
    format!("dst{jobs}x{k:03}")
}

/// One measured run.
struct Sample {
    jobs: usize,
    wall: f64,
    mailferry_cpu: f64,
    peak_mb: f64,
    dovecot_cpu: f64,
    load: String,
}

fn main() -> Result<()> {
    let options = parse_options()?;
    let machine = machine_description();
    println!("{machine}");
    let mut users: Vec<(String, String)> = (0..options.accounts)
        .map(|k| (source(k), "pw".to_string()))
        .collect();
    for &jobs in &options.jobs {
        users.extend((0..options.accounts).map(|k| (target(jobs, k), "pw".to_string())));
    }
    println!(
        "Starting Dovecot (plain POP3 and IMAP on loopback, fsync on) with {} users; filling {} \
         source accounts of {} messages ...",
        users.len(),
        options.accounts,
        options.messages
    );
    let dovecot = Dovecot::start_with(DovecotOptions {
        users,
        fsync: true,
        tls: false,
        extra_config: "mail_max_userip_connections = 100\n".to_string(),
        ..DovecotOptions::default()
    });
    for k in 0..options.accounts {
        fill_inbox(&dovecot, &source(k), k, options.messages)?;
    }

    let work = tempfile::Builder::new()
        .prefix("mfbench-migrate-")
        .tempdir()?;
    let mut samples = Vec::new();
    for &jobs in &options.jobs {
        let sample = run(&dovecot, &options, work.path(), jobs)?;
        println!(
            "--jobs {jobs}: {:.1} s, {:.0} accounts/min, {:.0} messages/s, mailferry CPU {:.1} s, \
             Dovecot CPU {:.1} s, peak RSS {:.1} MB, load {}",
            sample.wall,
            options.accounts as f64 * 60.0 / sample.wall,
            (options.accounts * options.messages) as f64 / sample.wall,
            sample.mailferry_cpu,
            sample.dovecot_cpu,
            sample.peak_mb,
            sample.load
        );
        samples.push(sample);
    }
    let table = table(&options, &samples);
    println!("\n{table}");
    if let Some(out) = &options.out {
        let mut text = String::new();
        writeln!(text, "# Migration benchmark results\n")?;
        writeln!(text, "{machine}\n")?;
        writeln!(
            text,
            "Command: `scripts/bench-migrate {}`\n",
            std::env::args().skip(1).collect::<Vec<_>>().join(" ")
        )?;
        writeln!(text, "{table}")?;
        fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
        println!("written to {}", out.display());
    }
    Ok(())
}

/// One `migrate --accounts` run into the targets of `jobs`, from scratch.
fn run(dovecot: &Dovecot, options: &Options, work: &Path, jobs: usize) -> Result<Sample> {
    let dir = work.join(format!("jobs{jobs}"));
    fs::create_dir_all(&dir)?;
    let config = dir.join("config.yaml");
    fs::write(
        &config,
        format!(
            "stores:\n  pop:\n    type: pop3\n    host: 127.0.0.1\n    port: {pop}\n    \
             tls: none\n    user: template\n    password: pw\n  imap:\n    type: imap\n    \
             host: 127.0.0.1\n    port: {imap}\n    tls: none\n    user: template\n    \
             password: pw\nstate_dir: {state}\n",
            pop = dovecot.pop3_port(),
            imap = dovecot.imap_port(),
            state = dir.join("state").display(),
        ),
    )?;
    let list = dir.join("accounts.csv");
    let mut csv = "source_user,target_user\n".to_string();
    for k in 0..options.accounts {
        writeln!(csv, "{},{}", source(k), target(jobs, k))?;
    }
    fs::write(&list, csv)?;
    let report = dir.join("report.jsonl");
    let timing = dir.join("time.txt");
    settle();
    let load = fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let dovecot_before = dovecot_cpu_seconds(dovecot)?;
    let output = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %U %S %M")
        .arg("-o")
        .arg(&timing)
        .arg(&options.mailferry)
        .arg("--config")
        .arg(&config)
        .args(["-q", "migrate", "pop", "imap", "--accounts"])
        .arg(&list)
        .args(["--jobs", &jobs.to_string(), "--report"])
        .arg(&report)
        .output()
        .context("running /usr/bin/time mailferry")?;
    let dovecot_cpu = dovecot_cpu_seconds(dovecot)? - dovecot_before;
    if !output.status.success() {
        bail!(
            "--jobs {jobs}: mailferry failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    check_report(&report, options)?;
    let timing = fs::read_to_string(&timing)?;
    let fields: Vec<f64> = timing
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read /usr/bin/time's {timing:?}"))?;
    let [wall, user, system, peak_kb] = fields[..] else {
        bail!("cannot read /usr/bin/time's {timing:?}");
    };
    Ok(Sample {
        jobs,
        wall,
        mailferry_cpu: user + system,
        peak_mb: peak_kb / 1024.0,
        dovecot_cpu,
        load,
    })
}

/// Every account done, every message copied.
fn check_report(report: &Path, options: &Options) -> Result<()> {
    let text = fs::read_to_string(report)?;
    let mut accounts = 0;
    let mut copied = 0;
    for line in text.lines() {
        let line: serde_json::Value = serde_json::from_str(line)?;
        if line["status"] != "done" {
            bail!("an account did not finish: {line}");
        }
        accounts += 1;
        copied += line["copied"].as_u64().unwrap_or(0) as usize;
    }
    if accounts != options.accounts || copied != options.accounts * options.messages {
        bail!("the report says {accounts} accounts and {copied} messages copied");
    }
    Ok(())
}

/// Writes `count` messages into a user's INBOX as files, as the mail
/// owner, then lets Dovecot index them.
fn fill_inbox(dovecot: &Dovecot, user: &str, account: usize, count: usize) -> Result<()> {
    let inbox = dovecot.user_maildir(user);
    let (uid, gid) = dovecot.mail_owner();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    for sub in ["", "cur", "new", "tmp"] {
        let path = inbox.join(sub);
        fs::create_dir_all(&path)?;
        std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
    }
    if let Some(home) = inbox.parent() {
        std::os::unix::fs::chown(home, Some(uid), Some(gid))?;
    }
    for n in 0..count {
        let content = sample_message((account * 1_000_000 + n) as u64);
        let name = format!(
            "{}.M{n}A{account}.bench,S={}:2,",
            now - 86_400 + n as u64,
            content.len()
        );
        let path = inbox.join("cur").join(name);
        fs::write(&path, &content)?;
        std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
    }
    let output = dovecot.doveadm(&["force-resync", "-u", user, "INBOX"]);
    if !output.status.success() {
        bail!(
            "doveadm force-resync -u {user}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// CPU seconds (user + system) used so far by this server's Dovecot:
/// its master (found by the config path on its command line), the
/// children it has reaped (their time is in the master's cutime and
/// cstime: IMAP and POP3 processes end with their sessions) and the
/// children alive now (logins, auth, sessions under way).
fn dovecot_cpu_seconds(dovecot: &Dovecot) -> Result<f64> {
    let ticks = 100.0; // USER_HZ on Linux
    let config = dovecot.config_path().to_string_lossy().into_owned();
    // (pid, ppid, utime + stime + cutime + cstime) of every process.
    let mut processes = Vec::new();
    let mut master = None;
    for entry in fs::read_dir("/proc")? {
        let path = entry?.path();
        let Some(pid) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // After "pid (comm) ": state, ppid, ... utime is the 12th field
        // from there (0-based 11), then stime, cutime, cstime.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ppid: u32 = fields.get(1).and_then(|f| f.parse().ok()).unwrap_or(0);
        let time: f64 = (11..15)
            .map(|i| {
                fields
                    .get(i)
                    .and_then(|f| f.parse::<f64>().ok())
                    .unwrap_or(0.0)
            })
            .sum();
        processes.push((pid, ppid, time));
        let cmdline = fs::read(path.join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&config)
            && String::from_utf8_lossy(&cmdline).contains("-F")
        {
            master = Some(pid);
        }
    }
    let master = master.context("cannot find Dovecot's master process")?;
    let total: f64 = processes
        .iter()
        .filter(|(pid, ppid, _)| *pid == master || *ppid == master)
        .map(|(_, _, time)| time)
        .sum();
    Ok(total / ticks)
}

/// Lets the disk settle between runs.
fn settle() {
    let _ = Command::new("sync").status();
}

fn table(options: &Options, samples: &[Sample]) -> String {
    let messages = options.accounts * options.messages;
    let mut text = format!(
        "{} accounts of {} messages ({messages} messages), POP3 to IMAP on one Dovecot\n\n\
         | --jobs | wall s | accounts/min | messages/s | mailferry CPU s | Dovecot CPU s | \
         mailferry peak RSS MB | load average at start |\n|---|---|---|---|---|---|---|---|\n",
        options.accounts, options.messages
    );
    for sample in samples {
        let _ = writeln!(
            text,
            "| {} | {:.1} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} | {} |",
            sample.jobs,
            sample.wall,
            options.accounts as f64 * 60.0 / sample.wall,
            messages as f64 / sample.wall,
            sample.mailferry_cpu,
            sample.dovecot_cpu,
            sample.peak_mb,
            sample.load
        );
    }
    text
}

fn machine_description() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dovecot = Command::new("dovecot")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "Machine: {cpus} CPUs, kernel {}; Dovecot {dovecot}",
        kernel.trim()
    )
}
