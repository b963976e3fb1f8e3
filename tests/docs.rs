//! The docs cite the code: files, tests, examples, functions. These tests
//! check every citation in `README.md` and `docs/` against the tree, so a
//! renamed test or a moved file fails here instead of misleading a reader.
//!
//! What counts as a citation:
//!
//! - a relative Markdown link `[text](target#anchor)`: the file exists, and
//!   the anchor is one of its headings (GitHub's slugs);
//! - a path starting with `src/`, `tests/`, `examples/`, `docs/` or `.ci/`,
//!   anywhere in the text: it exists (relative to the repository root), or
//!   it is `examples/NAME` for an example NAME;
//! - a code span holding one snake_case name with three underscores or more
//!   (`two_writes_can_arrive_as_one_read`): a `#[test]` function of that
//!   name exists. Test names are sentences; nothing else in the code is
//!   named like one;
//! - a code span holding a shorter snake_case name (`serve_connection`),
//!   or a path such as `RequestHead::keep_alive` or `websocket::frame`:
//!   every name in it occurs in the code (comments excluded), unless it
//!   starts with a name from the standard library or a dependency;
//! - a code span naming a source file by itself (`protocol.rs`): a file of
//!   that name exists under `src/`, `tests/` or `examples/`;
//! - in commands, `--example NAME` names an example, `--test NAME` a file
//!   `tests/NAME.rs`, and a filter after it (`--test websocket ping`)
//!   matches at least one test in that file; `cargo test FILTER` and
//!   `cargo test --lib FILTER` match at least one test. A word in capitals
//!   (`--test FILE NAME`) stands for one to fill in and is not checked, nor
//!   is a test file an exercise asks the reader to write
//!   (`tests/exercise_*.rs`);
//! - a constant quoted with a value (`` `PONG_WAIT` | 60 s ``,
//!   `` `CHAT_MAX_MESSAGE` = 16 KiB ``): the code gives it that value.
//!
//! And beyond citations: no file names a note by the file it is stored in
//! (a reader of the crate does not have the notes; the docs name them by
//! title), the crate's front page and `docs/README.md` carry the same map
//! of modules to chapters, every path a source file's comments cite
//! exists, and the counts the docs announce (claims in all, per note and
//! per verdict; exercises) are the counts of the map and of
//! `docs/exercises.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (recursively), `target/` and dot-directories
/// other than `.ci` left out.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && name != "node_modules" && (!name.starts_with('.') || name == ".ci") {
                files_under(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// The Markdown files whose citations are checked.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut docs = Vec::new();
    files_under(&root().join("docs"), &mut docs);
    docs.retain(|p| p.extension().is_some_and(|e| e == "md"));
    docs.sort();
    files.extend(docs);
    files
}

fn rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["src", "tests", "examples"] {
        files_under(&root().join(dir), &mut files);
    }
    files.retain(|p| p.extension().is_some_and(|e| e == "rs"));
    files.sort();
    files
}

/// Rust source with comments removed (strings kept): a small lexer that
/// knows line and block comments, strings, raw strings and char literals.
fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == b'r' && matches!(b.get(i + 1), Some(b'"' | b'#')) && (i == 0 || !is_ident(b[i - 1])) {
            // A raw string: r"…" or r#"…"#.
            let start = i;
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat(b'#').take(hashes))
                .collect();
            j += 1;
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            let end = (j + close.len()).min(b.len());
            out.push_str(&src[start..end]);
            i = end;
        } else if c == b'"' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            out.push_str(&src[start..i]);
        } else if c == b'\'' {
            // A char literal ('x', '\n', '"') or a lifetime ('a).
            let len = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..].iter().position(|&x| x == b'\'').map(|p| p + 3)
            } else {
                let ch_len = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + ch_len) == Some(&b'\'')).then_some(ch_len + 2)
            };
            let end = i + len.unwrap_or(1);
            out.push_str(&src[i..end]);
            i = end;
        } else {
            let ch_len = src[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&src[i..i + ch_len]);
            i += ch_len;
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn words(code: &str) -> impl Iterator<Item = &str> {
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// What the code offers to be cited.
struct Code {
    /// Every word in the Rust sources outside comments, file stems and
    /// directory names of `src/`, and example names.
    words: BTreeSet<String>,
    /// `#[test]` functions by file, relative to the root.
    tests: BTreeMap<String, Vec<String>>,
    /// Examples: `examples/NAME.rs` and `examples/NAME/main.rs`.
    examples: BTreeSet<String>,
    /// File names of Rust sources (`protocol.rs`).
    file_names: BTreeSet<String>,
}

impl Code {
    fn read() -> Code {
        let mut code = Code {
            words: BTreeSet::new(),
            tests: BTreeMap::new(),
            examples: BTreeSet::new(),
            file_names: BTreeSet::new(),
        };
        for path in rust_files() {
            let rel = path.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/");
            let text = strip_comments(&fs::read_to_string(&path).unwrap());
            code.words.extend(words(&text).map(str::to_string));
            let mut names = Vec::new();
            let mut rest = text.as_str();
            while let Some(at) = rest.find("#[test]") {
                rest = &rest[at + 7..];
                let Some(f) = rest.find("fn ") else { break };
                let name: String = rest[f + 3..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.push(name);
            }
            code.tests.insert(rel.clone(), names);
            code.file_names
                .insert(path.file_name().unwrap().to_string_lossy().into_owned());
            for part in rel.trim_end_matches(".rs").split('/').skip(1) {
                code.words.insert(part.to_string());
            }
            let parts: Vec<&str> = rel.split('/').collect();
            match parts.as_slice() {
                ["examples", file] => {
                    code.examples.insert(file.trim_end_matches(".rs").to_string());
                }
                ["examples", dir, "main.rs"] => {
                    code.examples.insert(dir.to_string());
                }
                _ => {}
            }
        }
        code.words.extend(code.examples.iter().cloned());
        code
    }

    fn all_tests(&self) -> impl Iterator<Item = &String> {
        self.tests.values().flatten()
    }

    fn is_test(&self, name: &str) -> bool {
        self.all_tests().any(|t| t == name)
    }

    fn tests_in(&self, file: &str) -> Option<&Vec<String>> {
        self.tests.get(file)
    }
}

/// A place in the docs: file and line.
fn at(file: &Path, line: usize) -> String {
    format!("{}:{}", file.strip_prefix(root()).unwrap().display(), line + 1)
}

/// The lines of a Markdown file, each with its code spans (inline spans,
/// or the whole line inside a fenced block) and whether it is in a fence.
struct Line<'a> {
    number: usize,
    text: &'a str,
    spans: Vec<&'a str>,
    fenced: bool,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let spans = if fenced {
            vec![line]
        } else {
            line.split('`').skip(1).step_by(2).collect()
        };
        out.push(Line {
            number,
            text: line,
            spans,
            fenced,
        });
    }
    out
}

/// GitHub's anchors for the headings of a Markdown file.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for line in lines(text) {
        if line.fenced || !line.text.starts_with('#') {
            continue;
        }
        let title = line.text.trim_start_matches('#').trim();
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 { slug.clone() } else { format!("{slug}-{n}") });
        *n += 1;
    }
    out
}

