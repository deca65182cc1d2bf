//! The responders' time zone, for the report's local-time column: the
//! `timezone` of vigie.toml (an IANA name), else the machine's own.

use chrono::{DateTime, FixedOffset, Offset, Utc};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    /// A zone of the tz database: its offset follows daylight saving time.
    Named(chrono_tz::Tz),
    /// A fixed offset (the machine's when it names no zone; tests).
    Fixed(FixedOffset),
}

impl Zone {
    /// An IANA name (`Europe/Paris`, `UTC`); `None` if the database has no such zone.
    pub fn named(name: &str) -> Option<Zone> {
        chrono_tz::Tz::from_str(name.trim()).ok().map(Zone::Named)
    }

    /// The machine's zone: `$TZ`, else `/etc/timezone`, else where
    /// `/etc/localtime` points in the zoneinfo tree, else its current offset.
    pub fn machine() -> Zone {
        let from_env = std::env::var("TZ")
            .ok()
            .map(|tz| tz.trim_start_matches(':').to_string());
        let from_file = || std::fs::read_to_string("/etc/timezone").ok();
        let from_link = || {
            let target = std::fs::read_link("/etc/localtime").ok()?;
            let target = target.to_string_lossy().into_owned();
            target.split_once("zoneinfo/").map(|(_, name)| name.to_string())
        };
        from_env
            .and_then(|name| Zone::named(&name))
            .or_else(|| from_file().and_then(|name| Zone::named(&name)))
            .or_else(|| from_link().and_then(|name| Zone::named(&name)))
            .unwrap_or_else(|| Zone::Fixed(chrono::Local::now().offset().fix()))
    }

    /// The zone's offset at `at`.
    pub fn offset_at(&self, at: DateTime<Utc>) -> FixedOffset {
        match self {
            Zone::Named(tz) => at.with_timezone(tz).offset().fix(),
            Zone::Fixed(offset) => *offset,
        }
    }

    /// `at` as a wall clock there: `20:30:12`.
    pub fn clock(&self, at: DateTime<Utc>) -> String {
        self.local(at).format("%H:%M:%S").to_string()
    }

    /// `at` there, with its date and offset.
    pub fn local(&self, at: DateTime<Utc>) -> DateTime<FixedOffset> {
        at.with_timezone(&self.offset_at(at))
    }

    /// `time` on today's date there; `None` for a wall-clock time that
    /// daylight saving time skips or repeats today.
    pub fn today_at(&self, time: chrono::NaiveTime) -> Option<DateTime<Utc>> {
        self.at_local(self.local(Utc::now()).date_naive().and_time(time))
    }

    /// A wall-clock date and time there; `None` when daylight saving time
    /// skips or repeats it.
    pub fn at_local(&self, local: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            Zone::Named(tz) => local.and_local_timezone(*tz).single().map(|t| t.with_timezone(&Utc)),
            Zone::Fixed(offset) => local
                .and_local_timezone(*offset)
                .single()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// The column's name: `Europe/Paris`, or `UTC+01:00` for a bare offset.
    pub fn name(&self) -> String {
        match self {
            Zone::Named(tz) => tz.name().to_string(),
            Zone::Fixed(offset) => format!("UTC{offset}"),
        }
    }

    /// The zone is UTC itself: a local column would only repeat UTC.
    pub fn is_utc(&self) -> bool {
        match self {
            Zone::Named(tz) => matches!(
                tz.name(),
                "UTC"
                    | "Etc/UTC"
                    | "Etc/UCT"
                    | "UCT"
                    | "Etc/Zulu"
                    | "Zulu"
                    | "Universal"
                    | "Etc/Universal"
                    | "GMT"
                    | "Etc/GMT"
            ),
            Zone::Fixed(offset) => offset.local_minus_utc() == 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_named_zone_follows_daylight_saving_time() {
        let paris = Zone::named("Europe/Paris").unwrap();
        let winter = Utc.with_ymd_and_hms(2026, 11, 23, 19, 30, 12).unwrap();
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 19, 30, 12).unwrap();
        assert_eq!(paris.clock(winter), "20:30:12");
        assert_eq!(paris.clock(summer), "21:30:12");
        assert_eq!(paris.name(), "Europe/Paris");
        assert!(!paris.is_utc());
        assert!(Zone::named("UTC").unwrap().is_utc());
        assert_eq!(Zone::named("Mars/Olympus"), None);
    }
}
