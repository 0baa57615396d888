//! Controllers that are part of the API's own semantics: garbage collection
//! of dependents, namespace termination and node lifecycle. Each one follows the change log
//! and resyncs periodically, so a missed or failed step is retried. They
//! write only through the `Api`; to find work they also use two store
//! lookups the API has no verb for (everything in a namespace, objects that
//! mention an owner's uid).

pub(crate) mod crd;
mod gc;
pub(crate) mod leader;
mod namespace;
mod nodelifecycle;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::api::Api;
use crate::store::Change;

/// `node_grace`: how long a node's Lease may go unrenewed before it is Unknown.
pub fn spawn_all(api: Arc<Api>, node_grace: Duration) {
    let controllers = move |api: Arc<Api>| async move {
        tokio::join!(
            run("garbage-collector", api.clone(), Duration::from_secs(10), gc::handle, gc::resync),
            run("namespace", api.clone(), Duration::from_secs(2), namespace::handle, namespace::resync),
            run("node-lifecycle", api, Duration::from_secs(5), nodelifecycle::handle, move |api| {
                nodelifecycle::resync(api, node_grace)
            }),
        );
    };
    // Every server serves the CRDs' kinds, so every server follows them.
    tokio::spawn(run("crd", api.clone(), Duration::from_secs(10), crd::handle, crd::resync));
    if api.store.is_shared() {
        // Servers sharing a store take turns: one runs the controllers at a time.
        tokio::spawn(leader::run_elected(api, "skiff-controllers", controllers));
    } else {
        tokio::spawn(controllers(api));
    }
}

/// Feeds every change to `handle`, and calls `resync` every `every`, until shutdown.
pub(crate) async fn run<H, HF, R, RF>(name: &'static str, api: Arc<Api>, every: Duration, handle: H, resync: R)
where
    H: Fn(Arc<Api>, Arc<Change>) -> HF,
    HF: Future<Output = ()>,
    R: Fn(Arc<Api>) -> RF,
    RF: Future<Output = ()>,
{
    let mut shutdown = api.shutdown.clone();
    // After an interruption, resume where we were so no change goes unseen.
    let mut resume: Option<i64> = None;
    loop {
        let from = match resume {
            Some(r) => r,
            None => match api.store.revision().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(controller = name, error = %e, "cannot read the store; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let mut stream = match api.store.watch(from).await {
            Ok(s) => s,
            Err(e) => {
                // Compacted past where we were: start from now; the resync covers the gap.
                tracing::warn!(controller = name, error = %e, "cannot watch; retrying");
                resume = None;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        resync(api.clone()).await;
        // The first tick comes one period after the resync just done, not at once.
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = ticker.tick() => resync(api.clone()).await,
                next = stream.next() => match next {
                    Ok(change) => handle(api.clone(), change).await,
                    Err(e) => {
                        tracing::info!(controller = name, error = %e, "watch interrupted; resuming");
                        resume = Some(stream.last());
                        break;
                    }
                },
            }
        }
    }
}
