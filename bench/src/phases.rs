//! The four measured phases against skiff — create, get, list, update — as
//! load workers, plus the namespace set-up before them. Each worker owns one
//! pooled connection; objects a create worker made are handed on to the get
//! and update workers.

use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use http::Method;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::conn::{error_message, Client, Endpoint};
use crate::kube::{self, collection_path, configmap, object_path, resource_version};
use crate::load::Worker;

/// An object the benchmark created, with the resourceVersion it last saw.
#[derive(Clone, Debug)]
pub struct Object {
    pub name: String,
    pub resource_version: String,
}

/// Creates the benchmark namespace (fine if it exists) and returns the
/// collection's resourceVersion for the watches to start from.
pub async fn prepare(endpoint: &Endpoint) -> anyhow::Result<String> {
    let mut client = Client::new(endpoint.clone());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": kube::NAMESPACE}});
    let reply = client
        .call(Method::POST, "/api/v1/namespaces", Some(Bytes::from(ns.to_string())))
        .await
        .context("creating the namespace")?;
    if !reply.status.is_success() && reply.status.as_u16() != 409 {
        bail!("creating namespace {}: HTTP {}: {}", kube::NAMESPACE, reply.status, error_message(&reply.body));
    }
    let reply = client
        .call(Method::GET, &format!("{}?limit=1", collection_path()), None)
        .await
        .context("listing configmaps")?;
    if !reply.status.is_success() {
        bail!("listing configmaps: HTTP {}: {}", reply.status, error_message(&reply.body));
    }
    resource_version(&reply.body).map_err(anyhow::Error::msg)
}

pub struct Create {
    client: Client,
    value: String,
    pub created: Vec<Object>,
}

impl Create {
    pub fn new(endpoint: Endpoint, value: String) -> Create {
        Create { client: Client::new(endpoint), value, created: Vec::new() }
    }
}

impl Worker for Create {
    async fn run(&mut self, ticket: u64) -> Result<(), String> {
        let name = format!("{}{ticket:07}", kube::NAME_PREFIX);
        let body = configmap(&name, &self.value, None);
        let reply = self.client.expect_ok(Method::POST, &collection_path(), Some(body)).await?;
        let resource_version = resource_version(&reply)?;
        self.created.push(Object { name, resource_version });
        Ok(())
    }
}

pub struct Get {
    client: Client,
    names: Arc<Vec<String>>,
    rng: SmallRng,
}

impl Get {
    pub fn new(endpoint: Endpoint, names: Arc<Vec<String>>, seed: u64) -> Get {
        Get { client: Client::new(endpoint), names, rng: SmallRng::seed_from_u64(seed) }
    }
}

impl Worker for Get {
    async fn run(&mut self, _ticket: u64) -> Result<(), String> {
        let name = &self.names[self.rng.random_range(0..self.names.len())];
        self.client.expect_ok(Method::GET, &object_path(name), None).await.map(|_| ())
    }

    fn idle(&self) -> bool {
        self.names.is_empty()
    }
}

pub struct List {
    client: Client,
}

impl List {
    pub fn new(endpoint: Endpoint) -> List {
        List { client: Client::new(endpoint) }
    }
}

impl Worker for List {
    async fn run(&mut self, _ticket: u64) -> Result<(), String> {
        let path = format!("{}?limit=100", collection_path());
        self.client.expect_ok(Method::GET, &path, None).await.map(|_| ())
    }
}

/// Updates its own share of the objects in turn, so workers never race for
/// one object and a conflict (409) is a real error.
pub struct Update {
    client: Client,
    value: String,
    objects: Vec<Object>,
    next: usize,
}

impl Update {
    pub fn new(endpoint: Endpoint, value: String, objects: Vec<Object>) -> Update {
        Update { client: Client::new(endpoint), value, objects, next: 0 }
    }
}

impl Worker for Update {
    async fn run(&mut self, ticket: u64) -> Result<(), String> {
        let i = self.next % self.objects.len();
        self.next += 1;
        let obj = &mut self.objects[i];
        // A small change: the value's first characters follow the ticket.
        let mut value = format!("{ticket:x}-");
        value.push_str(self.value.get(value.len()..).unwrap_or(""));
        let body = configmap(&obj.name, &value, Some(&obj.resource_version));
        let reply = self.client.expect_ok(Method::PUT, &object_path(&obj.name), Some(body)).await?;
        obj.resource_version = resource_version(&reply)?;
        Ok(())
    }

    fn idle(&self) -> bool {
        self.objects.is_empty()
    }
}

/// Deals `objects` round-robin into `n` shares.
pub fn deal(objects: Vec<Object>, n: usize) -> Vec<Vec<Object>> {
    let mut shares = vec![Vec::new(); n.max(1)];
    let len = shares.len();
    for (i, o) in objects.into_iter().enumerate() {
        shares[i % len].push(o);
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dealing_spreads_objects_evenly() {
        let objs: Vec<Object> =
            (0..5).map(|i| Object { name: format!("cm-{i}"), resource_version: "1".into() }).collect();
        let shares = deal(objs, 2);
        assert_eq!(shares.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 2]);
        assert_eq!(deal(Vec::new(), 0).len(), 1);
    }
}
