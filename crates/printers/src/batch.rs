//! Printers for the `batch` group: Jobs and CronJobs.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::duration::{human_duration, since};
use crate::labels::format_label_selector;
use crate::value::Obj;
use crate::{
    age, age_column, column, container_cells, name_column, wide, Printer, CONTAINERS_DESCRIPTION, IMAGES_DESCRIPTION,
};

pub(crate) static JOBS: Printer = Printer {
    columns: &[
        name_column(),
        column("Status", "string", "Status of the job."),
        column("Completions", "string", "The number of pods which reached phase Succeeded."),
        column("Duration", "string", "Time required to complete the job."),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESCRIPTION),
        wide("Images", "string", IMAGES_DESCRIPTION),
        wide("Selector", "string", "A label query over pods that should match the pod count."),
    ],
    cells: job,
};

/// Status of the first condition of `kind`, as hasJobCondition reads it.
fn has_condition(conditions: &[Obj<'_>], kind: &str) -> bool {
    conditions.iter().find(|c| c.str(&["type"]) == kind).is_some_and(|c| c.str(&["status"]) == "True")
}

fn job(j: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let spec = j.get(&["spec"]);
    let status = j.get(&["status"]);
    let succeeded = status.int(&["succeeded"]);
    let completions = match spec.opt_int(&["completions"]) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match spec.int(&["parallelism"]) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (status.time(&["startTime"]), status.time(&["completionTime"])) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.signed_duration_since(start)),
        (Some(start), Some(end)) => human_duration(end.signed_duration_since(start)),
    };
    let conditions = status.list(&["conditions"]);
    let state = if has_condition(&conditions, "Complete") {
        "Complete"
    } else if has_condition(&conditions, "Failed") {
        "Failed"
    } else if j.has(&["metadata", "deletionTimestamp"]) {
        "Terminating"
    } else if has_condition(&conditions, "Suspended") {
        "Suspended"
    } else if has_condition(&conditions, "FailureTarget") {
        "FailureTarget"
    } else if has_condition(&conditions, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let (names, images) = container_cells(spec.get(&["template", "spec"]));
    vec![
        Value::from(j.name()),
        Value::from(state),
        Value::from(completions),
        Value::from(duration),
        age(j, now),
        names,
        images,
        Value::from(format_label_selector(spec.get(&["selector"]))),
    ]
}

pub(crate) static CRONJOBS: Printer = Printer {
    columns: &[
        name_column(),
        column("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
        column("Timezone", "string", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
        column("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions."),
        column("Active", "integer", "A list of pointers to currently running jobs."),
        column("Last Schedule", "string", "Information when was the last time the job was successfully scheduled."),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESCRIPTION),
        wide("Images", "string", IMAGES_DESCRIPTION),
        wide("Selector", "string", "A label query over pods that should match the pod count."),
    ],
    cells: cronjob,
};

fn cronjob(cj: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let spec = cj.get(&["spec"]);
    let last_schedule = if cj.has(&["status", "lastScheduleTime"]) {
        since(cj.time(&["status", "lastScheduleTime"]), now)
    } else {
        "<none>".to_string()
    };
    // Printed as text although the column is declared boolean; defaulting sets false.
    let suspend = if spec.opt_bool(&["suspend"]).unwrap_or(false) { "True" } else { "False" };
    let job_spec = spec.get(&["jobTemplate", "spec"]);
    let (names, images) = container_cells(job_spec.get(&["template", "spec"]));
    vec![
        Value::from(cj.name()),
        Value::from(spec.str(&["schedule"])),
        Value::from(spec.opt_str(&["timeZone"]).unwrap_or("<none>")),
        Value::from(suspend),
        Value::from(cj.len(&["status", "active"])),
        Value::from(last_schedule),
        age(cj, now),
        names,
        images,
        Value::from(format_label_selector(job_spec.get(&["selector"]))),
    ]
}
