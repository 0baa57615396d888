//! `metadata.managedFields` entries: decoding with Kubernetes' checks,
//! encoding in Kubernetes' field and entry order, and manager identity.

use serde_json::{Map, Value};

use super::fieldset::{kind_name, FieldSet};
use super::ApplyError;

/// Which kind of write recorded an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A server-side apply.
    Apply,
    /// Any other write (create, update, patch).
    Update,
}

impl Operation {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `metadata.managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedFieldsEntry {
    /// The field manager's name.
    pub manager: String,
    /// Apply or Update.
    pub operation: Operation,
    /// The apiVersion the fields are expressed in.
    pub api_version: String,
    /// RFC 3339 time of the last change this entry recorded ("" if unknown).
    pub time: String,
    /// "" for the main resource, or the subresource ("status", "scale").
    pub subresource: String,
    /// The fields this manager owns.
    pub fields: FieldSet,
}

/// Kubernetes' limits on an entry (ValidateManagedFields).
const MAX_MANAGER_LEN: usize = 128;
const MAX_SUBRESOURCE_LEN: usize = 256;

impl ManagedFieldsEntry {
    /// Decodes one entry from its Kubernetes JSON shape.
    pub fn from_json(v: &Value) -> Result<Self, ApplyError> {
        entry_from_json(v, 0).map_err(ApplyError::Invalid)
    }

    /// Encodes the entry in Kubernetes' JSON shape and field order.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), Value::String(self.manager.clone()));
        m.insert("operation".into(), Value::String(self.operation.as_str().into()));
        m.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        if !self.time.is_empty() {
            m.insert("time".into(), Value::String(self.time.clone()));
        }
        m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), Value::String(self.subresource.clone()));
        }
        Value::Object(m)
    }

    /// Whether two entries are the same manager in Kubernetes' sense: name,
    /// operation and subresource, plus apiVersion for Update entries (an
    /// applier keeps one entry whatever version it applies in).
    pub(crate) fn same_manager(&self, other: &ManagedFieldsEntry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// Kubernetes' manager identifier (the JSON it keys managers by); the
    /// multi-conflict message sorts managers by it.
    pub(crate) fn identifier(&self) -> String {
        let mut m = Map::new();
        m.insert("manager".into(), Value::String(self.manager.clone()));
        m.insert("operation".into(), Value::String(self.operation.as_str().into()));
        if self.operation == Operation::Update {
            m.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        }
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), Value::String(self.subresource.clone()));
        }
        Value::Object(m).to_string()
    }

    /// The manager as conflict messages print it: `"kubectl" using apps/v1`
    /// for updaters, `"name"` alone for appliers.
    pub(crate) fn printed(&self) -> String {
        let mut s = Value::String(self.manager.clone()).to_string();
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {}", Value::String(self.subresource.clone()));
        }
        if self.operation == Operation::Update {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }
}

fn str_field<'a>(m: &'a Map<String, Value>, key: &str, i: usize) -> Result<&'a str, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(format!("managed fields entry {i}: {key} must be a string, got {}", kind_name(v))),
    }
}

fn entry_from_json(v: &Value, i: usize) -> Result<ManagedFieldsEntry, String> {
    let Value::Object(m) = v else {
        return Err(format!("managed fields entry {i} must be an object, got {}", kind_name(v)));
    };
    let operation = match str_field(m, "operation", i)? {
        "Apply" => Operation::Apply,
        "Update" => Operation::Update,
        _ => return Err("operation must be `Apply` or `Update`".to_string()),
    };
    let api_version = str_field(m, "apiVersion", i)?;
    if api_version.is_empty() {
        return Err("apiVersion must not be empty".to_string());
    }
    match str_field(m, "fieldsType", i)? {
        "FieldsV1" => {}
        "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
        other => {
            return Err(format!("invalid fieldsType {} in managed fields entry {i}", Value::String(other.to_string())))
        }
    }
    let manager = str_field(m, "manager", i)?;
    if manager.len() > MAX_MANAGER_LEN {
        return Err(format!(
            "metadata.managedFields[{i}].manager: Too long: may not be more than {MAX_MANAGER_LEN} bytes"
        ));
    }
    if manager.chars().any(char::is_control) {
        return Err(format!(
            "metadata.managedFields[{i}].manager: Invalid value: {}: must only contain printable characters",
            Value::String(manager.to_string())
        ));
    }
    let subresource = str_field(m, "subresource", i)?;
    if subresource.len() > MAX_SUBRESOURCE_LEN {
        return Err(format!(
            "metadata.managedFields[{i}].subresource: Too long: may not be more than {MAX_SUBRESOURCE_LEN} bytes"
        ));
    }
    let time = str_field(m, "time", i)?;
    if !time.is_empty() && !is_rfc3339(time) {
        return Err(format!(
            "managed fields entry {i}: time {} is not an RFC 3339 time",
            Value::String(time.to_string())
        ));
    }
    let fields = match m.get("fieldsV1") {
        None | Some(Value::Null) => FieldSet::new(),
        Some(f) => {
            FieldSet::from_fields_v1(f).map_err(|e| format!("error decoding set in managed fields entry {i}: {e}"))?
        }
    };
    Ok(ManagedFieldsEntry {
        manager: manager.to_string(),
        operation,
        api_version: api_version.to_string(),
        time: time.to_string(),
        subresource: subresource.to_string(),
        fields,
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, the form metav1.Time accepts.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &rest[1 + n..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// Decodes `metadata.managedFields` (null or absent = none). A later entry
/// for the same manager replaces an earlier one, as Kubernetes' decoding
/// into a map does.
pub fn decode_managed_fields(list: &Value) -> Result<Vec<ManagedFieldsEntry>, ApplyError> {
    let items = match list {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => {
            return Err(ApplyError::Invalid(format!("metadata.managedFields must be a list, got {}", kind_name(other))))
        }
    };
    let mut out: Vec<ManagedFieldsEntry> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let entry = entry_from_json(item, i).map_err(ApplyError::Invalid)?;
        match out.iter_mut().find(|e| e.same_manager(&entry)) {
            Some(slot) => *slot = entry,
            None => out.push(entry),
        }
    }
    Ok(out)
}

/// Encodes entries as `metadata.managedFields`, in Kubernetes' order.
pub fn encode_managed_fields(entries: &[ManagedFieldsEntry]) -> Value {
    let mut sorted: Vec<&ManagedFieldsEntry> = entries.iter().collect();
    sort_entries(&mut sorted);
    Value::Array(sorted.into_iter().map(ManagedFieldsEntry::to_json).collect())
}

/// Kubernetes' entry order: operation, time, manager, apiVersion,
/// subresource. RFC 3339 times in UTC compare correctly as strings, and an
/// entry without a time sorts first as Kubernetes' zero time does.
pub(crate) fn sort_entries<E: std::borrow::Borrow<ManagedFieldsEntry>>(entries: &mut [E]) {
    entries.sort_by(|p, q| {
        let (p, q) = (p.borrow(), q.borrow());
        p.operation
            .as_str()
            .cmp(q.operation.as_str())
            .then_with(|| p.time.cmp(&q.time))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
}