/// The targets of the inline links `[text](target)` on a line.
fn link_targets(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].trim());
            rest = &rest[end..];
        }
    }
    out
}

fn fail_if_any(what: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{} {what}:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// Chapters being written alongside these docs: a link to one is accepted
/// before the file exists (and checked like any other once it does).
const COMING: &[&str] = &[
    "docs/architecture.md",
    "docs/compression.md",
    "docs/performance.md",
    "docs/security.md",
];

#[test]
fn every_relative_link_in_the_docs_leads_to_a_file_and_heading_that_exist() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        let text = fs::read_to_string(&file).unwrap();
        for line in lines(&text).iter().filter(|l| !l.fenced) {
            for target in link_targets(line.text) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
                let dest = if path.is_empty() {
                    file.clone()
                } else {
                    file.parent().unwrap().join(path)
                };
                let coming = COMING.iter().any(|c| dest.ends_with(c));
                if !dest.exists() && !coming {
                    problems.push(format!("{}: link to {target}: no such file", at(&file, line.number)));
                } else if !anchor.is_empty() && dest.exists() {
                    let heads = anchors(&fs::read_to_string(&dest).unwrap_or_default());
                    if !heads.contains(anchor) {
                        problems.push(format!("{}: link to {target}: no such heading", at(&file, line.number)));
                    }
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} links found: is the parser broken?");
    fail_if_any("broken links", problems);
}

/// Paths in a line: each occurrence of a known top directory at the start
/// of a word, up to the first character that cannot be in a path.
fn cited_paths(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in ["src/", "tests/", "examples/", "docs/", ".ci/"] {
        let mut from = 0;
        while let Some(at) = line[from..].find(prefix) {
            let start = from + at;
            from = start + prefix.len();
            let before = line[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || "/._-".contains(c)) {
                continue;
            }
            let path: String = line[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "/._-".contains(*c))
                .collect();
            let path = path.trim_end_matches(['.', ',', ':']).to_string();
            out.push(path);
        }
    }
    out
}

#[test]
fn every_path_the_docs_cite_exists() {
    let code = Code::read();
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        let text = fs::read_to_string(&file).unwrap();
        for line in lines(&text) {
            for path in cited_paths(line.text) {
                checked += 1;
                // `examples/ws_echo` names the example, whichever file it is.
                let example = path
                    .strip_prefix("examples/")
                    .is_some_and(|e| code.examples.contains(e));
                let exercise = path.starts_with(&format!("tests/{EXERCISE}"));
                let to_fill = path
                    .split('/')
                    .any(|part| placeholder(part.split('.').next().unwrap_or("x")));
                if !example && !exercise && !to_fill && !root().join(&path).exists() {
                    problems.push(format!("{}: {path}: no such file or directory", at(&file, line.number)));
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} paths found: is the parser broken?");
    fail_if_any("missing paths", problems);
}

#[test]
fn every_path_the_sources_cite_exists() {
    // Module docs point readers at files too (`src/broadcast/`,
    // `docs/performance.md`, `examples/tcp_echo.rs`): a move must not leave
    // them pointing at nothing.
    let code = Code::read();
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in rust_files() {
        let text = fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for path in cited_paths(line) {
                checked += 1;
                let example = path
                    .strip_prefix("examples/")
                    .is_some_and(|e| code.examples.contains(e));
                let to_fill = path.contains('*')
                    || path.starts_with(&format!("tests/{EXERCISE}"))
                    || path
                        .split('/')
                        .any(|part| placeholder(part.split('.').next().unwrap_or("x")));
                if !example && !to_fill && !root().join(&path).exists() {
                    problems.push(format!("{}: {path}: no such file or directory", at(&file, n)));
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} paths found: is the parser broken?");
    fail_if_any("missing paths cited in the sources", problems);
}

/// Whether `s` is one snake_case name (lowercase letters, digits, `_`).
fn snake(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Protocol tokens spelled in snake_case with three underscores, which the
/// docs quote but which are not test names: RFC 7692's extension parameters.
const PROTOCOL_TOKENS: &[&str] = &[
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
];

#[test]
fn every_test_the_docs_name_exists() {
    let code = Code::read();
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        let text = fs::read_to_string(&file).unwrap();
        for line in lines(&text) {
            for span in &line.spans {
                let span = span.trim();
                if !line.fenced && snake(span) && span.matches('_').count() >= 3 && !PROTOCOL_TOKENS.contains(&span) {
                    checked += 1;
                    if !code.is_test(span) {
                        problems.push(format!("{}: `{span}` is not a test", at(&file, line.number)));
                    }
                }
                problems.extend(check_cargo_test(&code, span).map(|p| format!("{}: {p}", at(&file, line.number))));
            }
        }
    }
    assert!(checked > 50, "only {checked} test names found: is the parser broken?");
    fail_if_any("tests named in the docs that do not exist", problems);
}

/// Test files that exercises ask the reader to create start with this.
const EXERCISE: &str = "exercise_";

/// A word standing for one to fill in, such as FILE or NAME.
fn placeholder(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_ascii_uppercase() || c == '_')
}

/// Problems with a `cargo test` command in `span`, if it is one.
fn check_cargo_test(code: &Code, span: &str) -> Option<String> {
    let tokens: Vec<&str> = span.split_whitespace().collect();
    let start = tokens.windows(2).position(|w| w == ["cargo", "test"])?;
    let args: Vec<&str> = tokens[start + 2..]
        .iter()
        .take_while(|t| !matches!(**t, "&&" | ";" | "|" | "#" | "--"))
        .copied()
        .collect();
    let mut target: Option<String> = None;
    let mut filter = None;
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "--test" => {
                let name = args.get(i + 1)?;
                if placeholder(name) || name.starts_with(EXERCISE) {
                    return None;
                }
                let file = format!("tests/{name}.rs");
                if code.tests_in(&file).is_none() {
                    return Some(format!("`--test {name}`: there is no {file}"));
                }
                target = Some(file);
                i += 2;
            }
            "--lib" => {
                target = Some("src/".to_string());
                i += 1;
            }
            a if a.starts_with('-') => i += 1,
            a => {
                filter = Some(a).filter(|a| !placeholder(a));
                i += 1;
            }
        }
    }
    let filter = filter?;
    let candidates: Vec<&String> = match &target {
        Some(t) if t == "src/" => code
            .tests
            .iter()
            .filter(|(f, _)| f.starts_with("src/"))
            .flat_map(|(_, n)| n)
            .collect(),
        Some(t) => code.tests_in(t).unwrap().iter().collect(),
        None => code.all_tests().collect(),
    };
    let where_ = target.as_deref().unwrap_or("any test");
    (!candidates.iter().any(|t| t.contains(filter)))
        .then(|| format!("`cargo test` filter `{filter}` matches no test in {where_}"))
}

/// Names from the standard library and the dependencies: a path starting
/// with one of these is not the crate's to check.
const FOREIGN: &[&str] = &[
    "std",
    "core",
    "alloc",
    "io",
    "net",
    "thread",
    "TcpListener",
    "TcpStream",
    "UdpSocket",
    "UnixStream",
    "UnixListener",
    "Duration",
    "Instant",
    "Arc",
    "Mutex",
    "Vec",
    "String",
    "Option",
    "Result",
    "crossbeam_channel",
    "log",
    "env_logger",
    "base64",
    "sha1_smol",
];

#[test]
fn every_item_the_docs_name_is_in_the_code() {
    let code = Code::read();
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        let text = fs::read_to_string(&file).unwrap();
        for line in lines(&text).iter().filter(|l| !l.fenced) {
            for span in &line.spans {
                let span = span.trim().trim_end_matches("()");
                let path: Vec<&str> = span.split("::").collect();
                let is_path = path.len() > 1
                    && path
                        .iter()
                        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                let names: Vec<&str> = if is_path {
                    if FOREIGN.contains(&path[0]) {
                        continue;
                    }
                    path.into_iter().filter(|p| *p != "wirelab").collect()
                } else if snake(span) && (1..3).contains(&span.matches('_').count()) {
                    vec![span]
                } else if span.ends_with(".rs") && !span.contains('/') && !span.contains(' ') {
                    checked += 1;
                    if !code.file_names.contains(span) {
                        problems.push(format!("{}: no file named {span}", at(&file, line.number)));
                    }
                    continue;
                } else {
                    continue;
                };
                for name in names {
                    checked += 1;
                    if !code.words.contains(name) {
                        problems.push(format!(
                            "{}: `{name}` (in `{span}`) is not in the code",
                            at(&file, line.number)
                        ));
                    }
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} names found: is the parser broken?");
    fail_if_any("names in the docs that the code does not have", problems);
}

#[test]
fn every_example_the_docs_run_exists() {
    let code = Code::read();
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        let text = fs::read_to_string(&file).unwrap();
        for line in lines(&text) {
            for span in &line.spans {
                let tokens: Vec<&str> = span.split_whitespace().collect();
                for pair in tokens.windows(2).filter(|w| w[0] == "--example") {
                    checked += 1;
                    if !code.examples.contains(pair[1]) {
                        problems.push(format!("{}: no example {}", at(&file, line.number), pair[1]));
                    }
                }
            }
        }
    }
    assert!(checked > 10, "only {checked} examples found: is the parser broken?");
    fail_if_any("examples run in the docs that do not exist", problems);
}

#[test]
fn the_checker_reads_comments_strings_and_anchors_as_github_and_rustc_do() {
    let code = strip_comments("let a = \"// kept\"; // gone\n/* gone /* nested */ gone */ let b = '\"'; r#\"x\"# c");
    assert!(code.contains("kept") && code.contains("let b") && code.contains(" c"));
    assert!(!code.contains("gone"), "{code}");
    let heads = anchors(
        "# 0. TCP and WebSocket\n## The three pains of HTTP, measured\n## A\n## A\n```\n# not a heading\n```\n",
    );
    let expected = ["0-tcp-and-websocket", "the-three-pains-of-http-measured", "a", "a-1"];
    assert_eq!(heads, expected.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        cited_paths("see `tests/udp.rs`, and ../shared/tests/x"),
        ["tests/udp.rs"]
    );
    assert_eq!(link_targets("[a](b.md#c) and [d](https://e)"), ["b.md#c", "https://e"]);
}

/// A claim as a chapter states it: number, verdict, and the anchor of the
/// section it is in.
#[derive(Debug, PartialEq)]
struct Claim {
    id: String,
    verdict: String,
    section: String,
}

/// The claims of a chapter: paragraphs that start with `**N.M**`, each with
/// the first bold verdict in the paragraph.
fn chapter_claims(text: &str) -> Vec<Claim> {
    let mut claims = Vec::new();
    let mut section = String::new();
    for paragraph in text.split("\n\n") {
        for line in paragraph.lines().filter(|l| l.starts_with("## ")) {
            section = anchors(line).into_iter().next().unwrap_or_default();
        }
        let Some(rest) = paragraph.strip_prefix("**") else {
            continue;
        };
        let Some((id, _)) = rest.split_once("**") else { continue };
        if !id.contains('.') || !id.chars().all(|c| c.is_ascii_digit() || c == '.') {
            continue;
        }
        let verdict = ["Holds", "Partly", "Wrong", "Outdated"]
            .iter()
            .filter_map(|v| paragraph.find(&format!("**{v}")).map(|at| (at, v.to_lowercase())))
            .min()
            .map_or(String::new(), |(_, v)| v);
        claims.push(Claim {
            id: id.to_string(),
            verdict,
            section: section.clone(),
        });
    }
    claims
}

#[test]
fn the_claim_map_lists_every_claim_of_the_chapters_with_the_same_verdict() {
    let docs = root().join("docs");
    let mut chapters: Vec<PathBuf> = fs::read_dir(&docs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.len() > 3 && name.as_bytes()[..2].iter().all(u8::is_ascii_digit) && name.ends_with(".md")
        })
        .collect();
    chapters.sort();
    assert_eq!(chapters.len(), 5, "one chapter per note");
    let mut problems = Vec::new();
    let mut stated = BTreeMap::new();
    for (note, chapter) in chapters.iter().enumerate() {
        let name = chapter.file_name().unwrap().to_string_lossy().into_owned();
        let claims = chapter_claims(&fs::read_to_string(chapter).unwrap());
        for (i, claim) in claims.iter().enumerate() {
            if claim.id != format!("{note}.{}", i + 1) {
                problems.push(format!("{name}: claim {} where {note}.{} was due", claim.id, i + 1));
            }
            if claim.verdict.is_empty() {
                problems.push(format!("{name}: claim {} has no verdict", claim.id));
            }
        }
        for claim in claims {
            stated.insert(claim.id.clone(), (name.clone(), claim));
        }
    }
    let map = fs::read_to_string(docs.join("README.md")).unwrap();
    let mut rows = 0;
    for line in map.lines().filter(|l| l.starts_with("| [")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let link = link_targets(cells[0]);
        let (Some(id), Some(target)) = (
            cells[0].strip_prefix("| [").and_then(|c| c.split(']').next()),
            link.first(),
        ) else {
            continue;
        };
        if !id.contains('.') {
            continue;
        }
        rows += 1;
        let verdict = cells.get(2).copied().unwrap_or("");
        match stated.remove(id) {
            None => problems.push(format!("map: claim {id} is in no chapter (or listed twice)")),
            Some((chapter, claim)) => {
                if verdict != claim.verdict {
                    problems.push(format!("map: {id} is {verdict}, {chapter} says {}", claim.verdict));
                }
                if *target != format!("{chapter}#{}", claim.section) {
                    problems.push(format!(
                        "map: {id} links to {target}, the claim is in {chapter}#{}",
                        claim.section
                    ));
                }
            }
        }
    }
    for id in stated.keys() {
        problems.push(format!("map: claim {id} is missing"));
    }
    let heading = format!("## The map: {rows} claims");
    if !map.lines().any(|l| l == heading) {
        problems.push(format!("map: the heading should read \"{heading}\""));
    }
    let front = fs::read_to_string(root().join("README.md")).unwrap().replace('\n', " ");
    if !front.contains(&format!("({rows} in all)")) {
        problems.push(format!(
            "README.md: the docs section should count \"({rows} in all)\" claims"
        ));
    }
    assert!(rows > 100, "only {rows} rows in the map: is the parser broken?");
    fail_if_any("differences between the claim map and the chapters", problems);
}

/// A value as the docs write it or the code computes it: a count (bytes,
/// characters, a code) or a duration in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Value {
    Count(u128),
    Nanos(u128),
}

/// Every `const NAME: T = EXPR;` in the sources (comments stripped), by
/// name: a name defined in several places keeps each definition.
fn constants() -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in rust_files().into_iter().filter(|p| p.starts_with(root().join("src"))) {
        let text = strip_comments(&fs::read_to_string(&path).unwrap());
        let mut rest = text.as_str();
        while let Some(at) = rest.find("const ") {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + 6..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let after = &rest[name.len()..];
            let (Some(eq), Some(end)) = (after.find('='), after.find(';')) else {
                continue;
            };
            if !after.trim_start().starts_with(':') || eq > end {
                continue;
            }
            out.entry(name).or_default().push(after[eq + 1..end].trim().to_string());
        }
    }
    out
}

