//! The benchmark behind `scripts/bench`: mailferry against mbsync on the same
//! Dovecot account in the same run, alternating tool by tool, and a table of
//! medians, spreads, peak memory and the ratio mailferry/mbsync.
//!
//! Scenarios (wall time measured around each run, peak memory by
//! `/usr/bin/time -f '%e %M'`):
//! (a) first pull of the whole account into an empty Maildir;
//! (b) resync with nothing changed;
//! (c) resync after 500 flag changes made on the server;
//! (d) resync after 500 flag changes made in the tool's own Maildir;
//! (e) push of 1,000 new local messages;
//! (f) first pull of a single large message (`--big-mb`), for memory;
//! (g) resync after 1 new message and 1 flag change on the server;
//! (h) resync after 1 new message and 1 flag change in the tool's own
//!     Maildir.
//!
//! (g) and (h) change the first folder only: the everyday resync of a big
//! folder, which should cost what changed rather than what the folder
//! holds (`--folders 1 --messages 100000`).
//!
//! Run it through `scripts/bench`, which installs mbsync and time and builds
//! the release binary first; `--help` lists the options.

#[path = "../tests/support/mod.rs"]
mod support;

use anyhow::{bail, Context, Result};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::dovecot::{Dovecot, DovecotOptions};
use support::mail::sample_message;

const USER: &str = "bench";
const BIG_USER: &str = "big";
/// Flag changes per scenario (c) and (d) run, spread over the folders.
const FLAG_CHANGES: usize = 500;
/// New local messages per scenario (e) run, spread over the folders.
const PUSHED: usize = 1000;
/// The header that marks pushed messages, so they can be expunged again.
const PUSH_MARK: &str = "X-Bench-Push";
/// The header of the new messages of scenarios (g) and (h).
const SMALL_CHANGE_MARK: &str = "X-Bench-Small-Change";

/// What the command line asks for.
#[derive(Debug, Clone)]
struct Options {
    messages: usize,
    folders: usize,
    runs: usize,
    scenarios: String,
    /// One-way delay added to each direction: half the round trip.
    latency: Option<Duration>,
    connections: usize,
    big_mb: usize,
    mailferry: PathBuf,
    mbsync: PathBuf,
    out: Option<PathBuf>,
    tools: Vec<String>,
    /// Keeps the server and the tools' directories this long at the end,
    /// for looking at a run by hand.
    hold: Option<Duration>,
}

fn usage() -> &'static str {
    "usage: bench [--messages N] [--folders N] [--runs N] [--scenarios abcdefgh] \
     [--latency 25ms] [--connections N] [--big-mb N] [--tools mailferry,mbsync] \
     [--mailferry PATH] [--mbsync PATH] [--out FILE] [--hold 600s]"
}

fn parse_options() -> Result<Options> {
    let mut options = Options {
        messages: 10_000,
        folders: 10,
        runs: 5,
        scenarios: "abcde".to_string(),
        latency: None,
        connections: 4,
        big_mb: 50,
        mailferry: PathBuf::from("target/release/mailferry"),
        mbsync: PathBuf::from("mbsync"),
        out: None,
        tools: vec!["mailferry".to_string(), "mbsync".to_string()],
        hold: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            println!("{}", usage());
            std::process::exit(0);
        }
        let value = args
            .next()
            .with_context(|| format!("{arg} needs a value\n{}", usage()))?;
        match arg.as_str() {
            "--messages" => options.messages = value.parse()?,
            "--folders" => options.folders = value.parse()?,
            "--runs" => options.runs = value.parse()?,
            "--scenarios" => options.scenarios = value,
            "--latency" => options.latency = Some(parse_duration(&value)? / 2),
            "--connections" => options.connections = value.parse()?,
            "--big-mb" => options.big_mb = value.parse()?,
            "--mailferry" => options.mailferry = PathBuf::from(value),
            "--mbsync" => options.mbsync = PathBuf::from(value),
            "--out" => options.out = Some(PathBuf::from(value)),
            "--tools" => options.tools = value.split(',').map(str::to_string).collect(),
            "--hold" => options.hold = Some(parse_duration(&value)?),
            _ => bail!("unknown option {arg}\n{}", usage()),
        }
    }
    if options.folders == 0 || options.messages < options.folders || options.runs == 0 {
        bail!("need at least one folder, one message per folder and one run");
    }
    options.mailferry = fs::canonicalize(&options.mailferry).with_context(|| {
        format!(
            "no mailferry binary at {} (cargo build --release)",
            options.mailferry.display()
        )
    })?;
    Ok(options)
}

