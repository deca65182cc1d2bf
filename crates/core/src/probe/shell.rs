//! Putting values into probe scripts safely: every value is single-quoted,
//! so no path or name from vigie.toml can become code on the host.

/// `it's` → `'it'\''s'`: a POSIX shell word that is exactly `value`.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}
