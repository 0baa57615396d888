//! Kubernetes resource quantities (`100m`, `1.5`, `2Gi`, `1e3`): parsing
//! with Kubernetes' grammar and error messages, exact comparison, and the
//! canonical string the API server writes back (`1000` → `1k`,
//! `0.5Gi` → `512Mi`, `1.5` → `1500m`).
//!
//! Values are held as a signed count of nano-units, the finest precision
//! Kubernetes keeps; like Kubernetes, anything finer is rounded up away
//! from zero ("if you asked for some, you get some"). Magnitudes beyond
//! about 1.7e29 units saturate instead of switching to arbitrary precision.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde_json::Value;
use thiserror::Error;

/// Why a string is not a quantity; messages are Kubernetes' verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum QuantityError {
    /// The string does not follow the quantity grammar.
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    FormatWrong,
    /// The number part could not be read.
    #[error("unable to parse numeric part of quantity")]
    Numeric,
    /// The suffix is not one Kubernetes knows (`1K`, `1ki`, `1e`).
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// Which notation a quantity was written in; decides its canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `m`, `k`, `M`, ... or no suffix.
    DecimalSI,
    /// `Ki`, `Mi`, `Gi`, ...
    BinarySI,
    /// `e3`, `E-2`, ...
    DecimalExponent,
}