fn parse_duration(text: &str) -> Result<Duration> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map(|at| text.split_at(at))
        .unwrap_or((text, "ms"));
    let number: u64 = number.parse().context("a latency like 25ms")?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "s" => Ok(Duration::from_secs(number)),
        _ => bail!("latency unit must be ms or s, not {unit:?}"),
    }
}

fn main() -> Result<()> {
    let options = parse_options()?;
    let machine = machine_description();
    println!("{machine}");
    println!(
        "Starting Dovecot (plain IMAP on loopback, fsync on) and filling {} messages in {} folders ...",
        options.messages, options.folders
    );
    let dovecot = Dovecot::start_with(DovecotOptions {
        users: vec![
            (USER.to_string(), "bench-pw".to_string()),
            (BIG_USER.to_string(), "big-pw".to_string()),
        ],
        fsync: true,
        tls: false,
        extra_config: "mail_max_userip_connections = 100\n".to_string(),
        ..DovecotOptions::default()
    });
    let started = Instant::now();
    let folders = fill_account(&dovecot, USER, options.messages, options.folders)?;
    println!(
        "  filled in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        folders.join(" ")
    );

    let mut port = dovecot.imap_port();
    let _proxy = match options.latency {
        Some(one_way) => {
            let proxy = DelayProxy::start(port, one_way)?;
            println!(
                "Latency: {:.1} ms round trip through a delaying TCP proxy on 127.0.0.1:{} \
                 ({})",
                one_way.as_secs_f64() * 2000.0,
                proxy.port,
                netem_note()
            );
            port = proxy.port;
            Some(proxy)
        }
        None => None,
    };

    let work = tempfile::Builder::new().prefix("mfbench-").tempdir()?;
    let mut tools = Vec::new();
    for name in &options.tools {
        let tool = match name.as_str() {
            "mailferry" => Tool::mailferry(work.path(), &options, port, USER, "bench-pw")?,
            "mbsync" => Tool::mbsync(work.path(), &options, port, USER, "bench-pw")?,
            other => bail!("unknown tool {other}"),
        };
        tools.push(tool);
    }
    let mut bench = Bench {
        dovecot: &dovecot,
        options: &options,
        folders,
        tools,
        rows: Vec::new(),
    };
    for scenario in options.scenarios.chars() {
        match scenario {
            'a' => bench.first_pull()?,
            'b' => bench.no_change()?,
            'c' => bench.server_flags()?,
            'd' => bench.local_flags()?,
            'e' => bench.push()?,
            'f' => bench.big_message(work.path(), port)?,
            'g' => bench.server_small_change()?,
            'h' => bench.local_small_change()?,
            other => bail!("unknown scenario {other:?} (a-h)"),
        }
    }
    let table = bench.table();
    println!("\n{table}");
    if let Some(out) = &options.out {
        let mut text = String::new();
        writeln!(text, "# Benchmark results\n")?;
        writeln!(text, "{machine}\n")?;
        writeln!(
            text,
            "Command: `scripts/bench {}`\n",
            std::env::args().skip(1).collect::<Vec<_>>().join(" ")
        )?;
        writeln!(text, "{table}")?;
        fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
        println!("written to {}", out.display());
    }
    if let Some(hold) = options.hold {
        println!(
            "holding {} s: tools in {}, Dovecot config {}",
            hold.as_secs(),
            work.path().display(),
            dovecot.config_path().display()
        );
        std::thread::sleep(hold);
    }
    Ok(())
}

