//! Strategic-merge metadata of the built-in Kubernetes types: which list
//! fields merge (and by which key) and which maps are `retainKeys`, as
//! declared by the `patchStrategy`/`patchMergeKey` struct tags in
//! `k8s.io/api`. Everything not listed is atomic, which is also Kubernetes'
//! default.
//!
//! The same table feeds [`KubernetesPatchMeta`] and [`KindPatchMeta`] (used
//! when applying a patch) and [`openapi_extensions`] (used to annotate the OpenAPI schema
//! with `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key`,
//! which kubectl reads to build its patches), so the two cannot disagree.
//!
//! Field paths are resolved through a small type graph, so a PodSpec's
//! lists are recognised at `spec` (Pod), `spec.template.spec`
//! (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, ReplicationController)
//! and `spec.jobTemplate.spec.template.spec` (CronJob) alike.

use super::strategic::{ListStrategy, PatchMeta};

/// One field's `x-kubernetes-patch-*` annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchExtension {
    /// OpenAPI definition name, e.g. `io.k8s.api.core.v1.PodSpec`.
    pub definition: &'static str,
    /// JSON field name within that definition, e.g. `containers`.
    pub field: &'static str,
    /// `x-kubernetes-patch-strategy`: `merge`, `retainKeys` or `merge,retainKeys`.
    pub strategy: &'static str,
    /// `x-kubernetes-patch-merge-key`, for lists of objects.
    pub merge_key: Option<&'static str>,
}

