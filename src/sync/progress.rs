//! How a sync tells the user interface what it is doing, so the terminal
//! can show progress bars while cron gets silence. The engine calls these;
//! it never draws anything itself.

use std::fmt::Debug;
use std::sync::Arc;

/// Receives progress events. Implementations must be cheap: they are
/// called once per message copied.
pub trait Progress: Send + Sync + Debug {
    /// A channel starts, with this many folders to look at.
    fn channel_started(&self, _channel: &str, _folders: usize) {}
    /// A folder's plan is ready: this many messages and bytes to copy.
    fn folder_started(&self, _folder: &str, _messages: usize, _bytes: u64) {}
    /// One message was copied.
    fn message_copied(&self, _bytes: u64) {}
    /// The folder is done (successfully or not).
    fn folder_finished(&self, _folder: &str) {}
}

/// Shows nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Progress for Silent {}

/// The progress receiver used when none is given.
pub fn silent() -> Arc<dyn Progress> {
    Arc::new(Silent)
}