fn machine_description() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mbsync = Command::new("mbsync")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let dovecot = Command::new("dovecot")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "Machine: {cpus} CPUs, kernel {}, load average at start {}; Dovecot {dovecot}; {mbsync}",
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// Why the latency is made by a proxy rather than netem.
fn netem_note() -> String {
    let probe = Command::new("tc")
        .args(["qdisc", "add", "dev", "lo", "root", "netem", "delay", "0ms"])
        .output();
    match probe {
        Ok(output) if output.status.success() => {
            let _ = Command::new("tc")
                .args(["qdisc", "del", "dev", "lo", "root"])
                .output();
            "netem is available but not used, so the server needs no namespace of its own"
                .to_string()
        }
        Ok(output) => format!(
            "netem is not available here: tc said {:?}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(err) => format!("netem is not available here: cannot run tc: {err}"),
    }
}

/// Writes `count` sample messages into the server's Maildir across
/// `folder_count` folders (INBOX and F01, F02, ...) as the mail owner, then
/// lets Dovecot index them. Returns the folder names.
fn fill_account(
    dovecot: &Dovecot,
    user: &str,
    count: usize,
    folder_count: usize,
) -> Result<Vec<String>> {
    let folders: Vec<String> = std::iter::once("INBOX".to_string())
        .chain((1..folder_count).map(|n| format!("F{n:02}")))
        .collect();
    for folder in &folders[1..] {
        doveadm(dovecot, &["mailbox", "create", "-u", user, folder])?;
    }
    doveadm(dovecot, &["mailbox", "create", "-u", user, "INBOX"]).ok();
    let maildir = dovecot.user_maildir(user);
    let (uid, gid) = dovecot.mail_owner();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    for (index, folder) in folders.iter().enumerate() {
        let dir = folder_dir(&maildir, folder);
        for sub in ["cur", "new", "tmp"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path)?;
            chown(&path, uid, gid)?;
        }
        chown(&dir, uid, gid)?;
        let per_folder = count / folder_count + usize::from(index < count % folder_count);
        for n in 0..per_folder {
            let seed = (index * 1_000_000 + n) as u64;
            let content = sample_message(seed);
            // Two messages in three read, one in ten flagged.
            let mut letters = String::new();
            if n % 10 == 0 {
                letters.push('F');
            }
            if n % 3 != 0 {
                letters.push('S');
            }
            let name = format!(
                "{}.M{n}P{index}.bench,S={}:2,{letters}",
                now - 86_400 + n as u64,
                content.len()
            );
            let path = dir.join("cur").join(name);
            fs::write(&path, &content)?;
            chown(&path, uid, gid)?;
        }
    }
    doveadm(dovecot, &["force-resync", "-u", user, "*"])?;
    Ok(folders)
}

/// The server-side directory of a folder (LAYOUT=fs: INBOX is the root).
fn folder_dir(maildir: &Path, folder: &str) -> PathBuf {
    if folder == "INBOX" {
        maildir.to_path_buf()
    } else {
        maildir.join(folder)
    }
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .with_context(|| format!("chown {}", path.display()))
}

