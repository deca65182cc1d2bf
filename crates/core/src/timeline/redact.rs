//! Secrets never reach the timeline: the values of `secret` inputs and
//! anything matching the redaction patterns become `[redacted]` before an
//! event is serialized.

use regex::Regex;
use serde_json::Value;

pub const REDACTED: &str = "[redacted]";
/// A private-use character standing for a redaction while patterns run.
const SENTINEL: &str = "\u{E000}";

/// Built-in patterns. Group 1, when present, is kept (the `KEY=` part).
pub const DEFAULT_PATTERNS: &[&str] = &[
    // Private key blocks, whatever the key type.
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
    // SQL: IDENTIFIED BY 'x', MASTER_PASSWORD = 'x' (quoted, with escapes).
    r#"(?i)(IDENTIFIED\s+BY\s+(?:PASSWORD\s+)?)'(?:[^'\\]|\\.)*'"#,
    r#"(?i)((?:MASTER_|SOURCE_)?PASSWORD\s*=\s*)'(?:[^'\\]|\\.)*'"#,
    r#"(?i)((?:MASTER_|SOURCE_)?PASSWORD\s*=\s*)"(?:[^"\\]|\\.)*""#,
    // Shell and env style: PASSWORD=x, DB_PASSWORD=x, password: x.
    r#"(?i)(\b[A-Z0-9_]*PASSW(?:OR)?D\s*[=:]\s*)[^\s'"\x{E000}][^\s]*"#,
    // HTTP bearer tokens.
    r"(?i)(\bBearer\s+)[A-Za-z0-9\-._~+/]+=*",
];

#[derive(Debug, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
    patterns: Vec<Regex>,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(&[]).unwrap_or_else(|_| Redactor {
            secrets: vec![],
            patterns: vec![],
        })
    }
}

impl Redactor {
    /// The default patterns plus `extra` (from `settings.redact_patterns`).
    pub fn new(extra: &[String]) -> Result<Redactor, regex::Error> {
        let patterns = DEFAULT_PATTERNS
            .iter()
            .map(|p| p.to_string())
            .chain(extra.iter().cloned())
            .map(|p| Regex::new(&p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Redactor {
            secrets: vec![],
            patterns,
        })
    }

    /// Adds a literal secret (a `secret` input's value).
    pub fn add_secret(&mut self, secret: &str) {
        if !secret.is_empty() && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            // Longest first, so a secret containing another is removed whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    pub fn redact(&self, text: &str) -> String {
        // Work with a sentinel no pattern matches, so that one pattern cannot
        // eat what another already redacted; spell it out at the end.
        let mut out = text.replace(SENTINEL, "\u{fffd}");
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), SENTINEL);
            }
        }
        for pattern in &self.patterns {
            if pattern.is_match(&out) {
                out = pattern
                    .replace_all(&out, |caps: &regex::Captures| {
                        format!("{}{SENTINEL}", caps.get(1).map(|m| m.as_str()).unwrap_or(""))
                    })
                    .into_owned();
            }
        }
        out.replace(SENTINEL, REDACTED)
    }

    /// Redacts every string (keys included) inside a JSON value.
    pub fn redact_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.redact(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            Value::Object(map) => {
                let entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                for (key, mut v) in entries {
                    self.redact_value(&mut v);
                    map.insert(self.redact(&key), v);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_passwords_are_redacted_but_the_statement_stays_readable() {
        let r = Redactor::default();
        assert_eq!(
            r.redact("CHANGE MASTER 'pessicart' TO MASTER_PASSWORD='s3cr\\'et', MASTER_LOG_POS=4"),
            "CHANGE MASTER 'pessicart' TO MASTER_PASSWORD=[redacted], MASTER_LOG_POS=4"
        );
        assert_eq!(
            r.redact("CREATE USER 'repl'@'%' IDENTIFIED BY 'hunter2';"),
            "CREATE USER 'repl'@'%' IDENTIFIED BY [redacted];"
        );
    }

    #[test]
    fn env_style_tokens_and_keys() {
        let r = Redactor::default();
        assert_eq!(
            r.redact("export DB_PASSWORD=abc123 next"),
            "export DB_PASSWORD=[redacted] next"
        );
        assert_eq!(r.redact("password: hunter2"), "password: [redacted]");
        assert_eq!(
            r.redact("Authorization: Bearer eyJhbGciOi.x-y_z=="),
            "Authorization: Bearer [redacted]"
        );
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\nrest";
        assert_eq!(r.redact(key), "[redacted]\nrest");
        // A key block cut short by an output cap is still removed.
        assert_eq!(r.redact("x -----BEGIN RSA PRIVATE KEY-----\nMIIE"), "x [redacted]");
    }

    #[test]
    fn literal_secrets_everywhere_in_json() {
        let mut r = Redactor::default();
        r.add_secret("s3cret-value");
        let mut v = serde_json::json!({"output": "pw is s3cret-value!", "list": ["s3cret-value"], "s3cret-value": 1});
        r.redact_value(&mut v);
        let text = v.to_string();
        assert!(!text.contains("s3cret-value"), "{text}");
        assert!(text.contains("pw is [redacted]!"));
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let r = Redactor::default();
        let text = "Last_SQL_Errno: 1594\nRelay_Master_Log_File: mysql-bin.000042";
        assert_eq!(r.redact(text), text);
    }
}