const fn ext(
    definition: &'static str,
    field: &'static str,
    strategy: &'static str,
    merge_key: Option<&'static str>,
) -> PatchExtension {
    PatchExtension { definition, field, strategy, merge_key }
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const POD: &str = "io.k8s.api.core.v1.Pod";
const POD_SPEC: &str = "io.k8s.api.core.v1.PodSpec";
const POD_STATUS: &str = "io.k8s.api.core.v1.PodStatus";
const POD_TEMPLATE: &str = "io.k8s.api.core.v1.PodTemplate";
const POD_TEMPLATE_SPEC: &str = "io.k8s.api.core.v1.PodTemplateSpec";
const CONTAINER: &str = "io.k8s.api.core.v1.Container";
const EPHEMERAL_CONTAINER: &str = "io.k8s.api.core.v1.EphemeralContainer";
const RC: &str = "io.k8s.api.core.v1.ReplicationController";
const RC_SPEC: &str = "io.k8s.api.core.v1.ReplicationControllerSpec";
const RC_STATUS: &str = "io.k8s.api.core.v1.ReplicationControllerStatus";
const SERVICE: &str = "io.k8s.api.core.v1.Service";
const SERVICE_SPEC: &str = "io.k8s.api.core.v1.ServiceSpec";
const SERVICE_STATUS: &str = "io.k8s.api.core.v1.ServiceStatus";
const NODE: &str = "io.k8s.api.core.v1.Node";
const NODE_SPEC: &str = "io.k8s.api.core.v1.NodeSpec";
const NODE_STATUS: &str = "io.k8s.api.core.v1.NodeStatus";
const NAMESPACE: &str = "io.k8s.api.core.v1.Namespace";
const NAMESPACE_STATUS: &str = "io.k8s.api.core.v1.NamespaceStatus";
const SERVICE_ACCOUNT: &str = "io.k8s.api.core.v1.ServiceAccount";
const PVC: &str = "io.k8s.api.core.v1.PersistentVolumeClaim";
const PVC_STATUS: &str = "io.k8s.api.core.v1.PersistentVolumeClaimStatus";
const DEPLOYMENT: &str = "io.k8s.api.apps.v1.Deployment";
const DEPLOYMENT_SPEC: &str = "io.k8s.api.apps.v1.DeploymentSpec";
const DEPLOYMENT_STATUS: &str = "io.k8s.api.apps.v1.DeploymentStatus";
const REPLICA_SET: &str = "io.k8s.api.apps.v1.ReplicaSet";
const REPLICA_SET_SPEC: &str = "io.k8s.api.apps.v1.ReplicaSetSpec";
const REPLICA_SET_STATUS: &str = "io.k8s.api.apps.v1.ReplicaSetStatus";
const STATEFUL_SET: &str = "io.k8s.api.apps.v1.StatefulSet";
const STATEFUL_SET_SPEC: &str = "io.k8s.api.apps.v1.StatefulSetSpec";
const STATEFUL_SET_STATUS: &str = "io.k8s.api.apps.v1.StatefulSetStatus";
const DAEMON_SET: &str = "io.k8s.api.apps.v1.DaemonSet";
const DAEMON_SET_SPEC: &str = "io.k8s.api.apps.v1.DaemonSetSpec";
const DAEMON_SET_STATUS: &str = "io.k8s.api.apps.v1.DaemonSetStatus";
const JOB: &str = "io.k8s.api.batch.v1.Job";
const JOB_SPEC: &str = "io.k8s.api.batch.v1.JobSpec";
const JOB_STATUS: &str = "io.k8s.api.batch.v1.JobStatus";
const CRON_JOB: &str = "io.k8s.api.batch.v1.CronJob";
const CRON_JOB_SPEC: &str = "io.k8s.api.batch.v1.CronJobSpec";
const JOB_TEMPLATE_SPEC: &str = "io.k8s.api.batch.v1.JobTemplateSpec";
const HPA: &str = "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler";
const HPA_STATUS: &str = "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus";
const PDB: &str = "io.k8s.api.policy.v1.PodDisruptionBudget";
const PDB_STATUS: &str = "io.k8s.api.policy.v1.PodDisruptionBudgetStatus";
const CSI_NODE: &str = "io.k8s.api.storage.v1.CSINode";
const CSI_NODE_SPEC: &str = "io.k8s.api.storage.v1.CSINodeSpec";
const API_SERVICE: &str = "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIService";
const API_SERVICE_STATUS: &str = "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceStatus";

static EXTENSIONS: &[PatchExtension] = &[
    ext(OBJECT_META, "finalizers", "merge", None),
    ext(OBJECT_META, "ownerReferences", "merge", Some("uid")),
    ext(POD_SPEC, "volumes", "merge,retainKeys", Some("name")),
    ext(POD_SPEC, "initContainers", "merge", Some("name")),
    ext(POD_SPEC, "containers", "merge", Some("name")),
    ext(POD_SPEC, "ephemeralContainers", "merge", Some("name")),
    ext(POD_SPEC, "imagePullSecrets", "merge", Some("name")),
    ext(POD_SPEC, "hostAliases", "merge", Some("ip")),
    ext(POD_SPEC, "topologySpreadConstraints", "merge", Some("topologyKey")),
    ext(POD_SPEC, "resourceClaims", "merge,retainKeys", Some("name")),
    ext(POD_SPEC, "schedulingGates", "merge", Some("name")),
    ext(CONTAINER, "ports", "merge", Some("containerPort")),
    ext(CONTAINER, "env", "merge", Some("name")),
    ext(CONTAINER, "volumeMounts", "merge", Some("mountPath")),
    ext(CONTAINER, "volumeDevices", "merge", Some("devicePath")),
    ext(EPHEMERAL_CONTAINER, "ports", "merge", Some("containerPort")),
    ext(EPHEMERAL_CONTAINER, "env", "merge", Some("name")),
    ext(EPHEMERAL_CONTAINER, "volumeMounts", "merge", Some("mountPath")),
    ext(EPHEMERAL_CONTAINER, "volumeDevices", "merge", Some("devicePath")),
    ext(POD_STATUS, "conditions", "merge", Some("type")),
    ext(POD_STATUS, "podIPs", "merge", Some("ip")),
    ext(POD_STATUS, "hostIPs", "merge", Some("ip")),
    ext(POD_STATUS, "resourceClaimStatuses", "merge,retainKeys", Some("name")),
    ext(RC_STATUS, "conditions", "merge", Some("type")),
    ext(SERVICE_SPEC, "ports", "merge", Some("port")),
    ext(SERVICE_STATUS, "conditions", "merge", Some("type")),
    ext(NODE_SPEC, "podCIDRs", "merge", None),
    ext(NODE_STATUS, "conditions", "merge", Some("type")),
    ext(NODE_STATUS, "addresses", "merge", Some("type")),
    ext(NAMESPACE_STATUS, "conditions", "merge", Some("type")),
    ext(SERVICE_ACCOUNT, "secrets", "merge", Some("name")),
    ext(PVC_STATUS, "conditions", "merge", Some("type")),
    ext(DEPLOYMENT_SPEC, "strategy", "retainKeys", None),
    ext(DEPLOYMENT_STATUS, "conditions", "merge", Some("type")),
    ext(REPLICA_SET_STATUS, "conditions", "merge", Some("type")),
    ext(STATEFUL_SET_STATUS, "conditions", "merge", Some("type")),
    ext(DAEMON_SET_STATUS, "conditions", "merge", Some("type")),
    ext(JOB_STATUS, "conditions", "merge", Some("type")),
    ext(HPA_STATUS, "conditions", "merge", Some("type")),
    ext(PDB_STATUS, "conditions", "merge", Some("type")),
    ext(CSI_NODE_SPEC, "drivers", "merge", Some("name")),
    ext(API_SERVICE_STATUS, "conditions", "merge", Some("type")),
];

// (definition, field, definition of the field's value or list item).
// Only edges leading to a listed extension are needed.
static EDGES: &[(&str, &str, &str)] = &[
    (POD, "spec", POD_SPEC),
    (POD, "status", POD_STATUS),
    (POD_TEMPLATE, "template", POD_TEMPLATE_SPEC),
    (POD_TEMPLATE_SPEC, "metadata", OBJECT_META),
    (POD_TEMPLATE_SPEC, "spec", POD_SPEC),
    (POD_SPEC, "containers", CONTAINER),
    (POD_SPEC, "initContainers", CONTAINER),
    (POD_SPEC, "ephemeralContainers", EPHEMERAL_CONTAINER),
    (RC, "spec", RC_SPEC),
    (RC, "status", RC_STATUS),
    (RC_SPEC, "template", POD_TEMPLATE_SPEC),
    (SERVICE, "spec", SERVICE_SPEC),
    (SERVICE, "status", SERVICE_STATUS),
    (NODE, "spec", NODE_SPEC),
    (NODE, "status", NODE_STATUS),
    (NAMESPACE, "status", NAMESPACE_STATUS),
    (PVC, "status", PVC_STATUS),
    (DEPLOYMENT, "spec", DEPLOYMENT_SPEC),
    (DEPLOYMENT, "status", DEPLOYMENT_STATUS),
    (DEPLOYMENT_SPEC, "template", POD_TEMPLATE_SPEC),
    (REPLICA_SET, "spec", REPLICA_SET_SPEC),
    (REPLICA_SET, "status", REPLICA_SET_STATUS),
    (REPLICA_SET_SPEC, "template", POD_TEMPLATE_SPEC),
    (STATEFUL_SET, "spec", STATEFUL_SET_SPEC),
    (STATEFUL_SET, "status", STATEFUL_SET_STATUS),
    (STATEFUL_SET_SPEC, "template", POD_TEMPLATE_SPEC),
    (DAEMON_SET, "spec", DAEMON_SET_SPEC),
    (DAEMON_SET, "status", DAEMON_SET_STATUS),
    (DAEMON_SET_SPEC, "template", POD_TEMPLATE_SPEC),
    (JOB, "spec", JOB_SPEC),
    (JOB, "status", JOB_STATUS),
    (JOB_SPEC, "template", POD_TEMPLATE_SPEC),
    (CRON_JOB, "spec", CRON_JOB_SPEC),
    (CRON_JOB_SPEC, "jobTemplate", JOB_TEMPLATE_SPEC),
    (JOB_TEMPLATE_SPEC, "metadata", OBJECT_META),
    (JOB_TEMPLATE_SPEC, "spec", JOB_SPEC),
    (HPA, "status", HPA_STATUS),
    (PDB, "status", PDB_STATUS),
    (CSI_NODE, "spec", CSI_NODE_SPEC),
    (API_SERVICE, "status", API_SERVICE_STATUS),
];

// Kind -> top-level definition. Kinds not listed still get ObjectMeta rules.
static ROOTS: &[(&str, &str)] = &[
    ("Pod", POD),
    ("PodTemplate", POD_TEMPLATE),
    ("ReplicationController", RC),
    ("Service", SERVICE),
    ("Node", NODE),
    ("Namespace", NAMESPACE),
    ("ServiceAccount", SERVICE_ACCOUNT),
    ("PersistentVolumeClaim", PVC),
    ("Deployment", DEPLOYMENT),
    ("ReplicaSet", REPLICA_SET),
    ("StatefulSet", STATEFUL_SET),
    ("DaemonSet", DAEMON_SET),
    ("Job", JOB),
    ("CronJob", CRON_JOB),
    ("HorizontalPodAutoscaler", HPA),
    ("PodDisruptionBudget", PDB),
    ("CSINode", CSI_NODE),
    ("APIService", API_SERVICE),
];

// Stands in for the top level of kinds without their own entry.
const GENERIC_ROOT: &str = "";

/// Every `x-kubernetes-patch-*` annotation of the built-in types this crate
/// knows, keyed by OpenAPI definition name (e.g. `io.k8s.api.core.v1.PodSpec`).
pub fn openapi_extensions() -> &'static [PatchExtension] {
    EXTENSIONS
}