fn doveadm(dovecot: &Dovecot, args: &[&str]) -> Result<()> {
    let output = dovecot.doveadm(args);
    if !output.status.success() {
        bail!(
            "doveadm {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// One tool under test with its own local Maildir and state.
struct Tool {
    name: &'static str,
    root: PathBuf,
    maildir: PathBuf,
    /// Everything the tool keeps besides the Maildir (mailferry's state).
    extra_state: Option<PathBuf>,
    program: PathBuf,
    args: Vec<String>,
}

impl Tool {
    fn mailferry(
        work: &Path,
        options: &Options,
        port: u16,
        user: &str,
        password: &str,
    ) -> Result<Tool> {
        let root = work.join(format!("mailferry-{user}"));
        fs::create_dir_all(&root)?;
        let maildir = root.join("Mail");
        let state = root.join("state");
        let config = root.join("config.yaml");
        fs::write(
            &config,
            format!(
                "stores:\n  server:\n    type: imap\n    host: 127.0.0.1\n    port: {port}\n    \
                 tls: none\n    user: {user}\n    password: {password}\n    connections: {}\n  \
                 local:\n    type: maildir\n    path: {}\nchannels:\n  bench:\n    far: server\n    \
                 near: local\n    max_delete_ratio: 1.0\nstate_dir: {}\n",
                options.connections,
                maildir.display(),
                state.display()
            ),
        )?;
        Ok(Tool {
            name: "mailferry",
            root,
            maildir,
            extra_state: Some(state),
            program: options.mailferry.clone(),
            args: vec![
                "-q".into(),
                "--config".into(),
                config.display().to_string(),
                "sync".into(),
                "bench".into(),
            ],
        })
    }

    fn mbsync(
        work: &Path,
        options: &Options,
        port: u16,
        user: &str,
        password: &str,
    ) -> Result<Tool> {
        let root = work.join(format!("mbsync-{user}"));
        fs::create_dir_all(&root)?;
        let maildir = root.join("Mail");
        let config = root.join("mbsyncrc");
        fs::write(
            &config,
            format!(
                "IMAPAccount bench\nHost 127.0.0.1\nPort {port}\nUser {user}\nPass {password}\n\
                 SSLType None\nAuthMechs LOGIN\n\n\
                 IMAPStore far\nAccount bench\n\n\
                 MaildirStore near\nPath {maildir}/\nInbox {maildir}/INBOX\nSubFolders Verbatim\n\n\
                 Channel bench\nFar :far:\nNear :near:\nPatterns *\nCreate Both\nExpunge Both\n\
                 SyncState *\n",
                maildir = maildir.display()
            ),
        )?;
        Ok(Tool {
            name: "mbsync",
            root,
            maildir,
            extra_state: None,
            program: options.mbsync.clone(),
            args: vec![
                "-q".into(),
                "-c".into(),
                config.display().to_string(),
                "bench".into(),
            ],
        })
    }

    /// Forgets everything local: the next sync is a first pull. The old
    /// files are moved aside, not deleted, until the bench ends (its work
    /// directory goes then): on a file system without a journal (this
    /// machine's ext4) the kernel avoids reusing inodes freed in the last
    /// half minute or so, and a pull that creates 10,000 files right after
    /// 10,000 were deleted spends its CPU scanning past them. A real first
    /// pull does not follow a mass deletion, and neither tool should pay
    /// for the one before it.
    fn reset(&self) -> Result<()> {
        let trash = self.root.join("trash");
        fs::create_dir_all(&trash)?;
        for dir in [Some(&self.maildir), self.extra_state.as_ref()]
            .into_iter()
            .flatten()
        {
            if dir.exists() {
                let name = dir.file_name().unwrap_or_default().to_string_lossy();
                let count = fs::read_dir(&trash)?.count();
                fs::rename(dir, trash.join(format!("{name}.{count}")))?;
            }
        }
        // mbsync does not create the root itself.
        fs::create_dir_all(&self.maildir)?;
        Ok(())
    }

    /// Runs one sync under /usr/bin/time: (seconds, peak KB).
    fn timed_sync(&self) -> Result<Sample> {
        // mbsync does not create its Maildir root itself; a scenario run
        // without (a) before it starts from none.
        fs::create_dir_all(&self.maildir)?;
        settle_clock();
        let time_file = self.root.join("time.out");
        // Wall time measured here (time's %e has 10 ms steps); time gives
        // the peak memory.
        let started = Instant::now();
        let output = Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%e %M")
            .arg("-o")
            .arg(&time_file)
            .arg(&self.program)
            .args(&self.args)
            .output()
            .with_context(|| format!("cannot run /usr/bin/time {}", self.program.display()))?;
        let seconds = started.elapsed().as_secs_f64();
        if !output.status.success() {
            bail!(
                "{} failed ({}):\n{}{}",
                self.name,
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let text = fs::read_to_string(&time_file)?;
        let last = text.lines().last().unwrap_or_default();
        let peak_kb: f64 = last.split_whitespace().nth(1).unwrap_or("nan").parse()?;
        Ok(Sample { seconds, peak_kb })
    }

    /// A sync whose time does not count (catching up with another tool's
    /// changes).
    fn sync(&self) -> Result<()> {
        self.timed_sync().map(|_| ())
    }

    /// Every message file of the local Maildir.
    fn message_files(&self) -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        collect_messages(&self.maildir, &mut files)?;
        files.sort();
        Ok(files)
    }

    /// The local directory of a folder.
    fn folder_dir(&self, folder: &str) -> PathBuf {
        self.maildir.join(folder)
    }
}

fn collect_messages(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            let name = entry.file_name();
            if name == "cur" || name == "new" {
                for message in fs::read_dir(&path)? {
                    files.push(message?.path());
                }
            } else if name != "tmp" {
                collect_messages(&path, files)?;
            }
        }
    }
    Ok(())
}

/// mbsync waits for the next second when a local folder changed within the
/// current one; a second passes before every timed run, for both tools.
fn settle_clock() {
    std::thread::sleep(Duration::from_millis(1100));
}

/// Drops the page cache (as root), so first pulls start alike.
fn drop_caches() {
    let _ = Command::new("sync").status();
    let _ = fs::write("/proc/sys/vm/drop_caches", "1\n");
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    seconds: f64,
    peak_kb: f64,
}

/// One line of the table: a scenario's samples per tool.
struct Row {
    scenario: String,
    samples: Vec<(&'static str, Vec<Sample>)>,
}

struct Bench<'a> {
    dovecot: &'a Dovecot,
    options: &'a Options,
    folders: Vec<String>,
    tools: Vec<Tool>,
    rows: Vec<Row>,
}

impl Bench<'_> {
    /// The tools in the order of run `run`: alternating who goes first.
    fn order(&self, run: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.tools.len()).collect();
        if run % 2 == 1 {
            order.reverse();
        }
        order
    }

    /// Runs `runs` rounds; `before` prepares tool `i` before its timed run,
    /// `after` cleans up after it.
    fn measure(
        &mut self,
        scenario: String,
        mut before: impl FnMut(&Bench<'_>, usize, usize) -> Result<()>,
        mut after: impl FnMut(&Bench<'_>, usize, usize) -> Result<()>,
    ) -> Result<()> {
        println!("\n{scenario}");
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); self.tools.len()];
        for run in 0..self.options.runs {
            for tool in self.order(run) {
                before(self, tool, run)?;
                let sample = self.tools[tool].timed_sync()?;
                println!(
                    "  run {run} {:<9} {:>7.3} s {:>8.1} MB",
                    self.tools[tool].name,
                    sample.seconds,
                    sample.peak_kb / 1024.0
                );
                samples[tool].push(sample);
                after(self, tool, run)?;
            }
        }
        self.rows.push(Row {
            scenario,
            samples: self.tools.iter().map(|t| t.name).zip(samples).collect(),
        });
        Ok(())
    }

    fn first_pull(&mut self) -> Result<()> {
        let expected = self.options.messages;
        self.measure(
            format!("(a) first pull, {expected} messages"),
            |bench, tool, _| {
                bench.tools[tool].reset()?;
                drop_caches();
                Ok(())
            },
            |bench, tool, _| {
                let got = bench.tools[tool].message_files()?.len();
                if got != expected {
                    bail!(
                        "{} pulled {got} messages instead of {expected}",
                        bench.tools[tool].name
                    );
                }
                Ok(())
            },
        )
    }

    fn no_change(&mut self) -> Result<()> {
        self.measure(
            "(b) resync, nothing changed".to_string(),
            |_, _, _| Ok(()),
            |_, _, _| Ok(()),
        )
    }

    /// Before each run (both tools see the same changes): 500 messages get
    /// \Answered added or removed on the server. Each tool first syncs once
    /// untimed with nothing to do, as a cron job would have since the last
    /// change: the changes find both tools at rest.
    fn server_flags(&mut self) -> Result<()> {
        let per_folder = FLAG_CHANGES / self.folders.len();
        let in_folder = self.options.messages / self.folders.len();
        self.measure(
            format!("(c) resync after {FLAG_CHANGES} flag changes on the server"),
            |bench, tool, run| {
                if tool != bench.order(run)[0] {
                    return Ok(());
                }
                for at_rest in &bench.tools {
                    at_rest.sync()?;
                }
                let start = (run * per_folder) % in_folder;
                let end = (start + per_folder).min(in_folder);
                let verb = if (run * per_folder / in_folder).is_multiple_of(2) {
                    "add"
                } else {
                    "remove"
                };
                for folder in &bench.folders {
                    // UIDs start at 1 in the order the files were indexed;
                    // every fifth message gets the change, one further on
                    // each time round the folder, so that no run repeats an
                    // earlier run's change (which would change nothing).
                    let uids: Vec<String> = (start..end)
                        .map(|n| ((n * 5 + n * 5 / in_folder) % in_folder + 1).to_string())
                        .collect();
                    let uids = uids.join(",");
                    doveadm(
                        bench.dovecot,
                        &[
                            "flags",
                            verb,
                            "-u",
                            USER,
                            "\\Answered",
                            "mailbox",
                            folder,
                            "uid",
                            &uids,
                        ],
                    )?;
                }
                Ok(())
            },
            |_, _, _| Ok(()),
        )
    }

    /// Before each tool's run: 500 messages of its own Maildir change
    /// flags; after it, the other tools catch up (untimed), so each timed
    /// run has only its own changes to carry.
    fn local_flags(&mut self) -> Result<()> {
        self.measure(
            format!("(d) resync after {FLAG_CHANGES} flag changes in the Maildir"),
            |bench, tool, run| {
                let files = bench.tools[tool].message_files()?;
                let step = (files.len() / FLAG_CHANGES).max(1);
                for (changed, path) in files.iter().skip(run % step).step_by(step).enumerate() {
                    if changed == FLAG_CHANGES {
                        break;
                    }
                    toggle_letter(path, 'R')?;
                }
                Ok(())
            },
            |bench, tool, _| {
                for (other, t) in bench.tools.iter().enumerate() {
                    if other != tool {
                        t.sync()?;
                    }
                }
                Ok(())
            },
        )
    }

    /// Before each run (both tools see the same changes): one new message
    /// in the first folder on the server, and \\Flagged added to the one
    /// that came the run before, so the flag change is always a change.
    /// As in (c), each tool first syncs once untimed with nothing to do.
    fn server_small_change(&mut self) -> Result<()> {
        let folder = self.folders[0].clone();
        let append = move |bench: &Bench<'_>, n: usize| {
            let mut content = format!("{SMALL_CHANGE_MARK}: server {n}\r\n").into_bytes();
            content.extend(sample_message(800_000_000 + n as u64));
            let mut client = bench.dovecot.client(USER);
            let uid = client.append(&folder, &content, &[], None);
            client.logout();
            uid
        };
        let mut last_new = append(self, 0);
        let folder = self.folders[0].clone();
        self.measure(
            "(g) resync after 1 new message and 1 flag change on the server".to_string(),
            |bench, tool, run| {
                if tool != bench.order(run)[0] {
                    return Ok(());
                }
                for at_rest in &bench.tools {
                    at_rest.sync()?;
                }
                let new = append(bench, run + 1);
                let mut client = bench.dovecot.client(USER);
                client.add_flags(&folder, last_new, &["\\Flagged"]);
                client.logout();
                last_new = new;
                Ok(())
            },
            |_, _, _| Ok(()),
        )
    }

    /// Before each tool's run: one new message in the first folder of its
    /// Maildir and the F flag toggled on another message there; after it,
    /// the other tools catch up (untimed), as in (d).
    fn local_small_change(&mut self) -> Result<()> {
        let folder = self.folders[0].clone();
        self.measure(
            "(h) resync after 1 new message and 1 flag change in the Maildir".to_string(),
            |bench, tool, run| {
                let dir = bench.tools[tool].folder_dir(&folder);
                let mut files: Vec<PathBuf> = fs::read_dir(dir.join("cur"))?
                    .map(|entry| entry.map(|e| e.path()))
                    .collect::<std::io::Result<_>>()?;
                if files.is_empty() {
                    bail!("no message in {}", dir.display());
                }
                files.sort();
                toggle_letter(&files[(run * 7919) % files.len()], 'F')?;
                let mut content =
                    format!("{SMALL_CHANGE_MARK}: {} {run}\r\n", bench.tools[tool].name)
                        .into_bytes();
                let seed = 810_000_000 + (run * bench.tools.len() + tool) as u64;
                content.extend(sample_message(seed));
                let name = format!("{}.R{run}T{tool}.small", 1_700_000_000 + run);
                fs::write(dir.join("new").join(name), content)?;
                Ok(())
            },
            |bench, tool, _| {
                for (other, t) in bench.tools.iter().enumerate() {
                    if other != tool {
                        t.sync()?;
                    }
                }
                Ok(())
            },
        )
    }

    /// Before each tool's run: 1,000 new messages in its Maildir. After it
    /// they are expunged on the server and the tool syncs that (untimed),
    /// so the account is the same for the next run.
    fn push(&mut self) -> Result<()> {
        let folders = self.folders.clone();
        self.measure(
            format!("(e) push of {PUSHED} new local messages"),
            |bench, tool, run| {
                let per_folder = PUSHED / folders.len();
                for (index, folder) in folders.iter().enumerate() {
                    let new = bench.tools[tool].folder_dir(folder).join("new");
                    for n in 0..per_folder {
                        let seed = (900_000_000 + run * 100_000 + index * 1000 + n) as u64;
                        let mut content = format!("{PUSH_MARK}: yes\r\n").into_bytes();
                        content.extend(sample_message(seed));
                        let name = format!("{}.P{run}Q{index}x{n}.pushed", 1_700_000_000 + n);
                        fs::write(new.join(name), content)?;
                    }
                }
                Ok(())
            },
            |bench, tool, _| {
                doveadm(
                    bench.dovecot,
                    &[
                        "expunge", "-u", USER, "mailbox", "*", "header", PUSH_MARK, "yes",
                    ],
                )?;
                bench.tools[tool].sync()
            },
        )
    }

    /// One large message, pulled into an empty Maildir: peak memory.
    fn big_message(&mut self, work: &Path, port: u16) -> Result<()> {
        let size = self.options.big_mb * 1024 * 1024;
        let maildir = self.dovecot.user_maildir(BIG_USER);
        let (uid, gid) = self.dovecot.mail_owner();
        let mut content = b"From: big@example.org\r\nSubject: large\r\n\
            Message-ID: <big@bench>\r\n\r\n"
            .to_vec();
        let line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n";
        while content.len() + line.len() <= size {
            content.extend_from_slice(line);
        }
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(maildir.join(sub))?;
            chown(&maildir.join(sub), uid, gid)?;
        }
        chown(&maildir, uid, gid)?;
        let path = maildir
            .join("cur")
            .join(format!("1700000000.big.bench,S={}:2,S", content.len()));
        fs::write(&path, &content)?;
        chown(&path, uid, gid)?;
        drop(content);
        doveadm(self.dovecot, &["force-resync", "-u", BIG_USER, "*"])?;
        let mut tools = Vec::new();
        for tool in &self.tools {
            tools.push(match tool.name {
                "mailferry" => Tool::mailferry(work, self.options, port, BIG_USER, "big-pw")?,
                _ => Tool::mbsync(work, self.options, port, BIG_USER, "big-pw")?,
            });
        }
        let saved = std::mem::replace(&mut self.tools, tools);
        let result = self.measure(
            format!("(f) first pull of one {} MB message", self.options.big_mb),
            |bench, tool, _| bench.tools[tool].reset(),
            |_, _, _| Ok(()),
        );
        self.tools = saved;
        result
    }

    fn table(&self) -> String {
        let mut text = String::new();
        let names: Vec<&str> = self.tools.iter().map(|t| t.name).collect();
        let _ = write!(text, "| scenario |");
        for name in &names {
            let _ = write!(text, " {name} s, median (min-max) | {name} peak MB |");
        }
        if names.len() == 2 {
            let _ = write!(text, " time ratio {}/{} |", names[0], names[1]);
        }
        text.push('\n');
        let columns = 1 + names.len() * 2 + usize::from(names.len() == 2);
        text.push_str(&"|---".repeat(columns));
        text.push_str("|\n");
        for row in &self.rows {
            let _ = write!(text, "| {} |", row.scenario);
            let mut medians = Vec::new();
            for (_, samples) in &row.samples {
                let mut seconds: Vec<f64> = samples.iter().map(|s| s.seconds).collect();
                let mut peaks: Vec<f64> = samples.iter().map(|s| s.peak_kb / 1024.0).collect();
                let median_s = median(&mut seconds);
                medians.push(median_s);
                let _ = write!(
                    text,
                    " {median_s:.3} ({:.3}-{:.3}) | {:.1} |",
                    seconds.first().copied().unwrap_or(f64::NAN),
                    seconds.last().copied().unwrap_or(f64::NAN),
                    median(&mut peaks)
                );
            }
            if medians.len() == 2 {
                let _ = write!(text, " {:.2} |", medians[0] / medians[1]);
            }
            text.push('\n');
        }
        text
    }
}

