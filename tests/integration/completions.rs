//! Shell completions as a user gets them: the script `generate completions`
//! prints, sourced into a real bash, completing the channel, group and
//! store names of the configuration.

use super::common::{env, stderr};
use crate::support::env::TestEnv;
use std::path::Path;
use std::process::Command;

/// A config with two channels, a group and three stores.
fn configured() -> TestEnv {
    let mut env = env();
    let maildir = env.maildir();
    env.write_config(&format!(
        "stores:
  work-server:
    type: imap
    host: imap.example.com
    user: me
    password_command: 'false'
  work-local:
    type: maildir
    path: {maildir}/work
  home-local:
    type: maildir
    path: {maildir}/home
channels:
  work:
    far: work-server
    near: work-local
  workarchive:
    far: work-server
    near: home-local
groups:
  everything: [work, workarchive]
",
        maildir = maildir.display()
    ));
    env
}

/// The names bash offers (options left out: an empty word also gets
/// `--all`, `--json`, ...) for the last of `words`, the part typed so far,
/// with the script of `generate completions bash` sourced
/// and the binary under test first on PATH.
fn bash_completes(env: &TestEnv, words: &[&str]) -> Vec<String> {
    let script = env.run(&["generate", "completions", "bash"]);
    assert_eq!(script.status.code(), Some(0), "{}", stderr(&script));
    let script_path = env.root().join("mailferry.bash");
    std::fs::write(&script_path, &script.stdout).unwrap();
    let binary = env!("CARGO_BIN_EXE_mailferry");
    let bin_dir = Path::new(binary).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let quoted: Vec<String> = words.iter().map(|word| format!("'{word}'")).collect();
    let program = format!(
        "source '{script}'
         COMP_WORDS=({words})
         COMP_CWORD={index}
         COMP_TYPE=9
         _clap_complete_mailferry mailferry '{current}' '{previous}'
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script = script_path.display(),
        words = quoted.join(" "),
        index = words.len() - 1,
        current = words[words.len() - 1],
        previous = words[words.len() - 2],
    );
    // bash in the environment the binary would get (its config, HOME and
    // XDG directories), so the binary it calls reads the test's config.
    let binary_command = env.command();
    let mut bash = Command::new("bash");
    bash.args(["--norc", "-c", &program]).env("PATH", path);
    for (name, value) in binary_command.get_envs() {
        match value {
            Some(value) => bash.env(name, value),
            None => bash.env_remove(name),
        };
    }
    let output = bash.current_dir(env.root()).output().unwrap();
    assert!(output.status.success(), "bash: {}", stderr(&output));
    let mut offered: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.trim_end().to_string())
        .filter(|line| !line.is_empty() && !line.starts_with('-'))
        .collect();
    offered.sort();
    offered
}

#[test]
fn bash_completes_channel_and_group_names_for_sync() {
    let env = configured();
    assert_eq!(
        bash_completes(&env, &["mailferry", "sync", ""]),
        ["everything", "work", "workarchive"]
    );
    assert_eq!(
        bash_completes(&env, &["mailferry", "sync", "workar"]),
        ["workarchive"]
    );
}

#[test]
fn bash_completes_store_names_for_list_and_channel_names_for_adopt() {
    let env = configured();
    assert_eq!(
        bash_completes(&env, &["mailferry", "list", ""]),
        ["home-local", "work-local", "work-server"]
    );
    assert_eq!(
        bash_completes(&env, &["mailferry", "adopt", "w"]),
        ["work", "workarchive"]
    );
}

#[test]
fn bash_completes_from_the_config_named_on_the_command_line() {
    let env = configured();
    let other = env.root().join("other.yaml");
    std::fs::write(
        &other,
        "stores:\n  elsewhere:\n    type: maildir\n    path: /tmp/elsewhere\n",
    )
    .unwrap();
    let other = other.display().to_string();
    assert_eq!(
        bash_completes(&env, &["mailferry", "-c", &other, "list", ""]),
        ["elsewhere"]
    );
}

#[test]
fn completions_for_a_shell_are_printed_when_no_directory_is_given() {
    let env = env();
    for (shell, file) in [
        ("bash", "mailferry.bash"),
        ("zsh", "_mailferry"),
        ("fish", "mailferry.fish"),
    ] {
        let printed = env.run(&["generate", "completions", shell]);
        assert_eq!(printed.status.code(), Some(0), "{}", stderr(&printed));
        let committed = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("completions")
                .join(file),
        )
        .unwrap();
        assert_eq!(
            printed.stdout, committed,
            "{shell}: as in completions/{file}"
        );
        assert!(!env.root().join(shell).exists(), "no ./{shell}/ made");
    }
    let written = env.run(&["generate", "completions", "zsh", "out"]);
    assert_eq!(written.status.code(), Some(0), "{}", stderr(&written));
    assert!(env.root().join("out/_mailferry").is_file());
}
