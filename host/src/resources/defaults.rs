//! Defaulting, as Kubernetes' `SetDefaults_*` functions do it, on the typed
//! objects: a field a user leaves out reads back with the value Kubernetes
//! would have given it.

use k8s_openapi::api::{apps, batch, coordination, core, discovery, networking, rbac, storage};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Fills in the fields Kubernetes defaults. Most types have none.
pub trait Defaults {
    fn apply_defaults(&mut self) {}
}

macro_rules! no_defaults {
    ($($t:ty),* $(,)?) => { $(impl Defaults for $t {})* };
}

no_defaults!(
    core::v1::Node,
    core::v1::ConfigMap,
    core::v1::Event,
    core::v1::ServiceAccount,
    apps::v1::ControllerRevision,
    rbac::v1::Role,
    rbac::v1::RoleBinding,
    rbac::v1::ClusterRole,
    rbac::v1::ClusterRoleBinding,
    coordination::v1::Lease,
);

fn set<T>(field: &mut Option<T>, value: T) {
    if field.is_none() {
        *field = Some(value);
    }
}

fn percent(p: &str) -> IntOrString {
    IntOrString::String(p.to_string())
}

impl Defaults for core::v1::Namespace {
    fn apply_defaults(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        set(&mut spec.finalizers, vec!["kubernetes".to_string()]);
    }
}

impl Defaults for core::v1::Pod {
    fn apply_defaults(&mut self) {
        if let Some(spec) = self.spec.as_mut() {
            pod_spec(spec);
        }
    }
}

fn pod_template(template: &mut core::v1::PodTemplateSpec) {
    if let Some(spec) = template.spec.as_mut() {
        pod_spec(spec);
    }
}

pub fn pod_spec(spec: &mut core::v1::PodSpec) {
    set(&mut spec.restart_policy, "Always".into());
    set(&mut spec.termination_grace_period_seconds, 30);
    set(&mut spec.dns_policy, "ClusterFirst".into());
    set(&mut spec.security_context, Default::default());
    set(&mut spec.scheduler_name, "default-scheduler".into());
    set(&mut spec.enable_service_links, true);
    for c in spec.containers.iter_mut() {
        container(c);
    }
    for c in spec.init_containers.iter_mut().flatten() {
        container(c);
    }
    for v in spec.volumes.iter_mut().flatten() {
        volume(v);
    }
}