/// Median of the values (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Adds or removes one Maildir flag letter of a message file.
fn toggle_letter(path: &Path, letter: char) -> Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .context("message file name")?;
    let (base, info) = match name.rsplit_once(":2,") {
        Some((base, info)) => (base, info.to_string()),
        None => (name, String::new()),
    };
    let mut letters: Vec<char> = info.chars().collect();
    match letters.iter().position(|&c| c == letter) {
        Some(at) => {
            letters.remove(at);
        }
        None => letters.push(letter),
    }
    letters.sort_unstable();
    let new_name = format!("{base}:2,{}", letters.iter().collect::<String>());
    // A message still in new/ moves to cur/ once it has flags.
    let dir = path.parent().and_then(Path::parent).context("folder")?;
    fs::rename(path, dir.join("cur").join(new_name))?;
    Ok(())
}

/// A TCP proxy that delays every chunk by a fixed time in each direction,
/// standing in for a distant server.
struct DelayProxy {
    port: u16,
}

impl DelayProxy {
    fn start(target_port: u16, one_way: Duration) -> Result<DelayProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                for (from, to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ] {
                    if let (Ok(from), Ok(to)) = (from, to) {
                        delayed_pipe(from, to, one_way);
                    }
                }
            }
        });
        Ok(DelayProxy { port })
    }
}

/// Copies `from` to `to`, each chunk sent `delay` after it was read.
fn delayed_pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    type Queue = (Mutex<(VecDeque<(Instant, Vec<u8>)>, bool)>, Condvar);
    let queue: Arc<Queue> = Arc::new((Mutex::new((VecDeque::new(), false)), Condvar::new()));
    let reader_queue = queue.clone();
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = from.read(&mut buffer).unwrap_or(0);
            let (lock, ready) = &*reader_queue;
            let mut guard = lock.lock().unwrap();
            if read == 0 {
                guard.1 = true;
                ready.notify_one();
                return;
            }
            guard
                .0
                .push_back((Instant::now() + delay, buffer[..read].to_vec()));
            ready.notify_one();
        }
    });
    std::thread::spawn(move || loop {
        let (lock, ready) = &*queue;
        let mut guard = lock.lock().unwrap();
        while guard.0.is_empty() && !guard.1 {
            guard = ready.wait(guard).unwrap();
        }
        let Some((due, chunk)) = guard.0.pop_front() else {
            let _ = to.shutdown(Shutdown::Write);
            return;
        };
        drop(guard);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if to.write_all(&chunk).is_err() {
            return;
        }
    });
}
