//! The custom-object phase's pieces: the benchmark's CustomResourceDefinition
//! (`gadgets.bench.skiff.dev`, a structural schema with typed, constrained
//! fields and a default), waiting for it to be Established and served, a
//! check that the server really rejects invalid objects, and the create
//! worker. Every object the worker sends satisfies the schema, so any
//! non-2xx answer is a real error.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::conn::{error_message, Client, Endpoint};
use crate::kube::{clock_us, resource_version, Collection, NAMESPACE};
use crate::load::Worker;

pub const GROUP: &str = "bench.skiff.dev";
pub const VERSION: &str = "v1";
pub const KIND: &str = "Gadget";
pub const PLURAL: &str = "gadgets";
/// Every benchmark Gadget's name starts with this (the invalid probes' do not).
pub const NAME_PREFIX: &str = "gd-";
/// The value the schema defaults `spec.tier` to; creates leave it out.
pub const DEFAULT_TIER: &str = "standard";
const COLORS: [&str; 3] = ["red", "green", "blue"];
const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

pub fn crd_name() -> String {
    format!("{PLURAL}.{GROUP}")
}

pub fn collection() -> Collection {
    Collection { path: format!("/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}"), prefix: NAME_PREFIX }
}

/// The CRD: namespaced, one version served and stored, with a `spec` of
/// typed fields under an enum, a range, a pattern and length limits, and a
/// default. `data` is limited to exactly `value_size` characters.
pub fn crd(value_size: usize) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": crd_name()},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": "gadget", "kind": KIND, "listKind": "GadgetList"},
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["color", "replicas", "tag", "data", "sentMicros"],
                            "properties": {
                                "color": {"type": "string", "enum": COLORS},
                                "replicas": {"type": "integer", "minimum": 1, "maximum": 1000},
                                "tag": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$", "maxLength": 32},
                                "data": {"type": "string", "minLength": value_size, "maxLength": value_size},
                                "sentMicros": {"type": "string", "pattern": "^[0-9]+$", "maxLength": 20},
                                "tier": {"type": "string", "enum": [DEFAULT_TIER, "premium"], "default": DEFAULT_TIER},
                            },
                        },
                    },
                }},
            }],
        },
    })
}

/// A valid Gadget for operation `ticket`, stamped with its send time.
pub fn gadget(name: &str, ticket: u64, value: &str) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": KIND,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "color": COLORS[(ticket % COLORS.len() as u64) as usize],
            "replicas": ticket % 1000 + 1,
            "tag": format!("t-{ticket:x}"),
            "data": value,
            "sentMicros": clock_us().to_string(),
        },
    })
}

/// An invalid Gadget: what is wrong with it, and the field a rejection must name.
pub struct Invalid {
    pub what: &'static str,
    pub field: &'static str,
    pub object: Value,
}

/// Invalid Gadgets, one broken constraint each.
pub fn invalid_gadgets(value: &str) -> Vec<Invalid> {
    let mut cases = Vec::new();
    let mut case = |what: &'static str, field: &'static str, bad: Value| {
        let mut object = gadget(&format!("bad-{}", cases.len()), 0, value);
        object["spec"][field] = bad;
        cases.push(Invalid { what, field, object });
    };
    case("color not in the enum", "color", json!("purple"));
    case("replicas above the maximum", "replicas", json!(1001));
    case("replicas not an integer", "replicas", json!("two"));
    case("tag not matching the pattern", "tag", json!("Not_A_Tag"));
    case("data longer than maxLength", "data", json!(format!("{value}x")));
    let mut missing = gadget("bad-missing", 0, value);
    if let Some(spec) = missing["spec"].as_object_mut() {
        spec.remove("color");
    }
    cases.push(Invalid { what: "required color missing", field: "color", object: missing });
    cases
}

/// What the set-up before the custom phase found; printed with the results.
#[derive(Serialize, Debug, Default, Clone)]
pub struct Setup {
    pub crd: String,
    /// From the CRD's POST to its `Established` condition being True and
    /// its collection answering.
    pub established_ms: Option<f64>,
    /// Invalid Gadgets sent, and how many the server rejected with 422 and
    /// a message naming the broken field.
    pub invalid_probes: usize,
    pub invalid_rejected: usize,
    /// Each probe and the server's answer (the Status message).
    pub rejections: Vec<String>,
    /// The first probe that was not rejected that way, and the answer.
    pub first_unexpected: Option<String>,
    /// Why the custom phase did not run, when it did not.
    pub error: Option<String>,
}

impl Setup {
    pub fn clean(&self) -> bool {
        self.error.is_none() && self.invalid_rejected == self.invalid_probes
    }
}

