//! Numbers as a tired human reads them: sizes, ages.

pub fn human_kib(kib: u64) -> String {
    const UNITS: &[&str] = &["KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = kib as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 10.0 || unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub fn human_age(age: chrono::Duration) -> String {
    let seconds = age.num_seconds().max(0);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        3600..86400 => format!("{}h{:02}m", seconds / 3600, (seconds % 3600) / 60),
        _ => format!("{}d{:02}h", seconds / 86400, (seconds % 86400) / 3600),
    }
}

/// `1 event`, `3 events`: a count of timeline events, as a sentence says it.
pub fn events(count: usize) -> String {
    if count == 1 {
        "1 event".to_string()
    } else {
        format!("{count} events")
    }
}

/// A web address (`http://` or `https://`): what a report may show as a
/// link and an action item takes as its tracker.
pub fn is_web_address(text: &str) -> bool {
    text.starts_with("https://") || text.starts_with("http://")
}

/// A command's duration for humans: `38 ms`, `30.0 s`, `4m12s`.
pub fn human_ms(ms: i64) -> String {
    match ms {
        ..1000 => format!("{} ms", ms.max(0)),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => human_age(chrono::Duration::milliseconds(ms)),
    }
}

/// Bytes in decimal units, as storage vendors and `df -H` count: `230 GB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if value >= 10.0 || unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The longest duration vigie takes anywhere (timeouts, intervals, ages):
/// beyond it a value is a typo, and clocks and timers could overflow.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(366 * 24 * 3600);

/// The shortest: below it every timeout fires before anything could answer.
pub const MIN_DURATION: std::time::Duration = std::time::Duration::from_millis(10);

/// A duration as humans write it (`"5s"`, `"500ms"`, `"2m"`, `"26h"`):
/// not zero, and at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("invalid duration {text:?}: {e} (write e.g. \"5s\", \"500ms\", \"2m\")"))?;
    if duration.is_zero() {
        return Err(format!("{text:?}: a duration of zero is not allowed here"));
    }
    if duration < MIN_DURATION {
        return Err(format!(
            "{text:?} is shorter than 10ms: no connection, probe or step can finish that fast"
        ));
    }
    if duration > MAX_DURATION {
        return Err(format!(
            "{text:?} is longer than a year: write a duration vigie can wait for"
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_read_like_a_human_would_say_them() {
        assert_eq!(human_kib(512), "512 KiB");
        assert_eq!(human_kib(24684092), "24 GiB");
        assert_eq!(human_kib(1536), "1.5 MiB");
        assert_eq!(human_age(chrono::Duration::seconds(75)), "1m15s");
        assert_eq!(human_age(chrono::Duration::seconds(3 * 3600 + 120)), "3h02m");
        assert_eq!(human_bytes(230_000_000_000), "230 GB");
        assert_eq!(human_bytes(9_000_000_000), "9.0 GB");
        assert_eq!(human_age(chrono::Duration::seconds(3 * 3600 + 120)), "3h02m");
    }
}