/// Evaluates a constant's expression as far as the docs need: integer
/// literals, `+ - * / <<` and parentheses, `Duration::from_secs/millis/micros`,
/// a tuple struct around a number (`CloseCode(1008)`), and other constants.
fn evaluate(expr: &str, consts: &BTreeMap<String, Vec<String>>, depth: usize) -> Option<Value> {
    let tokens = tokenize(expr)?;
    let mut at = 0;
    let value = parse_shift(&tokens, &mut at, consts, depth)?;
    (at == tokens.len()).then_some(value)
}

fn tokenize(expr: &str) -> Option<Vec<String>> {
    let mut tokens = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            let mut word = String::new();
            while let Some(&c) = chars
                .peek()
                .filter(|c| c.is_ascii_alphanumeric() || **c == '_' || **c == ':')
            {
                word.push(c);
                chars.next();
            }
            tokens.push(word);
        } else if c == '<' {
            chars.next();
            (chars.next() == Some('<')).then_some(())?;
            tokens.push("<<".to_string());
        } else if "+-*/()".contains(c) {
            tokens.push(c.to_string());
            chars.next();
        } else {
            return None;
        }
    }
    Some(tokens)
}

fn parse_shift(t: &[String], at: &mut usize, c: &BTreeMap<String, Vec<String>>, d: usize) -> Option<Value> {
    let mut left = parse_sum(t, at, c, d)?;
    while t.get(*at).is_some_and(|x| x == "<<") {
        *at += 1;
        let (Value::Count(a), Value::Count(b)) = (left, parse_sum(t, at, c, d)?) else {
            return None;
        };
        left = Value::Count(a.checked_shl(u32::try_from(b).ok()?)?);
    }
    Some(left)
}

