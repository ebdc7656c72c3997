//! Fetching a password from where the config says it is: the file itself, an
//! environment variable, or a command such as `pass show mail/work` (and the
//! OAuth2 token command, run the same way).
//!
//! How a command is run: a plain command line (words, with '...', "..." and
//! backslash quoting) is split into words and run directly, without a shell,
//! so nothing in it is interpreted. A value holding shell syntax (a pipe,
//! redirection, `$`, backquote, `;`, `&`, parentheses, a glob or a leading
//! `~`) is run through `sh -c` instead, so `gpg -dq ~/.pw.gpg | head -1`
//! works as the user wrote it. Either way stdin is closed and the first line
//! of standard output is the secret.
//!
//! The command runs in a process group of its own, for at most the
//! store's `command_timeout` (default 60 s): a command that waits for a
//! pinentry or a locked keyring is then stopped with every process it
//! started (see [`crate::command`]), as it is when a signal stops mailferry.
//!
//! Errors name the variable or the command and quote the command's error
//! output, never its standard output (that is where the password would be).

use super::files::{process_env, Env};
use super::{ImapConfig, PasswordSource, Secret};
use crate::command::{run_bounded, Failure};
use crate::interrupt::Interrupted;
use anyhow::{bail, Context};
use std::process::Command;
use std::time::Duration;

impl PasswordSource {
    /// The password or token. `Plain`: the value; `Env`: the variable, which
    /// must be set and non-empty; `Command` and `TokenCommand`: see the
    /// module documentation (`command_timeout` bounds the command).
    pub fn resolve(&self, command_timeout: Duration) -> anyhow::Result<Secret> {
        self.resolve_with(&process_env, command_timeout)
    }

    pub(crate) fn resolve_with(
        &self,
        env: Env,
        command_timeout: Duration,
    ) -> anyhow::Result<Secret> {
        match self {
            PasswordSource::Plain(secret) => Ok(secret.clone()),
            PasswordSource::Env(variable) => from_env(variable, env),
            PasswordSource::Command(command) => from_command(command, "password", command_timeout),
            PasswordSource::TokenCommand(command) => {
                from_command(command, "OAuth2 token", command_timeout)
            }
        }
    }
}

impl ImapConfig {
    /// The config with `user` taken from `user_command` (run here, once,
    /// as a password command is), or as it is when `user` was written.
    pub fn with_user_resolved(&self) -> anyhow::Result<ImapConfig> {
        let Some(command) = &self.user_command else {
            return Ok(self.clone());
        };
        let user = from_command(command, "user name", self.command_timeout())?;
        let mut config = self.clone();
        config.user = user.expose().to_owned();
        config.user_command = None;
        Ok(config)
    }
}

fn from_env(variable: &str, env: Env) -> anyhow::Result<Secret> {
    let Some(value) = env(variable) else {
        bail!("the password variable {variable} is not set");
    };
    let Ok(value) = value.into_string() else {
        bail!("the password variable {variable} is not valid UTF-8");
    };
    if value.is_empty() {
        bail!("the password variable {variable} is empty");
    }
    Ok(Secret::new(value))
}

/// Whether a command line needs a shell to mean what its writer meant.
/// Quotes and backslashes alone do not: the splitter handles them.
pub(crate) fn needs_shell(command: &str) -> bool {
    const SHELL_SYNTAX: &[char] = &[
        '|', '&', ';', '<', '>', '(', ')', '$', '`', '*', '?', '[', ']', '{', '}', '\n',
    ];
    command.contains(SHELL_SYNTAX)
        || command
            .split_whitespace()
            .any(|word| word == "~" || word.starts_with("~/"))
}

