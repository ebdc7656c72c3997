//! Importing other synchronizers' configurations: mbsync's `~/.mbsyncrc`
//! is read by [`mbsyncrc`] and turned into mailferry's YAML by
//! [`translate`].

pub mod mbsyncrc;
pub mod translate;
