//! Protobuf wire primitives: a bounds-checked reader over untrusted bytes and
//! an append-only writer. Nothing here knows about Kubernetes.

use std::fmt;

/// The four wire types Kubernetes uses; groups (3, 4) were never emitted by
/// its marshaller, so they are rejected rather than skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

impl WireType {
    pub(crate) fn bits(self) -> u64 {
        match self {
            WireType::Varint => 0,
            WireType::Fixed64 => 1,
            WireType::Len => 2,
            WireType::Fixed32 => 5,
        }
    }
}

impl fmt::Display for WireType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireType::Varint => "varint",
            WireType::Fixed64 => "64-bit",
            WireType::Len => "length-delimited",
            WireType::Fixed32 => "32-bit",
        })
    }
}

/// Why bytes could not be read; the caller adds where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireError {
    Truncated,
    VarintOverflow,
    FieldNumberZero,
    FieldNumberTooLarge,
    UnsupportedWireType(u8),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => f.write_str("input ends inside a field"),
            WireError::VarintOverflow => f.write_str("varint longer than 64 bits"),
            WireError::FieldNumberZero => f.write_str("field number 0"),
            WireError::FieldNumberTooLarge => f.write_str("field number above 2^29-1"),
            WireError::UnsupportedWireType(t) => write!(f, "unsupported wire type {t}"),
        }
    }
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.buf.len() {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.buf.split_first().ok_or(WireError::Truncated)?;
            self.buf = rest;
            // The tenth byte may only carry the top bit of a u64.
            if i == 9 && b > 1 {
                return Err(WireError::VarintOverflow);
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError::VarintOverflow)
    }

    pub(crate) fn fixed64(&mut self) -> Result<u64, WireError> {
        let bytes = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(a))
    }

    fn fixed32(&mut self) -> Result<u32, WireError> {
        let bytes = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(bytes);
        Ok(u32::from_le_bytes(a))
    }

    pub(crate) fn len_delimited(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| WireError::Truncated)?;
        self.take(n)
    }

    /// Reads a field key: (field number, wire type).
    pub(crate) fn key(&mut self) -> Result<(u32, WireType), WireError> {
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            5 => WireType::Fixed32,
            other => return Err(WireError::UnsupportedWireType(other as u8)),
        };
        let num = key >> 3;
        if num == 0 {
            return Err(WireError::FieldNumberZero);
        }
        let num = u32::try_from(num).ok().filter(|n| *n < (1 << 29)).ok_or(WireError::FieldNumberTooLarge)?;
        Ok((num, wire))
    }

    pub(crate) fn skip(&mut self, wire: WireType) -> Result<(), WireError> {
        match wire {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.fixed64().map(drop),
            WireType::Len => self.len_delimited().map(drop),
            WireType::Fixed32 => self.fixed32().map(drop),
        }
    }
}

/// Appends protobuf encodings to a byte vector.
pub(crate) struct Writer<'a> {
    pub(crate) buf: &'a mut Vec<u8>,
}

impl Writer<'_> {
    pub(crate) fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub(crate) fn key(&mut self, num: u32, wire: WireType) {
        self.varint((u64::from(num) << 3) | wire.bits());
    }

    pub(crate) fn varint_field(&mut self, num: u32, v: u64) {
        self.key(num, WireType::Varint);
        self.varint(v);
    }

    pub(crate) fn fixed64_field(&mut self, num: u32, v: u64) {
        self.key(num, WireType::Fixed64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn bytes_field(&mut self, num: u32, bytes: &[u8]) {
        self.key(num, WireType::Len);
        self.varint(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_extremes() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut buf = Vec::new();
            Writer { buf: &mut buf }.varint(v);
            assert_eq!(Reader::new(&buf).varint(), Ok(v));
        }
    }

    #[test]
    fn overlong_varint_is_rejected() {
        let buf = [0xff; 11];
        assert_eq!(Reader::new(&buf).varint(), Err(WireError::VarintOverflow));
        let buf = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(Reader::new(&buf).varint(), Err(WireError::VarintOverflow));
    }

    #[test]
    fn length_past_the_end_is_truncation() {
        assert_eq!(Reader::new(&[0x05, 1, 2]).len_delimited(), Err(WireError::Truncated));
        let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&huge).len_delimited(), Err(WireError::Truncated));
    }

    #[test]
    fn groups_and_field_zero_are_rejected() {
        assert_eq!(Reader::new(&[0x0b]).key(), Err(WireError::UnsupportedWireType(3)));
        assert_eq!(Reader::new(&[0x02]).key(), Err(WireError::FieldNumberZero));
    }
}