fn container(c: &mut core::v1::Container) {
    if c.image_pull_policy.is_none() {
        c.image_pull_policy = Some(pull_policy_for(c.image.as_deref().unwrap_or("")).into());
    }
    set(&mut c.termination_message_path, "/dev/termination-log".into());
    set(&mut c.termination_message_policy, "File".into());
    set(&mut c.resources, Default::default());
    for p in c.ports.iter_mut().flatten() {
        set(&mut p.protocol, "TCP".into());
    }
    for probe in [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe].into_iter().flatten() {
        set(&mut probe.timeout_seconds, 1);
        set(&mut probe.period_seconds, 10);
        set(&mut probe.success_threshold, 1);
        set(&mut probe.failure_threshold, 3);
        if let Some(http) = probe.http_get.as_mut() {
            set(&mut http.path, "/".into());
            set(&mut http.scheme, "HTTP".into());
        }
    }
    for env in c.env.iter_mut().flatten() {
        if let Some(field) = env.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            set(&mut field.api_version, "v1".into());
        }
    }
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent`.
pub fn pull_policy_for(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn volume(v: &mut core::v1::Volume) {
    let has_source = v.host_path.is_some()
        || v.empty_dir.is_some()
        || v.config_map.is_some()
        || v.secret.is_some()
        || v.persistent_volume_claim.is_some()
        || v.downward_api.is_some()
        || v.projected.is_some()
        || v.nfs.is_some()
        || v.csi.is_some()
        || v.ephemeral.is_some()
        || v.image.is_some()
        || v.iscsi.is_some();
    if !has_source {
        v.empty_dir = Some(Default::default());
    }
    if let Some(cm) = v.config_map.as_mut() {
        set(&mut cm.default_mode, 0o644);
    }
    if let Some(secret) = v.secret.as_mut() {
        set(&mut secret.default_mode, 0o644);
    }
    if let Some(host) = v.host_path.as_mut() {
        set(&mut host.type_, String::new());
    }
    if let Some(d) = v.downward_api.as_mut() {
        set(&mut d.default_mode, 0o644);
    }
    if let Some(p) = v.projected.as_mut() {
        set(&mut p.default_mode, 0o644);
    }
}

impl Defaults for core::v1::Service {
    fn apply_defaults(&mut self) {
        let Some(spec) = self.spec.as_mut() else { return };
        set(&mut spec.type_, "ClusterIP".into());
        set(&mut spec.session_affinity, "None".into());
        if spec.type_.as_deref() != Some("ExternalName") {
            set(&mut spec.internal_traffic_policy, "Cluster".into());
        }
        if matches!(spec.type_.as_deref(), Some("NodePort") | Some("LoadBalancer")) {
            set(&mut spec.external_traffic_policy, "Cluster".into());
        }
        for p in spec.ports.iter_mut().flatten() {
            set(&mut p.protocol, "TCP".into());
            if p.target_port.is_none() {
                p.target_port = Some(IntOrString::Int(p.port));
            }
        }
    }
}

impl Defaults for core::v1::Endpoints {
    fn apply_defaults(&mut self) {
        for subset in self.subsets.iter_mut().flatten() {
            for p in subset.ports.iter_mut().flatten() {
                set(&mut p.protocol, "TCP".into());
            }
        }
    }
}

impl Defaults for discovery::v1::EndpointSlice {
    fn apply_defaults(&mut self) {
        for p in self.ports.iter_mut().flatten() {
            set(&mut p.protocol, "TCP".into());
        }
    }
}

impl Defaults for core::v1::Secret {
    fn apply_defaults(&mut self) {
        set(&mut self.type_, "Opaque".into());
        // stringData is write-only: it is merged into data and never stored.
        if let Some(strings) = self.string_data.take() {
            let data = self.data.get_or_insert_with(Default::default);
            for (k, v) in strings {
                data.insert(k, k8s_openapi::ByteString(v.into_bytes()));
            }
        }
    }
}

impl Defaults for core::v1::PersistentVolume {
    fn apply_defaults(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        set(&mut spec.persistent_volume_reclaim_policy, "Retain".into());
        set(&mut spec.volume_mode, "Filesystem".into());
    }
}

impl Defaults for core::v1::PersistentVolumeClaim {
    fn apply_defaults(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        set(&mut spec.volume_mode, "Filesystem".into());
    }
}

impl Defaults for storage::v1::StorageClass {
    fn apply_defaults(&mut self) {
        set(&mut self.reclaim_policy, "Delete".into());
        set(&mut self.volume_binding_mode, "Immediate".into());
    }
}

impl Defaults for apps::v1::Deployment {
    fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        set(&mut spec.replicas, 1);
        set(&mut spec.revision_history_limit, 10);
        set(&mut spec.progress_deadline_seconds, 600);
        let strategy = spec.strategy.get_or_insert_with(Default::default);
        set(&mut strategy.type_, "RollingUpdate".into());
        if strategy.type_.as_deref() == Some("RollingUpdate") {
            let rolling = strategy.rolling_update.get_or_insert_with(Default::default);
            set(&mut rolling.max_unavailable, percent("25%"));
            set(&mut rolling.max_surge, percent("25%"));
        }
        pod_template(&mut spec.template);
    }
}

impl Defaults for apps::v1::ReplicaSet {
    fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        set(&mut spec.replicas, 1);
        if let Some(t) = spec.template.as_mut() {
            pod_template(t);
        }
    }
}

impl Defaults for apps::v1::StatefulSet {
    fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        set(&mut spec.replicas, 1);
        set(&mut spec.pod_management_policy, "OrderedReady".into());
        set(&mut spec.revision_history_limit, 10);
        let strategy = spec.update_strategy.get_or_insert_with(Default::default);
        set(&mut strategy.type_, "RollingUpdate".into());
        if strategy.type_.as_deref() == Some("RollingUpdate") {
            let rolling = strategy.rolling_update.get_or_insert_with(Default::default);
            set(&mut rolling.partition, 0);
        }
        let retention = spec.persistent_volume_claim_retention_policy.get_or_insert_with(Default::default);
        set(&mut retention.when_deleted, "Retain".into());
        set(&mut retention.when_scaled, "Retain".into());
        for claim in spec.volume_claim_templates.iter_mut().flatten() {
            if let Some(s) = claim.spec.as_mut() {
                set(&mut s.volume_mode, "Filesystem".into());
            }
        }
        pod_template(&mut spec.template);
    }
}

impl Defaults for apps::v1::DaemonSet {
    fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        set(&mut spec.revision_history_limit, 10);
        let strategy = spec.update_strategy.get_or_insert_with(Default::default);
        set(&mut strategy.type_, "RollingUpdate".into());
        if strategy.type_.as_deref() == Some("RollingUpdate") {
            let rolling = strategy.rolling_update.get_or_insert_with(Default::default);
            set(&mut rolling.max_unavailable, IntOrString::Int(1));
            set(&mut rolling.max_surge, IntOrString::Int(0));
        }
        pod_template(&mut spec.template);
    }
}

fn job_spec(spec: &mut batch::v1::JobSpec) {
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
        spec.parallelism = Some(1);
    }
    set(&mut spec.parallelism, 1);
    set(&mut spec.backoff_limit, 6);
    set(&mut spec.completion_mode, "NonIndexed".into());
    set(&mut spec.suspend, false);
    set(&mut spec.manual_selector, false);
    set(&mut spec.pod_replacement_policy, "TerminatingOrFailed".into());
    pod_template(&mut spec.template);
}

impl Defaults for batch::v1::Job {
    fn apply_defaults(&mut self) {
        if let Some(spec) = self.spec.as_mut() {
            job_spec(spec);
        }
    }
}

impl Defaults for batch::v1::CronJob {
    fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        set(&mut spec.concurrency_policy, "Allow".into());
        set(&mut spec.suspend, false);
        set(&mut spec.successful_jobs_history_limit, 3);
        set(&mut spec.failed_jobs_history_limit, 1);
        if let Some(job) = spec.job_template.spec.as_mut() {
            job_spec(job);
        }
    }
}

impl Defaults for networking::v1::Ingress {}

impl Defaults for networking::v1::NetworkPolicy {
    fn apply_defaults(&mut self) {
        let Some(spec) = self.spec.as_mut() else { return };
        for rule in spec.ingress.iter_mut().flatten() {
            for p in rule.ports.iter_mut().flatten() {
                set(&mut p.protocol, "TCP".into());
            }
        }
        for rule in spec.egress.iter_mut().flatten() {
            for p in rule.ports.iter_mut().flatten() {
                set(&mut p.protocol, "TCP".into());
            }
        }
        if spec.policy_types.is_none() {
            let mut types = vec!["Ingress".to_string()];
            if spec.egress.is_some() {
                types.push("Egress".to_string());
            }
            spec.policy_types = Some(types);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy_for("nginx"), "Always");
        assert_eq!(pull_policy_for("nginx:latest"), "Always");
        assert_eq!(pull_policy_for("nginx:1.27"), "IfNotPresent");
        assert_eq!(pull_policy_for("localhost:5000/nginx"), "Always");
        assert_eq!(pull_policy_for("localhost:5000/nginx:1"), "IfNotPresent");
        assert_eq!(pull_policy_for("nginx@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn deployment_gets_kubernetes_defaults() {
        let mut d: apps::v1::Deployment = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}}
        }))
        .expect("valid");
        d.apply_defaults();
        let v = serde_json::to_value(&d).expect("serialise");
        assert_eq!(v["spec"]["replicas"], 1);
        assert_eq!(v["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        let pod = &v["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Always");
        assert_eq!(pod["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(pod["containers"][0]["ports"][0]["protocol"], "TCP");
    }

    #[test]
    fn recreate_strategy_gets_no_rolling_update_block() {
        let mut d: apps::v1::Deployment = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"strategy": {"type": "Recreate"}, "selector": {}, "template": {}}
        }))
        .expect("valid");
        d.apply_defaults();
        let v = serde_json::to_value(&d).expect("serialise");
        assert!(v["spec"]["strategy"].get("rollingUpdate").is_none());
    }
}

impl Defaults for k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    fn apply_defaults(&mut self) {
        let conversion = self.spec.conversion.get_or_insert_with(Default::default);
        if conversion.strategy.is_empty() {
            conversion.strategy = "None".into();
        }
    }
}