/// The process to run for `command`: the command itself when it is a plain
/// command line, else `sh -c command`.
fn command_for(command: &str, what: &str) -> anyhow::Result<Command> {
    if needs_shell(command) {
        let mut shell = Command::new("sh");
        shell.arg("-c").arg(command);
        return Ok(shell);
    }
    let words = shell_words::split(command)
        .with_context(|| format!("cannot read the {what} command `{command}`"))?;
    let Some((program, args)) = words.split_first() else {
        bail!("the {what} command is empty");
    };
    let mut direct = Command::new(program);
    direct.args(args);
    Ok(direct)
}

fn from_command(command: &str, what: &str, limit: Duration) -> anyhow::Result<Secret> {
    let output = match run_bounded(command_for(command, what)?, limit) {
        Ok(output) => output,
        Err(Failure::Start(error)) => {
            return Err(anyhow::Error::new(error)
                .context(format!("cannot run the {what} command `{command}`")))
        }
        Err(Failure::TimedOut(limit)) => bail!(
            "the {what} command `{command}` did not finish within {} s and was stopped, with \
             every process it started; it must not wait for input (a pinentry, a locked \
             keyring), and if it is only slow, raise command_timeout in the store",
            limit.as_secs()
        ),
        Err(Failure::Interrupted) => {
            return Err(anyhow::Error::new(Interrupted)
                .context(format!("the {what} command `{command}` was stopped")))
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr = stderr.trim();
    let said = if stderr.is_empty() {
        String::from("no error output")
    } else {
        format!("it said: {stderr}")
    };
    if !output.status.success() {
        bail!(
            "the {what} command `{command}` failed ({}); {said}",
            output.status
        );
    }
    let first_line = output
        .stdout
        .split(|&byte| byte == b'\n')
        .next()
        .unwrap_or_default();
    let first_line = first_line.strip_suffix(b"\r").unwrap_or(first_line);
    if first_line.is_empty() {
        bail!("the {what} command `{command}` printed no {what} on its first line; {said}");
    }
    let Ok(secret) = String::from_utf8(first_line.to_vec()) else {
        bail!("the {what} command `{command}` printed a {what} that is not valid UTF-8");
    };
    Ok(Secret::new(secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    const LIMIT: Duration = Duration::from_secs(60);

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    #[test]
    fn command_password_is_first_line_without_line_ending() {
        let source = PasswordSource::Command("printf 'hunter2\\r\\nsecond line\\n'".into());
        assert_eq!(source.resolve(LIMIT).unwrap().expose(), "hunter2");
    }

    #[test]
    fn command_without_final_newline_still_works() {
        let source = PasswordSource::Command("printf s3cret".into());
        assert_eq!(source.resolve(LIMIT).unwrap().expose(), "s3cret");
    }

    #[test]
    fn failing_command_quotes_stderr_but_never_stdout() {
        let source = PasswordSource::Command(
            "printf 'leaked-%s' secret; echo 'no such entry' >&2; exit 3".into(),
        );
        let message = format!("{:#}", source.resolve(LIMIT).unwrap_err());
        assert!(message.contains("no such entry"), "{message}");
        assert!(message.contains("exit status: 3"), "{message}");
        assert!(!message.contains("leaked-secret"), "{message}");
    }

    #[test]
    fn empty_output_is_an_error() {
        let source = PasswordSource::Command("true".into());
        let message = source.resolve(LIMIT).unwrap_err().to_string();
        assert!(message.contains("printed no password"), "{message}");
    }

    #[test]
    fn plain_command_line_runs_without_a_shell() {
        let command = command_for(r#"pass show 'mail work' "x\"y" a\ b"#, "password").unwrap();
        assert_eq!(command.get_program(), "pass");
        let args: Vec<_> = command.get_args().collect();
        assert_eq!(args, ["show", "mail work", "x\"y", "a b"]);
        let source = PasswordSource::Command(r#"printf '%s-%s' "a b" 'c d'"#.into());
        assert_eq!(source.resolve(LIMIT).unwrap().expose(), "a b-c d");
    }

    #[test]
    fn command_with_shell_syntax_goes_through_sh() {
        let command = command_for("pass show mail | head -1", "password").unwrap();
        assert_eq!(command.get_program(), "sh");
    }

    #[test]
    fn command_with_shell_syntax_runs_through_sh() {
        let source = PasswordSource::Command("printf 'one\ntwo\n' | tail -n 1".into());
        assert_eq!(source.resolve(LIMIT).unwrap().expose(), "two");
        let source = PasswordSource::Command("X=fromvar; printf %s \"$X\"".into());
        assert_eq!(source.resolve(LIMIT).unwrap().expose(), "fromvar");
    }

    #[test]
    fn shell_syntax_is_recognised_and_plain_lines_are_not() {
        for plain in [
            "pass show mail/work",
            "security find-generic-password -w -s 'mail work'",
            r#"secret-tool lookup service "imap home""#,
            "oama access alice@gmail.com",
        ] {
            assert!(!needs_shell(plain), "{plain}");
        }
        for shell in [
            "gpg -dq ~/.pw.gpg",
            "pass show mail | head -1",
            "cat $HOME/pw",
            "echo `cat pw`",
            "a; b",
            "a && b",
            "a || b",
            "cat < pw",
            "cat pw > /dev/null",
            "cat pw*",
        ] {
            assert!(needs_shell(shell), "{shell}");
        }
    }

    #[test]
    fn missing_program_is_named_without_a_shell_message() {
        let source = PasswordSource::Command("no-such-program-mailferry arg".into());
        let message = format!("{:#}", source.resolve(LIMIT).unwrap_err());
        assert!(
            message.starts_with("cannot run the password command `no-such-program-mailferry arg`"),
            "{message}"
        );
    }

    #[test]
    fn unbalanced_quote_is_an_error_naming_the_command() {
        let source = PasswordSource::Command("pass show 'mail".into());
        let message = format!("{:#}", source.resolve(LIMIT).unwrap_err());
        assert!(
            message.starts_with("cannot read the password command `pass show 'mail`"),
            "{message}"
        );
    }

    #[test]
    fn token_command_errors_say_token() {
        let source = PasswordSource::TokenCommand("sh -c 'echo expired >&2; exit 1'".into());
        let message = format!("{:#}", source.resolve(LIMIT).unwrap_err());
        assert!(message.contains("the OAuth2 token command"), "{message}");
        assert!(message.contains("it said: expired"), "{message}");
    }

    #[test]
    fn a_hanging_command_is_stopped_and_named_without_its_output() {
        let source =
            PasswordSource::Command("printf 'leaked-%s' secret; sleep 1000 & sleep 1000".into());
        let message = format!(
            "{:#}",
            source.resolve(Duration::from_millis(200)).unwrap_err()
        );
        assert!(
            message.starts_with("the password command `printf"),
            "{message}"
        );
        assert!(message.contains("did not finish within"), "{message}");
        assert!(!message.contains("leaked-secret"), "{message}");
    }

    #[test]
    fn env_password_reads_the_variable() {
        let env = |name: &str| (name == "MY_PW").then(|| OsString::from("pw"));
        let source = PasswordSource::Env("MY_PW".into());
        assert_eq!(source.resolve_with(&env, LIMIT).unwrap().expose(), "pw");
    }

    #[test]
    fn missing_or_empty_env_variable_is_named() {
        let source = PasswordSource::Env("OLD_POP_PASSWORD".into());
        let message = source.resolve_with(&no_env, LIMIT).unwrap_err().to_string();
        assert_eq!(message, "the password variable OLD_POP_PASSWORD is not set");

        let empty = |_: &str| Some(OsString::new());
        let message = source.resolve_with(&empty, LIMIT).unwrap_err().to_string();
        assert_eq!(message, "the password variable OLD_POP_PASSWORD is empty");
    }

    #[test]
    fn plain_password_is_returned_as_written() {
        let source = PasswordSource::Plain(Secret::new("written"));
        assert_eq!(
            source.resolve_with(&no_env, LIMIT).unwrap().expose(),
            "written"
        );
    }
}
