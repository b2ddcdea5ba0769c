//! Event-time timestamps: Unix nanoseconds, shown as RFC 3339 UTC.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in event time, Unix nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The wall clock now (`SystemTime`), saturating outside the `i64` range: the one
    /// place anything in gpuwatch reads it.
    pub fn now() -> Self {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        Timestamp(since.map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)))
    }

    /// As OTLP's `time_unix_nano` (unsigned): 0 before 1970.
    pub fn unix_nanos_u64(self) -> u64 {
        u64::try_from(self.0).unwrap_or(0)
    }

    /// The nanoseconds within its second: the clock's fast-moving part, which spreads
    /// retries and scrapes as jitter.
    pub fn subsec_nanos(self) -> u64 {
        self.0.rem_euclid(1_000_000_000).unsigned_abs()
    }

    /// From OTLP's `time_unix_nano` (unsigned), saturating past the `i64` range (the
    /// year 2262).
    pub fn from_unix_nanos_u64(nanos: u64) -> Self {
        Timestamp(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    /// `d` later, saturating.
    pub fn saturating_add(self, d: std::time::Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        )
    }

    /// Nanoseconds from `earlier` to `self`: negative when `earlier` is later.
    pub fn nanos_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Seconds from `earlier` to `self`: negative when `earlier` is later.
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        self.nanos_since(earlier) as f64 / 1e9
    }

    pub fn from_unix_millis(ms: i64) -> Self {
        Timestamp(ms.saturating_mul(1_000_000))
    }

    pub fn unix_millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// RFC 3339 in UTC with second precision, e.g. `2026-11-28T10:00:00Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(1_000_000_000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        )
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC only).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let s = s.strip_suffix('Z')?;
        let (date, time) = s.split_once('T')?;
        let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
        let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
        let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
        let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
        let (h, mi, se) = (t.next()??, t.next()??, t.next()??);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let nanos = if frac.is_empty() {
            0
        } else {
            let digits: String = frac.chars().take(9).collect();
            let v: i64 = digits.parse().ok()?;
            v * 10_i64.pow(9 - digits.len() as u32)
        };
        let days = days_from_civil(y, mo, da);
        Some(Timestamp(
            ((days * 86_400 + h * 3600 + mi * 60 + se) * 1_000_000_000) + nanos,
        ))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 UTC time: {s}")))
    }
}

/// Serde for a `Timestamp` that travels whole, as integer Unix nanoseconds (a sample's
/// stamp), where the default is RFC 3339 to the second (what people read):
/// `#[serde(with = "gpuwatch_model::time::unix_nanos")]`.
pub mod unix_nanos {
    use super::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        i64::deserialize(d).map(Timestamp)
    }
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_times_convert_saturating_and_samples_keep_their_nanoseconds() {
        let t = Timestamp::from_unix_nanos_u64(1_795_860_000_123_456_789);
        assert_eq!(t.0, 1_795_860_000_123_456_789);
        assert_eq!(t.unix_nanos_u64(), 1_795_860_000_123_456_789);
        assert_eq!(Timestamp::from_unix_nanos_u64(u64::MAX).0, i64::MAX);
        assert_eq!(Timestamp(-5).unix_nanos_u64(), 0);
        let later = t.saturating_add(std::time::Duration::from_millis(1500));
        assert_eq!(later.seconds_since(t), 1.5);
        assert_eq!(t.nanos_since(later), -1_500_000_000);
        assert_eq!(
            Timestamp(i64::MAX).saturating_add(std::time::Duration::from_secs(1)),
            Timestamp(i64::MAX)
        );
        // A sample's stamp travels as integer nanoseconds, not RFC 3339's seconds.
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Stamped {
            #[serde(with = "unix_nanos")]
            at: Timestamp,
        }
        let json = serde_json::to_string(&Stamped { at: t }).expect("serializes");
        assert_eq!(json, r#"{"at":1795860000123456789}"#);
        let back: Stamped = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.at, t);
    }

    #[test]
    fn otlp_nanos_and_the_subsecond_part() {
        let t = Timestamp(1_764_320_000_123_456_789);
        assert_eq!(t.unix_nanos_u64(), 1_764_320_000_123_456_789);
        assert_eq!(t.subsec_nanos(), 123_456_789);
        assert_eq!(Timestamp(-1).unix_nanos_u64(), 0, "before 1970");
        assert_eq!(Timestamp(-1).subsec_nanos(), 999_999_999);
        assert!(Timestamp::now().unix_nanos_u64() > 1_700_000_000_000_000_000);
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        // 2026-11-28T10:00:00Z, from `date -u -d 2026-11-28T10:00:00Z +%s` = 1795860000.
        assert_eq!(
            Timestamp(1_795_860_000 * 1_000_000_000).to_rfc3339(),
            "2026-11-28T10:00:00Z"
        );
        // Leap day.
        assert_eq!(
            Timestamp(951_782_400 * 1_000_000_000).to_rfc3339(),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn parses_what_it_formats() {
        for secs in [0_i64, 951_782_400, 1_795_860_000, 4_102_444_799] {
            let t = Timestamp(secs * 1_000_000_000);
            assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        }
        assert_eq!(
            Timestamp::parse_rfc3339("1970-01-01T00:00:01.5Z"),
            Some(Timestamp(1_500_000_000))
        );
        assert_eq!(Timestamp::parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(Timestamp::parse_rfc3339("2026-11-28 10:00:00"), None);
    }
}
