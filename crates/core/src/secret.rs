//! A secret input's value. It prints as `[redacted]` whatever formats it
//! (`{}`, `{:?}`, an error message), so that a mistake in a message cannot
//! show it; only [`Secret::expose`] gives the value, where a script needs it.

use crate::timeline::redact::REDACTED;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself: for the script that uses it, and the masks that hide it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the value replaced by `[redacted]`.
    pub fn mask_in(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(self.0.as_str(), REDACTED)
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

/// `text` with each of `secrets` masked, the longest first (a secret that
/// contains another goes whole).
pub fn mask_all(secrets: &[Secret], text: &str) -> String {
    let mut sorted: Vec<&Secret> = secrets.iter().filter(|s| !s.0.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
    sorted
        .iter()
        .fold(text.to_string(), |text, secret| secret.mask_in(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_formats_as_itself() {
        let secret = Secret::new("Bad$ecret!Value");
        assert_eq!(format!("{secret} {secret:?}"), "[redacted] [redacted]");
        assert_eq!(secret.expose(), "Bad$ecret!Value");
        assert_eq!(
            mask_all(&[Secret::new("ab"), Secret::new("abc")], "abc ab"),
            "[redacted] [redacted]"
        );
    }
}
