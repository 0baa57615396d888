//! Printers for networking.k8s.io (Ingress, IngressClass, NetworkPolicy) and
//! discovery.k8s.io (EndpointSlice).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::core::load_balancer_ingress;
use crate::labels::format_label_selector;
use crate::value::Obj;
use crate::{age, age_column, column, name_column, Printer};

pub(crate) static INGRESSES: Printer = Printer {
    columns: &[
        name_column(),
        column(
            "Class",
            "string",
            "The name of the IngressClass resource that should be used for additional configuration",
        ),
        column("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
        column("Address", "string", "Address is a list containing ingress points for the load-balancer"),
        column("Ports", "string", "Ports of TLS configurations that open"),
        age_column(),
    ],
    cells: ingress,
};

fn ingress(ing: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let spec = ing.get(&["spec"]);
    let ports = if spec.len(&["tls"]) > 0 { "80, 443" } else { "80" };
    vec![
        Value::from(ing.name()),
        Value::from(spec.opt_str(&["ingressClassName"]).unwrap_or("<none>")),
        Value::from(format_hosts(&spec.list(&["rules"]))),
        Value::from(load_balancer_ingress(ing.get(&["status", "loadBalancer"])).join(",")),
        Value::from(ports),
        age(ing, now),
    ]
}

/// Up to three rule hosts, "*" when no rule names one.
fn format_hosts(rules: &[Obj<'_>]) -> String {
    const SHOWN: usize = 3;
    let mut hosts: Vec<&str> = Vec::new();
    // Any rule met after three hosts were collected means there is more; the count of
    // "more" is then all rules beyond three, hostless ones included.
    let mut more = false;
    for rule in rules {
        if hosts.len() == SHOWN {
            more = true;
        }
        let host = rule.str(&["host"]);
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        return "*".to_string();
    }
    if more {
        format!("{} + {} more...", hosts.join(","), rules.len().saturating_sub(SHOWN))
    } else {
        hosts.join(",")
    }
}

pub(crate) static INGRESSCLASSES: Printer = Printer {
    columns: &[
        name_column(),
        column("Controller", "string", "Controller that is responsible for handling this class"),
        column("Parameters", "string", "A reference to a resource with additional parameters"),
        age_column(),
    ],
    cells: ingress_class,
};

fn ingress_class(ic: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let params = ic.get(&["spec", "parameters"]);
    let parameters = if params.has(&[]) {
        let mut kind = params.str(&["kind"]).to_string();
        if let Some(group) = params.opt_str(&["apiGroup"]) {
            kind = format!("{kind}.{group}");
        }
        format!("{kind}/{}", params.str(&["name"]))
    } else {
        "<none>".to_string()
    };
    vec![Value::from(ic.name()), Value::from(ic.str(&["spec", "controller"])), Value::from(parameters), age(ic, now)]
}

pub(crate) static NETWORKPOLICIES: Printer = Printer {
    columns: &[
        name_column(),
        column("Pod-Selector", "string", "podSelector selects the pods to which this NetworkPolicy object applies."),
        age_column(),
    ],
    cells: network_policy,
};

fn network_policy(np: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    vec![Value::from(np.name()), Value::from(format_label_selector(np.get(&["spec", "podSelector"]))), age(np, now)]
}

pub(crate) static ENDPOINTSLICES: Printer = Printer {
    columns: &[
        name_column(),
        column("AddressType", "string", "addressType specifies the type of address carried by this EndpointSlice."),
        column("Ports", "string", "ports specifies the list of network ports exposed by each endpoint in this slice."),
        column("Endpoints", "string", "endpoints is a list of unique endpoints in this slice."),
        age_column(),
    ],
    cells: endpoint_slice,
};

fn endpoint_slice(es: Obj<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let ports: Vec<String> = es
        .list(&["ports"])
        .iter()
        .map(|p| match (p.opt_int(&["port"]), p.opt_str(&["name"])) {
            (Some(port), _) => port.to_string(),
            (None, Some(name)) => name.to_string(),
            (None, None) => "*".to_string(),
        })
        .collect();
    let addresses: Vec<String> =
        es.list(&["endpoints"]).iter().flat_map(|e| e.strs(&["addresses"])).map(str::to_string).collect();
    vec![
        Value::from(es.name()),
        Value::from(es.str(&["addressType"])),
        Value::from(list_with_more(&ports)),
        Value::from(list_with_more(&addresses)),
        age(es, now),
    ]
}

/// First three items, "+ N more..." for the rest, "<unset>" for none.
fn list_with_more(items: &[String]) -> String {
    const SHOWN: usize = 3;
    match items.len() {
        0 => "<unset>".to_string(),
        n if n > SHOWN => format!("{} + {} more...", items[..SHOWN].join(","), n - SHOWN),
        _ => items.join(","),
    }
}
