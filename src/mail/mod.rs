//! The vocabulary of mail that every layer shares (stores, state, engine,
//! commands): message ids and messages, folder status, flags, content
//! identity, line-end forms and the two sides of a channel. It depends on
//! nothing else of mailferry, so any module may use it.

mod content;
mod flags;
pub mod identity;
mod message;
mod side;

pub use content::{lf_pieces, sha256_hex, size_and_sha256, with_crlf, with_lf};
pub use flags::Flags;
pub use message::{FolderStatus, Message, MessageInfo, MsgId};
pub use side::{Pair, Side};
