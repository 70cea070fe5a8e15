//! The exchange inside the market: trading rules from the market file, order entry with
//! pre-trade checks, matching, delivery versus payment, and daily market data.

pub mod config;
pub mod exchange;
