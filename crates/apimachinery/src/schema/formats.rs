//! The string formats Kubernetes validates in custom objects (kube-openapi's
//! strfmt registry, limited to the names apiextensions keeps) and the
//! compilation of `pattern`s.
//!
//! Formats outside that list are stripped by Kubernetes rather than
//! refused, so a schema saying `format: foo` validates nothing; the same
//! happens here via [`is_supported`].

use std::net::IpAddr;
use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};

use crate::names;

// Format names are compared without dashes, as go-openapi normalises them.
const SUPPORTED: [&str; 24] = [
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
];

fn normalize(f: &str) -> String {
    f.replace('-', "")
}

/// Whether Kubernetes keeps (and so enforces) this string format.
pub(crate) fn is_supported(f: &str) -> bool {
    let n = normalize(f);
    SUPPORTED.contains(&n.as_str()) || n == "k8sshortname" || n == "k8slongname"
}

/// Patterns are RE2 in Kubernetes; Rust's regex crate shares its syntax and
/// linear-time guarantee. The size limit keeps a CRD author from making
/// every request compile a huge automaton.
pub(crate) fn compile_pattern(src: &str) -> Result<Regex, String> {
    RegexBuilder::new(src).size_limit(1 << 20).dfa_size_limit(1 << 20).build().map_err(|e| match e {
        regex::Error::Syntax(s) => s.lines().last().unwrap_or("").trim().to_string(),
        other => other.to_string(),
    })
}

macro_rules! rx {
    ($name:ident, $src:expr) => {
        static $name: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new($src).ok());
    };
}

