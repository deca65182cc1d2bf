//! Putting values into probe scripts safely: every value is single-quoted,
//! so no path or name from vigie.toml can become code on the host.

/// `it's` → `'it'\''s'`: a POSIX shell word that is exactly `value`.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quoted_values_stay_literal_in_a_real_shell() {
        for value in [
            "plain",
            "with space",
            "it's",
            "$(touch /tmp/x)",
            "`id`",
            "a\nb",
            "'; rm -rf / #",
        ] {
            let script = format!("printf '%s' {}", quote(value));
            let request = crate::transport::CommandRequest::new(script, std::time::Duration::from_secs(5));
            let out = crate::transport::local::run(&request).await.unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), value);
        }
    }
}
