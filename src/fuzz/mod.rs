//! Deterministic fuzzing: hostile input for every parser a peer can reach.
//!
//! A server's parsers read bytes that anyone on the network chooses. Each
//! must end every input in a *defined* outcome (a message, a request, an
//! error with its status code or close code), without a panic, without
//! holding more than its limits, without waiting forever. Unit tests check
//! the cases someone thought of; a fuzzer checks the ones nobody did.
//!
//! Every case is generated from a seed by [`XorShift`](crate::random::XorShift),
//! a small seeded generator: the same seed and case number give the same
//! input on every machine, so a failure is a reproducible bug report
//! ("case 48,213 of seed 1"). Inputs start valid and are then mutated, so
//! most of them get deep into a parser before they go wrong; the valid
//! ones are checked against what was encoded (a differential check).
//!
//! `cargo test` runs a few thousand cases of each target
//! (`tests/fuzz.rs`); `cargo run --release --example fuzz -- --cases
//! 2000000` runs millions.
//!
//! | module | what |
//! |---|---|
//! | [`mutate`] | mutations of valid input; a reader that hands bytes out in pieces, with pauses |
//! | [`frames`] | the WebSocket frame decoder |
//! | [`http`] | the HTTP request parser and the opening handshake |
//! | [`json`] | the chat's JSON and its messages |
//! | [`run`](mod@run) | seeds, cases, reports; panics caught and reported |

pub mod frames;
pub mod http;
pub mod json;
pub mod mutate;
pub mod run;

pub use run::{run, run_case, Failure, Report, Target};
