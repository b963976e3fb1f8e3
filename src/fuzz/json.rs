//! The chat's JSON under fuzzing: documents built from random values
//! (strings full of escapes, numbers at the edges, nesting past the
//! limit), valid or mutated.
//!
//! A valid document must parse back to the value it was written from; a
//! string written with [`escape`] must come back unchanged; anything else
//! must be a [`ParseError`](crate::app::json::ParseError), never a panic or
//! a stack overflow. Each document that parses is then read as a message
//! from a chat page, which must be a join, a say, or a refusal with its
//! reason.

use std::collections::BTreeMap;

use super::mutate::mutate;
use crate::app::json::{escape, parse, Value, MAX_DEPTH};
use crate::random::XorShift;

fn string(rng: &mut XorShift) -> String {
    let pool = [
        'a', ' ', '"', '\\', '/', '<', '\n', '\t', '\u{0}', '\u{1f}', '\u{7f}', 'é', '\u{2028}', '\u{FFFF}', '😀',
    ];
    (0..rng.below(12)).map(|_| *rng.pick(&pool)).collect()
}

fn number(rng: &mut XorShift) -> f64 {
    *rng.pick(&[
        0.0,
        -0.5,
        1.0,
        1e20,
        -1e300,
        123_456_789.0,
        f64::MAX,
        f64::MIN_POSITIVE,
        3.25e-7,
    ])
}

/// A random value nested `depth` levels deep at most.
fn value(rng: &mut XorShift, depth: usize) -> Value {
    match if depth == 0 { rng.below(4) } else { rng.below(7) } {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => Value::Number(number(rng)),
        3 => Value::String(string(rng)),
        4 | 5 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth - 1)).collect()),
        _ => Value::Object(
            (0..rng.below(4))
                .map(|_| (string(rng), value(rng, depth - 1)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

/// A chat message as a page (or an attacker) would send it.
fn chat_message(rng: &mut XorShift) -> Value {
    let mut map = BTreeMap::new();
    map.insert(
        "type".to_string(),
        Value::String(rng.pick(&["join", "say", "leave", "JOIN", ""]).to_string()),
    );
    for key in ["nick", "text", "token", "since", "epoch"] {
        if rng.one_in(2) {
            let v = if rng.one_in(3) {
                value(rng, 2)
            } else {
                Value::String(string(rng))
            };
            map.insert(key.to_string(), v);
        }
    }
    Value::Object(map)
}

/// Writes `v` as JSON: the serializer the parser is checked against.
fn write(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // Rust prints the shortest decimal that reads back as the same f64.
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&escape(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&escape(k));
                out.push(':');
                write(item, out);
            }
            out.push('}');
        }
    }
}

/// One case; see the module docs.
pub fn case(rng: &mut XorShift) -> Result<String, String> {
    // Nesting past the limit now and then.
    let (doc_value, depth) = match rng.below(8) {
        0 => {
            let depth = MAX_DEPTH - 2 + rng.below(5);
            let mut v = Value::Null;
            for _ in 0..depth {
                v = Value::Array(vec![v]);
            }
            (v, depth)
        }
        1..=4 => (chat_message(rng), 2),
        _ => (value(rng, 3), 3),
    };
    let mut doc = String::new();
    write(&doc_value, &mut doc);
    let s = string(rng);
    if parse(&escape(&s)) != Ok(Value::String(s.clone())) {
        return Err(format!("{s:?} does not survive escape and parse"));
    }
    let valid = rng.one_in(3);
    let text = if valid {
        doc
    } else {
        let mut bytes = doc.into_bytes();
        mutate(rng, &mut bytes, 4096);
        String::from_utf8_lossy(&bytes).into_owned()
    };
    // The chat reads the same text as a page's message: a join, a say, or
    // a refusal with its reason; never a panic.
    let read_as = match crate::app::chat::read_from_page(&text) {
        Ok(crate::app::chat::FromPage::Join(join)) if join.nick.is_empty() => {
            return Err(format!("{text} joined with an empty nickname"))
        }
        Ok(crate::app::chat::FromPage::Join(_)) => "join",
        Ok(crate::app::chat::FromPage::Say(said)) if said.trim().is_empty() => {
            return Err(format!("{text} said nothing visible"))
        }
        Ok(crate::app::chat::FromPage::Say(_)) => "say",
        Err(why) if why.is_empty() => return Err(format!("{text} refused without a reason")),
        Err(_) => "refused",
    };
    let parsed = parse(&text);
    let parsed_ok = parsed.is_ok();
    if !parsed_ok && read_as != "refused" {
        return Err(format!("{text} is not JSON but was read as a {read_as}"));
    }
    match (&parsed, valid) {
        (Ok(v), true) if depth <= MAX_DEPTH && *v != doc_value => Err(format!("{text} parsed as {v:?}")),
        (Ok(_), true) if depth > MAX_DEPTH => Err(format!("nesting {depth} accepted")),
        (Err(e), true) if depth <= MAX_DEPTH => Err(format!("{text} refused: {e}")),
        (Err(_), _) => Ok(format!("{}refused", if valid { "valid: " } else { "" })),
        (Ok(_), _) => Ok(format!("{}parsed, chat: {read_as}", if valid { "valid: " } else { "" })),
    }
}