/// [`PatchMeta`] for built-in Kubernetes objects of any kind: a path gets
/// the rules of the first built-in kind whose schema has that path. Field
/// paths of different kinds rarely collide, so this is what a server that
/// does not want to pass the kind along can use; [`KubernetesPatchMeta::for_kind`]
/// is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KubernetesPatchMeta;

/// [`PatchMeta`] for objects of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindPatchMeta {
    root: &'static str,
}

impl KubernetesPatchMeta {
    /// Exact metadata for objects of `kind` (e.g. `"Deployment"`). Unknown
    /// kinds (custom resources) get only the `metadata` rules.
    pub fn for_kind(kind: &str) -> KindPatchMeta {
        let root = ROOTS.iter().find(|(k, _)| *k == kind).map(|(_, def)| *def).unwrap_or(GENERIC_ROOT);
        KindPatchMeta { root }
    }
}

fn extension_from(root: &'static str, path: &[&str]) -> Option<&'static PatchExtension> {
    let (field, parents) = path.split_last()?;
    let def = walk(root, parents)?;
    EXTENSIONS.iter().find(|e| e.definition == def && e.field == *field)
}

fn any_kind_extension(path: &[&str]) -> Option<&'static PatchExtension> {
    ROOTS.iter().map(|(_, def)| *def).chain(std::iter::once(GENERIC_ROOT)).find_map(|root| extension_from(root, path))
}

