//! What a nickname and a message may be: trimmed, bounded, visible, free
//! of control characters. Each refusal says what is wrong, for the page
//! to show.

use crate::app::json;

/// Longest nickname, in characters.
pub const MAX_NICK: usize = 24;
/// Longest message, in characters.
pub const MAX_TEXT: usize = 2000;

/// A nickname: trimmed, 1 to [`MAX_NICK`] characters, no control
/// characters, at least one visible character.
pub fn valid_nick(nick: &str) -> Option<String> {
    nick_or_why(nick).ok()
}

/// [`valid_nick`] of a JSON field, saying what is wrong.
pub(super) fn check_nick(nick: Option<&json::Value>) -> Result<String, String> {
    match nick.and_then(json::Value::as_str) {
        Some(nick) => nick_or_why(nick),
        None => Err("a nickname is required: \"nick\":\"...\"".to_string()),
    }
}

fn nick_or_why(nick: &str) -> Result<String, String> {
    let nick = nick.trim();
    let n = nick.chars().count();
    if n == 0 {
        Err("the nickname is empty".to_string())
    } else if n > MAX_NICK {
        Err(format!("the nickname has {n} characters; at most {MAX_NICK}"))
    } else if nick.chars().any(char::is_control) {
        Err("the nickname contains a control character".to_string())
    } else if nick.chars().all(invisible) {
        Err("the nickname has no visible character".to_string())
    } else {
        Ok(nick.to_string())
    }
}

/// Characters that take no room on screen: spaces, zero-width characters,
/// direction marks and embeddings, the soft hyphen, the byte order mark. A
/// name or a message made only of these would be invisible.
fn invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(c, '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A message: trimmed, 1 to [`MAX_TEXT`] characters, visible, no control
/// characters but newline and tab.
pub(super) fn check_text(text: Option<&json::Value>) -> Result<String, String> {
    let Some(text) = text.and_then(json::Value::as_str) else {
        return Err("a text is required: \"text\":\"...\"".to_string());
    };
    let text = text.trim();
    let n = text.chars().count();
    if n == 0 {
        Err("the message is empty: nothing sent".to_string())
    } else if n > MAX_TEXT {
        Err(format!(
            "the message has {n} characters; at most {MAX_TEXT}: nothing sent"
        ))
    } else if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')) {
        Err("the message contains a control character (only newline and tab are allowed): nothing sent".to_string())
    } else if text.chars().all(invisible) {
        Err("the message has no visible character: nothing sent".to_string())
    } else {
        Ok(text.to_string())
    }
}

/// A join, as a page sends it (over WebSocket, or as the body of
/// `POST /api/chat/join`).
#[derive(Clone, Debug, PartialEq)]
pub struct JoinRequest {
    /// The nickname, checked.
    pub nick: String,
    /// The person's session token, if this tab knows it (a second tab, a
    /// transport switch).
    pub token: Option<String>,
    /// The last event id the page has, with the `epoch` it belongs to.
    pub since: Option<f64>,
    /// The server run `since` belongs to.
    pub epoch: Option<f64>,
}

/// A message from a WebSocket page, as the chat reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum FromPage {
    /// `{"type":"join","nick":…}`
    Join(JoinRequest),
    /// `{"type":"say","text":…}`, the text checked.
    Say(String),
}

/// Longest session token accepted (ours are 32 hex digits).
const MAX_TOKEN: usize = 64;

/// Reads a join from a parsed JSON object.
pub fn read_join(v: &json::Value) -> Result<JoinRequest, String> {
    let nick = check_nick(v.get("nick"))?;
    let token = match v.get("token") {
        None | Some(json::Value::Null) => None,
        Some(json::Value::String(t)) if t.len() <= MAX_TOKEN => Some(t.clone()),
        Some(_) => return Err("the token must be the string the server gave at join".to_string()),
    };
    Ok(JoinRequest {
        nick,
        token,
        since: v.get("since").and_then(json::Value::as_f64),
        epoch: v.get("epoch").and_then(json::Value::as_f64),
    })
}

/// Reads one text message from a WebSocket page: a join or a say, or the
/// reason it is neither (for the page to show).
pub fn read_from_page(text: &str) -> Result<FromPage, String> {
    let v = json::parse(text).map_err(|_| "not JSON: send {\"type\":\"say\",\"text\":\"...\"}".to_string())?;
    match v.get("type").and_then(json::Value::as_str) {
        Some("join") => read_join(&v).map(FromPage::Join),
        Some("say") => check_text(v.get("text")).map(FromPage::Say),
        Some(other) => Err(format!(
            "unknown type {:.40}: send {{\"type\":\"say\",\"text\":\"...\"}}",
            json::escape(other)
        )),
        None => Err("no type: send {\"type\":\"say\",\"text\":\"...\"}".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames_are_trimmed_and_bounded() {
        assert_eq!(valid_nick("  alice "), Some("alice".into()));
        assert_eq!(valid_nick(""), None);
        assert_eq!(valid_nick("   "), None);
        assert_eq!(valid_nick(&"x".repeat(25)), None);
        assert_eq!(valid_nick("a\u{7}b"), None);
        assert_eq!(valid_nick("李雷"), Some("李雷".into()));
        assert_eq!(valid_nick("\u{200B}\u{200E}"), None, "invisible");
        assert_eq!(
            valid_nick("\u{202E}evil"),
            Some("\u{202E}evil".into()),
            "shown isolated by the page"
        );
    }

    #[test]
    fn messages_must_be_visible_and_free_of_control_characters_but_newlines_and_tabs() {
        let text = |t: &str| check_text(Some(&json::Value::String(t.to_string())));
        assert_eq!(
            text("  two\nlines\tand a tab \n").as_deref(),
            Ok("two\nlines\tand a tab")
        );
        assert!(text("a\u{0}b").unwrap_err().contains("control character"));
        assert!(text("\u{200B}\u{FEFF}").unwrap_err().contains("no visible character"));
        assert!(text(&"é".repeat(MAX_TEXT + 1)).unwrap_err().contains("at most 2000"));
        assert_eq!(text(&"😀".repeat(MAX_TEXT)).map(|t| t.chars().count()), Ok(MAX_TEXT));
    }
}
