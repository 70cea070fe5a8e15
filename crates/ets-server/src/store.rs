//! The store the server runs on is `ets_store`'s: the one record format, the embedded or the
//! PostgreSQL journal behind its `Journal` trait, replay and the single writer. This module
//! only names it for the server's callers.

pub use ets_store::{Location, StoreError};
