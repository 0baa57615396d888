//! Leader election through a `coordination.k8s.io` Lease, as Kubernetes'
//! controller managers do: among servers sharing one store, only the holder
//! of `kube-system/skiff-controllers` runs the controllers, and another takes
//! over when the holder stops renewing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::api::Api;

const LEASE_SECONDS: i64 = 15;
const RENEW_EVERY: Duration = Duration::from_secs(5);

/// Runs `work` whenever this server holds the lease, until shutdown.
pub async fn run_elected<F, Fut>(api: Arc<Api>, lease: &'static str, work: F)
where
    F: Fn(Arc<Api>) -> Fut,
    Fut: Future<Output = ()>,
{
    let identity = format!("{}_{}", hostname(), uuid::Uuid::new_v4());
    let mut shutdown = api.shutdown.clone();
    loop {
        if *shutdown.borrow() {
            return;
        }
        if !try_acquire(&api, lease, &identity).await {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(RENEW_EVERY) => continue,
            }
        }
        tracing::info!(identity, "leading: running the controllers");
        let running = work(api.clone());
        tokio::pin!(running);
        let mut renew = tokio::time::interval(RENEW_EVERY);
        renew.tick().await;
        loop {
            tokio::select! {
                _ = &mut running => return,
                _ = shutdown.changed() => return,
                _ = renew.tick() => {
                    if !try_acquire(&api, lease, &identity).await {
                        // Dropping `running` stops the controllers.
                        tracing::warn!(identity, "lost the controller lease; standing by");
                        break;
                    }
                }
            }
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "skiff".into())
}

fn micro_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Whether the lease's holder has stopped renewing it.
fn expired(lease: &Value) -> bool {
    let renewed = lease["spec"]["renewTime"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let seconds = lease["spec"]["leaseDurationSeconds"].as_i64().unwrap_or(LEASE_SECONDS);
    renewed.is_none_or(|t| chrono::Utc::now() > t + chrono::Duration::seconds(seconds))
}

/// Takes or renews the lease; false when another live server holds it.
async fn try_acquire(api: &Api, lease: &str, identity: &str) -> bool {
    let Some(rt) = api.registry().lookup("coordination.k8s.io", "v1", "leases").cloned() else { return false };
    match api.get(&rt, Some("kube-system"), lease).await {
        Err(e) if e.code == 404 => {
            let now = micro_now();
            let object = json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": lease},
                "spec": {"holderIdentity": identity, "leaseDurationSeconds": LEASE_SECONDS,
                         "acquireTime": now, "renewTime": now, "leaseTransitions": 0},
            });
            let opts = crate::api::WriteOptions::internal(crate::auth::User::component("leader-election"));
            api.create(&rt, Some("kube-system"), object, opts).await.is_ok()
        }
        Err(e) => {
            tracing::warn!(lease, error = %e.message, "reading the lease failed");
            false
        }
        Ok(_) => api
            .modify(&crate::auth::User::component("leader-election"), &rt, Some("kube-system"), lease, None, |object| {
                let holder = object["spec"]["holderIdentity"].as_str().unwrap_or("").to_string();
                if holder != identity && !holder.is_empty() && !expired(object) {
                    return Err(crate::errors::ApiError::conflict(
                        "coordination.k8s.io",
                        "leases",
                        lease,
                        &format!("held by {holder}"),
                    ));
                }
                let now = micro_now();
                let spec = &mut object["spec"];
                if holder != identity {
                    spec["acquireTime"] = json!(now);
                    spec["leaseTransitions"] = json!(spec["leaseTransitions"].as_i64().unwrap_or(0) + 1);
                }
                spec["holderIdentity"] = json!(identity);
                spec["leaseDurationSeconds"] = json!(LEASE_SECONDS);
                spec["renewTime"] = json!(now);
                Ok(())
            })
            .await
            .is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_expires_after_its_duration() {
        let fresh = json!({"spec": {"renewTime": micro_now(), "leaseDurationSeconds": 15}});
        assert!(!expired(&fresh));
        let stale = json!({"spec": {"renewTime": "2020-01-01T00:00:00.000000Z", "leaseDurationSeconds": 15}});
        assert!(expired(&stale));
        assert!(expired(&json!({"spec": {}})), "never renewed counts as expired");
    }
}
