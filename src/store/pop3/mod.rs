//! POP3: our own client ([`client`]), the Date header parser that gives
//! POP3 messages a date ([`date`]), and the source-only store ([`store`]).

pub mod client;
pub mod date;
pub mod store;

pub use store::Pop3Store;
