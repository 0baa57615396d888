//! Printers for core ("" group) resources other than pods and events.
//!
//! Where the API server's defaulting guarantees a field on every stored object
//! (service type, port protocol, replicas, volume phase ...), a missing value
//! prints as that default, so output matches what a real cluster shows.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::labels::format_labels;
use crate::value::Obj;
use crate::{
    age, age_column, column, container_cells, name_column, wide, Printer, CONTAINERS_DESCRIPTION, IMAGES_DESCRIPTION,
};

pub(crate) static SERVICES: Printer = Printer {
    columns: &[
        name_column(),
        column("Type", "string", "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer."),
        column("Cluster-IP", "string", "clusterIP is the IP address of the service and is usually assigned randomly."),
        column("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
        column("Port(s)", "string", "The list of ports that are exposed by this service."),
        age_column(),
        wide("Selector", "string", "Route service traffic to pods with label keys and values matching this selector."),
    ],
    cells: service,
};

fn service(svc: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let spec = svc.get(&["spec"]);
    let svc_type = spec.opt_str(&["type"]).unwrap_or("ClusterIP");
    let cluster_ip = spec
        .strs(&["clusterIPs"])
        .first()
        .copied()
        // Older writers only set the singular field; Kubernetes keeps both in step.
        .or_else(|| spec.opt_str(&["clusterIP"]).filter(|s| !s.is_empty()))
        .unwrap_or("<none>");
    let ports: Vec<String> = spec
        .list(&["ports"])
        .iter()
        .map(|p| {
            let protocol = p.opt_str(&["protocol"]).unwrap_or("TCP");
            let node_port = p.int(&["nodePort"]);
            if node_port > 0 {
                format!("{}:{node_port}/{protocol}", p.int(&["port"]))
            } else {
                format!("{}/{protocol}", p.int(&["port"]))
            }
        })
        .collect();
    let ports = if ports.is_empty() { "<none>".to_string() } else { ports.join(",") };
    vec![
        Value::from(svc.name()),
        Value::from(svc_type),
        Value::from(cluster_ip),
        Value::from(service_external_ip(svc, svc_type)),
        Value::from(ports),
        age(svc, now),
        Value::from(format_labels(spec.map(&["selector"]))),
    ]
}

fn service_external_ip(svc: Obj<'_>, svc_type: &str) -> String {
    let external_ips = svc.strs(&["spec", "externalIPs"]);
    match svc_type {
        "ClusterIP" | "NodePort" if external_ips.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external_ips.join(","),
        "LoadBalancer" => {
            let mut all = load_balancer_ingress(svc.get(&["status", "loadBalancer"]));
            if all.is_empty() && external_ips.is_empty() {
                return "<pending>".to_string();
            }
            all.extend(external_ips.into_iter().map(str::to_string));
            all.join(",")
        }
        "ExternalName" => svc.str(&["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// Distinct load-balancer addresses (IP, else hostname), sorted. Server-side tables are
/// always "wide", so no truncation.
pub(crate) fn load_balancer_ingress(lb: Obj<'_>) -> Vec<String> {
    let set: BTreeSet<&str> = lb
        .list(&["ingress"])
        .iter()
        .filter_map(|i| match (i.str(&["ip"]), i.str(&["hostname"])) {
            ("", "") => None,
            ("", host) => Some(host),
            (ip, _) => Some(ip),
        })
        .collect();
    set.into_iter().map(str::to_string).collect()
}

pub(crate) static ENDPOINTS: Printer = Printer {
    columns: &[
        name_column(),
        column("Endpoints", "string", "The set of all endpoints is the union of all subsets."),
        age_column(),
    ],
    cells: endpoints,
};

fn endpoints(ep: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    vec![Value::from(ep.name()), Value::from(format_endpoints(ep)), age(ep, now)]
}

/// Up to three "ip:port" entries, then "+ N more...".
fn format_endpoints(ep: Obj<'_>) -> String {
    const SHOWN: usize = 3;
    let subsets = ep.list(&["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut list: Vec<String> = Vec::new();
    let mut count = 0usize;
    for subset in subsets {
        let addresses = subset.list(&["addresses"]);
        let ports = subset.list(&["ports"]);
        if ports.is_empty() {
            // Headless services may have no ports: list bare addresses.
            count += addresses.len();
            for a in addresses.iter().take(SHOWN.saturating_sub(list.len())) {
                list.push(a.str(&["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for a in addresses.iter().take(SHOWN.saturating_sub(list.len())) {
                list.push(join_host_port(a.str(&["ip"]), port.int(&["port"])));
            }
        }
    }
    let joined = list.join(",");
    if count > SHOWN {
        format!("{joined} + {} more...", count - SHOWN)
    } else {
        joined
    }
}

/// Go's net.JoinHostPort: IPv6 literals get brackets.
pub(crate) fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub(crate) static CONFIGMAPS: Printer = Printer {
    columns: &[name_column(), column("Data", "string", "Data contains the configuration data."), age_column()],
    cells: configmap,
};

fn configmap(cm: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let keys = cm.len(&["data"]) + cm.len(&["binaryData"]);
    vec![Value::from(cm.name()), Value::from(keys), age(cm, now)]
}

pub(crate) static SECRETS: Printer = Printer {
    columns: &[
        name_column(),
        column("Type", "string", "Used to facilitate programmatic handling of secret data."),
        column("Data", "string", "Data contains the secret data."),
        age_column(),
    ],
    cells: secret,
};

fn secret(s: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    // Defaulting sets Opaque on create.
    let ty = s.opt_str(&["type"]).unwrap_or("Opaque");
    // stringData is write-only: it is merged into data on write, so only data counts.
    vec![Value::from(s.name()), Value::from(ty), Value::from(s.len(&["data"])), age(s, now)]
}

pub(crate) static NAMESPACES: Printer = Printer {
    columns: &[name_column(), column("Status", "string", "The status of the namespace"), age_column()],
    cells: namespace,
};

fn namespace(ns: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    // The namespace strategy sets Active on create.
    let phase = ns.opt_str(&["status", "phase"]).unwrap_or("Active");
    vec![Value::from(ns.name()), Value::from(phase), age(ns, now)]
}

pub(crate) static SERVICEACCOUNTS: Printer = Printer {
    columns: &[
        name_column(),
        column("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
        age_column(),
    ],
    cells: serviceaccount,
};

fn serviceaccount(sa: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    vec![Value::from(sa.name()), Value::from(sa.len(&["secrets"])), age(sa, now)]
}

pub(crate) static NODES: Printer = Printer {
    columns: &[
        name_column(),
        column("Status", "string", "The status of the node"),
        column("Roles", "string", "The roles of the node"),
        age_column(),
        column("Version", "string", "Kubelet Version reported by the node."),
        wide("Internal-IP", "string", "List of addresses reachable to the node."),
        wide("External-IP", "string", "List of addresses reachable to the node."),
        wide(
            "OS-Image",
            "string",
            "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        ),
        wide(
            "Kernel-Version",
            "string",
            "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        ),
        wide(
            "Container-Runtime",
            "string",
            "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        ),
    ],
    cells: node,
};

const NODE_ROLE_LABEL_PREFIX: &str = "node-role.kubernetes.io/";
const NODE_ROLE_LABEL: &str = "kubernetes.io/role";

fn node(n: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    // Only the Ready condition feeds STATUS; with duplicates the last one wins.
    let ready = n.list(&["status", "conditions"]).into_iter().rfind(|c| c.str(&["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(c) if c.str(&["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if n.bool(&["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }

    let mut roles = BTreeSet::new();
    for (key, value) in n.map(&["metadata", "labels"]).into_iter().flatten() {
        if let Some(role) = key.strip_prefix(NODE_ROLE_LABEL_PREFIX) {
            if !role.is_empty() {
                roles.insert(role);
            }
        } else if key == NODE_ROLE_LABEL {
            match value.as_str() {
                Some(role) if !role.is_empty() => {
                    roles.insert(role);
                }
                _ => {}
            }
        }
    }
    let roles = if roles.is_empty() { "<none>".to_string() } else { roles.into_iter().collect::<Vec<_>>().join(",") };

    let info = n.get(&["status", "nodeInfo"]);
    let address = |kind: &str| {
        n.list(&["status", "addresses"])
            .into_iter()
            .find(|a| a.str(&["type"]) == kind)
            .map(|a| a.str(&["address"]))
            .unwrap_or("<none>")
    };
    let unknown_if_empty = |s: &str| {
        if s.is_empty() {
            "<unknown>".to_string()
        } else {
            s.to_string()
        }
    };
    vec![
        Value::from(n.name()),
        Value::from(status.join(",")),
        Value::from(roles),
        age(n, now),
        Value::from(info.str(&["kubeletVersion"])),
        Value::from(address("InternalIP")),
        Value::from(address("ExternalIP")),
        Value::from(unknown_if_empty(info.str(&["osImage"]))),
        Value::from(unknown_if_empty(info.str(&["kernelVersion"]))),
        Value::from(unknown_if_empty(info.str(&["containerRuntimeVersion"]))),
    ]
}

pub(crate) static PERSISTENTVOLUMES: Printer = Printer {
    columns: &[
        name_column(),
        column("Capacity", "string", "capacity is the description of the persistent volume's resources and capacity."),
        column("Access Modes", "string", "accessModes contains all ways the volume can be mounted."),
        column("Reclaim Policy", "string", "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim."),
        column("Status", "string", "phase indicates if a volume is available, bound to a claim, or released by a claim."),
        column("Claim", "string", "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
        column("StorageClass", "string", "StorageClass of the pv"),
        column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
        column("Reason", "string", "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI."),
        age_column(),
        wide("VolumeMode", "string", "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state."),
    ],
    cells: persistent_volume,
};

/// The annotation that predates spec.storageClassName and still takes precedence.
const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

fn persistent_volume(pv: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let spec = pv.get(&["spec"]);
    let claim = if spec.has(&["claimRef"]) {
        format!("{}/{}", spec.str(&["claimRef", "namespace"]), spec.str(&["claimRef", "name"]))
    } else {
        String::new()
    };
    let phase = if pv.has(&["metadata", "deletionTimestamp"]) {
        "Terminating"
    } else {
        pv.opt_str(&["status", "phase"]).unwrap_or("Pending")
    };
    let class = pv.annotation(BETA_STORAGE_CLASS_ANNOTATION).unwrap_or_else(|| spec.str(&["storageClassName"]));
    vec![
        Value::from(pv.name()),
        Value::from(spec.quantity(&["capacity", "storage"])),
        Value::from(access_modes(&spec.strs(&["accessModes"]))),
        // Defaulting: manually created volumes are retained.
        Value::from(spec.opt_str(&["persistentVolumeReclaimPolicy"]).unwrap_or("Retain")),
        Value::from(phase),
        Value::from(claim),
        Value::from(class),
        Value::from(spec.opt_str(&["volumeAttributesClassName"]).unwrap_or("<unset>")),
        Value::from(pv.str(&["status", "reason"])),
        age(pv, now),
        Value::from(spec.opt_str(&["volumeMode"]).unwrap_or("Filesystem")),
    ]
}

pub(crate) static PERSISTENTVOLUMECLAIMS: Printer = Printer {
    columns: &[
        name_column(),
        column("Status", "string", "phase represents the current phase of PersistentVolumeClaim."),
        column("Volume", "string", "volumeName is the binding reference to the PersistentVolume backing this claim."),
        column("Capacity", "string", "capacity represents the actual resources of the underlying volume."),
        column(
            "Access Modes",
            "string",
            "accessModes contains the actual access modes the volume backing the PVC has.",
        ),
        column("StorageClass", "string", "StorageClass of the pvc"),
        column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
        age_column(),
        wide("VolumeMode", "string", "volumeMode defines what type of volume is required by the claim."),
    ],
    cells: persistent_volume_claim,
};

fn persistent_volume_claim(pvc: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let spec = pvc.get(&["spec"]);
    let phase = if pvc.has(&["metadata", "deletionTimestamp"]) {
        "Terminating"
    } else {
        pvc.opt_str(&["status", "phase"]).unwrap_or("Pending")
    };
    let volume = spec.str(&["volumeName"]);
    // Capacity and modes describe the bound volume, so they stay blank until bound.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (pvc.quantity(&["status", "capacity", "storage"]), access_modes(&pvc.strs(&["status", "accessModes"])))
    };
    let class = pvc.annotation(BETA_STORAGE_CLASS_ANNOTATION).unwrap_or_else(|| spec.str(&["storageClassName"]));
    vec![
        Value::from(pvc.name()),
        Value::from(phase),
        Value::from(volume),
        Value::from(capacity),
        Value::from(modes),
        Value::from(class),
        Value::from(spec.opt_str(&["volumeAttributesClassName"]).unwrap_or("<unset>")),
        age(pvc, now),
        Value::from(spec.opt_str(&["volumeMode"]).unwrap_or("Filesystem")),
    ]
}

/// Abbreviated access modes in canonical order, duplicates dropped.
fn access_modes(modes: &[&str]) -> String {
    [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
        .iter()
        .filter(|(mode, _)| modes.contains(mode))
        .map(|(_, short)| *short)
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) static REPLICATIONCONTROLLERS: Printer = Printer {
    columns: &[
        name_column(),
        column("Desired", "integer", "Replicas is the number of desired replicas."),
        column("Current", "integer", "Replicas is the most recently observed number of replicas."),
        column("Ready", "integer", "The number of ready replicas for this replication controller."),
        age_column(),
        wide("Containers", "string", CONTAINERS_DESCRIPTION),
        wide("Images", "string", IMAGES_DESCRIPTION),
        wide("Selector", "string", "Selector is a label query over pods that should match the Replicas count."),
    ],
    cells: replication_controller,
};

fn replication_controller(rc: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(rc.get(&["spec", "template", "spec"]));
    vec![
        Value::from(rc.name()),
        Value::from(rc.opt_int(&["spec", "replicas"]).unwrap_or(1)),
        Value::from(rc.int(&["status", "replicas"])),
        Value::from(rc.int(&["status", "readyReplicas"])),
        age(rc, now),
        names,
        images,
        Value::from(format_labels(rc.map(&["spec", "selector"]))),
    ]
}