fn parse_sum(t: &[String], at: &mut usize, c: &BTreeMap<String, Vec<String>>, d: usize) -> Option<Value> {
    let mut left = parse_product(t, at, c, d)?;
    while let Some(op) = t.get(*at).filter(|x| *x == "+" || *x == "-").cloned() {
        *at += 1;
        let right = parse_product(t, at, c, d)?;
        left = match (left, right) {
            (Value::Count(a), Value::Count(b)) => Value::Count(if op == "+" { a + b } else { a.checked_sub(b)? }),
            (Value::Nanos(a), Value::Nanos(b)) => Value::Nanos(if op == "+" { a + b } else { a.checked_sub(b)? }),
            _ => return None,
        };
    }
    Some(left)
}

fn parse_product(t: &[String], at: &mut usize, c: &BTreeMap<String, Vec<String>>, d: usize) -> Option<Value> {
    let mut left = parse_atom(t, at, c, d)?;
    while let Some(op) = t.get(*at).filter(|x| *x == "*" || *x == "/").cloned() {
        *at += 1;
        let Value::Count(b) = parse_atom(t, at, c, d)? else {
            return None;
        };
        left = match (left, op.as_str()) {
            (Value::Count(a), "*") => Value::Count(a * b),
            (Value::Count(a), _) => Value::Count(a.checked_div(b)?),
            (Value::Nanos(a), "*") => Value::Nanos(a * b),
            (Value::Nanos(a), _) => Value::Nanos(a.checked_div(b)?),
        };
    }
    Some(left)
}

