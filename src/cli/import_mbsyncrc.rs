//! `mailferry import-mbsyncrc`: prints the mailferry configuration that
//! matches an mbsync (isync) configuration.

use super::Cli;
use crate::error::{exit, ConfigError};
use crate::import::mbsyncrc::MbsyncRc;
use crate::import::translate::{translate, Options};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// Converts an mbsync configuration (~/.mbsyncrc) into mailferry's YAML.
///
/// Reads IMAPAccount, IMAPStore, MaildirStore, Channel and Group sections
/// and prints the equivalent stores, channels and groups on stdout. Every
/// option without an equivalent becomes a `#` comment saying why; read them
/// before the first sync. Passwords written in the file (Pass) are not
/// copied unless --copy-passwords is given.
///
/// Example: mailferry import-mbsyncrc > ~/.config/mailferry/config.yaml
#[derive(Debug, Args)]
pub struct ImportMbsyncrcArgs {
    /// The mbsync configuration to read; `-` reads standard input. Default:
    /// ~/.mbsyncrc, or $XDG_CONFIG_HOME/isyncrc (isync 1.5) when only that
    /// one exists.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Copy passwords written in the file (Pass) into the output, instead of
    /// a password_env placeholder.
    #[arg(long)]
    pub copy_passwords: bool,
}

pub fn cmd_import_mbsyncrc(cli: &Cli, args: &ImportMbsyncrcArgs) -> Result<i32> {
    let file = match &args.file {
        Some(file) => file.clone(),
        None => default_file()?,
    };
    let rc = if file.as_os_str() == "-" {
        MbsyncRc::read_stdin()?
    } else {
        MbsyncRc::read(&file)?
    };
    let translation = translate(
        &rc,
        Options {
            copy_passwords: args.copy_passwords,
        },
    )?;
    crate::output::write_out(translation.yaml.as_bytes());
    if !cli.quiet && translation.untranslated > 0 {
        eprintln!(
            "mailferry: {} option(s) of {} could not be translated; see the `not translated` comments",
            translation.untranslated,
            rc.file.display()
        );
    }
    Ok(exit::OK)
}

/// Where mbsync looks: ~/.mbsyncrc, or isync 1.5's
/// $XDG_CONFIG_HOME/isyncrc when only that exists.
fn default_file() -> Result<PathBuf, ConfigError> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|home| home.join(".config")))
        .map(|dir| dir.join("isyncrc"));
    let classic = home.map(|home| home.join(".mbsyncrc"));
    match (classic, xdg) {
        (Some(classic), Some(xdg)) if !classic.exists() && xdg.exists() => Ok(xdg),
        (Some(classic), _) => Ok(classic),
        (None, _) => Err(ConfigError {
            file: PathBuf::from("~/.mbsyncrc"),
            line: None,
            key: None,
            message: "HOME is not set; give the mbsync configuration file as an argument"
                .to_owned(),
        }),
    }
}
