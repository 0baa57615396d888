//! Kubernetes JSON → protobuf body, driven by the schema table.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::path::Path;
use crate::schema::{Card, Schema, Ty};
use crate::timefmt::{parse_duration, parse_rfc3339, GO_ZERO_TIME_UNIX};
use crate::wire::Writer;
use crate::{EncodeError, MAGIC, MAX_DEPTH};

/// Encodes a Kubernetes JSON object as a protobuf body (`k8s\0` +
/// `runtime.Unknown`), choosing the message from `apiVersion` and `kind`.
///
/// Absent and `null` fields are not written (Go reads them as zero values);
/// JSON keys the schema does not know are ignored, as a Go client would
/// never have seen them. Fields are written in field-number order and map
/// entries sorted by key, like Go's marshaller.
pub fn encode(value: &Value) -> Result<Vec<u8>, EncodeError> {
    let schema = Schema::get().map_err(|e| EncodeError::Schema(e.to_owned()))?;
    let obj = value.as_object().ok_or(EncodeError::NotAnObject)?;
    let text = |key: &'static str| obj.get(key).and_then(Value::as_str).ok_or(EncodeError::MissingTypeMeta(key));
    let (api_version, kind) = (text("apiVersion")?, text("kind")?);
    let root = schema
        .root(api_version, kind)
        .ok_or_else(|| EncodeError::UnknownKind { api_version: api_version.into(), kind: kind.into() })?;

    let mut raw = Vec::new();
    Encoder { schema }.message(root, obj, &mut raw, &Path::ROOT, 0)?;

    let mut type_meta = Vec::new();
    let mut w = Writer { buf: &mut type_meta };
    w.bytes_field(1, api_version.as_bytes());
    w.bytes_field(2, kind.as_bytes());

    let mut out = MAGIC.to_vec();
    let mut w = Writer { buf: &mut out };
    w.bytes_field(1, &type_meta);
    w.bytes_field(2, &raw);
    // contentEncoding and contentType: empty means plain protobuf; Go writes both.
    w.bytes_field(3, b"");
    w.bytes_field(4, b"");
    Ok(out)
}

struct Encoder {
    schema: &'static Schema,
}

fn wrong(path: &Path, expected: &'static str) -> EncodeError {
    EncodeError::WrongType { at: path.to_string(), expected }
}

fn bad(path: &Path, reason: impl ToString) -> EncodeError {
    EncodeError::BadValue { at: path.to_string(), reason: reason.to_string() }
}

