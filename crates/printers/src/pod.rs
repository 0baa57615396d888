//! The pod printer: READY, STATUS and RESTARTS derived from container statuses
//! exactly as `kubectl get pods` shows them.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::duration::since;
use crate::value::Obj;
use crate::{age, age_column, column, name_column, wide, Column, Printer};

pub(crate) static PODS: Printer = Printer { columns: COLUMNS, cells: pod_cells };

static COLUMNS: &[Column] = &[
    name_column(),
    column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    column("Status", "string", "The aggregate status of the containers in this pod."),
    column(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    age_column(),
    wide("IP", "string", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
    wide("Node", "string", "NodeName indicates in which node this pod is scheduled."),
    wide("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods."),
    wide("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness."),
];

/// The pod reason the node lifecycle controller sets when a node stops reporting.
const NODE_UNREACHABLE_POD_REASON: &str = "NodeLost";

/// The most recent `lastState.terminated.finishedAt` seen so far.
#[derive(Default)]
struct LastRestart(Option<DateTime<Utc>>);

impl LastRestart {
    fn observe(&mut self, status: Obj<'_>) {
        if let Some(t) = status.time(&["lastState", "terminated", "finishedAt"]) {
            if self.0.is_none_or(|last| last < t) {
                self.0 = Some(t);
            }
        }
    }
}

fn pod_cells(pod: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let spec = pod.get(&["spec"]);
    let status = pod.get(&["status"]);
    let phase = status.str(&["phase"]);
    let conditions = status.list(&["conditions"]);

    let mut reason = match status.str(&["reason"]) {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    if conditions.iter().any(|c| c.str(&["type"]) == "PodScheduled" && c.str(&["reason"]) == "SchedulingGated") {
        reason = "SchedulingGated".to_string();
    }

    let init_specs = spec.list(&["initContainers"]);
    // Sidecars (init containers with restartPolicy Always) keep running, so they count
    // towards READY like regular containers.
    let is_sidecar = |name: &str| {
        init_specs
            .iter()
            .rev()
            .find(|c| c.str(&["name"]) == name)
            .is_some_and(|c| c.str(&["restartPolicy"]) == "Always")
    };
    let sidecars = init_specs.iter().filter(|c| c.str(&["restartPolicy"]) == "Always").count();
    let total = spec.list(&["containers"]).len() + sidecars;
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart = LastRestart::default();
    let mut last_sidecar_restart = LastRestart::default();

    let mut initializing = false;
    for (i, cs) in status.list(&["initContainerStatuses"]).into_iter().enumerate() {
        restarts += cs.int(&["restartCount"]);
        last_restart.observe(cs);
        let sidecar = is_sidecar(cs.str(&["name"]));
        if sidecar {
            sidecar_restarts += cs.int(&["restartCount"]);
            last_sidecar_restart.observe(cs);
        }
        let terminated = cs.get(&["state", "terminated"]);
        let waiting_reason = cs.str(&["state", "waiting", "reason"]);
        if terminated.has(&[]) && terminated.int(&["exitCode"]) == 0 {
            continue;
        }
        if sidecar && cs.opt_bool(&["started"]) == Some(true) {
            if cs.bool(&["ready"]) {
                ready += 1;
            }
            continue;
        }
        reason = if terminated.has(&[]) {
            match terminated.str(&["reason"]) {
                "" if terminated.int(&["signal"]) != 0 => {
                    format!("Init:Signal:{}", terminated.int(&["signal"]))
                }
                "" => format!("Init:ExitCode:{}", terminated.int(&["exitCode"])),
                r => format!("Init:{r}"),
            }
        } else if cs.has(&["state", "waiting"]) && !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    let initialized =
        conditions.iter().find(|c| c.str(&["type"]) == "Initialized").is_some_and(|c| c.str(&["status"]) == "True");
    if !initializing || initialized {
        // Once initialised, only sidecar restarts carry over from the init phase.
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for cs in status.list(&["containerStatuses"]).into_iter().rev() {
            restarts += cs.int(&["restartCount"]);
            last_restart.observe(cs);
            let waiting_reason = cs.str(&["state", "waiting", "reason"]);
            let terminated = cs.get(&["state", "terminated"]);
            if cs.has(&["state", "waiting"]) && !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if terminated.has(&[]) {
                reason = match terminated.str(&["reason"]) {
                    "" if terminated.int(&["signal"]) != 0 => {
                        format!("Signal:{}", terminated.int(&["signal"]))
                    }
                    "" => format!("ExitCode:{}", terminated.int(&["exitCode"])),
                    r => r.to_string(),
                };
            } else if cs.bool(&["ready"]) && cs.has(&["state", "running"]) {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last-listed container completed but another still runs is not done.
        if reason == "Completed" && has_running {
            let pod_ready = conditions.iter().any(|c| c.str(&["type"]) == "Ready" && c.str(&["status"]) == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.to_string();
        }
    }

    if pod.has(&["metadata", "deletionTimestamp"]) {
        if status.str(&["reason"]) == NODE_UNREACHABLE_POD_REASON {
            reason = "Unknown".to_string();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".to_string();
        }
    }

    let restarts_text = match last_restart.0 {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };

    let pod_ip = status
        .list(&["podIPs"])
        .first()
        .map(|p| p.str(&["ip"]))
        // Some writers only fill the singular field; Kubernetes keeps both in step.
        .unwrap_or_else(|| status.str(&["podIP"]));
    let readiness_gates = spec.list(&["readinessGates"]);
    let gates = if readiness_gates.is_empty() {
        "<none>".to_string()
    } else {
        let passing = readiness_gates
            .iter()
            .filter(|gate| {
                let wanted = gate.str(&["conditionType"]);
                conditions.iter().find(|c| c.str(&["type"]) == wanted).is_some_and(|c| c.str(&["status"]) == "True")
            })
            .count();
        format!("{passing}/{}", readiness_gates.len())
    };

    vec![
        Value::from(pod.name()),
        Value::from(format!("{ready}/{total}")),
        Value::from(reason),
        Value::from(restarts_text),
        age(pod, now),
        Value::from(or_none(pod_ip)),
        Value::from(or_none(spec.str(&["nodeName"]))),
        Value::from(or_none(status.str(&["nominatedNodeName"]))),
        Value::from(gates),
    ]
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "<none>"
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2025-06-01T12:00:00Z".parse().unwrap()
    }

    fn row(pod: Value) -> Vec<Value> {
        pod_cells(Obj(&pod), now())
    }

    fn status_of(pod: Value) -> (String, String, String) {
        let r = row(pod);
        (r[1].as_str().unwrap().to_string(), r[2].as_str().unwrap().to_string(), r[3].as_str().unwrap().to_string())
    }

    fn meta(name: &str) -> Value {
        json!({"name": name, "namespace": "default", "creationTimestamp": "2025-06-01T11:00:00Z"})
    }

    #[test]
    fn running_pod_with_wide_columns() {
        let pod = json!({
            "metadata": meta("web-7d4b9c8f6-abcde"),
            "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "nginx:1.27"}]},
            "status": {
                "phase": "Running",
                "podIP": "10.244.1.7",
                "podIPs": [{"ip": "10.244.1.7"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{
                    "name": "web", "ready": true, "restartCount": 0,
                    "state": {"running": {"startedAt": "2025-06-01T11:00:05Z"}}
                }]
            }
        });
        assert_eq!(
            row(pod),
            vec![
                json!("web-7d4b9c8f6-abcde"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("60m"),
                json!("10.244.1.7"),
                json!("node-1"),
                json!("<none>"),
                json!("<none>"),
            ]
        );
    }

    #[test]
    fn crash_loop_back_off_with_last_restart_age() {
        let pod = json!({
            "metadata": meta("crasher"),
            "spec": {"containers": [{"name": "app", "image": "busybox"}]},
            "status": {
                "phase": "Running",
                "containerStatuses": [{
                    "name": "app", "ready": false, "restartCount": 5,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}},
                    "lastState": {"terminated": {
                        "exitCode": 1, "reason": "Error",
                        "startedAt": "2025-06-01T11:54:58Z", "finishedAt": "2025-06-01T11:55:00Z"
                    }}
                }]
            }
        });
        assert_eq!(status_of(pod), ("0/1".into(), "CrashLoopBackOff".into(), "5 (5m ago)".into()));
    }

    #[test]
    fn restarts_without_finish_time_have_no_suffix() {
        let pod = json!({
            "metadata": meta("p"),
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 137}}
            }]}
        });
        assert_eq!(status_of(pod).2, "2");
    }

    #[test]
    fn completed_pod() {
        let pod = json!({
            "metadata": meta("job-x-abc"),
            "spec": {"restartPolicy": "Never", "containers": [{"name": "main"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [{
                "name": "main", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}
            }]}
        });
        assert_eq!(status_of(pod), ("0/1".into(), "Completed".into(), "0".into()));
    }

    #[test]
    fn terminated_without_reason_shows_exit_code_or_signal() {
        let exit = json!({
            "metadata": meta("p"), "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "containerStatuses": [{"name": "a",
                "state": {"terminated": {"exitCode": 3}}}]}
        });
        assert_eq!(status_of(exit).1, "ExitCode:3");
        let signal = json!({
            "metadata": meta("p"), "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "containerStatuses": [{"name": "a",
                "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}
        });
        assert_eq!(status_of(signal).1, "Signal:9");
    }

    #[test]
    fn init_container_still_running() {
        let pod = json!({
            "metadata": meta("with-init"),
            "spec": {
                "initContainers": [{"name": "migrate"}],
                "containers": [{"name": "app"}]
            },
            "status": {
                "phase": "Pending",
                "conditions": [{"type": "Initialized", "status": "False"}],
                "initContainerStatuses": [{"name": "migrate", "ready": false, "restartCount": 0,
                    "state": {"running": {"startedAt": "2025-06-01T11:59:00Z"}}}],
                "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "PodInitializing"}}}]
            }
        });
        assert_eq!(status_of(pod), ("0/1".into(), "Init:0/1".into(), "0".into()));
    }

    #[test]
    fn second_of_two_init_containers() {
        let pod = json!({
            "metadata": meta("p"),
            "spec": {"initContainers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "c"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "b", "state": {"waiting": {"reason": "PodInitializing"}}}
            ]}
        });
        assert_eq!(status_of(pod).1, "Init:1/2");
    }

    #[test]
    fn init_container_crash_loop_counts_init_restarts() {
        let pod = json!({
            "metadata": meta("p"),
            "spec": {"initContainers": [{"name": "init"}], "containers": [{"name": "app"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [{
                "name": "init", "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                    "finishedAt": "2025-06-01T11:59:30Z"}}
            }]}
        });
        assert_eq!(status_of(pod), ("0/1".into(), "Init:CrashLoopBackOff".into(), "3 (30s ago)".into()));
    }

    #[test]
    fn init_container_failed() {
        let with_reason = json!({
            "metadata": meta("p"),
            "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]},
            "status": {"phase": "Failed", "initContainerStatuses": [{"name": "i",
                "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}
        });
        assert_eq!(status_of(with_reason).1, "Init:Error");
        let by_signal = json!({
            "metadata": meta("p"),
            "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [{"name": "i",
                "state": {"terminated": {"exitCode": 143, "signal": 15}}}]}
        });
        assert_eq!(status_of(by_signal).1, "Init:Signal:15");
    }

    #[test]
    fn started_sidecar_counts_as_ready_container() {
        let pod = json!({
            "metadata": meta("p"),
            "spec": {
                "initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
                "containers": [{"name": "app"}]
            },
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true,
                    "restartCount": 1, "state": {"running": {}},
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2025-06-01T11:58:00Z"}}}],
                "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                    "state": {"running": {}}}]
            }
        });
        assert_eq!(status_of(pod), ("2/2".into(), "Running".into(), "1 (2m ago)".into()));
    }

    #[test]
    fn completed_container_next_to_running_one_is_running() {
        let pod = json!({
            "metadata": meta("p"),
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "b", "ready": true, "state": {"running": {}}}
                ]
            }
        });
        assert_eq!(status_of(pod), ("1/2".into(), "NotReady".into(), "0".into()));
    }

    #[test]
    fn terminating_pod() {
        let mut m = meta("going-away");
        m["deletionTimestamp"] = json!("2025-06-01T11:59:50Z");
        let pod = json!({
            "metadata": m,
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "a", "ready": true,
                "state": {"running": {}}}]}
        });
        assert_eq!(status_of(pod).1, "Terminating");
    }

    #[test]
    fn deleted_terminal_pod_keeps_its_phase_and_lost_node_is_unknown() {
        let mut m = meta("done");
        m["deletionTimestamp"] = json!("2025-06-01T11:59:50Z");
        let done = json!({"metadata": m.clone(), "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Succeeded"}});
        assert_eq!(status_of(done).1, "Succeeded");
        let lost = json!({"metadata": m, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "reason": "NodeLost"}});
        assert_eq!(status_of(lost).1, "Unknown");
    }

    #[test]
    fn pending_and_scheduling_gated() {
        let pending = json!({"metadata": meta("p"), "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Pending"}});
        assert_eq!(status_of(pending), ("0/1".into(), "Pending".into(), "0".into()));
        let gated = json!({"metadata": meta("p"), "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}});
        assert_eq!(status_of(gated).1, "SchedulingGated");
        let evicted = json!({"metadata": meta("p"), "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "reason": "Evicted"}});
        assert_eq!(status_of(evicted).1, "Evicted");
    }

    #[test]
    fn container_creating_and_image_pull_errors() {
        let pod = json!({"metadata": meta("p"), "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
        "status": {"phase": "Pending", "containerStatuses": [
            {"name": "a", "state": {"waiting": {"reason": "ImagePullBackOff"}}},
            {"name": "b", "state": {"waiting": {"reason": "ContainerCreating"}}}
        ]}});
        // The first container in the list wins because statuses are walked backwards.
        assert_eq!(status_of(pod).1, "ImagePullBackOff");
    }

    #[test]
    fn readiness_gates_and_nominated_node() {
        let pod = json!({
            "metadata": meta("p"),
            "spec": {"containers": [{"name": "a"}],
                "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]},
            "status": {"phase": "Pending", "nominatedNodeName": "node-2",
                "conditions": [{"type": "example.com/lb", "status": "True"}]}
        });
        let r = row(pod);
        assert_eq!(r[7], json!("node-2"));
        assert_eq!(r[8], json!("1/2"));
    }

    #[test]
    fn garbage_does_not_panic() {
        for junk in [
            json!(null),
            json!(42),
            json!({"spec": "x", "status": []}),
            json!({"status": {"containerStatuses": [1, "x", null], "initContainerStatuses": {}}}),
        ] {
            let r = row(junk);
            assert_eq!(r.len(), COLUMNS.len());
            assert_eq!(r[0], json!(""));
            assert_eq!(r[4], json!("<unknown>"));
        }
    }
}
