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
        // What is already `[redacted]` stays so: a secret like `act` must not
        // turn it into `[re[redacted]ed]`.
        let mut out = text.replace(SENTINEL, "\u{fffd}").replace(REDACTED, SENTINEL);
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

    /// Redacts an event's `data`: string values only, never a field name,
    /// a number or the structure, so that every event still reads back
    /// whole whatever the secret (`x`, `exit`, `"exit":0`). Fields that name
    /// things vigie or the playbook made (run, step, playbook ids...) are
    /// left alone: a short secret must not turn a step id into another.
    pub fn redact_data(&self, data: &mut Value) {
        match data {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    if !IDENTIFIER_FIELDS.contains(&key.as_str()) {
                        self.redact_strings(value);
                    }
                }
            }
            other => self.redact_strings(other),
        }
    }

    fn redact_strings(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.redact(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_strings(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.redact_strings(v)),
            _ => {}
        }
    }
}

/// Fields of event data whose values are identifiers, not free text.
const IDENTIFIER_FIELDS: &[&str] = &[
    "run",
    "step",
    "playbook",
    "occurrence",
    "code",
    "severity",
    "status",
    "outcome",
    "from",
    "to",
    "mark",
    "target",
    "kind",
];

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
    fn literal_secrets_in_every_string_value() {
        let mut r = Redactor::default();
        r.add_secret("s3cret-value");
        let mut v = serde_json::json!({"output": "pw is s3cret-value!", "list": ["s3cret-value"], "nested": {"a": "s3cret-value"}});
        r.redact_data(&mut v);
        let text = v.to_string();
        assert!(!text.contains("s3cret-value"), "{text}");
        assert!(text.contains("pw is [redacted]!"));
    }

    #[test]
    fn a_secret_inside_the_redaction_marker_leaves_the_marker_whole() {
        for secret in ["a", "act", "[red", "d]"] {
            let mut r = Redactor::default();
            r.add_secret(secret);
            assert_eq!(r.redact("pw=[redacted]"), "pw=[redacted]", "{secret}");
        }
    }

    #[test]
    fn short_or_json_looking_secrets_never_touch_names_numbers_or_ids() {
        for secret in ["x", "e", "exit", "\"exit\":0", "0", "true", "{", "one"] {
            let mut r = Redactor::default();
            r.add_secret(secret);
            let mut v = serde_json::json!({
                "exit": 0, "ms": 12, "ok": true, "run": "R1x", "step": "exit-one",
                "output": format!("said {secret}"), "captures": {"exit": "kept"}
            });
            r.redact_data(&mut v);
            assert_eq!(v["exit"], 0, "{secret}: {v}");
            assert_eq!(v["ms"], 12, "{secret}: {v}");
            assert_eq!(v["ok"], true, "{secret}: {v}");
            assert_eq!(
                (v["run"].as_str(), v["step"].as_str()),
                (Some("R1x"), Some("exit-one")),
                "{secret}"
            );
            assert!(v["captures"].get("exit").is_some(), "{secret}: {v}");
            assert!(
                !v["output"].as_str().unwrap().contains(&format!("said {secret}")),
                "{secret}: {v}"
            );
        }
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let r = Redactor::default();
        let text = "Last_SQL_Errno: 1594\nRelay_Master_Log_File: mysql-bin.000042";
        assert_eq!(r.redact(text), text);
    }
}
