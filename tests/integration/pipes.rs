//! Output into pipes: a reader that stops reading (`mailferry list work |
//! head -1`) ends the program quietly with status 0; a stdout that cannot
//! be written is an error, status 1.

use super::common::{env, stderr};
use crate::support::env::TestEnv;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::process::Stdio;

/// Folders in the Maildir: with their long names, `list` prints about
/// 100 KB, more than a pipe buffer (64 KB on Linux) and what the reader
/// takes in at once, so it is still writing when the reader goes away.
const FOLDERS: usize = 400;

/// An environment whose config has one store, `laptop`, a Maildir of
/// [`FOLDERS`] empty folders with 240-character names.
fn many_folders() -> TestEnv {
    let mut env = env();
    let maildir = env.maildir();
    for number in 0..FOLDERS {
        let folder = maildir.join(format!("{number:03}-{}", "x".repeat(236)));
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(folder.join(sub)).unwrap();
        }
    }
    env.write_config(&format!(
        "stores:\n  laptop:\n    type: maildir\n    path: {}\n",
        maildir.display()
    ));
    env
}

#[test]
fn list_into_a_pipe_closed_after_one_line_exits_0_quietly() {
    let env = many_folders();
    let mut child = env
        .command()
        .args(["list", "laptop"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As `head -1` does: read the first line, then close the pipe.
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    drop(reader);
    let output = child.wait_with_output().unwrap();

    assert!(first.contains("-xxxx"), "first line: {first:?}");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stderr(&output), "", "nothing on stderr: no panic, no error");
}

#[test]
fn list_into_a_pipe_nobody_reads_exits_0_quietly() {
    let env = many_folders();
    let mut child = env
        .command()
        .args(["list", "laptop"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the first line is written.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
}

#[test]
fn list_into_a_full_disk_exits_1_and_says_so() {
    let env = many_folders();
    let output = env
        .command()
        .args(["list", "laptop"])
        .stdout(File::create("/dev/full").unwrap())
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("cannot write to standard output") && !message.contains("panicked"),
        "{message}"
    );
}
