//! Integration tests of ets-exchange: one binary, one module per feature.

mod auction;
mod book;
mod calendar;
mod click;
mod limits;
mod lobster;
mod props;
mod script;
mod stats;
