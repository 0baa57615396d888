//! Printer for Events, served from both the core group and events.k8s.io.
//!
//! Kubernetes prints both through one internal type; events.k8s.io/v1 merely renames
//! fields (regarding, note, deprecatedFirstTimestamp ...), so each group supplies the
//! field names it uses.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::duration::since;
use crate::value::Obj;
use crate::{column, wide, Column, Printer, NAME_DESCRIPTION};

static COLUMNS: &[Column] = &[
    column("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
    column("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
    column("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    column("Object", "string", "The object that this event is about."),
    wide("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]."),
    wide("Source", "string", "The component reporting this event. Should be a short machine understandable string."),
    column("Message", "string", "A human-readable description of the status of this operation."),
    wide("First Seen", "string", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
    wide("Count", "string", "The number of times this event has occurred."),
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 1 },
];

pub(crate) static CORE_EVENTS: Printer = Printer { columns: COLUMNS, cells: core_event };
pub(crate) static EVENTS_K8S_IO: Printer = Printer { columns: COLUMNS, cells: events_k8s_io_event };

/// Where each printed field lives in one API version of Event.
struct Fields {
    involved_object: &'static str,
    message: &'static str,
    source: &'static str,
    first_timestamp: &'static str,
    last_timestamp: &'static str,
    count: &'static str,
}

fn core_event(e: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    event(
        e,
        now,
        &Fields {
            involved_object: "involvedObject",
            message: "message",
            source: "source",
            first_timestamp: "firstTimestamp",
            last_timestamp: "lastTimestamp",
            count: "count",
        },
    )
}

fn events_k8s_io_event(e: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    event(
        e,
        now,
        &Fields {
            involved_object: "regarding",
            message: "note",
            source: "deprecatedSource",
            first_timestamp: "deprecatedFirstTimestamp",
            last_timestamp: "deprecatedLastTimestamp",
            count: "deprecatedCount",
        },
    )
}

fn event(e: Obj<'_>, now: DateTime<Utc>, f: &Fields) -> Vec<Value> {
    // New-style events only carry eventTime; fall back to it for "first seen".
    let first_seen = match e.time(&[f.first_timestamp]) {
        Some(t) => since(Some(t), now),
        None => since(e.time(&["eventTime"]), now),
    };
    let mut last_seen = match e.time(&[f.last_timestamp]) {
        Some(t) => since(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = e.int(&[f.count]);
    if e.has(&["series"]) {
        last_seen = since(e.time(&["series", "lastObservedTime"]), now);
        count = e.int(&["series", "count"]);
    } else if count == 0 {
        // Singleton events don't set a count in the new API.
        count = 1;
    }

    let regarding = e.get(&[f.involved_object]);
    let kind = regarding.str(&["kind"]).to_lowercase();
    let object = match regarding.str(&["name"]) {
        "" => kind,
        name => format!("{kind}/{name}"),
    };

    let component = first_non_empty(e.str(&[f.source, "component"]), e.str(&["reportingController"]));
    let host = first_non_empty(e.str(&[f.source, "host"]), e.str(&["reportingInstance"]));
    let source = if host.is_empty() { component.to_string() } else { format!("{component}, {host}") };

    vec![
        Value::from(last_seen),
        Value::from(e.str(&["type"])),
        Value::from(e.str(&["reason"])),
        Value::from(object),
        Value::from(regarding.str(&["fieldPath"])),
        Value::from(source),
        Value::from(e.str(&[f.message]).trim()),
        Value::from(first_seen),
        Value::from(count),
        Value::from(e.name()),
    ]
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() {
        b
    } else {
        a
    }
}