fn parse_atom(t: &[String], at: &mut usize, c: &BTreeMap<String, Vec<String>>, d: usize) -> Option<Value> {
    let token = t.get(*at)?.clone();
    *at += 1;
    if token == "(" {
        let value = parse_shift(t, at, c, d)?;
        (t.get(*at)? == ")").then_some(())?;
        *at += 1;
        return Some(value);
    }
    if token.starts_with(|ch: char| ch.is_ascii_digit()) {
        let digits: String = token.chars().filter(|ch| *ch != '_').collect();
        let digits = digits.trim_end_matches(|ch: char| ch.is_ascii_alphabetic() && !ch.is_ascii_hexdigit());
        let digits = ["u8", "u16", "u32", "u64", "u128", "usize"]
            .iter()
            .find_map(|s| digits.strip_suffix(s))
            .unwrap_or(digits);
        return digits.parse().ok().map(Value::Count);
    }
    if t.get(*at).is_some_and(|x| x == "(") {
        // A call: Duration::from_secs(N) or a tuple struct around a value.
        *at += 1;
        let inner = parse_shift(t, at, c, d)?;
        (t.get(*at)? == ")").then_some(())?;
        *at += 1;
        let Value::Count(n) = inner else { return None };
        let scale = match token.rsplit("::").next()? {
            "from_secs" => 1_000_000_000,
            "from_millis" => 1_000_000,
            "from_micros" => 1_000,
            "from_nanos" => 1,
            name if name.starts_with(|ch: char| ch.is_ascii_uppercase()) => return Some(Value::Count(n)),
            _ => return None,
        };
        return Some(Value::Nanos(n * scale));
    }
    // Another constant, by its last path segment.
    let name = token.rsplit("::").next()?;
    let defs = c.get(name)?;
    if d > 8 || defs.len() != 1 {
        return None;
    }
    evaluate(&defs[0], c, d + 1)
}