/// A parsed resource quantity.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;
const DECIMAL_SUFFIXES: [(&str, i32); 10] =
    [("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18)];
const BINARY_SUFFIXES: [(&str, u32); 6] = [("Ki", 10), ("Mi", 20), ("Gi", 30), ("Ti", 40), ("Pi", 50), ("Ei", 60)];

impl Quantity {
    /// Parses a quantity string exactly as `resource.ParseQuantity` does,
    /// including its leniencies (`"."`, `"-"` and `"1."` are accepted).
    pub fn parse(input: &str) -> Result<Self, QuantityError> {
        if input.is_empty() {
            return Err(QuantityError::FormatWrong);
        }
        let parts = split(input)?;
        let (base_two, exponent, format) = interpret_suffix(parts.suffix)?;
        let mut digits: String = String::with_capacity(parts.num.len() + parts.denom.len());
        digits.push_str(parts.num);
        digits.push_str(parts.denom);
        let denom_len = i64::try_from(parts.denom.len()).unwrap_or(i64::MAX);
        // Saturating: the exponent comes straight from the client ("1e9223372036854775807").
        let nano_scale = 9i64.saturating_sub(denom_len);
        let magnitude = if base_two {
            scaled_nanos(&digits, nano_scale, exponent)
        } else {
            scaled_nanos(&digits, nano_scale.saturating_add(exponent), 0)
        };
        let nanos = if parts.positive { magnitude } else { -magnitude };
        Ok(Quantity { nanos, format })
    }

    /// Reads a quantity from JSON the way Kubernetes' `UnmarshalJSON` does:
    /// strings (trimmed) and bare numbers are accepted, `null` is zero.
    pub fn from_json(value: &Value) -> Result<Self, QuantityError> {
        match value {
            Value::Null => Ok(Quantity::from_nanos(0, Format::DecimalSI)),
            Value::String(s) => Quantity::parse(s.trim()),
            Value::Number(n) => Quantity::parse(&n.to_string()),
            _ => Err(QuantityError::FormatWrong),
        }
    }

    /// A quantity of `nanos` billionths of a unit, shown in `format`.
    pub fn from_nanos(nanos: i128, format: Format) -> Self {
        Quantity { nanos, format }
    }

    /// A quantity of `millis` thousandths of a unit (e.g. millicores).
    pub fn from_millis(millis: i128) -> Self {
        Quantity::from_nanos(millis.saturating_mul(1_000_000), Format::DecimalSI)
    }

    /// The exact value in nano-units.
    pub fn as_nanos(&self) -> i128 {
        self.nanos
    }

    /// The value in milli-units, rounded away from zero like Kubernetes'
    /// `MilliValue()` (so `1n` of CPU is 1m, not 0).
    pub fn as_millis(&self) -> i128 {
        div_away_from_zero(self.nanos, 1_000_000)
    }

    /// The value in whole units, rounded away from zero like `Value()`.
    pub fn as_units(&self) -> i128 {
        div_away_from_zero(self.nanos, NANOS_PER_UNIT)
    }

    /// The notation the quantity was written in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// True for any spelling of zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// The canonical string as a JSON value, what the API server stores.
    pub fn to_json(&self) -> Value {
        Value::String(self.to_string())
    }

    /// Kubernetes' canonical spelling (`CanonicalizeBytes`).
    pub fn canonical(&self) -> String {
        self.to_string()
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let magnitude = self.nanos.unsigned_abs();
        let nanos_per_unit = NANOS_PER_UNIT.unsigned_abs();
        let mut format = self.format;
        if format == Format::BinarySI {
            // Small or fractional binary amounts would need rounding to be
            // shown in Ki/Mi, so Kubernetes falls back to decimal for them.
            if magnitude < 1024 * nanos_per_unit || !magnitude.is_multiple_of(nanos_per_unit) {
                format = Format::DecimalSI;
            }
        }
        if format == Format::BinarySI {
            let mut units = magnitude / nanos_per_unit;
            let mut power = 0;
            while power < BINARY_SUFFIXES.len() && units.is_multiple_of(1024) {
                units /= 1024;
                power += 1;
            }
            let suffix = power.checked_sub(1).and_then(|i| BINARY_SUFFIXES.get(i)).map(|(s, _)| *s).unwrap_or("");
            return write!(f, "{sign}{units}{suffix}");
        }
        let mut mantissa = magnitude;
        let mut exponent: i32 = -9;
        while mantissa.is_multiple_of(10) {
            mantissa /= 10;
            exponent += 1;
        }
        let down = exponent.rem_euclid(3);
        mantissa = mantissa.saturating_mul(10u128.pow(down.unsigned_abs()));
        exponent -= down;
        match format {
            Format::DecimalExponent => {
                if exponent == 0 {
                    write!(f, "{sign}{mantissa}")
                } else {
                    write!(f, "{sign}{mantissa}e{exponent}")
                }
            }
            _ => {
                // Beyond exa there is no SI suffix; fold the excess into the digits.
                while exponent > 18 {
                    mantissa = mantissa.saturating_mul(1000);
                    exponent -= 3;
                }
                let suffix = DECIMAL_SUFFIXES.iter().find(|(_, e)| *e == exponent).map(|(s, _)| *s).unwrap_or("");
                write!(f, "{sign}{mantissa}{suffix}")
            }
        }
    }
}

struct Parts<'a> {
    positive: bool,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

// Mirrors Kubernetes' hand-written scanner rather than its quoted regex:
// the scanner is what decides acceptance (it takes "1." and "." too).
fn split(input: &str) -> Result<Parts<'_>, QuantityError> {
    let bytes = input.as_bytes();
    let end = bytes.len();
    let slice = |a: usize, b: usize| input.get(a..b).unwrap_or_default();
    let mut pos = 0;
    let mut positive = true;
    match bytes.first() {
        Some(b'-') => {
            positive = false;
            pos += 1;
        }
        Some(b'+') => pos += 1,
        _ => {}
    }
    while bytes.get(pos) == Some(&b'0') {
        pos += 1;
    }
    let zero = Parts { positive, num: "0", denom: "", suffix: "" };
    if pos >= end {
        return Ok(zero);
    }
    let num_start = pos;
    while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
        pos += 1;
    }
    let mut num = slice(num_start, pos);
    if pos >= end {
        return Ok(Parts { num, ..zero });
    }
    if num.is_empty() {
        num = "0";
    }
    let mut denom = "";
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        let denom_start = pos;
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        denom = slice(denom_start, pos);
    }
    let suffix_start = pos;
    while bytes.get(pos).is_some_and(|b| b"eEinumkKMGTP".contains(b)) {
        pos += 1;
    }
    if matches!(bytes.get(pos), Some(b'-' | b'+')) {
        pos += 1;
    }
    while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
        pos += 1;
    }
    if pos < end {
        return Err(QuantityError::FormatWrong);
    }
    Ok(Parts { positive, num, denom, suffix: slice(suffix_start, end) })
}

// Returns (is_binary, exponent, format); binary exponents are powers of two.
fn interpret_suffix(suffix: &str) -> Result<(bool, i64, Format), QuantityError> {
    if let Some((_, e)) = DECIMAL_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Ok((false, i64::from(*e), Format::DecimalSI));
    }
    if let Some((_, e)) = BINARY_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Ok((true, i64::from(*e), Format::BinarySI));
    }
    let mut chars = suffix.chars();
    if suffix.len() > 1 && matches!(chars.next(), Some('e' | 'E')) {
        return chars
            .as_str()
            .parse::<i64>()
            .map(|e| (false, e, Format::DecimalExponent))
            .map_err(|_| QuantityError::Suffix);
    }
    Err(QuantityError::Suffix)
}

