//! Snapshot tests of `--help` for every command: any change to what users
//! read shows up in review as a change to tests/snapshots/help/. Run with
//! `UPDATE_SNAPSHOTS=1` to rewrite them after an intended change.

use super::Cli;
use clap::CommandFactory;
use std::fs;
use std::path::Path;

/// The long help of the command at `path` (empty: the top level), at a
/// fixed width so the snapshot does not depend on the terminal.
fn long_help(path: &[&str]) -> String {
    let mut command = Cli::command().term_width(100);
    command.build();
    let mut current = &mut command;
    for name in path {
        current = current
            .find_subcommand_mut(name)
            .unwrap_or_else(|| panic!("no subcommand {name}"));
    }
    current.render_long_help().to_string()
}

#[test]
fn help_of_every_command_matches_its_snapshot() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/help");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut paths: Vec<Vec<String>> = vec![vec![]];
    for sub in Cli::command().get_subcommands() {
        paths.push(vec![sub.get_name().to_string()]);
        for nested in sub.get_subcommands() {
            paths.push(vec![
                sub.get_name().to_string(),
                nested.get_name().to_string(),
            ]);
        }
    }
    let mut stale = Vec::new();
    for path in &paths {
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        let help = long_help(&refs);
        let name = if path.is_empty() {
            "mailferry".to_string()
        } else {
            format!("mailferry-{}", path.join("-"))
        };
        let file = root.join(format!("{name}.txt"));
        if update {
            fs::create_dir_all(&root).unwrap();
            fs::write(&file, &help).unwrap();
            continue;
        }
        match fs::read_to_string(&file) {
            Ok(snapshot) if snapshot == help => {}
            _ => stale.push(name),
        }
    }
    assert!(
        stale.is_empty(),
        "--help changed for {stale:?}: review it, then run `UPDATE_SNAPSHOTS=1 cargo test --lib help_of_every_command`"
    );
}

#[test]
fn every_command_help_has_an_example() {
    for sub in Cli::command().get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let help = long_help(&[sub.get_name()]);
        // An example is a line of its own (or after "Example:"), not the
        // "Usage:" line clap writes for every command.
        let example = format!("mailferry {}", sub.get_name());
        let has_example = help.lines().any(|line| {
            let line = line.trim_start();
            line.starts_with(&example) || line.starts_with(&format!("Example: {example}"))
        });
        assert!(
            has_example,
            "the help of {} shows no example command",
            sub.get_name()
        );
    }
}
