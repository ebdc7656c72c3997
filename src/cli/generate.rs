//! `mailferry generate`: man pages and shell completions, made from the
//! same clap definitions as the help text.

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, Subcommand};
use clap_complete::Shell;
use std::fs;
use std::path::{Path, PathBuf};

/// Writes man pages or shell completions into a directory.
///
/// Example: mailferry generate man ./man
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub what: GenerateWhat,
}

#[derive(Debug, Subcommand)]
pub enum GenerateWhat {
    /// Man pages: mailferry.1, one page per subcommand (mailferry-sync.1, ...)
    /// and the configuration file's, mailferry.yaml.5.
    Man {
        /// Directory to write into; created if missing.
        dir: PathBuf,
    },
    /// Completions for bash, zsh and fish.
    Completions {
        /// Directory to write into; created if missing.
        dir: PathBuf,
    },
}

pub fn cmd_generate(args: &GenerateArgs) -> Result<i32> {
    match &args.what {
        GenerateWhat::Man { dir } => write_man_pages(dir)?,
        GenerateWhat::Completions { dir } => write_completions(dir)?,
    }
    Ok(crate::error::exit::OK)
}

/// Every file `generate man` writes, with its contents.
pub fn man_pages() -> Result<Vec<(String, Vec<u8>)>> {
    let command = super::Cli::command();
    let mut pages = vec![("mailferry.1".to_string(), main_page(&command)?)];
    for sub in command.get_subcommands() {
        let name = format!("mailferry-{}", sub.get_name());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub.clone().name(name.clone())).render(&mut page)?;
        pages.push((format!("{name}.1"), page));
    }
    pages.push((
        "mailferry.yaml.5".to_string(),
        super::config_manual::render().into_bytes(),
    ));
    Ok(pages)
}

/// mailferry.1: clap's sections, with the exit statuses of the help's
/// epilogue as a proper EXIT STATUS section, and the files and pages to
/// read next.
fn main_page(command: &clap::Command) -> Result<Vec<u8>> {
    let man = clap_mangen::Man::new(command.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    page.extend_from_slice(b".SH \"EXIT STATUS\"\n");
    let epilogue = command
        .get_after_help()
        .map(|text| text.to_string())
        .unwrap_or_default();
    for (status, meaning) in exit_statuses(&epilogue) {
        page.extend_from_slice(format!(".TP\n\\fB{status}\\fR\n{meaning}\n").as_bytes());
    }
    page.extend_from_slice(
        b".SH ENVIRONMENT\n\
          .TP\nMAILFERRY_CONFIG\nThe configuration file, unless \\-\\-config is given.\n\
          .TP\nXDG_CONFIG_HOME, XDG_STATE_HOME\nWhere the configuration and the sync state are looked for.\n\
          .SH FILES\n\
          .TP\n~/.config/mailferry/config.yaml\nThe configuration: see \\fBmailferry.yaml\\fR(5).\n\
          .TP\n~/.local/state/mailferry/\nSync state and channel locks.\n\
          .SH \"SEE ALSO\"\n\\fBmailferry.yaml\\fR(5), \\fBmbsync\\fR(1), \\fBmutt\\fR(1), \\fBnotmuch\\fR(1)\n",
    );
    man.render_version_section(&mut page)?;
    Ok(page)
}

/// The `  N  meaning` lines of the help's epilogue.
fn exit_statuses(epilogue: &str) -> Vec<(u8, String)> {
    epilogue
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let (status, meaning) = line.split_once(char::is_whitespace)?;
            Some((status.parse().ok()?, meaning.trim().to_owned()))
        })
        .collect()
}

/// Every file `generate completions` writes, with its contents.
pub fn completions() -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut command = super::Cli::command();
        let mut buffer = Vec::new();
        clap_complete::generate(shell, &mut command, "mailferry", &mut buffer);
        let name = match shell {
            Shell::Bash => "mailferry.bash",
            Shell::Zsh => "_mailferry",
            _ => "mailferry.fish",
        };
        files.push((name.to_string(), buffer));
    }
    Ok(files)
}

fn write_all(dir: &Path, files: Vec<(String, Vec<u8>)>) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, contents) in files {
        let path = dir.join(name);
        fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn write_man_pages(dir: &Path) -> Result<()> {
    write_all(dir, man_pages()?)
}

fn write_completions(dir: &Path) -> Result<()> {
    write_all(dir, completions()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files in `dir` must be exactly `expected`, byte for byte.
    fn assert_up_to_date(dir: &str, expected: Vec<(String, Vec<u8>)>, command: &str) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut names: Vec<String> = fs::read_dir(&root)
            .unwrap_or_else(|e| panic!("{}: {e}; run `{command}`", root.display()))
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut expected_names: Vec<String> = expected.iter().map(|(n, _)| n.clone()).collect();
        expected_names.sort();
        assert_eq!(
            names, expected_names,
            "{dir}/ has other files than the CLI makes: run `{command}`"
        );
        for (name, contents) in expected {
            let on_disk = fs::read(root.join(&name)).unwrap();
            assert!(
                on_disk == contents,
                "{dir}/{name} is out of date with the CLI: run `{command}`"
            );
        }
    }

    #[test]
    fn committed_man_pages_match_the_cli() {
        assert_up_to_date("man", man_pages().unwrap(), "cargo run -- generate man man");
    }

    #[test]
    fn main_page_documents_every_exit_status() {
        let pages = man_pages().unwrap();
        let main = String::from_utf8(pages[0].1.clone()).unwrap();
        let section = main
            .split_once(".SH \"EXIT STATUS\"\n")
            .expect("an EXIT STATUS section")
            .1;
        for status in [
            crate::error::exit::OK,
            crate::error::exit::FAILED,
            crate::error::exit::USAGE,
            crate::error::exit::LOCKED,
            crate::interrupt::SIGINT_STATUS,
            crate::interrupt::SIGTERM_STATUS,
        ] {
            assert!(
                section.contains(&format!(".TP\n\\fB{status}\\fR\n")),
                "exit status {status} missing from mailferry.1"
            );
        }
        assert!(pages.iter().any(|(name, _)| name == "mailferry.yaml.5"));
    }

    #[test]
    fn committed_completions_match_the_cli() {
        assert_up_to_date(
            "completions",
            completions().unwrap(),
            "cargo run -- generate completions completions",
        );
    }
}
