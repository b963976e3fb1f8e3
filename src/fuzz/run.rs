//! Running cases: each one from its own seed, so any case can be replayed
//! alone; a panic caught and reported like any broken rule.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use super::{frames, http, json};
use crate::random::XorShift;

/// What can be fuzzed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The WebSocket frame decoder ([`crate::websocket::decode::Decoder`]).
    Frames,
    /// The opening handshake ([`crate::websocket::handshake::check_request`]).
    Handshake,
    /// The HTTP request parser ([`crate::http::read_head`] and the body readers).
    Http,
    /// The chat's JSON ([`crate::app::json::parse`]) and its messages.
    ChatJson,
}

impl Target {
    /// Every target, in a fixed order.
    pub const ALL: [Target; 4] = [Target::Frames, Target::Handshake, Target::Http, Target::ChatJson];

    /// The target's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Target::Frames => "frames",
            Target::Handshake => "handshake",
            Target::Http => "http",
            Target::ChatJson => "chat-json",
        }
    }

    /// The target called `name`.
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    fn case(self, rng: &mut XorShift) -> Result<String, String> {
        match self {
            Target::Frames => frames::case(rng),
            Target::Handshake => http::handshake_case(rng),
            Target::Http => http::case(rng),
            Target::ChatJson => json::case(rng),
        }
    }
}

/// A case that broke a rule or panicked: enough to replay it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The run's seed.
    pub seed: u64,
    /// The case number within the run.
    pub case: u64,
    /// The rule broken, or the panic's message.
    pub what: String,
}

/// The outcome of a run: how many cases ended which way, and the failures.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Cases run.
    pub cases: u64,
    /// How many cases ended in each outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Cases that broke a rule or panicked (at most the first 20).
    pub failures: Vec<Failure>,
    /// Failures in total.
    pub failed: u64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} cases, {} failed", self.cases, self.failed)?;
        for (outcome, n) in &self.outcomes {
            writeln!(f, "  {n:>9}  {outcome}")?;
        }
        for failure in &self.failures {
            writeln!(
                f,
                "  FAILED case {} (seed {}): {}",
                failure.case, failure.seed, failure.what
            )?;
        }
        Ok(())
    }
}

/// The generator for case `case` of a run seeded with `seed`: every case
/// has its own, so one case can be replayed without the ones before it.
pub fn case_rng(seed: u64, case: u64) -> XorShift {
    XorShift::new(seed ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Runs one case; a panic is caught and reported as a failure.
pub fn run_case(target: Target, seed: u64, case: u64) -> Result<String, String> {
    let mut rng = case_rng(seed, case);
    match panic::catch_unwind(AssertUnwindSafe(|| target.case(&mut rng))) {
        Ok(result) => result,
        Err(payload) => Err(format!(
            "panicked: {}",
            payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default()
        )),
    }
}

/// Runs cases `first..first + cases` of `target` with `seed`.
pub fn run(target: Target, seed: u64, first: u64, cases: u64) -> Report {
    let mut report = Report::default();
    for case in first..first + cases {
        report.cases += 1;
        match run_case(target, seed, case) {
            Ok(outcome) => *report.outcomes.entry(outcome).or_default() += 1,
            Err(what) => {
                report.failed += 1;
                if report.failures.len() < 20 {
                    report.failures.push(Failure { seed, case, what });
                }
            }
        }
    }
    report
}