/// Creates the CRD and waits (at most `timeout`) until it is Established and
/// its collection answers; fills in `setup.established_ms`.
pub async fn install(
    endpoint: &Endpoint,
    value_size: usize,
    timeout: Duration,
    setup: &mut Setup,
) -> anyhow::Result<()> {
    let mut client = Client::new(endpoint.clone());
    let started = Instant::now();
    let deadline = started + timeout;
    let body = Bytes::from(crd(value_size).to_string());
    let reply = client.call(Method::POST, CRDS, Some(body)).await.context("creating the CRD")?;
    if !reply.status.is_success() {
        bail!("creating CRD {}: HTTP {}: {}", crd_name(), reply.status.as_u16(), error_message(&reply.body));
    }
    let path = format!("{CRDS}/{}", crd_name());
    loop {
        let reply = client.call(Method::GET, &path, None).await.context("reading the CRD")?;
        let last = if !reply.status.is_success() {
            format!("HTTP {}: {}", reply.status.as_u16(), error_message(&reply.body))
        } else {
            let crd: Value = serde_json::from_slice(&reply.body).context("the CRD is not JSON")?;
            let established = condition(&crd, "Established");
            if established.as_ref().is_some_and(|c| c["status"] == "True") {
                break;
            }
            match established.or_else(|| condition(&crd, "NamesAccepted")) {
                Some(c) => format!("{} {}: {} ({})", c["type"], c["status"], c["reason"], c["message"]),
                None => "no conditions yet".to_string(),
            }
        };
        if Instant::now() >= deadline {
            bail!("CRD {} not Established within {timeout:?}; last seen: {last}", crd_name());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Established is written after the registry serves the kind; check anyway.
    let list = format!("{}?limit=1", collection().path);
    loop {
        let reply = client.call(Method::GET, &list, None).await.context("listing gadgets")?;
        if reply.status.is_success() {
            break;
        }
        if Instant::now() >= deadline {
            bail!(
                "CRD {} Established but {} answers HTTP {}: {}",
                crd_name(),
                collection().path,
                reply.status.as_u16(),
                error_message(&reply.body)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    setup.established_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    Ok(())
}

fn condition(crd: &Value, type_: &str) -> Option<Value> {
    crd["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_).cloned()
}

/// Sends every invalid Gadget and counts the answers that are 422 with a
/// message naming `spec.<field>`; the first other answer is kept for the
/// report. Accepted probes are deleted again.
pub async fn probe_validation(endpoint: &Endpoint, value: &str, setup: &mut Setup) -> anyhow::Result<()> {
    let mut client = Client::new(endpoint.clone());
    let path = collection().path;
    for Invalid { what, field, object } in invalid_gadgets(value) {
        setup.invalid_probes += 1;
        let body = Some(Bytes::from(object.to_string()));
        let reply = client.call(Method::POST, &path, body).await.context("posting an invalid object")?;
        let message = error_message(&reply.body);
        let answer = format!("{what}: HTTP {}: {message}", reply.status.as_u16());
        setup.rejections.push(answer.clone());
        if reply.status.as_u16() == 422 && message.contains(&format!("spec.{field}")) {
            setup.invalid_rejected += 1;
            continue;
        }
        setup.first_unexpected.get_or_insert(answer);
        if reply.status.is_success() {
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let _ = client.call(Method::DELETE, &format!("{path}/{name}"), None).await;
        }
    }
    Ok(())
}

/// The collection's resourceVersion, for the watches to start from.
pub async fn list_version(endpoint: &Endpoint) -> anyhow::Result<String> {
    let mut client = Client::new(endpoint.clone());
    let reply =
        client.call(Method::GET, &format!("{}?limit=1", collection().path), None).await.context("listing gadgets")?;
    if !reply.status.is_success() {
        bail!("listing gadgets: HTTP {}: {}", reply.status.as_u16(), error_message(&reply.body));
    }
    resource_version(&reply.body).map_err(anyhow::Error::msg)
}

/// Creates valid Gadgets, one per ticket, and checks that each answer
/// carries a resourceVersion and the defaulted `spec.tier`.
pub struct Create {
    client: Client,
    path: String,
    value: String,
}

impl Create {
    pub fn new(endpoint: Endpoint, value: String) -> Create {
        Create { client: Client::new(endpoint), path: collection().path, value }
    }
}

#[derive(Deserialize)]
struct Created {
    spec: Option<CreatedSpec>,
}

#[derive(Deserialize)]
struct CreatedSpec {
    tier: Option<String>,
}

impl Worker for Create {
    async fn run(&mut self, ticket: u64) -> Result<(), String> {
        let name = format!("{NAME_PREFIX}{ticket:07}");
        let body = Bytes::from(gadget(&name, ticket, &self.value).to_string());
        let reply = self.client.expect_ok(Method::POST, &self.path, Some(body)).await?;
        resource_version(&reply)?;
        let created: Created = serde_json::from_slice(&reply).map_err(|e| format!("response is not a Gadget: {e}"))?;
        match created.spec.and_then(|s| s.tier) {
            Some(t) if t == DEFAULT_TIER => Ok(()),
            other => Err(format!("spec.tier was not defaulted to {DEFAULT_TIER:?}: got {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gadgets_fill_every_required_field_and_vary() {
        let g = gadget("gd-1", 4, "abcd");
        assert_eq!(g["apiVersion"], "bench.skiff.dev/v1");
        assert_eq!(g["spec"]["color"], "green");
        assert_eq!(g["spec"]["replicas"], 5);
        assert_eq!(g["spec"]["tag"], "t-4");
        assert_eq!(g["spec"]["data"], "abcd");
        assert!(g["spec"].get("tier").is_none(), "tier is left to the default");
        assert_eq!(gadget("gd-2", 999, "")["spec"]["replicas"], 1000);
        let crd = crd(4);
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        for f in spec["required"].as_array().expect("required") {
            assert!(g["spec"].get(f.as_str().expect("name")).is_some(), "{f} missing");
        }
        assert_eq!(spec["properties"]["data"]["maxLength"], 4);
    }

    #[test]
    fn each_invalid_gadget_breaks_one_thing_and_is_not_counted_by_watchers() {
        let cases = invalid_gadgets("abcd");
        assert_eq!(cases.len(), 6);
        for c in &cases {
            let name = c.object["metadata"]["name"].as_str().expect("name");
            assert!(!name.starts_with(NAME_PREFIX), "{}: {name}", c.what);
        }
        assert_eq!(cases[4].object["spec"]["data"], "abcdx");
        assert!(cases[5].object["spec"].get("color").is_none());
    }
}
