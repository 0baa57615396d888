//! Elapsed-time rendering identical to k8s.io/apimachinery `duration.HumanDuration`,
//! which every AGE-like column goes through.

use chrono::{DateTime, TimeDelta, Utc};

/// About two to three significant figures: "45s", "3m2s", "10m", "4h5m", "30h", "3d4h",
/// "100d", "2y100d", "9y".
#[must_use]
pub fn human_duration(d: TimeDelta) -> String {
    // Truncation toward zero matches Go's int(d.Seconds()); up to a second of clock
    // skew into the future still reads as "0s", more is flagged.
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d.num_minutes();
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.num_hours();
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

/// The printers' `translateTimestampSince`: "<unknown>" for an unset time.
pub(crate) fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => human_duration(now.signed_duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: i64) -> String {
        human_duration(TimeDelta::seconds(n))
    }

    #[test]
    fn seconds_up_to_two_minutes() {
        assert_eq!(secs(0), "0s");
        assert_eq!(secs(5), "5s");
        assert_eq!(secs(59), "59s");
        assert_eq!(secs(60), "60s");
        assert_eq!(secs(119), "119s");
    }

    #[test]
    fn small_clock_skew_reads_as_now() {
        assert_eq!(human_duration(TimeDelta::milliseconds(-500)), "0s");
        assert_eq!(human_duration(TimeDelta::milliseconds(-1999)), "0s");
        assert_eq!(secs(-2), "<invalid>");
    }

    #[test]
    fn minutes_with_seconds_below_ten_minutes() {
        assert_eq!(secs(120), "2m");
        assert_eq!(secs(182), "3m2s");
        assert_eq!(secs(599), "9m59s");
        assert_eq!(secs(600), "10m");
        assert_eq!(secs(3 * 3600 - 1), "179m");
    }

    #[test]
    fn hours_with_minutes_below_eight_hours() {
        assert_eq!(secs(3 * 3600), "3h");
        assert_eq!(secs(4 * 3600 + 5 * 60 + 59), "4h5m");
        assert_eq!(secs(8 * 3600 - 1), "7h59m");
        assert_eq!(secs(8 * 3600), "8h");
        assert_eq!(secs(47 * 3600 + 3599), "47h");
    }

    #[test]
    fn days_with_hours_below_eight_days() {
        assert_eq!(secs(48 * 3600), "2d");
        assert_eq!(secs((3 * 24 + 4) * 3600), "3d4h");
        assert_eq!(secs((7 * 24 + 23) * 3600), "7d23h");
        assert_eq!(secs(8 * 24 * 3600), "8d");
        assert_eq!(secs((2 * 365 * 24 - 1) * 3600), "729d");
    }

    #[test]
    fn years() {
        let day = 24 * 3600;
        assert_eq!(secs(2 * 365 * day), "2y");
        assert_eq!(secs((2 * 365 + 100) * day), "2y100d");
        assert_eq!(secs((8 * 365 - 1) * day), "7y364d");
        assert_eq!(secs(8 * 365 * day), "8y");
        assert_eq!(secs(20 * 365 * day + 40 * day), "20y");
    }

    #[test]
    fn unset_time_is_unknown() {
        assert_eq!(since(None, DateTime::<Utc>::UNIX_EPOCH), "<unknown>");
    }
}
