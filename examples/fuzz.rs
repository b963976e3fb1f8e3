//! `fuzz`: the hostile suite's fuzzer at scale. Millions of generated
//! inputs against every parser a peer can reach: the frame decoder, the
//! HTTP request parser, the opening handshake and the chat's JSON.
//!
//! ```text
//! cargo run --release --example fuzz -- --cases 2000000          # every target, seed 1
//! cargo run --release --example fuzz -- --target frames --seed 7 --cases 500000
//! cargo run --release --example fuzz -- --target http --seed 1 --case 48213   # replay one case
//! ```
//!
//! Every case is made from the seed and its number alone (`src/fuzz/`), so
//! a failure printed here replays anywhere with `--case`. Prints how many
//! cases ended which way, and exits with status 1 if any case panicked or
//! broke a rule. `cargo test` runs the first few thousand cases of seed 1.

use std::process::ExitCode;
use std::time::Instant;

use wirelab::fuzz::{run, run_case, Target};

fn usage() -> ExitCode {
    eprintln!("usage: fuzz [--target frames|handshake|http|chat-json] [--seed N] [--cases N] [--first N] [--case N]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut targets = Target::ALL.to_vec();
    let (mut seed, mut cases, mut first, mut single) = (1u64, 100_000u64, 0u64, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        let number = value.as_deref().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), number) {
            ("--target", _) => match value.as_deref().and_then(Target::from_name) {
                Some(t) => targets = vec![t],
                None => return usage(),
            },
            ("--seed", Some(n)) => seed = n,
            ("--cases", Some(n)) => cases = n,
            ("--first", Some(n)) => first = n,
            ("--case", Some(n)) => single = Some(n),
            _ => return usage(),
        }
    }
    if let Some(case) = single {
        for target in targets {
            match run_case(target, seed, case) {
                Ok(outcome) => println!("{} case {case} (seed {seed}): {outcome}", target.name()),
                Err(why) => {
                    println!("{} case {case} (seed {seed}) FAILED: {why}", target.name());
                    return ExitCode::FAILURE;
                }
            }
        }
        return ExitCode::SUCCESS;
    }
    // A panic is caught and reported as a failure; keep its message short.
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    let mut failed = 0;
    for target in targets {
        let started = Instant::now();
        let report = run(target, seed, first, cases);
        let took = started.elapsed();
        println!(
            "{}: seed {seed}, cases {first}..{}, {:.1} s ({:.0} cases/s)",
            target.name(),
            first + cases,
            took.as_secs_f64(),
            cases as f64 / took.as_secs_f64().max(1e-9)
        );
        print!("{report}");
        failed += report.failed;
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
