//! The outcome of a channel's last `sync`, kept beside its folders' state
//! so that `mailferry status` can say, without connecting, when the channel
//! last synced successfully and why the last run failed.
//!
//! Format: a header line, then `finished SECONDS`, `status CODE`,
//! `success SECONDS` (the last run that ended with status 0, if any) and
//! one `error TEXT` line per error of the last run (escaped).

use super::file::{create_private_dir, escape, parent_dir, state_path, unescape, write_atomically};
use super::StateError;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const HEADER: &str = "mailferry-last-run 1";

/// What the last run of a channel left.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LastRun {
    /// When it ended, in seconds since the epoch.
    pub finished: u64,
    /// Its exit status for this channel (0 done, 1 something failed).
    pub status: i32,
    /// When a run last ended with status 0.
    pub last_success: Option<u64>,
    /// The errors of the last run, one line each.
    pub errors: Vec<String>,
}

/// Now, in seconds since the epoch (0 if the clock is before it).
pub fn epoch_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// Where a channel's last run is kept.
pub fn last_run_path(state_dir: &Path, channel: &str) -> PathBuf {
    parent_dir(&state_path(state_dir, channel, "INBOX")).join("last-run")
}

impl LastRun {
    /// The last run of `channel`; `None` when it never ran.
    pub fn load(state_dir: &Path, channel: &str) -> Result<Option<LastRun>, StateError> {
        let path = last_run_path(state_dir, channel);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(StateError::io(&path, "cannot read the last run", err)),
        };
        let mut run = LastRun::default();
        for (index, line) in text.lines().enumerate() {
            let bad = |what: &str| StateError::at_line(&path, index + 1, what.to_string());
            if index == 0 {
                if line != HEADER {
                    return Err(bad(&format!("expected header `{HEADER}`")));
                }
                continue;
            }
            let (key, value) = line
                .split_once(' ')
                .ok_or_else(|| bad("expected KEY VALUE"))?;
            let number = || value.parse::<u64>().map_err(|_| bad("expected a number"));
            match key {
                "finished" => run.finished = number()?,
                "status" => run.status = value.parse().map_err(|_| bad("expected a number"))?,
                "success" => run.last_success = Some(number()?),
                "error" => run.errors.push(unescape(value).map_err(|m| bad(&m))?),
                _ => return Err(bad(&format!("unknown key {key:?}"))),
            }
        }
        Ok(Some(run))
    }

    /// Records a run of `channel` that ended at `finished` with `status`
    /// and `errors`, keeping the time of the last success.
    pub fn record(
        state_dir: &Path,
        channel: &str,
        finished: u64,
        status: i32,
        errors: &[String],
    ) -> anyhow::Result<()> {
        // An unreadable earlier record only loses the last success time.
        let earlier = LastRun::load(state_dir, channel).ok().flatten();
        let last_success = if status == 0 {
            Some(finished)
        } else {
            earlier.and_then(|run| run.last_success)
        };
        let mut text = format!("{HEADER}\nfinished {finished}\nstatus {status}\n");
        if let Some(success) = last_success {
            text.push_str(&format!("success {success}\n"));
        }
        for error in errors {
            text.push_str(&format!("error {}\n", escape(error)));
        }
        let path = last_run_path(state_dir, channel);
        create_private_dir(parent_dir(&path))?;
        write_atomically(&path, &path.with_extension("new"), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_keeps_the_time_of_the_last_success() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(LastRun::load(dir.path(), "work").unwrap(), None);
        LastRun::record(dir.path(), "work", 100, 0, &[]).unwrap();
        let errors = ["server said: NO [UNAVAILABLE] try later\nsecond line".to_string()];
        LastRun::record(dir.path(), "work", 200, 1, &errors).unwrap();
        let run = LastRun::load(dir.path(), "work").unwrap().unwrap();
        assert_eq!(
            run,
            LastRun {
                finished: 200,
                status: 1,
                last_success: Some(100),
                errors: errors.to_vec(),
            }
        );
    }

    #[test]
    fn a_damaged_record_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = last_run_path(dir.path(), "work");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, format!("{HEADER}\nfinished soon\n")).unwrap();
        let error = LastRun::load(dir.path(), "work").unwrap_err().to_string();
        assert!(error.contains("last-run") && error.contains('2'), "{error}");
    }
}