fn walk(root: &'static str, parents: &[&str]) -> Option<&'static str> {
    let mut def = root;
    for (depth, segment) in parents.iter().enumerate() {
        def = if depth == 0 && *segment == "metadata" {
            OBJECT_META
        } else {
            EDGES.iter().find(|(d, f, _)| *d == def && f == segment).map(|(_, _, child)| *child)?
        };
    }
    Some(def)
}

fn list_strategy_of(ext: Option<&PatchExtension>) -> ListStrategy {
    match ext {
        Some(e) if e.strategy.split(',').any(|s| s == "merge") => {
            ListStrategy::Merge { key: e.merge_key.map(str::to_string) }
        }
        _ => ListStrategy::Atomic,
    }
}

fn retain_keys_of(ext: Option<&PatchExtension>) -> bool {
    ext.is_some_and(|e| e.strategy.split(',').any(|s| s == "retainKeys"))
}

impl PatchMeta for KindPatchMeta {
    fn list_strategy(&self, path: &[&str]) -> ListStrategy {
        list_strategy_of(extension_from(self.root, path))
    }

    fn retain_keys(&self, path: &[&str]) -> bool {
        retain_keys_of(extension_from(self.root, path))
    }
}

impl PatchMeta for KubernetesPatchMeta {
    fn list_strategy(&self, path: &[&str]) -> ListStrategy {
        list_strategy_of(any_kind_extension(path))
    }

    fn retain_keys(&self, path: &[&str]) -> bool {
        retain_keys_of(any_kind_extension(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merge(key: &str) -> ListStrategy {
        ListStrategy::Merge { key: Some(key.to_string()) }
    }

    #[test]
    fn pod_spec_lists_resolve_under_every_workload() {
        let cases: &[(&str, &[&str])] = &[
            ("Pod", &["spec"]),
            ("Deployment", &["spec", "template", "spec"]),
            ("ReplicaSet", &["spec", "template", "spec"]),
            ("StatefulSet", &["spec", "template", "spec"]),
            ("DaemonSet", &["spec", "template", "spec"]),
            ("Job", &["spec", "template", "spec"]),
            ("ReplicationController", &["spec", "template", "spec"]),
            ("PodTemplate", &["template", "spec"]),
            ("CronJob", &["spec", "jobTemplate", "spec", "template", "spec"]),
        ];
        for (kind, prefix) in cases {
            let meta = KubernetesPatchMeta::for_kind(kind);
            let at = |tail: &[&str]| {
                let path: Vec<&str> = prefix.iter().chain(tail).copied().collect();
                meta.list_strategy(&path)
            };
            assert_eq!(at(&["containers"]), merge("name"), "{kind}");
            assert_eq!(at(&["initContainers"]), merge("name"), "{kind}");
            assert_eq!(at(&["ephemeralContainers"]), merge("name"), "{kind}");
            assert_eq!(at(&["volumes"]), merge("name"), "{kind}");
            assert_eq!(at(&["imagePullSecrets"]), merge("name"), "{kind}");
            assert_eq!(at(&["hostAliases"]), merge("ip"), "{kind}");
            assert_eq!(at(&["topologySpreadConstraints"]), merge("topologyKey"), "{kind}");
            assert_eq!(at(&["tolerations"]), ListStrategy::Atomic, "{kind}");
            assert_eq!(at(&["containers", "env"]), merge("name"), "{kind}");
            assert_eq!(at(&["containers", "ports"]), merge("containerPort"), "{kind}");
            assert_eq!(at(&["initContainers", "volumeMounts"]), merge("mountPath"), "{kind}");
            assert_eq!(at(&["containers", "volumeDevices"]), merge("devicePath"), "{kind}");
            assert_eq!(at(&["containers", "envFrom"]), ListStrategy::Atomic, "{kind}");
            assert_eq!(at(&["containers", "args"]), ListStrategy::Atomic, "{kind}");
            assert_eq!(at(&["containers", "resizePolicy"]), ListStrategy::Atomic, "{kind}");
            assert_eq!(at(&["ephemeralContainers", "env"]), merge("name"), "{kind}");
            assert!(meta.retain_keys(&prefix.iter().chain(&["volumes"]).copied().collect::<Vec<_>>()));
        }
    }

    #[test]
    fn template_metadata_and_top_level_metadata() {
        let d = KubernetesPatchMeta::for_kind("Deployment");
        let primitive = ListStrategy::Merge { key: None };
        assert_eq!(d.list_strategy(&["metadata", "finalizers"]), primitive);
        assert_eq!(d.list_strategy(&["metadata", "ownerReferences"]), merge("uid"));
        assert_eq!(d.list_strategy(&["spec", "template", "metadata", "finalizers"]), primitive);
        let custom = KubernetesPatchMeta::for_kind("Widget");
        assert_eq!(custom.list_strategy(&["metadata", "finalizers"]), primitive);
        assert_eq!(custom.list_strategy(&["spec", "containers"]), ListStrategy::Atomic);
    }

    #[test]
    fn kind_specific_fields() {
        let svc = KubernetesPatchMeta::for_kind("Service");
        assert_eq!(svc.list_strategy(&["spec", "ports"]), merge("port"));
        assert_eq!(svc.list_strategy(&["status", "conditions"]), merge("type"));
        let node = KubernetesPatchMeta::for_kind("Node");
        assert_eq!(node.list_strategy(&["status", "addresses"]), merge("type"));
        assert_eq!(node.list_strategy(&["spec", "taints"]), ListStrategy::Atomic);
        assert_eq!(node.list_strategy(&["spec", "podCIDRs"]), ListStrategy::Merge { key: None });
        let sa = KubernetesPatchMeta::for_kind("ServiceAccount");
        assert_eq!(sa.list_strategy(&["secrets"]), merge("name"));
        assert_eq!(sa.list_strategy(&["imagePullSecrets"]), ListStrategy::Atomic);
        let d = KubernetesPatchMeta::for_kind("Deployment");
        assert!(d.retain_keys(&["spec", "strategy"]));
        assert_eq!(d.list_strategy(&["spec", "strategy"]), ListStrategy::Atomic);
        assert_eq!(d.list_strategy(&["status", "conditions"]), merge("type"));
        assert_eq!(d.list_strategy(&["spec", "ports"]), ListStrategy::Atomic, "Service rules stay with Services");
        let sts = KubernetesPatchMeta::for_kind("StatefulSet");
        assert_eq!(sts.list_strategy(&["spec", "volumeClaimTemplates"]), ListStrategy::Atomic);
        let pod = KubernetesPatchMeta::for_kind("Pod");
        assert_eq!(pod.list_strategy(&["status", "podIPs"]), merge("ip"));
        assert_eq!(pod.list_strategy(&["status", "containerStatuses"]), ListStrategy::Atomic);
        assert_eq!(pod.list_strategy(&[]), ListStrategy::Atomic);
    }

    #[test]
    fn any_kind_matches_by_shape() {
        let any = KubernetesPatchMeta;
        assert_eq!(any.list_strategy(&["spec", "template", "spec", "containers"]), merge("name"));
        assert_eq!(any.list_strategy(&["spec", "ports"]), merge("port"));
        assert_eq!(any.list_strategy(&["metadata", "finalizers"]), ListStrategy::Merge { key: None });
        assert_eq!(any.list_strategy(&["spec", "nope"]), ListStrategy::Atomic);
    }

    #[test]
    fn openapi_table_is_consistent() {
        for e in openapi_extensions() {
            assert!(e.definition.starts_with("io.k8s."), "{e:?}");
            assert!(!e.field.is_empty());
            for part in e.strategy.split(',') {
                assert!(matches!(part, "merge" | "retainKeys"), "{e:?}");
            }
            if e.merge_key.is_some() {
                assert!(e.strategy.contains("merge"), "{e:?}");
            }
            // Every annotated definition must be reachable from some kind.
            let def = e.definition;
            let reachable = def == OBJECT_META
                || ROOTS.iter().any(|(_, r)| *r == def)
                || EDGES.iter().any(|(_, _, child)| *child == def);
            assert!(reachable, "{def}");
        }
        let containers = openapi_extensions()
            .iter()
            .find(|e| e.definition == "io.k8s.api.core.v1.PodSpec" && e.field == "containers");
        assert_eq!(containers.map(|e| (e.strategy, e.merge_key)), Some(("merge", Some("name"))));
    }
}
