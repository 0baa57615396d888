//! The pod's status as the kubelet writes it: phase, conditions, and a
//! status per container (waiting, running or terminated, lastState,
//! restartCount, ready, started) in the shape kubectl shows.

use serde_json::{json, Map, Value};
use skiff_runtime::{Exited, Status};

use super::spec::termination_log;
use super::worker::{Track, Worker};

/// How a run ended, as `state.terminated` / `lastState.terminated`.
pub fn terminated(e: &Exited, id: &str, message: Option<String>) -> Value {
    let (reason, message) = match (&e.error, e.oom_killed, e.exit_code) {
        (Some(err), _, _) => ("StartError", Some(err.clone())),
        (None, true, _) => ("OOMKilled", message),
        (None, false, 0) => ("Completed", message),
        _ => ("Error", message),
    };
    let mut t = json!({
        "exitCode": e.exit_code,
        "reason": reason,
        "startedAt": trim(&e.started_at),
        "finishedAt": trim(&e.finished_at),
        "containerID": format!("skiff://{id}"),
    });
    if let Some(sig) = e.signal {
        t["signal"] = json!(sig);
    }
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        t["message"] = json!(m);
    }
    t
}

/// Kubernetes times are whole seconds.
fn trim(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// The termination message: what the container wrote to its termination
/// log, or with FallbackToLogsOnError and a failure, the end of its log.
fn termination_message(w: &Worker, t: &Track, e: &Exited, container: &Value) -> Option<String> {
    let written = std::fs::read(termination_log(&w.pod_dir, &t.name, t.attempt)).ok()?;
    if !written.is_empty() {
        return Some(String::from_utf8_lossy(&written[..written.len().min(4096)]).into_owned());
    }
    if container["terminationMessagePolicy"].as_str() == Some("FallbackToLogsOnError") && e.exit_code != 0 {
        let log = std::fs::read_to_string(w.log_dir.join(&t.name).join(format!("{}.log", t.attempt))).ok()?;
        let lines: Vec<&str> = log.lines().rev().take(80).collect();
        let text: Vec<&str> = lines.into_iter().rev().map(|l| l.splitn(4, ' ').nth(3).unwrap_or("")).collect();
        let joined = text.join("\n");
        let start = joined.len().saturating_sub(2048);
        return Some(joined[joined.char_indices().map(|(i, _)| i).find(|i| *i >= start).unwrap_or(0)..].to_string());
    }
    None
}

fn container_status(w: &Worker, t: &Track, container: &Value) -> Value {
    let mut s = json!({
        "name": t.name,
        "image": container["image"],
        "imageID": t.image_id,
        "ready": false,
        "restartCount": t.attempt,
        "started": false,
        "state": {},
        "lastState": {},
    });
    if let Some(id) = &t.current {
        s["containerID"] = json!(format!("skiff://{id}"));
    }
    let current_end = t.exited().map(|e| {
        let message = termination_message(w, t, e, container);
        terminated(e, t.current.as_deref().unwrap_or_default(), message)
    });
    if let Some((reason, message)) = &t.waiting {
        let mut waiting = json!({"reason": reason});
        if !message.is_empty() {
            waiting["message"] = json!(message);
        }
        s["state"] = json!({"waiting": waiting});
        // Waiting to restart: the run that just ended is the last state.
        if let Some(end) = current_end {
            s["lastState"] = json!({"terminated": end});
        } else if let Some(last) = &t.last_terminated {
            s["lastState"] = json!({"terminated": last});
        }
        return s;
    }
    if let Some(last) = &t.last_terminated {
        s["lastState"] = json!({"terminated": last});
    }
    match &t.status {
        Some(Status::Running(r)) => {
            s["state"] = json!({"running": {"startedAt": trim(&r.started_at)}});
            let started = t.probes.as_ref().is_none_or(|p| p.started());
            s["started"] = json!(started);
            s["ready"] = json!(started && t.probes.as_ref().is_none_or(|p| p.ready()));
        }
        Some(Status::Exited(_)) => {
            s["state"] = json!({"terminated": current_end});
        }
        _ => s["state"] = json!({"waiting": {"reason": "ContainerCreating"}}),
    }
    if t.init && t.succeeded() {
        // A completed init container counts as ready, as the kubelet reports it.
        s["ready"] = json!(true);
    }
    s
}

fn condition(previous: &Value, kind: &str, ok: bool, reason: Option<&str>, message: Option<String>) -> Value {
    let status = if ok { "True" } else { "False" };
    let old = previous["conditions"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["type"].as_str() == Some(kind)))
        .cloned()
        .unwrap_or(Value::Null);
    let since = if old["status"].as_str() == Some(status) {
        old["lastTransitionTime"].clone()
    } else {
        json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    };
    let mut c = json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
    if !ok {
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        if let Some(m) = message {
            c["message"] = json!(m);
        }
    }
    c
}

