//! Folder names: validation and mapping to Maildir paths.