rx!(RX_UUID, r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$");
rx!(RX_UUID3, r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$");
rx!(RX_UUID4, r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$");
rx!(RX_UUID5, r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$");
rx!(
    RX_HOSTNAME,
    r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$"
);
rx!(RX_BASE64, r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$");
rx!(RX_HEXCOLOR, r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$");
rx!(
    RX_RGBCOLOR,
    r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$"
);
rx!(RX_SSN, r"^\d{3}[- ]?\d{2}[- ]?\d{4}$");
rx!(
    RX_CREDITCARD,
    r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})$"
);
rx!(RX_BSON, r"^[0-9a-fA-F]{24}$");
rx!(RX_EMAIL, r"^(?:[^<>@\s]+@[^<>@\s]+\.?[^<>@\s]*|[^<>]*<[^<>@\s]+@[^<>@\s]+>)$");
rx!(RX_TIME, r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$");
rx!(RX_URI_SCHEME, r"^[a-zA-Z][a-zA-Z0-9+.\-]*:");
rx!(RX_DURATION_GO, r"^[-+]?(?:0|(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+)$");
rx!(
    RX_DURATION_WORDS,
    r"^(?:[0-9]+\s*(?:ns|us|µs|ms|s|m|h|d|w|nanoseconds?|microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?)\s*)+$"
);

fn matches(rx: &LazyLock<Option<Regex>>, s: &str) -> bool {
    rx.as_ref().is_some_and(|r| r.is_match(s))
}

/// Whether `s` is valid for the (supported) format `f`.
pub(crate) fn validates(f: &str, s: &str) -> bool {
    match normalize(f).as_str() {
        "bsonobjectid" => matches(&RX_BSON, s),
        "uri" => is_request_uri(s),
        "email" => matches(&RX_EMAIL, s),
        "hostname" => is_hostname(s),
        "ipv4" => s.parse::<IpAddr>().is_ok() && s.contains('.'),
        "ipv6" => s.parse::<IpAddr>().is_ok() && s.contains(':'),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "uuid" => matches(&RX_UUID, s),
        "uuid3" => matches(&RX_UUID3, s),
        "uuid4" => matches(&RX_UUID4, s),
        "uuid5" => matches(&RX_UUID5, s),
        "isbn" => is_isbn10(s) || is_isbn13(s),
        "isbn10" => is_isbn10(s),
        "isbn13" => is_isbn13(s),
        "creditcard" => is_credit_card(s),
        "ssn" => s.len() == 11 && matches(&RX_SSN, s),
        "hexcolor" => matches(&RX_HEXCOLOR, s),
        "rgbcolor" => matches(&RX_RGBCOLOR, s),
        "byte" => matches(&RX_BASE64, s),
        "date" => is_date(s),
        "datetime" => is_date_time(s),
        "duration" => matches(&RX_DURATION_GO, s) || matches(&RX_DURATION_WORDS, s),
        "k8sshortname" => names::is_dns1123_label(s).is_empty(),
        "k8slongname" => names::is_dns1123_subdomain(s).is_empty(),
        _ => true,
    }
}

fn is_hostname(s: &str) -> bool {
    matches(&RX_HOSTNAME, s) && s.len() <= 255 && s.split('.').all(|p| p.len() <= 63)
}

// Go's url.ParseRequestURI: an absolute URI or an absolute path, without
// spaces or control characters.
fn is_request_uri(s: &str) -> bool {
    if s.is_empty() || s.chars().any(|c| c.is_control() || c == ' ') {
        return false;
    }
    s.starts_with('/') || matches(&RX_URI_SCHEME, s)
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else { return false };
    let Ok(addr) = ip.parse::<IpAddr>() else { return false };
    if bits.is_empty()
        || bits.len() > 3
        || !bits.bytes().all(|b| b.is_ascii_digit())
        || (bits.len() > 1 && bits.starts_with('0'))
    {
        return false;
    }
    let max = if addr.is_ipv4() { 32 } else { 128 };
    bits.parse::<u32>().is_ok_and(|b| b <= max)
}

// Go's net.ParseMAC: 6, 8 or 20 octets as `xx:..`, `xx-..` or `xxxx.xxxx..`.
fn is_mac(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    for sep in [':', '-'] {
        let parts: Vec<&str> = s.split(sep).collect();
        if [6, 8, 20].contains(&parts.len()) && parts.iter().all(|p| hex(p, 2)) {
            return true;
        }
    }
    let parts: Vec<&str> = s.split('.').collect();
    [3, 4, 10].contains(&parts.len()) && parts.iter().all(|p| hex(p, 4))
}

fn strip_isbn(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace() && *c != '-').collect()
}

fn is_isbn10(s: &str) -> bool {
    let s = strip_isbn(s);
    let b = s.as_bytes();
    if b.len() != 10 || !b[..9].iter().all(u8::is_ascii_digit) || !(b[9].is_ascii_digit() || b[9] == b'X') {
        return false;
    }
    let mut sum = 0u32;
    for (i, c) in b.iter().enumerate() {
        let d = if *c == b'X' { 10 } else { u32::from(c - b'0') };
        sum += (i as u32 + 1) * d;
    }
    sum.is_multiple_of(11)
}

fn is_isbn13(s: &str) -> bool {
    let s = strip_isbn(s);
    let b = s.as_bytes();
    if b.len() != 13 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, c) in b[..12].iter().enumerate() {
        sum += u32::from(c - b'0') * if i % 2 == 0 { 1 } else { 3 };
    }
    (10 - sum % 10) % 10 == u32::from(b[12] - b'0')
}

fn is_credit_card(s: &str) -> bool {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if !matches(&RX_CREDITCARD, &digits) {
        return false;
    }
    let mut sum = 0;
    let mut double = false;
    for c in digits.bytes().rev() {
        let mut d = u32::from(c - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
    }
    sum % 10 == 0
}

/// RFC 3339 full-date with a real calendar day.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok()).flatten()
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else { return false };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

fn is_date_time(s: &str) -> bool {
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(time)) = (parts.next(), parts.next()) else { return false };
    if !is_date(date) {
        return false;
    }
    let Some(re) = RX_TIME.as_ref() else { return false };
    let Some(c) = re.captures(time) else { return false };
    let get = |i: usize| c.get(i).map(|m| m.as_str()).unwrap_or("");
    get(1) <= "23" && get(2) <= "59" && get(3) <= "59"
}
