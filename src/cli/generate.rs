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
    /// Man pages: mailferry.1 and one page per subcommand (mailferry-sync.1, ...).
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
    let mut pages = Vec::new();
    let mut main_page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut main_page)?;
    pages.push(("mailferry.1".to_string(), main_page));
    for sub in command.get_subcommands() {
        let name = format!("mailferry-{}", sub.get_name());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub.clone().name(name.clone())).render(&mut page)?;
        pages.push((format!("{name}.1"), page));
    }
    Ok(pages)
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
    fn committed_completions_match_the_cli() {
        assert_up_to_date(
            "completions",
            completions().unwrap(),
            "cargo run -- generate completions completions",
        );
    }
}
