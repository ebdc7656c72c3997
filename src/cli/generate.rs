//! `mailferry generate`: man pages and shell completions, made from the
//! same clap definitions as the help text.

use super::complete::COMPLETE_VAR;
use crate::output;
use anyhow::{Context, Result};
use clap::{Args, Command, CommandFactory, Subcommand, ValueEnum};
use clap_complete::env::{Bash, EnvCompleter, Fish, Zsh};
use std::fs;
use std::path::{Path, PathBuf};

/// Writes man pages into a directory, or a shell's completions.
///
/// Examples:
///
///   mailferry generate man ./man
///
///   mailferry generate completions bash > ~/.local/share/bash-completion/completions/mailferry
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
    /// Completions for bash, zsh or fish, including the channel, group and
    /// store names of the configuration (the script asks mailferry for
    /// them as you type).
    Completions {
        /// The shell to complete for.
        shell: CompletionShell,
        /// Directory to write the script into (as mailferry.bash,
        /// _mailferry or mailferry.fish); without it, the script is printed.
        dir: Option<PathBuf>,
    },
}

/// The shells `generate completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl CompletionShell {
    /// The file name the shell's completion directories expect.
    fn file_name(self) -> &'static str {
        match self {
            CompletionShell::Bash => "mailferry.bash",
            CompletionShell::Zsh => "_mailferry",
            CompletionShell::Fish => "mailferry.fish",
        }
    }

    fn completer(self) -> &'static dyn EnvCompleter {
        match self {
            CompletionShell::Bash => &Bash,
            CompletionShell::Zsh => &Zsh,
            CompletionShell::Fish => &Fish,
        }
    }
}

pub fn cmd_generate(args: &GenerateArgs) -> Result<i32> {
    match &args.what {
        GenerateWhat::Man { dir } => write_all(dir, man_pages()?)?,
        GenerateWhat::Completions { shell, dir: None } => {
            output::write_out(&completion_script(*shell)?);
        }
        GenerateWhat::Completions {
            shell,
            dir: Some(dir),
        } => write_all(
            dir,
            vec![(shell.file_name().to_string(), completion_script(*shell)?)],
        )?,
    }
    Ok(crate::error::exit::OK)
}

/// The exit statuses every command shares, from the help's epilogue.
fn exit_status_section(command: &Command) -> String {
    let epilogue = command
        .get_after_help()
        .map(|text| text.to_string())
        .unwrap_or_default();
    let mut section = String::from(".SH \"EXIT STATUS\"\n");
    for (status, meaning) in exit_statuses(&epilogue) {
        section.push_str(&format!(".TP\n\\fB{status}\\fR\n{}\n", roff_text(&meaning)));
    }
    section
}

/// Every file `generate man` writes, with its contents.
pub fn man_pages() -> Result<Vec<(String, Vec<u8>)>> {
    let mut command = super::Cli::command();
    command.build();
    let exit_status = exit_status_section(&command);
    let mut pages = vec![(
        "mailferry.1".to_string(),
        main_page(&command, &exit_status)?,
    )];
    for sub in visible_subcommands(&command) {
        let name = format!("mailferry-{}", sub.get_name());
        pages.push((format!("{name}.1"), subcommand_page(sub, &exit_status)?));
    }
    pages.push((
        "mailferry.yaml.5".to_string(),
        super::config_manual::render().into_bytes(),
    ));
    Ok(pages)
}

/// The subcommands that have a page of their own: all but clap's `help`.
fn visible_subcommands(command: &Command) -> impl Iterator<Item = &Command> {
    command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
}

/// Title, name, synopsis and the rest for a page of `command`, which is
/// called `page_name` and run as `bin_name`.
fn man_for(command: &Command, page_name: &str, bin_name: &str) -> clap_mangen::Man {
    let named = command
        .clone()
        .display_name(page_name.to_string())
        .bin_name(bin_name.to_string());
    clap_mangen::Man::new(named).source(format!("mailferry {}", env!("CARGO_PKG_VERSION")))
}

