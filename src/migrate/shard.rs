//! Which accounts of a list one process takes: `--shard I/N` keeps the
//! accounts whose stable hash of the name falls in shard I of N, so N
//! processes on N machines split one list without talking to each other.
//!
//! The hash must give the same shard for the same name on every machine,
//! release and architecture, for as long as a migration runs (a resumed
//! shard must find its own accounts again): std's `DefaultHasher` promises
//! none of that, so this is FNV-1a (64 bits) over the name's UTF-8 bytes,
//! written out here. Its values are pinned by the tests.

use crate::error::UsageError;
use std::fmt;

/// Shard `index` of `count` (0-based, as Kubernetes' JOB_COMPLETION_INDEX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

/// The environment variable a Kubernetes Indexed Job sets in each pod.
pub const K8S_INDEX_VARIABLE: &str = "JOB_COMPLETION_INDEX";
/// Where `--shard k8s` reads the number of shards when `--shards` is not
/// given; Kubernetes does not set it, the Job's manifest does (from the
/// same number as `completions`).
pub const K8S_COUNT_VARIABLE: &str = "JOB_COMPLETIONS";

impl Shard {
    /// Every account: what a run without `--shard` takes.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether the account named `name` belongs to this shard.
    pub fn contains(&self, name: &str) -> bool {
        fnv1a_64(name.as_bytes()) % self.count == self.index
    }

    /// Reads `I/N`, or `k8s` (the index from JOB_COMPLETION_INDEX, the
    /// count from `shards`, else from JOB_COMPLETIONS); `env` looks a
    /// variable up.
    pub fn parse(
        text: &str,
        shards: Option<u64>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Shard, UsageError> {
        if text == "k8s" {
            let index = env(K8S_INDEX_VARIABLE).ok_or_else(|| {
                UsageError(format!(
                    "--shard k8s: {K8S_INDEX_VARIABLE} is not set (is this a pod of an Indexed Job?)"
                ))
            })?;
            let index = parse_number(&index, K8S_INDEX_VARIABLE)?;
            let count = match shards {
                Some(count) => count,
                None => {
                    let count = env(K8S_COUNT_VARIABLE).ok_or_else(|| {
                        UsageError(format!(
                            "--shard k8s: the number of shards is unknown: give --shards N \
                             or set {K8S_COUNT_VARIABLE} (the Job's completions)"
                        ))
                    })?;
                    parse_number(&count, K8S_COUNT_VARIABLE)?
                }
            };
            return Shard::new(index, count);
        }
        if shards.is_some() {
            return Err(UsageError(
                "--shards goes with --shard k8s; --shard I/N names the count itself".to_string(),
            ));
        }
        let (index, count) = text.split_once('/').ok_or_else(|| {
            UsageError(format!(
                "invalid --shard {text:?}: expected I/N (such as 0/4) or k8s"
            ))
        })?;
        Shard::new(
            parse_number(index, "--shard")?,
            parse_number(count, "--shard")?,
        )
    }

    fn new(index: u64, count: u64) -> Result<Shard, UsageError> {
        if count == 0 {
            return Err(UsageError(
                "the number of shards must be at least 1".to_string(),
            ));
        }
        if index >= count {
            return Err(UsageError(format!(
                "shard {index} of {count} does not exist: shards are numbered from 0 to {}",
                count - 1
            )));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

fn parse_number(text: &str, what: &str) -> Result<u64, UsageError> {
    text.trim()
        .parse()
        .map_err(|_| UsageError(format!("invalid {what} {text:?}: expected a whole number")))
}

/// FNV-1a, 64 bits: the offset basis and prime of the published algorithm.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_hash_is_the_published_fnv1a() {
        // Test vectors of the FNV reference (draft-eastlake-fnv).
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn an_account_stays_in_its_shard_across_releases() {
        // Pinned: a change here moves accounts between shards of a
        // migration under way, which would run them twice or never.
        let shards: Vec<u64> = ["alice", "bob", "carol@example.org", "user0042", "Émile"]
            .iter()
            .map(|name| fnv1a_64(name.as_bytes()) % 7)
            .collect();
        assert_eq!(shards, [1, 2, 4, 6, 6]);
    }

    #[test]
    fn shards_are_balanced_and_cover_every_account_once() {
        let names: Vec<String> = (0..10_000)
            .map(|n| format!("user{n}@example.org"))
            .collect();
        for count in [2u64, 3, 8, 16] {
            let mut sizes = vec![0usize; count as usize];
            for name in &names {
                let owners: Vec<u64> = (0..count)
                    .filter(|&index| Shard { index, count }.contains(name))
                    .collect();
                assert_eq!(owners.len(), 1, "{name} in shards {owners:?} of {count}");
                sizes[owners[0] as usize] += 1;
            }
            let fair = names.len() / count as usize;
            for size in &sizes {
                // Within 10% of a fair share.
                assert!(
                    size.abs_diff(fair) * 10 <= fair,
                    "{count} shards: sizes {sizes:?}"
                );
            }
        }
    }

    #[test]
    fn shard_arguments() {
        assert_eq!(
            Shard::parse("1/3", None, &no_env).unwrap(),
            Shard { index: 1, count: 3 }
        );
        for bad in ["3/3", "1", "a/3", "0/0", "-1/3"] {
            assert!(Shard::parse(bad, None, &no_env).is_err(), "{bad}");
        }
        let k8s = |name: &str| match name {
            K8S_INDEX_VARIABLE => Some("2".to_string()),
            K8S_COUNT_VARIABLE => Some("4".to_string()),
            _ => None,
        };
        assert_eq!(
            Shard::parse("k8s", None, &k8s).unwrap(),
            Shard { index: 2, count: 4 }
        );
        assert_eq!(
            Shard::parse("k8s", Some(5), &k8s).unwrap(),
            Shard { index: 2, count: 5 }
        );
        let message = Shard::parse("k8s", None, &no_env).unwrap_err().0;
        assert!(message.contains(K8S_INDEX_VARIABLE), "{message}");
        let index_only = |name: &str| (name == K8S_INDEX_VARIABLE).then(|| "0".to_string());
        let message = Shard::parse("k8s", None, &index_only).unwrap_err().0;
        assert!(message.contains("--shards"), "{message}");
    }
}
