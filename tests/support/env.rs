//! A per-test environment for running the `mailferry` binary: its own temp
//! dir holding HOME, XDG_CONFIG_HOME, XDG_STATE_HOME, a config file and a
//! Maildir, so tests never read or write the caller's files.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

pub struct TestEnv {
    dir: TempDir,
    binary: PathBuf,
    config: Option<PathBuf>,
}

impl TestEnv {
    /// `binary` is usually `env!("CARGO_BIN_EXE_mailferry")`.
    pub fn new(binary: PathBuf) -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("mailferry-test-")
            .tempdir()
            .unwrap();
        for sub in ["home", "config", "state"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        TestEnv {
            dir,
            binary,
            config: None,
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    pub fn xdg_config_home(&self) -> PathBuf {
        self.root().join("config")
    }

    pub fn xdg_state_home(&self) -> PathBuf {
        self.root().join("state")
    }

    /// A Maildir path inside the environment (not created: the sync may).
    pub fn maildir(&self) -> PathBuf {
        self.root().join("Maildir")
    }

    /// Writes the config to `$XDG_CONFIG_HOME/mailferry/config.yaml` and
    /// makes [`TestEnv::run`] pass it through `MAILFERRY_CONFIG`.
    pub fn write_config(&mut self, yaml: &str) -> PathBuf {
        let path = self.xdg_config_home().join("mailferry").join("config.yaml");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, yaml).unwrap();
        // Private, as a file holding a password should be (mailferry warns
        // about a plain password in a file others can read).
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        self.config = Some(path.clone());
        path
    }

    /// The binary with the environment set up and no arguments yet, for
    /// tests that need stdin or extra variables.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MAILFERRY_") {
                command.env_remove(&name);
            }
        }
        command
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.xdg_config_home())
            .env("XDG_STATE_HOME", self.xdg_state_home())
            .current_dir(self.root())
            .stdin(Stdio::null());
        if let Some(config) = &self.config {
            command.env("MAILFERRY_CONFIG", config);
        }
        command
    }

    /// Runs the binary with `args` and waits for it.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()))
    }
}