/// mailferry.1: clap's sections, with the exit statuses of the help's
/// epilogue as a proper EXIT STATUS section, and the files and pages to
/// read next.
fn main_page(command: &Command, exit_status: &str) -> Result<Vec<u8>> {
    let man = man_for(command, "mailferry", "mailferry");
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    page.extend_from_slice(synopsis(command, "mailferry").as_bytes());
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    page.extend_from_slice(b".SH COMMANDS\n");
    for sub in visible_subcommands(command) {
        page.extend_from_slice(
            format!(
                ".TP\n\\fBmailferry\\-{}\\fR(1)\n{}\n",
                roff_text(sub.get_name()),
                roff_text(&about(sub))
            )
            .as_bytes(),
        );
    }
    page.extend_from_slice(exit_status.as_bytes());
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

/// mailferry-NAME.1: the subcommand's sections as clap renders them, its
/// own subcommands (for `generate`) by their full command line, and the
/// exit statuses and pages every command shares.
fn subcommand_page(command: &Command, exit_status: &str) -> Result<Vec<u8>> {
    let name = command.get_name();
    let bin_name = format!("mailferry {name}");
    let man = man_for(command, &format!("mailferry-{name}"), &bin_name);
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    page.extend_from_slice(synopsis(command, &bin_name).as_bytes());
    for nested in visible_subcommands(command) {
        page.extend_from_slice(
            synopsis_line(nested, &format!("{bin_name} {}", nested.get_name())).as_bytes(),
        );
    }
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    if visible_subcommands(command).next().is_some() {
        page.extend_from_slice(b".SH COMMANDS\n");
        for nested in visible_subcommands(command) {
            page.extend_from_slice(
                format!(
                    ".TP\n\\fB{}\\fR\n{}\n",
                    roff_text(&format!("{bin_name} {}", nested.get_name())),
                    roff_text(&about(nested))
                )
                .as_bytes(),
            );
            for argument in nested.get_positionals() {
                let help = argument
                    .get_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                page.extend_from_slice(
                    format!(
                        ".RS\n.TP\n\\fI{}\\fR\n{}\n.RE\n",
                        roff_text(&value_name(argument)),
                        roff_text(&help)
                    )
                    .as_bytes(),
                );
            }
        }
    }
    if command.get_after_help().is_some() || command.get_after_long_help().is_some() {
        man.render_extra_section(&mut page)?;
    }
    page.extend_from_slice(exit_status.as_bytes());
    page.extend_from_slice(b".SH \"SEE ALSO\"\n\\fBmailferry\\fR(1), \\fBmailferry.yaml\\fR(5)\n");
    Ok(page)
}

/// A command's one-line description.
fn about(command: &Command) -> String {
    command
        .get_about()
        .or_else(|| command.get_long_about())
        .map(|text| text.to_string())
        .unwrap_or_default()
}

/// The SYNOPSIS section: the command line as typed, every option with its
/// value (`-c|--config <FILE>`), positionals with `...` where they repeat.
fn synopsis(command: &Command, bin_name: &str) -> String {
    format!(".SH SYNOPSIS\n{}", synopsis_line(command, bin_name))
}

/// One form of the command line, as a roff paragraph.
fn synopsis_line(command: &Command, bin_name: &str) -> String {
    let mut words = vec![format!("\\fB{}\\fR", roff_text(bin_name))];
    for argument in command
        .get_arguments()
        .filter(|argument| !argument.is_positional() && !argument.is_hide_set())
    {
        let mut names = Vec::new();
        if let Some(short) = argument.get_short() {
            names.push(format!("\\fB\\-{short}\\fR"));
        }
        if let Some(long) = argument.get_long() {
            names.push(format!("\\fB\\-\\-{}\\fR", roff_text(long)));
        }
        let mut word = names.join("|");
        if argument.get_action().takes_values() {
            word.push_str(&format!(" \\fI<{}>\\fR", roff_text(&value_name(argument))));
        }
        let repeats = matches!(argument.get_action(), clap::ArgAction::Count);
        words.push(bracketed(word, argument.is_required_set(), repeats));
    }
    for argument in command
        .get_positionals()
        .filter(|argument| !argument.is_hide_set())
    {
        let word = format!("\\fI{}\\fR", roff_text(&value_name(argument)));
        let repeats = argument
            .get_num_args()
            .is_some_and(|range| range.max_values() > 1);
        words.push(bracketed(word, argument.is_required_set(), repeats));
    }
    if visible_subcommands(command).next().is_some() {
        words.push("\\fI<COMMAND>\\fR".to_string());
    }
    format!("{}\n.br\n", words.join(" "))
}

/// `[word]` for an optional argument, `<word>`-style bare for a required
/// one, with `...` when it may be given more than once.
fn bracketed(word: String, required: bool, repeats: bool) -> String {
    let dots = if repeats { "..." } else { "" };
    if required {
        format!("{word}{dots}")
    } else {
        format!("[{word}]{dots}")
    }
}

/// The name the help shows for an argument's value.
fn value_name(argument: &clap::Arg) -> String {
    argument
        .get_value_names()
        .map(|names| names.join(" "))
        .unwrap_or_else(|| argument.get_id().as_str().to_uppercase())
}

/// Text safe in a roff line: backslashes and hyphens escaped, a leading
/// control character neutralised.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
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

/// The completion script for `shell`: it registers completion for
/// `mailferry` and asks the `mailferry` on PATH for the candidates.
pub fn completion_script(shell: CompletionShell) -> Result<Vec<u8>> {
    let mut script = Vec::new();
    shell
        .completer()
        .write_registration(
            COMPLETE_VAR,
            "mailferry",
            "mailferry",
            "mailferry",
            &mut script,
        )
        .context("cannot write the completion script")?;
    Ok(script)
}

/// Every shell's completion script, named as in completions/.
pub fn completions() -> Result<Vec<(String, Vec<u8>)>> {
    CompletionShell::value_variants()
        .iter()
        .map(|shell| Ok((shell.file_name().to_string(), completion_script(*shell)?)))
        .collect()
}

fn write_all(dir: &Path, files: Vec<(String, Vec<u8>)>) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, contents) in files {
        let path = dir.join(name);
        fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
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
            "for shell in bash zsh fish; do cargo run -- generate completions $shell completions; done",
        );
    }

    fn page(name: &str) -> String {
        let pages = man_pages().unwrap();
        let (_, contents) = pages
            .iter()
            .find(|(file, _)| file == name)
            .unwrap_or_else(|| panic!("no page {name}"));
        String::from_utf8(contents.clone()).unwrap()
    }

    /// The SYNOPSIS section of a page, up to the next section.
    fn synopsis_of(page: &str) -> String {
        let after = page.split_once(".SH SYNOPSIS\n").expect("a SYNOPSIS").1;
        after.split(".SH ").next().unwrap().to_string()
    }

    #[test]
    fn the_main_synopsis_names_the_config_file_argument() {
        let synopsis = synopsis_of(&page("mailferry.1"));
        assert!(
            synopsis.starts_with("\\fBmailferry\\fR ")
                && synopsis.contains("[\\fB\\-c\\fR|\\fB\\-\\-config\\fR \\fI<FILE>\\fR]")
                && synopsis.contains("[\\fB\\-v\\fR|\\fB\\-\\-verbose\\fR]...")
                && synopsis.contains("\\fI<COMMAND>\\fR"),
            "{synopsis}"
        );
    }

    #[test]
    fn subcommand_synopses_are_command_lines_with_repeated_arguments_marked() {
        let sync = synopsis_of(&page("mailferry-sync.1"));
        assert!(sync.starts_with("\\fBmailferry sync\\fR "), "{sync}");
        assert!(sync.contains("[\\fITARGETS\\fR]..."), "{sync}");
        let list = synopsis_of(&page("mailferry-list.1"));
        assert!(list.starts_with("\\fBmailferry list\\fR "), "{list}");
        assert!(list.contains(" \\fISTORE\\fR"), "{list}");
        let watch = synopsis_of(&page("mailferry-watch.1"));
        assert!(watch.contains(" \\fICHANNEL\\fR..."), "{watch}");
        let generate = synopsis_of(&page("mailferry-generate.1"));
        assert!(
            generate.contains("\\fBmailferry generate completions\\fR")
                && generate.contains("\\fISHELL\\fR [\\fIDIR\\fR]"),
            "{generate}"
        );
    }

    #[test]
    fn no_page_refers_to_a_page_that_is_not_generated() {
        let pages = man_pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|(name, _)| name.as_str()).collect();
        for (name, contents) in &pages {
            let text = String::from_utf8_lossy(contents)
                .replace("\\-", "-")
                .replace("\\fB", "")
                .replace("\\fI", "")
                .replace("\\fR", "");
            assert!(
                !text.contains("mailferry-help"),
                "{name} mentions mailferry-help"
            );
            for (at, _) in text.match_indices("mailferry-") {
                let page: String = text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                if text[at + page.len()..].starts_with("(1)") {
                    assert!(
                        names.contains(&format!("{page}.1").as_str()),
                        "{name} refers to {page}(1), which is not generated"
                    );
                }
            }
        }
    }

    #[test]
    fn every_subcommand_page_has_exit_status_and_see_also() {
        for (name, contents) in man_pages().unwrap() {
            if name == "mailferry.yaml.5" {
                continue;
            }
            let text = String::from_utf8(contents).unwrap();
            assert!(
                text.contains(".SH \"EXIT STATUS\"\n.TP\n\\fB0\\fR\n"),
                "{name}"
            );
            assert!(text.contains(".SH \"SEE ALSO\"\n"), "{name}");
        }
    }
}