// |digits| * 2^pow2 * 10^pow10 in whole nanos, rounded up, saturating.
fn scaled_nanos(digits: &str, pow10: i64, pow2: i64) -> i128 {
    const MAX: u128 = i128::MAX as u128;
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return 0;
    }
    // Accumulate as many digits as u128 holds; any further digits only
    // scale the value up (saturating it) or, below a nano, force rounding up.
    let mut mantissa: u128 = 0;
    let mut dropped: usize = 0;
    let mut sticky = false;
    for b in significant.bytes() {
        let digit = u128::from(b.saturating_sub(b'0'));
        match mantissa.checked_mul(10).and_then(|m| m.checked_add(digit)) {
            Some(m) if dropped == 0 => mantissa = m,
            _ => {
                dropped += 1;
                sticky |= digit != 0;
            }
        }
    }
    let pow10 = pow10.saturating_add(i64::try_from(dropped).unwrap_or(i64::MAX));
    if pow2 > 0 {
        let shift = u32::try_from(pow2).unwrap_or(u32::MAX);
        mantissa = match 1u128.checked_shl(shift).and_then(|p| mantissa.checked_mul(p)) {
            Some(m) => m,
            None => return i128::MAX,
        };
    }
    let result = if pow10 >= 0 {
        let scale = u32::try_from(pow10).ok().and_then(|p| 10u128.checked_pow(p));
        match scale.and_then(|s| mantissa.checked_mul(s)) {
            Some(v) => v,
            None => return i128::MAX,
        }
    } else {
        match u32::try_from(pow10.unsigned_abs()).ok().and_then(|p| 10u128.checked_pow(p)) {
            Some(divisor) => {
                let q = mantissa / divisor;
                if !mantissa.is_multiple_of(divisor) || sticky {
                    q + 1
                } else {
                    q
                }
            }
            // Smaller than a nano but not zero: the minimum representable amount.
            None => 1,
        }
    };
    i128::try_from(result.min(MAX)).unwrap_or(i128::MAX)
}

