//! Who makes a request. Today one credential (the admin token) and the
//! server's own controllers; RBAC will decide what each may do.

use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl User {
    /// The holder of the admin token, as Kubernetes names its cluster admin.
    pub fn admin() -> Arc<User> {
        Arc::new(User {
            name: "system:admin".into(),
            uid: String::new(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        })
    }

    /// One of the server's own components (`system:skiff:scheduler`, …),
    /// so audit records and admission plugins can tell them apart.
    pub fn component(name: &str) -> Arc<User> {
        Arc::new(User {
            name: format!("system:skiff:{name}"),
            uid: String::new(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        })
    }

    /// The server itself (its controllers and bootstrap).
    pub fn server() -> Arc<User> {
        Arc::new(User {
            name: "system:skiff".into(),
            uid: String::new(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        })
    }
}
