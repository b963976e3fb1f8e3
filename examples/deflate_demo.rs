//! DEFLATE step by step on one message: what LZ77 finds, which block form
//! wins, the Huffman code it builds, and the bytes on the wire.
//!
//! ```text
//! cargo run --example deflate_demo
//! cargo run --example deflate_demo -- 'any text you like, any text you like'
//! ```
//!
//! Without an argument it compresses a chat message as the chat page
//! receives it, and then the reply to it, with and without context
//! takeover. Everything printed is computed by `wirelab::deflate`.

use wirelab::deflate::block::Plan;
use wirelab::deflate::huffman::canonical_codes;
use wirelab::deflate::lz77::{self, Level};
use wirelab::deflate::tables::{dist_symbol, length_symbol, WindowBits, END_OF_BLOCK, LENGTH_BASE, LENGTH_EXTRA};
use wirelab::deflate::tokens::{Token, Tokens};
use wirelab::deflate::{DeflateConfig, Deflater, Inflater};

const CHAT: &str =
    r#"{"type":"message","id":42,"nick":"ada","text":"is the socket open? the socket is open!","ts":1732450000123}"#;

/// The message after `CHAT` in the conversation, for step 5.
const REPLY: &str = r#"{"type":"message","id":43,"nick":"grace","text":"it is open: I can see the socket from here","ts":1732450002456}"#;

