//! Folder patterns of a channel: `*` matches anything, `%` anything but the
//! level separator `/`, a leading `!` excludes, and the last pattern that
//! matches a folder decides.

/// Whether `folder` is selected by `patterns`.
pub fn selects(patterns: &[String], folder: &str) -> bool {
    let mut selected = false;
    for pattern in patterns {
        let (include, glob) = match pattern.strip_prefix('!') {
            Some(rest) => (false, rest),
            None => (true, pattern.as_str()),
        };
        if glob_matches(glob.as_bytes(), folder.as_bytes()) {
            selected = include;
        }
    }
    selected
}

/// Whether `patterns` select `folder` by its very name (a pattern without
/// wildcards), not only through a glob: for folders synced only when named
/// (see [`crate::store::FolderInfo::only_if_named`]).
pub fn names_explicitly(patterns: &[String], folder: &str) -> bool {
    selects(patterns, folder) && patterns.iter().any(|pattern| pattern == folder)
}

/// Glob match by dynamic programming over (pattern position, name
/// position): quadratic at worst, no recursion, so no outside input can make
/// it slow or deep.
fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    // matched[n] is true when pattern[..p] matches name[..n], for the
    // current p.
    let mut matched = vec![false; name.len() + 1];
    matched[0] = true;
    for &c in pattern {
        let mut next = vec![false; name.len() + 1];
        match c {
            b'*' | b'%' => {
                for n in 0..=name.len() {
                    // Either the wildcard matches nothing more, or it
                    // extends one byte further than it did at n - 1.
                    next[n] =
                        matched[n] || (n > 0 && next[n - 1] && (c == b'*' || name[n - 1] != b'/'));
                }
            }
            _ => {
                for n in 1..=name.len() {
                    next[n] = matched[n - 1] && name[n - 1] == c;
                }
            }
        }
        matched = next;
    }
    matched[name.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn star_selects_everything_at_any_depth() {
        assert!(selects(&pats(&["*"]), "INBOX"));
        assert!(selects(&pats(&["*"]), "Work/Projects/2024"));
    }

    #[test]
    fn percent_stops_at_the_level_separator() {
        assert!(selects(&pats(&["Work/%"]), "Work/Projects"));
        assert!(!selects(&pats(&["Work/%"]), "Work/Projects/2024"));
        assert!(!selects(&pats(&["%"]), "Work/Projects"));
    }

    #[test]
    fn later_patterns_win() {
        let p = pats(&["*", "!Junk", "!Archive/*", "Archive/Keep"]);
        assert!(selects(&p, "INBOX"));
        assert!(!selects(&p, "Junk"));
        assert!(!selects(&p, "Archive/2020"));
        assert!(selects(&p, "Archive/Keep"));
    }

    #[test]
    fn only_a_literal_pattern_names_a_folder() {
        assert!(!names_explicitly(&pats(&["*"]), "All Mail"));
        assert!(names_explicitly(&pats(&["*", "All Mail"]), "All Mail"));
        assert!(!names_explicitly(&pats(&["All Mail", "!All*"]), "All Mail"));
        assert!(!names_explicitly(&pats(&["!All Mail"]), "All Mail"));
    }

    #[test]
    fn no_pattern_selects_nothing() {
        assert!(!selects(&[], "INBOX"));
    }

    #[test]
    fn literal_patterns_match_exactly() {
        assert!(selects(&pats(&["INBOX"]), "INBOX"));
        assert!(!selects(&pats(&["INBOX"]), "INBOX/Sub"));
        assert!(selects(&pats(&["Li*s/rust"]), "Lists/rust"));
    }

    #[test]
    fn star_then_percent_backtracks_across_levels() {
        assert!(selects(&pats(&["*/%"]), "a/b/c"));
        assert!(!selects(&pats(&["%/%"]), "a/b/c"));
    }

    #[test]
    fn many_stars_do_not_blow_up() {
        let pattern = "*a".repeat(30);
        let name = "b".repeat(200);
        assert!(!selects(&pats(&[&pattern]), &name));
    }
}
