//! What `dbsplit new` writes: the next version of a service and the migration file rendered
//! from `templates/migration.sql`. Pure: the caller passes the current time and the versions on
//! disk, and writes the file.

use std::borrow::Cow;
use std::path::Path;

use crate::manifest::Service;

/// The migration template dbsplit ships, with `{{placeholders}}`.
pub const TEMPLATE: &str = include_str!("../../templates/migration.sql");

/// Where a project keeps its own migration template, relative to the manifest's folder.
pub const PROJECT_TEMPLATE: &str = "templates/migration.sql";

/// The template `new` renders: the project's `templates/migration.sql` next to the manifest
/// when there is one, else [`TEMPLATE`].
pub fn template(manifest_dir: &Path) -> std::io::Result<Cow<'static, str>> {
    match std::fs::read_to_string(manifest_dir.join(PROJECT_TEMPLATE)) {
        Ok(text) => Ok(Cow::Owned(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cow::Borrowed(TEMPLATE)),
        Err(e) => Err(e),
    }
}

/// A UTC date and time, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix: i64,
}

impl Timestamp {
    /// The time now, per the system clock.
    pub fn now() -> Timestamp {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Timestamp { unix }
    }

    fn parts(self) -> (i64, u32, u32, u32, u32, u32) {
        let days = self.unix.div_euclid(86_400);
        let secs = self.unix.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, secs / 3600, secs / 60 % 60, secs % 60)
    }

    /// `YYYYMMDDHHMMSS`, the migration version of this second.
    pub fn version(self) -> u64 {
        let (y, mo, d, h, mi, s) = self.parts();
        let date = y.clamp(0, 9999) as u64 * 10_000 + u64::from(mo) * 100 + u64::from(d);
        date * 1_000_000 + u64::from(h) * 10_000 + u64::from(mi) * 100 + u64::from(s)
    }

    /// RFC 3339, `2025-01-02T03:04:05Z`.
    pub fn rfc3339(self) -> String {
        let (y, mo, d, h, mi, s) = self.parts();
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }

    /// The time a 14-digit version stands for, if it is a real UTC date and time.
    pub fn from_version(version: u64) -> Option<Timestamp> {
        let (date, time) = (version / 1_000_000, version % 1_000_000);
        let (y, mo, d) = (
            (date / 10_000) as i64,
            (date / 100 % 100) as u32,
            (date % 100) as u32,
        );
        let (h, mi, s) = (time / 10_000, time / 100 % 100, time % 100);
        let days = days_from_civil(y, mo, d)?;
        if h > 23 || mi > 59 || s > 59 {
            return None;
        }
        Some(Timestamp {
            unix: days * 86_400 + (h * 3600 + mi * 60 + s) as i64,
        })
    }
}

/// The version `new` gives the next migration: now, or one second after the newest existing
/// version when that is not older (two files made within one second, or a clock behind).
pub fn next_version(existing: impl IntoIterator<Item = u64>, now: Timestamp) -> Timestamp {
    let Some(newest) = existing.into_iter().max() else {
        return now;
    };
    if now.version() > newest {
        return now;
    }
    match Timestamp::from_version(newest) {
        Some(t) => Timestamp { unix: t.unix + 1 },
        // A version that is no real time (hand-written): the next second after now that is
        // greater still exists only far ahead, so step the clock until it is.
        None => {
            let mut t = now;
            while t.version() <= newest && t.version() < 99_991_231_235_959 {
                t.unix += 86_400;
            }
            t
        }
    }
}

/// Fills `template` for a new migration of `service`.
pub fn render(template: &str, service: &Service, name: &str, at: Timestamp) -> String {
    template
        .replace("{{service}}", &service.name)
        .replace("{{name}}", name)
        .replace("{{version}}", &at.version().to_string())
        .replace("{{created_at}}", &at.rfc3339())
        .replace("{{owner}}", &service.owner)
        .replace("{{schema}}", &service.schema)
        .replace("{{search_path}}", &service.search_path.join(", "))
}

/// Howard Hinnant's `civil_from_days`: a proleptic Gregorian date from days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The inverse of [`civil_from_days`], or `None` for a date that does not exist.
fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d == 0 || d > month_days[m as usize - 1] {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_utc_timestamps_and_round_trip() {
        let t = Timestamp {
            unix: 1_735_787_045,
        };
        assert_eq!(t.version(), 20250102030405);
        assert_eq!(t.rfc3339(), "2025-01-02T03:04:05Z");
        assert_eq!(Timestamp::from_version(20250102030405), Some(t));
        assert_eq!(
            Timestamp { unix: 951_782_400 }.rfc3339(),
            "2000-02-29T00:00:00Z"
        );
        for bad in [
            20250230000000,
            20251301000000,
            20250101240000,
            20250101006000,
        ] {
            assert_eq!(Timestamp::from_version(bad), None, "{bad}");
        }
    }

    #[test]
    fn next_version_is_strictly_greater_than_every_existing_one() {
        let now = Timestamp {
            unix: 1_735_787_045,
        };
        assert_eq!(next_version([], now), now);
        assert_eq!(next_version([20240101000000], now), now);
        // Made in the same second, or the clock is behind: one second later.
        assert_eq!(
            next_version([20250102030405], now).version(),
            20250102030406
        );
        assert_eq!(
            next_version([20250102235959], now).version(),
            20250103000000
        );
        // A version that is no real time.
        assert!(next_version([20250102999999], now).version() > 20250102999999);
    }
}
