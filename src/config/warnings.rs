//! Settings that work but put the user at risk, said once per run: a plain
//! `password` in a file others can read, and `tls: none`, which sends the
//! password unencrypted. The CLI prints them (unless -q); nothing here prints.

use super::{Config, PasswordSource, StoreConfig, TlsMode};
use std::os::unix::fs::PermissionsExt;

impl Config {
    /// Warnings about the stores named (the ones this run will use) and
    /// about the file itself, one line each.
    pub fn warnings_for<'a>(&self, stores: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(warning) = self.readable_password_warning() {
            warnings.push(warning);
        }
        let stores: std::collections::BTreeSet<&str> = stores.into_iter().collect();
        for name in stores {
            let Some(store) = self.stores.get(name) else {
                continue;
            };
            let (tls, host) = match store {
                // A tunnel's own transport (ssh) is what protects it.
                StoreConfig::Imap(imap) if imap.tunnel.is_some() => continue,
                StoreConfig::Imap(imap) => (imap.tls, &imap.host),
                StoreConfig::Pop3(pop3) => (pop3.tls, &pop3.host),
                StoreConfig::Maildir(_) => continue,
            };
            if tls == TlsMode::None {
                warnings.push(format!(
                    "warning: store {name} has tls: none: sending the password unencrypted to {host}"
                ));
            }
        }
        warnings
    }

    /// Warnings for every store of the configuration.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings_for(self.stores.keys().map(String::as_str))
    }

    /// A plain `password` is only as safe as the file's permissions.
    fn readable_password_warning(&self) -> Option<String> {
        let with_password: Vec<&str> = self
            .stores
            .iter()
            .filter(|(_, store)| matches!(password_of(store), Some(PasswordSource::Plain(_))))
            .map(|(name, _)| name.as_str())
            .collect();
        if with_password.is_empty() {
            return None;
        }
        let mode = std::fs::metadata(&self.path).ok()?.permissions().mode();
        if mode & 0o077 == 0 {
            return None;
        }
        Some(format!(
            "warning: {} holds the password of store {} and can be read by other users \
             (mode {:03o}); run chmod 600 on it, or use password_command or password_env",
            self.path.display(),
            with_password.join(", "),
            mode & 0o777
        ))
    }
}

fn password_of(store: &StoreConfig) -> Option<&PasswordSource> {
    match store {
        StoreConfig::Imap(imap) => Some(&imap.password),
        StoreConfig::Pop3(pop3) => Some(&pop3.password),
        StoreConfig::Maildir(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config_file(dir: &Path, yaml: &str, mode: u32) -> Config {
        let path = dir.join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        Config::from_yaml(&format!("state_dir: /s\n{yaml}"), &path).unwrap()
    }

    const PLAIN: &str =
        "stores:\n  work:\n    type: imap\n    host: h\n    user: u\n    password: pw\n";

    #[test]
    fn plain_password_in_a_file_others_can_read_is_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_file(dir.path(), PLAIN, 0o644);
        let warnings = config.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("store work"), "{warnings:?}");
        assert!(warnings[0].contains("mode 644"), "{warnings:?}");
        assert!(!warnings[0].contains("pw "), "{warnings:?}");
        // Group-readable is readable by others too.
        assert_eq!(config_file(dir.path(), PLAIN, 0o640).warnings().len(), 1);
    }

    #[test]
    fn private_file_or_no_plain_password_gives_no_warning() {
        let dir = tempfile::tempdir().unwrap();
        assert!(config_file(dir.path(), PLAIN, 0o600).warnings().is_empty());
        let command = PLAIN.replace("password: pw", "password_command: pass show x");
        assert!(config_file(dir.path(), &command, 0o644)
            .warnings()
            .is_empty());
    }

    #[test]
    fn tls_none_is_warned_about_for_the_stores_used() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!("{PLAIN}    tls: none\n  m:\n    type: maildir\n    path: /m\n");
        let config = config_file(dir.path(), &yaml, 0o600);
        assert_eq!(
            config.warnings_for(["work", "m"]),
            vec!["warning: store work has tls: none: sending the password unencrypted to h"]
        );
        assert!(config.warnings_for(["m"]).is_empty());
    }
}
