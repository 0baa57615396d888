//! Protobuf body → Kubernetes JSON, driven by the schema table.

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::path::Path;
use crate::schema::{Card, Field, Message, Schema, Ty};
use crate::timefmt::{format_duration, format_rfc3339, GO_ZERO_TIME_UNIX};
use crate::wire::{Reader, WireError, WireType};
use crate::{DecodeError, MAGIC, MAX_DEPTH};

/// Decodes a Kubernetes protobuf body (`k8s\0` + `runtime.Unknown`) into
/// the object's JSON: `kind` and `apiVersion` first, then its fields with
/// their Kubernetes JSON names.
///
/// Fields Go's JSON encoder would omit (zero non-pointer `omitempty`
/// scalars, which the protobuf marshaller always writes) are omitted, so
/// the result matches what kubectl sends as JSON. Unknown field numbers are
/// skipped, as protobuf requires.
pub fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    let schema = Schema::get().map_err(|e| DecodeError::Schema(e.to_owned()))?;
    Decoder { schema }.body(body, 0)
}

struct Decoder {
    schema: &'static Schema,
}

/// The fields of the small fixed-shape messages (Unknown, TypeMeta, Time,
/// IntOrString, ...): numbers 1..=4, varint or length-delimited, last wins.
#[derive(Default)]
struct Small<'a> {
    varint: [Option<u64>; 5],
    bytes: [Option<&'a [u8]>; 5],
}

impl<'a> Small<'a> {
    fn read(buf: &'a [u8]) -> Result<Self, WireError> {
        let mut small = Small::default();
        let mut r = Reader::new(buf);
        while !r.is_empty() {
            let (num, wire) = r.key()?;
            let slot = usize::try_from(num).unwrap_or(usize::MAX);
            match (wire, small.varint.get_mut(slot), small.bytes.get_mut(slot)) {
                (WireType::Varint, Some(v), _) => *v = Some(r.varint()?),
                (WireType::Len, _, Some(b)) => *b = Some(r.len_delimited()?),
                _ => r.skip(wire)?,
            }
        }
        Ok(small)
    }

    fn int(&self, n: usize) -> u64 {
        self.varint.get(n).copied().flatten().unwrap_or(0)
    }