/// A value as the docs write it at the start of `text`: digits (with
/// spaces or commas between thousands) and an optional unit.
fn quoted_value(text: &str) -> Option<Value> {
    let mut number = String::new();
    let mut rest = text;
    loop {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() || (!number.is_empty() && digits.len() != 3) {
            break;
        }
        number.push_str(&digits);
        rest = &rest[digits.len()..];
        // "2 000" and "8,192": a separator followed by exactly three digits.
        let next: String = rest.chars().skip(1).take(4).collect();
        if (rest.starts_with(' ') || rest.starts_with(',') || rest.starts_with('\u{a0}'))
            && next.len() >= 3
            && next.chars().take(3).all(|c| c.is_ascii_digit())
            && !next.chars().nth(3).is_some_and(|c| c.is_ascii_digit())
        {
            rest = &rest[rest.chars().next().unwrap().len_utf8()..];
            continue;
        }
        break;
    }
    if number.is_empty() || rest.starts_with('.') || rest.starts_with('/') {
        return None;
    }
    let n: u128 = number.parse().ok()?;
    let unit: String = rest.trim_start().chars().take_while(|c| c.is_alphabetic()).collect();
    Some(match unit.as_str() {
        "s" => Value::Nanos(n * 1_000_000_000),
        "ms" => Value::Nanos(n * 1_000_000),
        "µs" | "us" => Value::Nanos(n * 1_000),
        "min" => Value::Nanos(n * 60_000_000_000),
        "KiB" => Value::Count(n << 10),
        "MiB" => Value::Count(n << 20),
        "GiB" => Value::Count(n << 30),
        _ => Value::Count(n),
    })
}

/// The constants a line quotes with a value: `` `NAME` = 16 KiB ``,
/// `` `NAME = 16 KiB` ``, `` `NAME` (16 KiB) ``, `` `NAME`, 64 KiB) `` and
/// table rows `` | `NAME` | 60 s | ``, NAME in capitals, alone or at the
/// end of a path (`` `socket::LINGER` (500 ms) ``).
fn quoted_constants(line: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let capital = |s: &str| {
        s.len() > 1
            && s.starts_with(|c: char| c.is_ascii_uppercase())
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    let parts: Vec<&str> = line.split('`').collect();
    for i in (1..parts.len()).step_by(2) {
        // `socket::LINGER` quotes the constant LINGER.
        let span = parts[i].trim().rsplit("::").next().unwrap_or("");
        if let Some((name, value)) = span.split_once(" = ") {
            if capital(name.trim()) {
                if let Some(v) = quoted_value(value.trim()) {
                    out.push((name.trim().to_string(), v));
                }
            }
            continue;
        }
        if !capital(span) || i + 1 >= parts.len() {
            continue;
        }
        let after = parts[i + 1];
        let value = [" = ", " (", ", ", " | "]
            .iter()
            .find_map(|sep| after.strip_prefix(sep));
        if let Some(v) = value.and_then(quoted_value) {
            out.push((span.to_string(), v));
        }
    }
    out
}

#[test]
fn every_constant_the_docs_quote_with_a_value_has_that_value_in_the_code() {
    let consts = constants();
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        let text = fs::read_to_string(&file).unwrap();
        for line in lines(&text).iter().filter(|l| !l.fenced) {
            for (name, value) in quoted_constants(line.text) {
                let Some(defs) = consts.get(&name) else { continue };
                let values: Vec<Value> = defs.iter().filter_map(|e| evaluate(e, &consts, 0)).collect();
                // A constant this small evaluator cannot compute (a struct,
                // a call it does not know) is left to the reader.
                if values.is_empty() {
                    continue;
                }
                checked += 1;
                if !values.contains(&value) {
                    problems.push(format!(
                        "{}: `{name}` quoted as {value:?}, the code says {}",
                        at(&file, line.number),
                        defs.join(" or ")
                    ));
                }
            }
        }
    }
    assert!(
        checked > 10,
        "only {checked} constants quoted with a value: is the parser broken?"
    );
    fail_if_any("constants quoted with a value the code does not give them", problems);
}

