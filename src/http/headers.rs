//! Header fields: a list of names and values in arrival order, where names
//! compare case-insensitively (RFC 9110 §5.1) and a name may repeat.

/// Header fields in arrival order. Names compare case-insensitively
/// (RFC 9110 §5.1); a name may repeat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(String, String)>,
}

impl Headers {
    /// An empty header list.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Number of fields (repeated names counted each time).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Adds a field at the end, keeping any earlier field of the same name.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.fields.push((name.into(), value.into()));
    }

    /// Replaces every field named `name` with one field.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.remove(&name);
        self.fields.push((name, value.into()));
    }

    /// Removes every field named `name`.
    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// The value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The values of every field named `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many fields are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// The comma-separated elements of every field named `name`, trimmed,
    /// empty elements skipped: the list syntax of RFC 9110 §5.6.1, where
    /// `Connection: keep-alive, Upgrade` and two separate `Connection`
    /// lines mean the same thing.
    pub fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .map(|t| t.trim_matches([' ', '\t']))
            .filter(|t| !t.is_empty())
    }

    /// Whether the list header `name` contains `token`, compared
    /// case-insensitively.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// Iterates over `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_case_insensitive_and_lists_merge() {
        let mut h = Headers::new();
        h.append("Connection", "keep-alive, Upgrade");
        h.append("connection", " close ");
        assert_eq!(h.get("CONNECTION"), Some("keep-alive, Upgrade"));
        assert_eq!(
            h.tokens("Connection").collect::<Vec<_>>(),
            ["keep-alive", "Upgrade", "close"]
        );
        assert!(h.has_token("connection", "upgrade"));
        assert!(!h.has_token("connection", "upgrade2"));
        h.set("CONNECTION", "x");
        assert_eq!(h.len(), 1);
    }
}
