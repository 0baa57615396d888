//! One file per kind with behaviour of its own: what Kubernetes keeps in
//! the kind's registry strategy. Kinds with none use [`super::Plain`].

mod configmap;
mod cronjob;
mod customresourcedefinition;
mod daemonset;
mod deployment;
mod endpointslice;
mod event;
mod ingress;
mod job;
mod namespace;
mod node;
mod persistentvolume;
mod persistentvolumeclaim;
mod pod;
mod podpreset;
mod rbac;
mod replicaset;
mod secret;
mod service;
mod statefulset;
mod storageclass;
pub mod wasmplugin;

pub use configmap::ConfigMap;
pub use cronjob::CronJob;
pub use customresourcedefinition::CustomResourceDefinition;
pub use daemonset::DaemonSet;
pub use deployment::Deployment;
pub use endpointslice::EndpointSlice;
pub use event::Event;
pub use ingress::Ingress;
pub use job::Job;
pub use namespace::Namespace;
pub use node::Node;
pub use persistentvolume::PersistentVolume;
pub use persistentvolumeclaim::PersistentVolumeClaim;
pub use pod::Pod;
pub use podpreset::PodPreset;
pub use rbac::{Rbac, RoleBinding};
pub use replicaset::ReplicaSet;
pub use secret::Secret;
pub use service::Service;
pub use statefulset::StatefulSet;
pub use storageclass::StorageClass;
pub use wasmplugin::{AdmissionSpec, ResourceRule, WasmPlugin, WasmPluginStrategy};

use serde_json::Value;

/// A fresh status: what Kubernetes' strategies set on create.
fn reset_status(obj: &mut Value, status: Value) {
    if obj.is_object() {
        obj["status"] = status;
    }
}
