//! Numbers as tools actually write them. The parsers of software that
//! cannot run here (Proxmox, ESXi, Xen) are tested on synthetic fixtures
//! only, so they read what they need by name, ignore the rest, and take a
//! number whether it comes as `12`, `12.0`, `"12"` or `true`.

use serde::{Deserialize, Deserializer};

fn number(value: serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// An optional count or size (negative or unreadable: none).
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(value.and_then(number).filter(|n| *n >= 0.0).map(|n| n as u64))
}

/// An optional signed number (a unix time).
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(value.and_then(number).map(|n| n as i64))
}

/// A count, zero when absent or unreadable.
pub fn u32_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(opt_u64(d)?.map(|n| n.min(u32::MAX as u64) as u32).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Sample {
        #[serde(default, deserialize_with = "opt_u64")]
        size: Option<u64>,
        #[serde(default, deserialize_with = "u32_or_zero")]
        count: u32,
    }

    #[test]
    fn numbers_as_tools_write_them() {
        for text in [
            r#"{"size": 12, "count": 3}"#,
            r#"{"size": "12", "count": "3"}"#,
            r#"{"size": 12.0, "count": 3.0, "other": [1]}"#,
        ] {
            let sample: Sample = serde_json::from_str(text).unwrap();
            assert_eq!((sample.size, sample.count), (Some(12), 3), "{text}");
        }
        let sample: Sample = serde_json::from_str(r#"{"size": null, "count": "x"}"#).unwrap();
        assert_eq!((sample.size, sample.count), (None, 0));
        let sample: Sample = serde_json::from_str("{}").unwrap();
        assert_eq!((sample.size, sample.count), (None, 0));
    }
}
