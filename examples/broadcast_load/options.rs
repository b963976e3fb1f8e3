//! The command line: the mode and its options.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Burst,
    Paced,
    Stall,
    Flood,
    Idle,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Ws,
    Tcp,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub mode: Mode,
    pub clients: usize,
    pub messages: usize,
    pub size: usize,
    pub rate: f64,
    pub seconds: f64,
    pub threads: usize,
    pub server: Option<String>,
    pub url: Option<String>,
    pub pid: Option<u32>,
    /// Offer permessage-deflate (RFC 7692) in every client's handshake.
    pub deflate: bool,
}

pub fn usage() -> ! {
    eprintln!(
        "usage: broadcast_load burst|paced|stall|flood|idle [--clients M] [--messages K] [--size BYTES] \
         [--rate PER_SEC] [--seconds S] [--threads T] [--server PATH | --url URL [--pid PID]] [--deflate on|off]"
    );
    std::process::exit(2);
}

pub fn parse_args() -> Options {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // Without a mode, `paced`.
    if args.first().is_some_and(|a| a.starts_with("--")) {
        args.insert(0, "paced".into());
    }
    let mode = match args.first().map(String::as_str) {
        Some("burst") => Mode::Burst,
        Some("paced") => Mode::Paced,
        Some("stall") => Mode::Stall,
        Some("flood") => Mode::Flood,
        Some("idle") => Mode::Idle,
        _ => usage(),
    };
    let mut o = Options {
        mode,
        clients: match mode {
            Mode::Burst => 100,
            Mode::Idle => 10_000,
            _ => 1000,
        },
        messages: match mode {
            Mode::Burst => 50_000,
            _ => 1000,
        },
        size: if mode == Mode::Stall { 4096 } else { 64 },
        rate: if mode == Mode::Flood { 10.0 } else { 100.0 },
        seconds: match mode {
            Mode::Flood => 20.0,
            Mode::Stall => 60.0,
            _ => 5.0,
        },
        threads: 1,
        server: None,
        url: None,
        pid: None,
        deflate: false,
    };
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_else(|| usage());
        let number = || value.parse::<f64>().unwrap_or_else(|_| usage());
        match args[i].as_str() {
            "--clients" => o.clients = number() as usize,
            "--messages" => o.messages = number() as usize,
            "--size" => o.size = number() as usize,
            "--rate" => o.rate = number(),
            "--seconds" => o.seconds = number(),
            "--threads" => o.threads = number() as usize,
            "--server" => o.server = Some(value),
            "--url" => o.url = Some(value),
            "--pid" => o.pid = Some(number() as u32),
            "--deflate" => {
                o.deflate = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => usage(),
                }
            }
            _ => usage(),
        }
        i += 2;
    }
    o.clients = o.clients.max(if mode == Mode::Flood { 3 } else { 1 });
    o.threads = o.threads.max(1);
    // Room for "P SEQ TIME " in every message.
    o.size = o.size.max(40);
    o
}