    fn text(&self, n: usize) -> Option<String> {
        self.bytes.get(n).copied().flatten().map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

fn malformed(path: &Path, msg: &Message, num: Option<u32>, reason: impl ToString) -> DecodeError {
    let at = match num {
        Some(n) => format!("{path} ({} field {n})", msg.name),
        None => format!("{path} ({})", msg.name),
    };
    DecodeError::Malformed { at, reason: reason.to_string() }
}

fn bad_value(path: &Path, reason: impl ToString) -> DecodeError {
    DecodeError::BadValue { at: path.to_string(), reason: reason.to_string() }
}

fn envelope_error(reason: impl ToString) -> DecodeError {
    DecodeError::Malformed { at: "runtime.Unknown envelope".into(), reason: reason.to_string() }
}

/// Go drops these from JSON for non-pointer `omitempty` fields.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

/// The JSON Go produces for a map value whose entry carried no value.
fn zero_json(ty: Ty) -> Value {
    match ty {
        Ty::Bool => Value::Bool(false),
        Ty::Int32 | Ty::Int64 | Ty::Double | Ty::IntOrString => Value::from(0),
        Ty::String | Ty::Bytes => Value::from(""),
        Ty::Quantity => Value::from("0"),
        Ty::Duration => Value::from("0s"),
        Ty::Message(_) => Value::Object(Map::new()),
        Ty::Time | Ty::MicroTime | Ty::RawJson => Value::Null,
    }
}

fn wire_of(ty: Ty) -> WireType {
    match ty {
        Ty::Bool | Ty::Int32 | Ty::Int64 => WireType::Varint,
        Ty::Double => WireType::Fixed64,
        _ => WireType::Len,
    }
}

impl Decoder {
    fn body(&self, body: &[u8], depth: usize) -> Result<Value, DecodeError> {
        let rest = body.strip_prefix(&MAGIC).ok_or(DecodeError::NoMagic)?;
        let unknown = Small::read(rest).map_err(envelope_error)?;
        let type_meta = unknown.bytes[1].map(Small::read).transpose().map_err(envelope_error)?;
        let type_meta = type_meta.unwrap_or_default();
        let api_version = type_meta.text(1).unwrap_or_default();
        let kind = type_meta.text(2).unwrap_or_default();
        let raw = unknown.bytes[2].unwrap_or_default();
        let encoding = unknown.text(3).unwrap_or_default();
        let content_type = unknown.text(4).unwrap_or_default();
        // Go leaves both empty for a plain protobuf object.
        if !encoding.is_empty() || !(content_type.is_empty() || crate::is_protobuf(&content_type)) {
            return Err(DecodeError::Unsupported { encoding, content_type });
        }
        let Some(root) = self.schema.root(&api_version, &kind) else {
            return Err(DecodeError::UnknownKind { api_version, kind });
        };
        let mut obj = Map::new();
        obj.insert("kind".into(), Value::String(kind));
        obj.insert("apiVersion".into(), Value::String(api_version));
        self.message(root, raw, &mut obj, &Path::ROOT, depth)?;
        Ok(Value::Object(obj))
    }

    fn message(
        &self,
        index: usize,
        buf: &[u8],
        out: &mut Map<String, Value>,
        path: &Path,
        depth: usize,
    ) -> Result<(), DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let msg = self
            .schema
            .message(index)
            .ok_or_else(|| DecodeError::Schema(format!("message index {index} out of range")))?;
        let mut r = Reader::new(buf);
        while !r.is_empty() {
            let (num, wire) = r.key().map_err(|e| malformed(path, msg, None, e))?;
            match msg.field(num) {
                Some(field) => self.field(msg, field, wire, &mut r, out, path, depth)?,
                None => r.skip(wire).map_err(|e| malformed(path, msg, Some(num), e))?,
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
    fn field(
        &self,
        msg: &Message,
        field: &Field,
        wire: WireType,
        r: &mut Reader,
        out: &mut Map<String, Value>,
        path: &Path,
        depth: usize,
    ) -> Result<(), DecodeError> {
        let fail = |e: WireError| malformed(path, msg, Some(field.num), e);
        let expect = |want: WireType| {
            if wire == want {
                Ok(())
            } else {
                Err(malformed(path, msg, Some(field.num), format!("wire type {wire}, schema wants {want}")))
            }
        };
        let Some(name) = field.json else {
            // Inline (embedded) struct: its fields are the parent's JSON keys.
            expect(WireType::Len)?;
            let Ty::Message(child) = field.ty else {
                return Err(DecodeError::Schema(format!("{} field {} inline but not a message", msg.name, field.num)));
            };
            let bytes = r.len_delimited().map_err(fail)?;
            return self.message(child, bytes, out, path, depth + 1);
        };
        let here = path.key(name);
        match field.card {
            Card::Single => {
                expect(wire_of(field.ty))?;
                let value = self.value(field.ty, r, &here, depth).map_err(|e| e.at(path, msg, field))?;
                if field.omit_zero && is_zero(&value) {
                    out.remove(name);
                    return Ok(());
                }
                // A repeated occurrence of a message field merges, as protobuf says.
                if let (Value::Object(new), Some(Value::Object(old))) = (&value, out.get_mut(name)) {
                    old.extend(new.clone());
                } else {
                    out.insert(name.to_owned(), value);
                }
            }
            Card::Repeated => {
                let mut items = match out.remove(name) {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                };
                if wire == WireType::Len && field.ty.packable() {
                    // Packed scalars: Go's Kubernetes types never send them,
                    // but any protobuf writer may.
                    let mut packed = Reader::new(r.len_delimited().map_err(fail)?);
                    while !packed.is_empty() {
                        let at = here.index(items.len());
                        items.push(self.value(field.ty, &mut packed, &at, depth).map_err(|e| e.at(path, msg, field))?);
                    }
                } else {
                    expect(wire_of(field.ty))?;
                    let at = here.index(items.len());
                    items.push(self.value(field.ty, r, &at, depth).map_err(|e| e.at(path, msg, field))?);
                }
                out.insert(name.to_owned(), Value::Array(items));
            }
            Card::Map => {
                expect(WireType::Len)?;
                let entry = r.len_delimited().map_err(fail)?;
                let (key, value) = self.map_entry(field.ty, entry, &here, depth).map_err(|e| e.at(path, msg, field))?;
                match out.get_mut(name) {
                    Some(Value::Object(map)) => {
                        map.insert(key, value);
                    }
                    _ => {
                        let mut map = Map::new();
                        map.insert(key, value);
                        out.insert(name.to_owned(), Value::Object(map));
                    }
                }
            }
        }
        Ok(())
    }

    fn map_entry(&self, ty: Ty, buf: &[u8], path: &Path, depth: usize) -> Result<(String, Value), Partial> {
        let mut r = Reader::new(buf);
        let mut key = String::new();
        let mut value = None;
        while !r.is_empty() {
            let (num, wire) = r.key()?;
            match num {
                1 if wire == WireType::Len => key = String::from_utf8_lossy(r.len_delimited()?).into_owned(),
                2 if wire == wire_of(ty) => value = Some(self.value(ty, &mut r, path, depth)?),
                1 | 2 => return Err(Partial::Wire(format!("map entry field {num} has wire type {wire}"))),
                _ => r.skip(wire)?,
            }
        }
        Ok((key, value.unwrap_or_else(|| zero_json(ty))))
    }

    /// Reads one value of `ty`; the caller has checked the wire type.
    fn value(&self, ty: Ty, r: &mut Reader, path: &Path, depth: usize) -> Result<Value, Partial> {
        Ok(match ty {
            Ty::Bool => Value::Bool(r.varint()? != 0),
            // Go truncates to the low 32 bits, so negative int32s round-trip.
            Ty::Int32 => Value::from(r.varint()? as i32),
            Ty::Int64 => Value::from(r.varint()? as i64),
            Ty::Double => json_float(f64::from_bits(r.fixed64()?))
                .ok_or_else(|| Partial::Done(bad_value(path, "NaN or infinite number has no JSON form")))?,
            Ty::String => Value::String(String::from_utf8_lossy(r.len_delimited()?).into_owned()),
            Ty::Bytes => Value::String(base64::engine::general_purpose::STANDARD.encode(r.len_delimited()?)),
            Ty::Message(index) => {
                let mut obj = Map::new();
                self.message(index, r.len_delimited()?, &mut obj, path, depth + 1)?;
                Value::Object(obj)
            }
            special => self.special(special, r.len_delimited()?, path, depth)?,
        })
    }

    /// The types Go marshals to JSON by hand.
    fn special(&self, ty: Ty, buf: &[u8], path: &Path, depth: usize) -> Result<Value, Partial> {
        let f = Small::read(buf)?;
        Ok(match ty {
            Ty::Time | Ty::MicroTime => {
                // An empty message is Go's zero time, which JSON writes as null.
                if buf.is_empty() {
                    return Ok(Value::Null);
                }
                let seconds = f.int(1) as i64;
                // Time keeps whole seconds only, as Go's unmarshaller does.
                let (seconds, nanos) = if ty == Ty::Time {
                    (seconds, 0)
                } else {
                    let total = i128::from(seconds) * 1_000_000_000 + i128::from(f.int(2) as i32);
                    let s = i64::try_from(total.div_euclid(1_000_000_000))
                        .map_err(|_| Partial::Done(bad_value(path, "time out of range")))?;
                    (s, total.rem_euclid(1_000_000_000) as u32)
                };
                if seconds == GO_ZERO_TIME_UNIX && nanos == 0 {
                    return Ok(Value::Null);
                }
                let micros = (ty == Ty::MicroTime).then_some(nanos / 1000);
                let text = format_rfc3339(seconds, micros)
                    .ok_or_else(|| Partial::Done(bad_value(path, "time outside years 0-9999")))?;
                Value::String(text)
            }
            Ty::Duration => Value::String(format_duration(f.int(1) as i64)),
            Ty::Quantity => Value::String(f.text(1).unwrap_or_else(|| "0".into())),
            Ty::IntOrString => match f.int(1) {
                0 => Value::from(f.int(2) as i32),
                1 => Value::String(f.text(3).unwrap_or_default()),
                other => {
                    return Err(Partial::Done(bad_value(path, format!("IntOrString type {other} is neither 0 nor 1"))))
                }
            },
            Ty::RawJson => match f.bytes[1] {
                None | Some([]) => Value::Null,
                // An embedded object may itself be protobuf (watch events).
                Some(raw) if raw.starts_with(&MAGIC) => self.body(raw, depth + 1)?,
                Some(raw) => serde_json::from_slice(raw)
                    .map_err(|e| Partial::Done(bad_value(path, format!("embedded JSON: {e}"))))?,
            },
            Ty::Bool | Ty::Int32 | Ty::Int64 | Ty::Double | Ty::String | Ty::Bytes | Ty::Message(_) => {
                return Err(Partial::Done(DecodeError::Schema(format!("{ty:?} is not a special type"))));
            }
        })
    }
}

/// Go writes integral floats without a fraction (`1`, not `1.0`).
fn json_float(f: f64) -> Option<Value> {
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        return Some(Value::from(f as i64));
    }
    Number::from_f64(f).map(Value::Number)
}

/// An error from below a field: either finished, or wire trouble that the
/// field's caller turns into a located [`DecodeError::Malformed`].
enum Partial {
    Done(DecodeError),
    Wire(String),
}

impl From<WireError> for Partial {
    fn from(e: WireError) -> Self {
        Partial::Wire(e.to_string())
    }
}

impl From<DecodeError> for Partial {
    fn from(e: DecodeError) -> Self {
        Partial::Done(e)
    }
}

impl Partial {
    fn at(self, path: &Path, msg: &Message, field: &Field) -> DecodeError {
        match self {
            Partial::Done(e) => e,
            Partial::Wire(reason) => malformed(path, msg, Some(field.num), reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn zero_values_follow_go() {
        assert!(is_zero(&json!("")) && is_zero(&json!(0)) && is_zero(&json!(false)) && is_zero(&json!(0.0)));
        assert!(!is_zero(&json!(null)) && !is_zero(&json!({})) && !is_zero(&json!("0")));
        assert_eq!(json_float(2.0), Some(json!(2)));
        assert_eq!(json_float(0.5), Some(json!(0.5)));
        assert_eq!(json_float(f64::NAN), None);
    }
}