#[test]
fn the_constant_checker_reads_values_as_the_docs_write_them_and_the_code_computes_them() {
    let consts: BTreeMap<String, Vec<String>> = [
        ("A", "16 * 1024"),
        ("B", "Duration::from_secs(54)"),
        ("C", "CloseCode(1008)"),
        ("D", "8 << 20"),
        ("E", "2 * A + 2 * 125 + Budget::A"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
    .collect();
    let eval = |e: &str| evaluate(e, &consts, 0);
    assert_eq!(eval("A"), Some(Value::Count(16 << 10)));
    assert_eq!(eval("B"), Some(Value::Nanos(54_000_000_000)));
    assert_eq!(eval("CloseCode::C"), Some(Value::Count(1008)));
    assert_eq!(eval("D"), Some(Value::Count(8 << 20)));
    assert_eq!(eval("E"), Some(Value::Count(3 * (16 << 10) + 250)));
    assert_eq!(eval("Rate { per: 1 }"), None);
    assert_eq!(quoted_value("2 000 characters"), Some(Value::Count(2000)));
    assert_eq!(quoted_value("8,192 connections"), Some(Value::Count(8192)));
    assert_eq!(quoted_value("16 KiB (`16 * 1024`)"), Some(Value::Count(16 << 10)));
    assert_eq!(quoted_value("54 s (9/10 of it)"), Some(Value::Nanos(54_000_000_000)));
    assert_eq!(quoted_value("2.5 s"), None);
    assert_eq!(quoted_value("then"), None);
    assert_eq!(
        quoted_constants("over `MAX_TEXT` = 2 000 characters, `QUANTUM` (16 KiB), `X`, then"),
        [
            ("MAX_TEXT".to_string(), Value::Count(2000)),
            ("QUANTUM".to_string(), Value::Count(16 << 10))
        ]
    );
    assert_eq!(
        quoted_constants("| `PONG_WAIT` | 60 s | a `PING_PERIOD = 54 s`, `socket::LINGER` (500 ms) |"),
        [
            ("PONG_WAIT".to_string(), Value::Nanos(60_000_000_000)),
            ("PING_PERIOD".to_string(), Value::Nanos(54_000_000_000)),
            ("LINGER".to_string(), Value::Nanos(500_000_000))
        ]
    );
}

/// How the notes' files are named where they live: a number, an
/// underscore, sixteen hex digits, `.txt`.
fn names_a_note_file(line: &str) -> bool {
    line.match_indices(".txt").any(|(at, _)| {
        let stem: Vec<char> = line[..at].chars().rev().take(21).collect();
        stem.len() == 21
            && stem[..16].iter().all(|c| c.is_ascii_hexdigit())
            && stem[16] == '_'
            && stem[17..20].iter().all(|c| c.is_ascii_digit())
    }) || line.contains("shared/notes")
}

#[test]
fn the_notes_are_named_by_their_title_never_by_a_file_the_reader_does_not_have() {
    assert!(names_a_note_file("see 003_bd157fac5e3bdbfa.txt"));
    assert!(!names_a_note_file("tests/data/deflate/zlib_vectors.txt"));
    let mut files = doc_files();
    files.extend(rust_files());
    let mut problems = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if names_a_note_file(line) && !file.ends_with("tests/docs.rs") {
                problems.push(format!("{}: {}", at(&file, n), line.trim()));
            }
        }
    }
    fail_if_any(
        "places that cite a note by its file name instead of its title",
        problems,
    );
}

/// The rows of the first Markdown table after `heading` in `text`, with
/// links reduced to their text and spaces evened out, so that the same
/// table reads the same in `docs/README.md` and in rustdoc.
fn table_after(text: &str, heading: &str) -> Vec<String> {
    let Some(start) = text.find(heading) else {
        return Vec::new();
    };
    let plain = |row: &str| {
        let mut out = String::new();
        let mut rest = row;
        while let Some(open) = rest.find('[') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find(']').map(|c| open + c) else {
                rest = &rest[open..];
                break;
            };
            out.push_str(&rest[open + 1..close]);
            rest = &rest[close + 1..];
            if rest.starts_with('(') {
                rest = rest.find(')').map_or("", |end| &rest[end + 1..]);
            }
        }
        out.push_str(rest);
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    text[start..]
        .lines()
        .map(|l| l.trim_start_matches("//!").trim())
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .map(plain)
        .collect()
}

