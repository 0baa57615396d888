//! The same suite runs on SQLite and, when `SKIFF_TEST_POSTGRES_URL` is set
//! (always in CI), on PostgreSQL.

use super::*;
use serde_json::json;

/// (backend name, url, store, the temp dir that must outlive it)
async fn backends() -> Vec<(String, String, Arc<Store>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("store.db").display());
    let mut out = vec![("sqlite".to_string(), url.clone(), Store::open(&url).await.expect("open sqlite"), Some(dir))];
    match std::env::var("SKIFF_TEST_POSTGRES_URL") {
        Ok(url) => {
            let store = Store::open(&url).await.expect("open postgres");
            // A fresh start for every test: the tests share one database.
            for table in ["objects", "changes"] {
                sqlx::query(&format!("DELETE FROM {table}")).execute(&store.pool).await.expect("reset");
            }
            out.push(("postgres".to_string(), url, store, None));
        }
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI must run the store suite on PostgreSQL: set SKIFF_TEST_POSTGRES_URL")
        }
        Err(_) => {}
    }
    out
}

// The PostgreSQL database is shared, so these tests must not run concurrently.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Debug)]
enum TestError {
    AlreadyExists,
    // Read through Debug when a test fails.
    #[allow(dead_code)]
    Store(StoreError),
}

impl From<StoreError> for TestError {
    fn from(e: StoreError) -> Self {
        TestError::Store(e)
    }
}

/// Creates through `mutate`, as the API does.
trait Create {
    async fn create(&self, key: &Key, value: Value) -> Result<Value, TestError>;
}

impl Create for Store {
    async fn create(&self, key: &Key, value: Value) -> Result<Value, TestError> {
        let written = self
            .mutate(key, |current| match current {
                Some(_) => Err(TestError::AlreadyExists),
                None => Ok(Decision::Put(value)),
            })
            .await?;
        written.ok_or(TestError::Store(StoreError::NotFound))
    }
}

fn cm(name: &str, v: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"k": v}})
}

fn rv(v: &Value) -> i64 {
    v["metadata"]["resourceVersion"].as_str().and_then(|s| s.parse().ok()).expect("resourceVersion")
}

#[tokio::test]
async fn create_get_update_delete_with_monotonic_revisions() {
    let _serial = SERIAL.lock().await;
    for (backend, _url, store, _dir) in backends().await {
        let key = Key::new("/configmaps", "default", "a");
        let created = store.create(&key, cm("a", "1")).await.expect(&backend);
        let r1 = rv(&created);
        assert!(matches!(store.create(&key, cm("a", "2")).await, Err(TestError::AlreadyExists)), "{backend}");
        let got = store.get(&key).await.expect(&backend).expect("present");
        assert_eq!(got["data"]["k"], "1");
        let updated = store
            .mutate::<StoreError, _>(&key, |cur| {
                let mut cur = cur.ok_or(StoreError::NotFound)?;
                cur["data"]["k"] = json!("2");
                Ok(Decision::Put(cur))
            })
            .await
            .expect(&backend)
            .expect("written");
        assert!(rv(&updated) > r1, "{backend}: revision must grow");
        let deleted =
            store.mutate::<StoreError, _>(&key, |_| Ok(Decision::Delete)).await.expect(&backend).expect("deleted");
        assert!(rv(&deleted) > rv(&updated));
        assert!(store.get(&key).await.expect(&backend).is_none());
        assert!(store.revision().await.expect(&backend) >= rv(&deleted));
    }
}

#[tokio::test]
async fn a_failed_decision_writes_nothing() {
    let _serial = SERIAL.lock().await;
    for (backend, _url, store, _dir) in backends().await {
        let key = Key::new("/configmaps", "default", "b");
        store.create(&key, cm("b", "1")).await.expect(&backend);
        let before = store.revision().await.expect(&backend);
        let err = store.mutate::<StoreError, _>(&key, |_| Err(StoreError::NotFound)).await;
        assert!(matches!(err, Err(StoreError::NotFound)));
        assert_eq!(store.revision().await.expect(&backend), before, "{backend}: rolled back, revision included");
        assert_eq!(store.get(&key).await.expect(&backend).expect("kept")["data"]["k"], "1");
    }
}