fn main() {
    let text = std::env::args().nth(1).unwrap_or_else(|| CHAT.to_string());
    let data = text.as_bytes();
    println!("Input, {} bytes:\n\n    {text}\n", data.len());

    // 1. LZ77: literals and back-references.
    let tokens = lz77::parse(data, WindowBits::MAX, Level::DEFAULT);
    println!("1. LZ77 (RFC 1951 §4), level 6: [length@distance] copies length bytes from distance back.\n");
    println!("    {}\n", inline(&tokens));
    let matches: Vec<(u16, u16)> = tokens
        .iter()
        .filter_map(|t| match *t {
            Token::Match { length, distance } => Some((length, distance)),
            Token::Literal(_) => None,
        })
        .collect();
    let covered: usize = matches.iter().map(|m| m.0 as usize).sum();
    println!(
        "    {} literals and {} matches; the matches stand for {covered} of the {} bytes.\n",
        tokens.len() - matches.len(),
        matches.len(),
        data.len()
    );

    // 2. Which block form: sizes counted exactly before writing.
    let mut block = Tokens::with_capacity(tokens.len());
    for &t in &tokens {
        block.push(t);
    }
    let plan = Plan::new(&block, data.len(), 0);
    println!("2. The block (RFC 1951 §3.2.3): each form's exact size, the smallest wins.\n");
    println!(
        "    stored  (§3.2.4) {:5} bits  the bytes as they are",
        plan.stored_bits
    );
    println!("    fixed   (§3.2.6) {:5} bits  the predefined codes", plan.fixed_bits);
    println!(
        "    dynamic (§3.2.7) {:5} bits  {} of them to send its own codes\n",
        plan.dynamic_bits, plan.table_bits
    );
    println!("    chosen: {:?}\n", plan.kind);

    // 3. The dynamic code: frequent symbols, short codes.
    println!("3. The dynamic literal/length code (RFC 1951 §3.2.2), built from the counts:\n");
    let mut counts = [0u32; 286];
    let mut dist_counts = [0u32; 30];
    for t in &tokens {
        match *t {
            Token::Literal(b) => counts[b as usize] += 1,
            Token::Match { length, distance } => {
                counts[length_symbol(length as usize).0] += 1;
                dist_counts[dist_symbol(distance as usize).0] += 1;
            }
        }
    }
    counts[END_OF_BLOCK] = 1;
    let codes = canonical_codes(&plan.litlen_lengths);
    let mut symbols: Vec<usize> = (0..286).filter(|&s| plan.litlen_lengths[s] > 0).collect();
    symbols.sort_by_key(|&s| (plan.litlen_lengths[s], s));
    println!("    symbol          count  bits  code");
    for s in symbols {
        let len = plan.litlen_lengths[s];
        println!(
            "    {:<14} {:6}  {:4}  {:0width$b}",
            name(s),
            counts[s],
            len,
            codes[s],
            width = len as usize
        );
    }
    let dists: Vec<String> = (0..30)
        .filter(|&s| dist_counts[s] > 0)
        .map(|s| {
            let bits = plan.dist_lengths[s];
            format!(
                "symbol {s} ×{} ({bits} bit{})",
                dist_counts[s],
                if bits == 1 { "" } else { "s" }
            )
        })
        .collect();
    println!(
        "\n    distance code: {}\n",
        if dists.is_empty() {
            "none used".into()
        } else {
            dists.join(", ")
        }
    );

    // 4. The bytes on the wire, as permessage-deflate sends them.
    println!("4. On the wire (RFC 7692 §7.2.1: sync flush, then 00 00 ff ff removed):\n");
    let mut with = Deflater::new(DeflateConfig::default());
    let mut without = Deflater::new(DeflateConfig {
        context_takeover: false,
        ..DeflateConfig::default()
    });
    let mut inflater = Inflater::new(WindowBits::MAX, true);
    for round in 1..=2 {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        with.compress_message(data, &mut a);
        without.compress_message(data, &mut b);
        let mut back = Vec::new();
        inflater.inflate_message(&a, &mut back, data.len()).expect("inflates");
        assert_eq!(back, data);
        println!(
            "    message {round}, context takeover:    {:4} bytes  {}",
            a.len(),
            hex(&a)
        );
        println!("    message {round}, no context takeover: {:4} bytes", b.len());
    }
    println!(
        "\n    With context takeover the second copy is a single match into the first: the\n    \
         window outlives the message. Without it every message starts from nothing."
    );

    // 5. The next message of a conversation: different, but built the same way.
    if std::env::args().nth(1).is_none() {
        println!("\n5. The reply, after the first message (a different message of the same shape):\n");
        println!("    {REPLY}\n");
        let mut with = Deflater::new(DeflateConfig::default());
        let mut first = Vec::new();
        with.compress_message(data, &mut first);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        with.compress_message(REPLY.as_bytes(), &mut a);
        without.compress_message(REPLY.as_bytes(), &mut b);
        let mut inflater = Inflater::new(WindowBits::MAX, true);
        let mut back = Vec::new();
        inflater
            .inflate_message(&first, &mut back, data.len())
            .expect("inflates");
        back.clear();
        inflater.inflate_message(&a, &mut back, REPLY.len()).expect("inflates");
        assert_eq!(back, REPLY.as_bytes());
        println!("    {} bytes of JSON", REPLY.len());
        println!("    context takeover:    {:4} bytes  {}", a.len(), hex(&a));
        println!("    no context takeover: {:4} bytes  {}", b.len(), hex(&b));
        println!(
            "\n    The keys, the punctuation and the words the first message used are matches\n    \
             into it; only what is new is spelled out."
        );
    }
}

/// The tokens as text: literals as themselves, matches as [length@distance].
fn inline(tokens: &[Token]) -> String {
    let mut out = String::new();
    for t in tokens {
        match *t {
            Token::Literal(b) if b.is_ascii_graphic() || b == b' ' => out.push(b as char),
            Token::Literal(b) => out.push_str(&format!("\\x{b:02x}")),
            Token::Match { length, distance } => out.push_str(&format!("[{length}@{distance}]")),
        }
    }
    out
}

/// A literal/length symbol as readers know it.
fn name(symbol: usize) -> String {
    match symbol {
        0..=255 if (symbol as u8).is_ascii_graphic() => format!("'{}'", symbol as u8 as char),
        32 => "' ' (space)".into(),
        0..=255 => format!("byte {symbol:#04x}"),
        END_OF_BLOCK => "end of block".into(),
        _ => {
            let (base, extra) = (LENGTH_BASE[symbol - 257], LENGTH_EXTRA[symbol - 257]);
            match extra {
                0 => format!("{symbol}: len {base}"),
                _ => format!("{symbol}: len {base}-{}", base + (1 << extra) - 1),
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(24).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > 24 { " …" } else { "" };
    format!("{}{more}", shown.join(" "))
}