#[test]
fn the_crate_front_page_and_the_docs_index_carry_the_same_map_of_modules_to_chapters() {
    const HEADING: &str = "Where each module is explained";
    let index = table_after(&fs::read_to_string(root().join("docs/README.md")).unwrap(), HEADING);
    let lib = fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let front = table_after(&lib, HEADING);
    assert!(index.len() > 10, "docs/README.md: no table under \"{HEADING}\"");
    assert_eq!(index, front, "src/lib.rs and docs/README.md differ");
    let mut problems = Vec::new();
    for module in lib.lines().filter_map(|l| l.strip_prefix("pub mod ")) {
        let module = module.trim_end_matches(';');
        if !front.iter().any(|row| row.contains(&format!("`{module}`"))) {
            problems.push(format!("module `{module}` is in no row of the map"));
        }
    }
    fail_if_any("modules missing from the map", problems);
}

#[test]
fn the_number_of_exercises_is_the_one_the_docs_announce() {
    let exercises = fs::read_to_string(root().join("docs/exercises.md")).unwrap();
    let count = exercises
        .lines()
        .filter(|l| {
            l.strip_prefix("### ")
                .and_then(|t| t.split_once(". "))
                .is_some_and(|(n, _)| n.parse::<u32>().is_ok())
        })
        .count();
    assert!(count > 20, "only {count} exercises found: is the parser broken?");
    let mut problems = Vec::new();
    for file in ["README.md", "docs/README.md"] {
        let text = fs::read_to_string(root().join(file)).unwrap().replace('\n', " ");
        if !text.contains(&format!("{count} exercises")) {
            problems.push(format!("{file}: should announce \"{count} exercises\""));
        }
    }
    fail_if_any("announcements of the exercises with a stale count", problems);
}

/// "30 hold, 10 hold partly, 2 are wrong": a tally as the docs write it,
/// verdicts with no claim left out.
fn tally(holds: usize, partly: usize, wrong: usize, outdated: usize) -> String {
    let verb = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    [
        (holds, verb(holds, "holds", "hold")),
        (partly, verb(partly, "holds partly", "hold partly")),
        (wrong, verb(wrong, "is wrong", "are wrong")),
        (outdated, verb(outdated, "is outdated", "are outdated")),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(_, s)| s)
    .collect::<Vec<_>>()
    .join(", ")
}

#[test]
fn every_count_of_claims_the_docs_announce_is_the_count_in_the_map() {
    let index = fs::read_to_string(root().join("docs/README.md")).unwrap();
    // note -> [holds, partly, wrong, outdated], from the map's rows.
    let mut counts: BTreeMap<usize, [usize; 4]> = BTreeMap::new();
    for line in index.lines().filter(|l| l.starts_with("| [")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let Some(id) = cells[0].strip_prefix("| [").and_then(|c| c.split(']').next()) else {
            continue;
        };
        let Some(note) = id.split_once('.').and_then(|(n, _)| n.parse::<usize>().ok()) else {
            continue;
        };
        let slot = match cells.get(2).copied() {
            Some("holds") => 0,
            Some("partly") => 1,
            Some("wrong") => 2,
            Some("outdated") => 3,
            _ => continue,
        };
        counts.entry(note).or_default()[slot] += 1;
    }
    assert_eq!(counts.len(), 5, "five notes in the map");
    let mut problems = Vec::new();
    fn expect(problems: &mut Vec<String>, file: &str, text: &str, wanted: String) {
        if !text.replace('\n', " ").contains(&wanted) {
            problems.push(format!("{file}: should say \"{wanted}\""));
        }
    }
    let mut all = [0; 4];
    for (note, c) in &counts {
        let n: usize = c.iter().sum();
        for (a, b) in all.iter_mut().zip(c) {
            *a += b;
        }
        let wanted = format!("{}; chapter [{note}]", tally(c[0], c[1], c[2], c[3]));
        expect(&mut problems, "docs/README.md", &index, wanted);
        if !index
            .lines()
            .any(|l| l.starts_with(&format!("### Note {note}, ")) && l.ends_with(&format!(": {n} claims")))
        {
            problems.push(format!(
                "docs/README.md: the heading of note {note} should end \": {n} claims\""
            ));
        }
        if !index
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("| [{note}. ")) && l.ends_with(&format!("| {n} |")))
        {
            problems.push(format!(
                "docs/README.md: the reading order should give chapter {note} {n} claims"
            ));
        }
        let chapter = fs::read_dir(root().join("docs"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("0{note}-"))
            })
            .unwrap();
        let name = format!("docs/{}", chapter.file_name().unwrap().to_string_lossy());
        let text = fs::read_to_string(&chapter).unwrap();
        let wanted = format!("Its {n} claims are numbered {note}.1 to {note}.{n}");
        expect(&mut problems, &name, &text, wanted);
    }
    let total: usize = all.iter().sum();
    let wanted = format!("make **{total} claims**: {}.", tally(all[0], all[1], all[2], all[3]));
    expect(&mut problems, "docs/README.md", &index, wanted);
    fail_if_any("claim counts that differ from the map", problems);
}