impl Encoder {
    fn message(
        &self,
        index: usize,
        obj: &Map<String, Value>,
        out: &mut Vec<u8>,
        path: &Path,
        depth: usize,
    ) -> Result<(), EncodeError> {
        if depth >= MAX_DEPTH {
            return Err(EncodeError::TooDeep);
        }
        let msg = self
            .schema
            .message(index)
            .ok_or_else(|| EncodeError::Schema(format!("message index {index} out of range")))?;
        for field in &msg.fields {
            let Some(name) = field.json else {
                // Inline struct: built from the parent's own keys. Go always
                // writes these (they are never pointers), even when empty.
                if let Ty::Message(child) = field.ty {
                    let mut buf = Vec::new();
                    self.message(child, obj, &mut buf, path, depth + 1)?;
                    Writer { buf: out }.bytes_field(field.num, &buf);
                }
                continue;
            };
            let Some(value) = obj.get(name) else {
                continue;
            };
            // A null time is Go's zero time, which Go writes as an empty
            // message (`creationTimestamp: null` in every kubectl body).
            if value.is_null() && !(field.card == Card::Single && matches!(field.ty, Ty::Time | Ty::MicroTime)) {
                continue;
            }
            let here = path.key(name);
            match field.card {
                Card::Single => self.value(field.num, field.ty, value, out, &here, depth)?,
                Card::Repeated => {
                    let items = value.as_array().ok_or_else(|| wrong(&here, "an array"))?;
                    for (i, item) in items.iter().enumerate() {
                        self.value(field.num, field.ty, item, out, &here.index(i), depth)?;
                    }
                }
                Card::Map => {
                    let map = value.as_object().ok_or_else(|| wrong(&here, "an object"))?;
                    let mut entries: Vec<_> = map.iter().collect();
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                    for (key, item) in entries {
                        let mut entry = Vec::new();
                        Writer { buf: &mut entry }.bytes_field(1, key.as_bytes());
                        self.value(2, field.ty, item, &mut entry, &here.key(key), depth)?;
                        Writer { buf: out }.bytes_field(field.num, &entry);
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes one value as field `num`. `null` (e.g. a list element) becomes
    /// the type's zero value, as Go's JSON decoder would make it.
    fn value(
        &self,
        num: u32,
        ty: Ty,
        value: &Value,
        out: &mut Vec<u8>,
        path: &Path,
        depth: usize,
    ) -> Result<(), EncodeError> {
        if value.is_null() {
            let mut w = Writer { buf: out };
            match ty {
                Ty::Bool | Ty::Int32 | Ty::Int64 => w.varint_field(num, 0),
                Ty::Double => w.fixed64_field(num, 0),
                _ => w.bytes_field(num, b""),
            }
            return Ok(());
        }
        match ty {
            Ty::Bool => {
                let b = value.as_bool().ok_or_else(|| wrong(path, "true or false"))?;
                Writer { buf: out }.varint_field(num, u64::from(b));
            }
            Ty::Int32 => {
                let n = value
                    .as_i64()
                    .filter(|n| i32::try_from(*n).is_ok())
                    .ok_or_else(|| wrong(path, "a 32-bit integer"))?;
                // Negative values are sign-extended to ten bytes, as Go does.
                Writer { buf: out }.varint_field(num, n as u64);
            }
            Ty::Int64 => {
                let n = value.as_i64().ok_or_else(|| wrong(path, "a 64-bit integer"))?;
                Writer { buf: out }.varint_field(num, n as u64);
            }
            Ty::Double => {
                let f = value.as_f64().ok_or_else(|| wrong(path, "a number"))?;
                Writer { buf: out }.fixed64_field(num, f.to_bits());
            }
            Ty::String => {
                let s = value.as_str().ok_or_else(|| wrong(path, "a string"))?;
                Writer { buf: out }.bytes_field(num, s.as_bytes());
            }
            Ty::Bytes => {
                let s = value.as_str().ok_or_else(|| wrong(path, "a base64 string"))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| bad(path, format!("invalid base64: {e}")))?;
                Writer { buf: out }.bytes_field(num, &bytes);
            }
            Ty::Message(index) => {
                let obj = value.as_object().ok_or_else(|| wrong(path, "an object"))?;
                let mut buf = Vec::new();
                self.message(index, obj, &mut buf, path, depth + 1)?;
                Writer { buf: out }.bytes_field(num, &buf);
            }
            special => {
                let buf = special_message(special, value, path)?;
                Writer { buf: out }.bytes_field(num, &buf);
            }
        }
        Ok(())
    }
}

/// The body of a Time, MicroTime, Duration, Quantity, IntOrString,
/// RawExtension or FieldsV1 message.
fn special_message(ty: Ty, value: &Value, path: &Path) -> Result<Vec<u8>, EncodeError> {
    let mut buf = Vec::new();
    let mut w = Writer { buf: &mut buf };
    match ty {
        Ty::Time | Ty::MicroTime => {
            let s = value.as_str().ok_or_else(|| wrong(path, "an RFC 3339 time string"))?;
            let (seconds, nanos) =
                parse_rfc3339(s).ok_or_else(|| bad(path, format!("{s:?} is not an RFC 3339 time")))?;
            // Go's zero time marshals as an empty message.
            if seconds != GO_ZERO_TIME_UNIX || nanos != 0 {
                w.varint_field(1, seconds as u64);
                // Time carries whole seconds only; Go writes nanos as 0.
                let nanos = if ty == Ty::Time { 0 } else { nanos };
                w.varint_field(2, u64::from(nanos));
            }
        }
        Ty::Duration => {
            let s = value.as_str().ok_or_else(|| wrong(path, "a duration string"))?;
            let ns = parse_duration(s).ok_or_else(|| bad(path, format!("{s:?} is not a Go duration")))?;
            w.varint_field(1, ns as u64);
        }
        Ty::Quantity => {
            // Go accepts a bare JSON number for a quantity too.
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(wrong(path, "a quantity string")),
            };
            w.bytes_field(1, text.as_bytes());
        }
        Ty::IntOrString => match value {
            Value::String(s) => {
                w.varint_field(1, 1);
                w.varint_field(2, 0);
                w.bytes_field(3, s.as_bytes());
            }
            Value::Number(n) => {
                let n = n
                    .as_i64()
                    .filter(|n| i32::try_from(*n).is_ok())
                    .ok_or_else(|| wrong(path, "a 32-bit integer or a string"))?;
                w.varint_field(1, 0);
                w.varint_field(2, n as u64);
                w.bytes_field(3, b"");
            }
            _ => return Err(wrong(path, "an integer or a string")),
        },
        Ty::RawJson => {
            let bytes = serde_json::to_vec(value).map_err(|e| bad(path, e))?;
            w.bytes_field(1, &bytes);
        }
        Ty::Bool | Ty::Int32 | Ty::Int64 | Ty::Double | Ty::String | Ty::Bytes | Ty::Message(_) => {
            return Err(EncodeError::Schema(format!("{ty:?} is not a special type")));
        }
    }
    Ok(buf)
}
