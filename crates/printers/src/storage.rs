//! Printer for storage.k8s.io StorageClasses.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::value::Obj;
use crate::{age, age_column, column, name_column, Printer};

pub(crate) static STORAGECLASSES: Printer = Printer {
    columns: &[
        name_column(),
        column("Provisioner", "string", "provisioner indicates the type of the provisioner."),
        column("ReclaimPolicy", "string", "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete."),
        column("VolumeBindingMode", "string", "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound. When unset, VolumeBindingImmediate is used."),
        column("AllowVolumeExpansion", "string", "allowVolumeExpansion shows whether the storage class allow volume expand."),
        age_column(),
    ],
    cells: storage_class,
};

const IS_DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
const BETA_IS_DEFAULT_CLASS_ANNOTATION: &str = "storageclass.beta.kubernetes.io/is-default-class";

fn storage_class(sc: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let is_default = [IS_DEFAULT_CLASS_ANNOTATION, BETA_IS_DEFAULT_CLASS_ANNOTATION]
        .iter()
        .any(|key| sc.annotation(key) == Some("true"));
    let name = if is_default { format!("{} (default)", sc.name()) } else { sc.name().to_string() };
    vec![
        Value::from(name),
        Value::from(sc.str(&["provisioner"])),
        Value::from(sc.opt_str(&["reclaimPolicy"]).unwrap_or("Delete")),
        Value::from(sc.opt_str(&["volumeBindingMode"]).unwrap_or("Immediate")),
        Value::from(sc.bool(&["allowVolumeExpansion"])),
        age(sc, now),
    ]
}