fn div_away_from_zero(value: i128, divisor: i128) -> i128 {
    let q = value / divisor;
    if value % divisor == 0 {
        q
    } else if value > 0 {
        q + 1
    } else {
        q - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_values() {
        assert_eq!(q("100m").as_millis(), 100);
        assert_eq!(q("1.5").as_millis(), 1500);
        assert_eq!(q("2Gi").as_units(), 2 * 1024 * 1024 * 1024);
        assert_eq!(q("1e3").as_units(), 1000);
        assert_eq!(q("500Mi").as_units(), 500 * 1024 * 1024);
        assert_eq!(q("1k").as_units(), 1000);
        assert_eq!(q("1M").as_units(), 1_000_000);
        assert_eq!(q("1E").as_units(), 1_000_000_000_000_000_000);
        assert_eq!(q("1Ei").as_units(), 1 << 60);
        assert_eq!(q("5n").as_nanos(), 5);
        assert_eq!(q("7u").as_nanos(), 7000);
        assert_eq!(q("-1.5Gi").as_units(), -1_610_612_736);
        assert_eq!(q("+3").as_units(), 3);
        assert_eq!(q("1e-3").as_millis(), 1);
        assert_eq!(q("1E+3").as_units(), 1000);
        assert_eq!(q(".5").as_millis(), 500);
        assert_eq!(q("0.0000000001").as_nanos(), 1, "rounded up to the smallest unit");
        assert_eq!(q("1n").as_millis(), 1, "MilliValue rounds up");
        assert_eq!(q("0.0000000001Ki").as_nanos(), 103);
    }

    #[test]
    fn accepts_kubernetes_leniencies() {
        for zero in ["0", "00", "-0", "+0", "0.0", ".", "-", "0Gi", "0m", "0e9"] {
            assert!(q(zero).is_zero(), "{zero}");
        }
        assert_eq!(q("1.").as_units(), 1);
        assert_eq!(q("1.G").as_units(), 1_000_000_000);
    }

    #[test]
    fn rejects_with_kubernetes_messages() {
        let re = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
        for bad in ["", " 1", "1 ", "abc", "1.2.3", "1Gi5x", "1/2", "1,5", "Gi1x"] {
            assert_eq!(Quantity::parse(bad).map_err(|e| e.to_string()), Err(re.to_string()), "{bad:?}");
        }
        // The scanner accepts these shapes; only the suffix lookup fails.
        for bad in ["1K", "1ki", "1e", "1Mi5", "1iG", "1mm", "--1", "1e9999999999999999999"] {
            assert_eq!(Quantity::parse(bad), Err(QuantityError::Suffix), "{bad:?}");
        }
        assert_eq!(QuantityError::Suffix.to_string(), "unable to parse quantity's suffix");
    }

    #[test]
    fn canonical_forms_match_kubernetes() {
        let cases = [
            ("0", "0"),
            ("0Gi", "0"),
            ("1", "1"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("1.5", "1500m"),
            ("0.1", "100m"),
            ("100m", "100m"),
            ("1000m", "1"),
            ("1001m", "1001m"),
            ("1k", "1k"),
            ("1M", "1M"),
            ("1e3", "1e3"),
            ("1e1", "10"),
            ("12e2", "1200"),
            ("1.5e3", "1500"),
            ("1e-3", "1e-3"),
            ("1024Mi", "1Gi"),
            ("1Gi", "1Gi"),
            ("0.5Gi", "512Mi"),
            ("1.5Gi", "1536Mi"),
            ("1.5Ki", "1536"),
            ("1.1Ki", "1126400m"),
            ("512", "512"),
            ("0.5Ki", "512"),
            ("1Ki", "1Ki"),
            ("2048", "2048"),
            ("-1024Mi", "-1Gi"),
            ("-1.5", "-1500m"),
            ("5n", "5n"),
            ("1500u", "1500u"),
            ("1000000u", "1"),
            ("1E", "1E"),
            ("1000E", "1000E"),
            ("1Ei", "1Ei"),
            ("1024Ei", "1024Ei"),
        ];
        for (input, want) in cases {
            assert_eq!(q(input).to_string(), want, "{input}");
            assert_eq!(q(want).as_nanos(), q(input).as_nanos(), "{input} round trip");
        }
    }

    #[test]
    fn comparisons_ignore_notation() {
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("1"), q("1000m"));
        assert!(q("500m") < q("1"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("-1") < q("0"));
        let mut v = vec![q("2"), q("100m"), q("1Ki")];
        v.sort();
        assert_eq!(v, vec![q("100m"), q("2"), q("1Ki")]);
    }

    #[test]
    fn json_forms() {
        assert_eq!(Quantity::from_json(&json!("  2Gi ")).map(|q| q.as_units()), Ok(2 << 30));
        assert_eq!(Quantity::from_json(&json!(1.5)).map(|q| q.as_millis()), Ok(1500));
        assert_eq!(Quantity::from_json(&json!(3)).map(|q| q.as_units()), Ok(3));
        assert_eq!(Quantity::from_json(&Value::Null).map(|q| q.is_zero()), Ok(true));
        assert_eq!(Quantity::from_json(&json!(true)), Err(QuantityError::FormatWrong));
        assert_eq!(q("1000").to_json(), json!("1k"));
    }

    #[test]
    fn huge_values_saturate_instead_of_panicking() {
        assert_eq!(q("1e40").as_nanos(), i128::MAX);
        assert_eq!(q("99999999999999999999999999999999999999999999Ei").as_nanos(), i128::MAX);
        assert_eq!(q("-1e40").as_nanos(), -i128::MAX);
        assert_eq!(q("1e-40").as_nanos(), 1);
        assert_eq!(q("1e999999").as_nanos(), i128::MAX);
        assert_eq!(q("1e9223372036854775807").as_nanos(), i128::MAX);
        assert_eq!(q("1e-9223372036854775808").as_nanos(), 1);
        assert_eq!(q("0e9223372036854775807").as_nanos(), 0);
        assert!(!q("1e40").to_string().is_empty());
        assert_eq!(
            q("123456789012345678901234567890.123456789").as_nanos(),
            123_456_789_012_345_678_901_234_567_890_123_456_789,
            "39 significant digits still fit exactly"
        );
        assert_eq!(q("1234567890123456789012345678901.1").as_nanos(), i128::MAX);
        assert_eq!(q("0.00000000000000000000000000000000000000000000001").as_nanos(), 1);
    }

    #[test]
    fn millis_round_away_from_zero() {
        assert_eq!(Quantity::from_nanos(-1, Format::DecimalSI).as_millis(), -1);
        assert_eq!(Quantity::from_millis(250).to_string(), "250m");
        assert_eq!(q("1.0000001").as_units(), 2);
    }
}