#[tokio::test]
async fn list_pages_in_order_from_one_snapshot() {
    let _serial = SERIAL.lock().await;
    for (backend, _url, store, _dir) in backends().await {
        for ns in ["a", "b"] {
            for i in 0..5 {
                let name = format!("cm{i}");
                let mut obj = cm(&name, "x");
                obj["metadata"]["namespace"] = json!(ns);
                store.create(&Key::new("/configmaps", ns, &name), obj).await.expect(&backend);
            }
        }
        let page = store.list("/configmaps", Some("b"), None, 3).await.expect(&backend);
        assert_eq!(page.items.len(), 3);
        assert!(page.more);
        let mut seen = Vec::new();
        let mut after: Option<(String, String)> = None;
        loop {
            let page = store
                .list("/configmaps", None, after.as_ref().map(|(a, b)| (a.as_str(), b.as_str())), 4)
                .await
                .expect(&backend);
            for item in &page.items {
                let obj = item.parse().expect("stored JSON");
                assert_eq!(obj["metadata"]["name"], item.name.as_str(), "the row's key is the object's");
                seen.push(format!("{}/{}", item.namespace, item.name));
            }
            let last = page.items.last().map(|i| (i.namespace.clone(), i.name.clone()));
            if !page.more {
                break;
            }
            after = last;
        }
        let mut unique = seen.clone();
        unique.dedup();
        assert_eq!(unique.len(), 10, "{backend}: every object exactly once: {seen:?}");
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{backend}: in (namespace, name) order");
    }
}

#[tokio::test]
async fn watch_resumes_from_memory_and_from_the_log_then_gone_after_compaction() {
    let _serial = SERIAL.lock().await;
    for (backend, url, store, _dir) in backends().await {
        let start = store.revision().await.expect(&backend);
        for i in 0..5 {
            let name = format!("w{i}");
            store.create(&Key::new("/configmaps", "default", &name), cm(&name, "x")).await.expect(&backend);
        }
        let mut watch = store.watch(start).await.expect(&backend);
        let mut names = Vec::new();
        for _ in 0..5 {
            let change = watch.next().await.expect("change");
            assert_eq!(change.event, EventType::Added);
            names.push(change.object["metadata"]["name"].as_str().unwrap_or("").to_string());
        }
        assert_eq!(names, ["w0", "w1", "w2", "w3", "w4"], "{backend}");
        // Live changes arrive too.
        store
            .mutate::<StoreError, _>(&Key::new("/configmaps", "default", "w0"), |_| Ok(Decision::Delete))
            .await
            .expect(&backend);
        let change =
            tokio::time::timeout(std::time::Duration::from_secs(5), watch.next()).await.expect("in time").expect("ok");
        assert_eq!(change.event, EventType::Deleted);
        assert_eq!(change.object["metadata"]["name"], "w0");

        // A reopened store (as after a restart) resumes from the durable log.
        let reopened = Store::open(&url).await.expect(&backend);
        let mut resumed = reopened.watch(start).await.expect(&backend);
        let first = resumed.next().await.expect("from log");
        assert_eq!(first.object["metadata"]["name"], "w0");
        assert_eq!(first.event, EventType::Added);
        assert!(first.previous.is_none());
        // A change read back from the log still knows the value before it.
        store
            .mutate::<StoreError, _>(&Key::new("/configmaps", "default", "w1"), |cur| {
                let mut cur = cur.ok_or(StoreError::NotFound)?;
                cur["data"]["k"] = json!("changed");
                Ok(Decision::Put(cur))
            })
            .await
            .expect(&backend);
        let again = Store::open(&url).await.expect(&backend);
        let mut replay = again.watch(start).await.expect(&backend);
        let mut modified = None;
        for _ in 0..7 {
            let c = replay.next().await.expect("from log");
            if c.event == EventType::Modified {
                modified = Some(c);
            }
        }
        let modified = modified.expect("the MODIFIED of w1");
        assert_eq!(modified.object["data"]["k"], "changed");
        assert_eq!(modified.previous.as_ref().expect("previous")["data"]["k"], "x", "{backend}");

        let head = store.revision().await.expect(&backend);
        store.compact(1).await.expect(&backend);
        match store.watch(start).await {
            Err(StoreError::Gone { requested, oldest }) => {
                assert_eq!(requested, start);
                assert!(oldest >= head - 1);
            }
            other => panic!("{backend}: expected Gone, got {:?}", other.err()),
        }
        // The newest revision is still watchable.
        assert!(store.watch(head).await.is_ok());
    }
}

#[tokio::test]
async fn concurrent_writers_get_distinct_ordered_revisions() {
    let _serial = SERIAL.lock().await;
    for (backend, _url, store, _dir) in backends().await {
        let start = store.revision().await.expect(&backend);
        let mut tasks = Vec::new();
        for i in 0..20 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("c{i}");
                store.create(&Key::new("/configmaps", "default", &name), cm(&name, "x")).await.map(|v| rv(&v))
            }));
        }
        let mut revisions = Vec::new();
        for task in tasks {
            revisions.push(task.await.expect("join").expect(&backend));
        }
        revisions.sort();
        revisions.dedup();
        assert_eq!(revisions.len(), 20, "{backend}");
        let mut watch = store.watch(start).await.expect(&backend);
        let mut last = start;
        for _ in 0..20 {
            let change = watch.next().await.expect("change");
            assert!(change.revision > last);
            last = change.revision;
        }
    }
}
