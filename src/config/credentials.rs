//! Fetching a password from where the config says it is: the file itself, an
//! environment variable, or a command such as `pass show mail/work`.
//!
//! Errors name the variable or the command and quote the command's error
//! output, never its standard output (that is where the password would be).

use super::files::{process_env, Env};
use super::{PasswordSource, Secret};
use anyhow::{bail, Context};
use std::process::{Command, Stdio};

impl PasswordSource {
    /// The password. `Plain`: the value; `Env`: the variable, which must be
    /// set and non-empty; `Command`: run through `sh -c` with stdin closed,
    /// the first line of its output without the line ending.
    pub fn resolve(&self) -> anyhow::Result<Secret> {
        self.resolve_with(&process_env)
    }

    pub(crate) fn resolve_with(&self, env: Env) -> anyhow::Result<Secret> {
        match self {
            PasswordSource::Plain(secret) => Ok(secret.clone()),
            PasswordSource::Env(variable) => from_env(variable, env),
            PasswordSource::Command(command) => from_command(command),
        }
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

fn from_command(command: &str) -> anyhow::Result<Secret> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run the password command `{command}`"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr = stderr.trim();
    let said = if stderr.is_empty() {
        String::from("no error output")
    } else {
        format!("it said: {stderr}")
    };
    if !output.status.success() {
        bail!(
            "the password command `{command}` failed ({}); {said}",
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
        bail!("the password command `{command}` printed no password on its first line; {said}");
    }
    let Ok(password) = String::from_utf8(first_line.to_vec()) else {
        bail!("the password command `{command}` printed a password that is not valid UTF-8");
    };
    Ok(Secret::new(password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    #[test]
    fn command_password_is_first_line_without_line_ending() {
        let source = PasswordSource::Command("printf 'hunter2\\r\\nsecond line\\n'".into());
        assert_eq!(source.resolve().unwrap().expose(), "hunter2");
    }

    #[test]
    fn command_without_final_newline_still_works() {
        let source = PasswordSource::Command("printf s3cret".into());
        assert_eq!(source.resolve().unwrap().expose(), "s3cret");
    }

    #[test]
    fn failing_command_quotes_stderr_but_never_stdout() {
        let source = PasswordSource::Command(
            "printf 'leaked-%s' secret; echo 'no such entry' >&2; exit 3".into(),
        );
        let message = format!("{:#}", source.resolve().unwrap_err());
        assert!(message.contains("no such entry"), "{message}");
        assert!(message.contains("exit status: 3"), "{message}");
        assert!(!message.contains("leaked-secret"), "{message}");
    }

    #[test]
    fn empty_output_is_an_error() {
        let source = PasswordSource::Command("true".into());
        let message = source.resolve().unwrap_err().to_string();
        assert!(message.contains("printed no password"), "{message}");
    }

    #[test]
    fn env_password_reads_the_variable() {
        let env = |name: &str| (name == "MY_PW").then(|| OsString::from("pw"));
        let source = PasswordSource::Env("MY_PW".into());
        assert_eq!(source.resolve_with(&env).unwrap().expose(), "pw");
    }

    #[test]
    fn missing_or_empty_env_variable_is_named() {
        let source = PasswordSource::Env("OLD_POP_PASSWORD".into());
        let message = source.resolve_with(&no_env).unwrap_err().to_string();
        assert_eq!(message, "the password variable OLD_POP_PASSWORD is not set");

        let empty = |_: &str| Some(OsString::new());
        let message = source.resolve_with(&empty).unwrap_err().to_string();
        assert_eq!(message, "the password variable OLD_POP_PASSWORD is empty");
    }

    #[test]
    fn plain_password_is_returned_as_written() {
        let source = PasswordSource::Plain(Secret::new("written"));
        assert_eq!(source.resolve_with(&no_env).unwrap().expose(), "written");
    }
}
