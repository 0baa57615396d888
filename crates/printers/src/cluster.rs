//! Printers for small cluster-infrastructure resources: Leases, PriorityClasses,
//! RuntimeClasses, PodDisruptionBudgets and admission webhook configurations.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::value::Obj;
use crate::{age, age_column, column, name_column, Printer};

pub(crate) static LEASES: Printer = Printer {
    columns: &[
        name_column(),
        column("Holder", "string", "holderIdentity contains the identity of the holder of a current lease."),
        age_column(),
    ],
    cells: lease,
};

fn lease(l: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    vec![Value::from(l.name()), Value::from(l.str(&["spec", "holderIdentity"])), age(l, now)]
}

pub(crate) static PRIORITYCLASSES: Printer = Printer {
    columns: &[
        name_column(),
        column("Value", "integer", "value represents the integer value of this priority class."),
        column("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class."),
        age_column(),
        column("PreemptionPolicy", "string", "preemptionPolicy is the Policy for preempting pods with lower priority."),
    ],
    cells: priority_class,
};

fn priority_class(pc: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        Value::from(pc.name()),
        Value::from(pc.int(&["value"])),
        Value::from(pc.bool(&["globalDefault"])),
        age(pc, now),
        // Defaulting sets PreemptLowerPriority.
        Value::from(pc.opt_str(&["preemptionPolicy"]).unwrap_or("PreemptLowerPriority")),
    ]
}

pub(crate) static RUNTIMECLASSES: Printer = Printer {
    columns: &[
        name_column(),
        column("Handler", "string", "handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class."),
        age_column(),
    ],
    cells: runtime_class,
};

fn runtime_class(rc: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    vec![Value::from(rc.name()), Value::from(rc.str(&["handler"])), age(rc, now)]
}

pub(crate) static PODDISRUPTIONBUDGETS: Printer = Printer {
    columns: &[
        name_column(),
        column("Min Available", "string", "The minimum number of pods that must be available."),
        column("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
        column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
        age_column(),
    ],
    cells: pod_disruption_budget,
};

fn pod_disruption_budget(pdb: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    // IntOrString fields print their int or their string ("50%"), N/A when unset.
    let int_or_string = |field: &str| match pdb.at(&["spec", field]) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "N/A".to_string(),
    };
    vec![
        Value::from(pdb.name()),
        Value::from(int_or_string("minAvailable")),
        Value::from(int_or_string("maxUnavailable")),
        Value::from(pdb.int(&["status", "disruptionsAllowed"])),
        age(pdb, now),
    ]
}

pub(crate) static WEBHOOKCONFIGURATIONS: Printer = Printer {
    columns: &[
        name_column(),
        column("Webhooks", "integer", "Webhooks indicates the number of webhooks registered in this configuration"),
        age_column(),
    ],
    cells: webhook_configuration,
};

fn webhook_configuration(w: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    vec![Value::from(w.name()), Value::from(w.len(&["webhooks"])), age(w, now)]
}
