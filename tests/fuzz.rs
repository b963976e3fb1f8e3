//! Deterministic fuzzing of every parser a peer can reach: a few thousand
//! cases each, in a few seconds. Every case ends in a defined outcome (a
//! message, a request, an error with its status or close code), never a
//! panic, never more than the limits allow. A failure names its seed and
//! case: `cargo run --release --example fuzz -- --target NAME --seed S
//! --case N` replays it alone.
//!
//! Millions of cases: `cargo run --release --example fuzz -- --cases 2000000`.

use wirelab::fuzz::{run, Report, Target};

/// The seed of every `cargo test` run: the same cases every time.
const SEED: u64 = 1;

fn fuzz(target: Target, cases: u64) -> Report {
    let report = run(target, SEED, 0, cases);
    assert_eq!(report.failed, 0, "{}:\n{report}", target.name());
    // Both kinds of case ran: valid inputs checked against what was sent,
    // and mutated ones.
    assert!(report.outcomes.keys().any(|o| o.starts_with("valid")), "{report}");
    assert!(report.outcomes.keys().any(|o| !o.starts_with("valid")), "{report}");
    report
}

#[test]
fn the_frame_decoder_ends_every_fuzzed_input_in_a_message_a_close_code_or_the_end() {
    let report = fuzz(Target::Frames, 3000);
    for code in ["fail 1002", "fail 1007", "fail 1009"] {
        assert!(report.outcomes.contains_key(code), "no case reached {code}:\n{report}");
    }
}

#[test]
fn the_http_parser_answers_every_fuzzed_request_with_a_request_or_a_status() {
    let report = fuzz(Target::Http, 3000);
    for status in ["400", "413", "431"] {
        assert!(
            report.outcomes.keys().any(|o| o.ends_with(status)),
            "no case reached {status}:\n{report}"
        );
    }
}

#[test]
fn every_fuzzed_handshake_gets_101_or_the_status_of_the_rule_it_breaks() {
    fuzz(Target::Handshake, 3000);
}

#[test]
fn every_fuzzed_chat_document_parses_back_or_is_refused_without_a_panic() {
    let report = fuzz(Target::ChatJson, 3000);
    for read_as in ["chat: join", "chat: say", "chat: refused"] {
        assert!(
            report.outcomes.keys().any(|o| o.ends_with(read_as)),
            "no {read_as}:\n{report}"
        );
    }
}