pub fn pod_status(w: &Worker) -> Value {
    let pod = &w.pod;
    let policy = pod["spec"]["restartPolicy"].as_str().unwrap_or("Always");
    let find = |field: &str, name: &str| -> Value {
        pod["spec"][field]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["name"].as_str() == Some(name)))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let inits: Vec<&Track> = w.tracks.iter().filter(|t| t.init).collect();
    let apps: Vec<&Track> = w.tracks.iter().filter(|t| !t.init).collect();
    let init_statuses: Vec<Value> =
        inits.iter().map(|t| container_status(w, t, &find("initContainers", &t.name))).collect();
    let app_statuses: Vec<Value> = apps.iter().map(|t| container_status(w, t, &find("containers", &t.name))).collect();

    let initialized = inits.iter().all(|t| t.succeeded());
    let init_failed = inits.iter().any(|t| t.exited().is_some() && !t.succeeded());
    let running = apps.iter().filter(|t| t.running()).count();
    let ended: Vec<&&Track> = apps.iter().filter(|t| t.exited().is_some()).collect();
    let succeeded = ended.iter().filter(|t| t.succeeded()).count();
    let phase = if init_failed && policy == "Never" {
        "Failed"
    } else if !initialized {
        "Pending"
    } else if running > 0 {
        "Running"
    } else if !apps.is_empty() && ended.len() == apps.len() {
        if succeeded == apps.len() && policy != "Always" {
            "Succeeded"
        } else if policy == "Never" || (policy == "OnFailure" && succeeded == apps.len()) {
            "Failed"
        } else {
            // Always (or OnFailure with failures): they are restarted, the pod runs on.
            "Running"
        }
    } else {
        "Pending"
    };
    let ready_all =
        !apps.is_empty() && app_statuses.iter().all(|s| s["ready"].as_bool() == Some(true)) && phase == "Running";
    let not_ready: Vec<&str> =
        app_statuses.iter().filter(|s| s["ready"].as_bool() != Some(true)).filter_map(|s| s["name"].as_str()).collect();
    let not_ready_message =
        (!not_ready.is_empty()).then(|| format!("containers with unready status: [{}]", not_ready.join(" ")));
    let unfinished_inits: Vec<&str> = inits.iter().filter(|t| !t.succeeded()).map(|t| t.name.as_str()).collect();
    let previous = &pod["status"];
    let terminal = phase == "Succeeded" || phase == "Failed";
    let mut conditions = vec![
        condition(previous, "PodReadyToStartContainers", w.sandbox.is_some() && !terminal, None, None),
        condition(
            previous,
            "Initialized",
            initialized,
            Some("ContainersNotInitialized"),
            Some(format!("containers with incomplete status: [{}]", unfinished_inits.join(" "))),
        ),
        condition(
            previous,
            "Ready",
            ready_all,
            Some(if terminal { "PodCompleted" } else { "ContainersNotReady" }),
            not_ready_message.clone(),
        ),
        condition(
            previous,
            "ContainersReady",
            ready_all,
            Some(if terminal { "PodCompleted" } else { "ContainersNotReady" }),
            not_ready_message,
        ),
    ];
    if let Some(scheduled) =
        previous["conditions"].as_array().and_then(|l| l.iter().find(|c| c["type"].as_str() == Some("PodScheduled")))
    {
        conditions.insert(2, scheduled.clone());
    }
    let mut status = Map::new();
    status.insert("phase".into(), json!(phase));
    status.insert("conditions".into(), Value::Array(conditions));
    status.insert("hostIP".into(), json!(w.shared.host_ip));
    status.insert("hostIPs".into(), json!([{"ip": w.shared.host_ip}]));
    if pod["spec"]["hostNetwork"].as_bool() == Some(true) {
        status.insert("podIP".into(), json!(w.shared.host_ip));
        status.insert("podIPs".into(), json!([{"ip": w.shared.host_ip}]));
    }
    status.insert("startTime".into(), json!(w.start_time));
    if !init_statuses.is_empty() {
        status.insert("initContainerStatuses".into(), Value::Array(init_statuses));
    }
    status.insert("containerStatuses".into(), Value::Array(app_statuses));
    if let Some(q) = previous.get("qosClass") {
        status.insert("qosClass".into(), q.clone());
    }
    Value::Object(status)
}
