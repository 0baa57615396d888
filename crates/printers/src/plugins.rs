//! The printer for skiff's own WasmPlugins.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::value::Obj;
use crate::{age, age_column, column, name_column, wide, Printer};

pub(crate) static WASMPLUGINS: Printer = Printer {
    columns: &[
        name_column(),
        column("World", "string", "The WIT world the plugin implements."),
        column("Type", "string", "Mutating or Validating, for admission plugins."),
        column("Revision", "integer", "The revision serving now."),
        column("Ready", "string", "Whether a version of the plugin is serving."),
        column("Reason", "string", "Why the newest spec is or is not serving."),
        age_column(),
        wide("Digest", "string", "The digest of the module serving now."),
    ],
    cells: wasmplugin,
};

fn wasmplugin(p: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let conditions = p.list(&["status", "conditions"]);
    let find = |t: &str| conditions.iter().copied().find(|c| c.str(&["type"]) == t);
    let ready = find("Ready");
    let degraded = find("Degraded").filter(|c| c.str(&["status"]) == "True");
    let reason = degraded.or(ready).map(|c| c.str(&["reason"])).unwrap_or("");
    let digest = p.opt_str(&["status", "activeDigest"]).unwrap_or("<none>");
    vec![
        Value::from(p.name()),
        Value::from(p.str(&["spec", "world"])),
        Value::from(p.opt_str(&["spec", "admission", "type"]).unwrap_or("<none>")),
        p.opt_int(&["status", "activeRevision"]).map(Value::from).unwrap_or(Value::Null),
        Value::from(ready.map(|c| c.str(&["status"])).unwrap_or("Unknown")),
        Value::from(reason),
        age(p, now),
        Value::from(digest.get(..19).unwrap_or(digest)),
    ]
}
