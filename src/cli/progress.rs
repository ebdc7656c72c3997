//! Progress bars on a terminal: one for the folders of the channel and one
//! for the bytes being copied in the current folder.

use crate::sync::progress::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt;
use std::sync::Mutex;

pub struct TerminalProgress {
    bars: MultiProgress,
    folders: ProgressBar,
    copying: Mutex<Option<ProgressBar>>,
}

impl fmt::Debug for TerminalProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TerminalProgress")
    }
}

impl Default for TerminalProgress {
    fn default() -> TerminalProgress {
        TerminalProgress::new()
    }
}

impl TerminalProgress {
    pub fn new() -> TerminalProgress {
        let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let folders = bars.add(ProgressBar::new(0));
        folders.set_style(
            ProgressStyle::with_template("{prefix:>12} folders {bar:30} {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        TerminalProgress {
            bars,
            folders,
            copying: Mutex::new(None),
        }
    }
}

impl Progress for TerminalProgress {
    fn channel_started(&self, channel: &str, folders: usize) {
        self.folders.set_prefix(channel.to_string());
        self.folders.set_length(folders as u64);
        self.folders.set_position(0);
    }

    fn folder_started(&self, folder: &str, messages: usize, bytes: u64) {
        if messages == 0 {
            return;
        }
        let bar = self.bars.add(ProgressBar::new(bytes));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} {bar:30} {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix("copying");
        bar.set_message(format!("{messages} message(s) in {folder}"));
        if let Ok(mut current) = self.copying.lock() {
            *current = Some(bar);
        }
    }

    fn message_copied(&self, bytes: u64) {
        if let Ok(current) = self.copying.lock() {
            if let Some(bar) = current.as_ref() {
                bar.inc(bytes);
            }
        }
    }

    fn folder_finished(&self, _folder: &str) {
        if let Ok(mut current) = self.copying.lock() {
            if let Some(bar) = current.take() {
                bar.finish_and_clear();
                self.bars.remove(&bar);
            }
        }
        self.folders.inc(1);
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        self.folders.finish_and_clear();
    }
}
