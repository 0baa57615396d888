//! Printer for rbac.authorization.k8s.io RoleBindings and ClusterRoleBindings.
//! Roles and ClusterRoles have no printer in Kubernetes and use the built-in
//! fallback (Name, Created At).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::value::Obj;
use crate::{age, age_column, column, name_column, wide, Printer};

pub(crate) static ROLEBINDINGS: Printer = Printer {
    columns: &[
        name_column(),
        column(
            "Role",
            "string",
            "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.",
        ),
        age_column(),
        wide("Users", "string", "Users in the roleBinding"),
        wide("Groups", "string", "Groups in the roleBinding"),
        wide("ServiceAccounts", "string", "ServiceAccounts in the roleBinding"),
    ],
    cells: role_binding,
};

fn role_binding(rb: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let role = format!("{}/{}", rb.str(&["roleRef", "kind"]), rb.str(&["roleRef", "name"]));
    let (mut users, mut groups, mut service_accounts) = (Vec::new(), Vec::new(), Vec::new());
    for subject in rb.list(&["subjects"]) {
        let name = subject.str(&["name"]);
        match subject.str(&["kind"]) {
            "User" => users.push(name.to_string()),
            "Group" => groups.push(name.to_string()),
            "ServiceAccount" => service_accounts.push(format!("{}/{name}", subject.str(&["namespace"]))),
            // Unknown subject kinds are not shown in any column.
            _ => {}
        }
    }
    vec![
        Value::from(rb.name()),
        Value::from(role),
        age(rb, now),
        Value::from(users.join(", ")),
        Value::from(groups.join(", ")),
        Value::from(service_accounts.join(", ")),
    ]
}
