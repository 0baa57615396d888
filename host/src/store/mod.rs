//! The store: every API object as JSON, keyed by (resource, namespace, name),
//! one global monotonically increasing resourceVersion, and a change log that
//! watches resume from, on SQLite (embedded) or PostgreSQL. Reads go through
//! sqlx's `Any` pool; writes to PostgreSQL too, writes to SQLite through one
//! blocking connection (see `sqlite`).
//!
//! Writes are serialised by a row lock on the revision counter (and, inside one
//! process, by an async mutex), so commit order equals revision order: a reader
//! of the change log never sees revision N+1 before N. That is what lets a
//! watch resume from any revision without gaps, and what lets several servers
//! share one PostgreSQL store: there each server's watch hub is fed by tailing
//! the change log in revision order (its own writes nudge the tail at once),
//! so watchers see every server's writes.

pub mod modules;
mod sqlite;
mod watch;

use std::sync::Arc;

use serde_json::Value;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row as _};
use tokio::sync::Mutex;

pub use watch::{Change, EventType, WatchHub, WatchStream};

/// Where an object lives. `resource` is `group/plural` (`/pods` for core).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(resource: &str, namespace: &str, name: &str) -> Self {
        Key { resource: resource.to_owned(), namespace: namespace.to_owned(), name: name.to_owned() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("too old resource version: {requested} ({oldest})")]
    Gone { requested: i64, oldest: i64 },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("unsupported datastore: {0}")]
    Unsupported(String),
    #[error("stored object is not valid JSON: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// `replace` found another version than the one it was given.
    #[error("the object has been modified")]
    Changed,
}

/// What a read-modify-write decides to do with the current object.
pub enum Decision {
    Put(Value),
    Delete,
    /// Leave the object as it is (no new revision).
    Keep,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

pub struct Store {
    pool: AnyPool,
    backend: Backend,
    write_lock: Mutex<()>,
    /// SQLite: the connection every write goes through.
    sqlite_writer: Option<sqlite::Writer>,
    hub: Arc<WatchHub>,
    /// PostgreSQL: wakes the change-log tail after a local write.
    tail: Option<Arc<tokio::sync::Notify>>,
}

/// How often the PostgreSQL tail looks for other servers' writes.
const TAIL_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// One page of a list, read from a single snapshot.
pub struct Page {
    /// The rows as stored: callers parse only what they need (a plain list
    /// page goes out as the stored JSON).
    pub items: Vec<Row>,
    /// The store revision the page was read at.
    pub revision: i64,
    /// True when more rows follow the last returned one.
    pub more: bool,
}

/// One stored object: its key within the resource and its JSON text.
pub struct Row {
    pub namespace: String,
    pub name: String,
    pub json: String,
}

impl Row {
    pub fn parse(&self) -> Result<Value, StoreError> {
        Ok(serde_json::from_str(&self.json)?)
    }
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS objects (resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, rv BIGINT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (resource, namespace, name))",
    "CREATE TABLE IF NOT EXISTS changes (rv BIGINT PRIMARY KEY, resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, event TEXT NOT NULL, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    "INSERT INTO meta (key, value) VALUES ('revision', 1) ON CONFLICT (key) DO NOTHING",
    "INSERT INTO meta (key, value) VALUES ('compacted', 0) ON CONFLICT (key) DO NOTHING",
];

impl Store {
    /// Opens (creating when needed) the store at a `sqlite://` or `postgres://` URL.
    pub async fn open(url: &str) -> Result<Arc<Store>, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres") { Backend::Postgres } else { Backend::Sqlite };
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            conn.execute(
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
            Backend::Postgres => AnyPoolOptions::new().max_connections(16).connect(url).await?,
        };
        for statement in SCHEMA {
            sqlx::query(statement).execute(&pool).await?;
        }
        sqlx::query(modules::schema(backend == Backend::Postgres)).execute(&pool).await?;
        let head = Self::read_meta(&pool, "revision").await?;
        let tail = (backend == Backend::Postgres).then(|| Arc::new(tokio::sync::Notify::new()));
        let sqlite_writer = match backend {
            Backend::Sqlite => Some(sqlite::Writer::open(url)?),
            Backend::Postgres => None,
        };
        let store = Arc::new(Store {
            pool,
            backend,
            write_lock: Mutex::new(()),
            sqlite_writer,
            hub: Arc::new(WatchHub::new(head)),
            tail,
        });
        if let Some(nudge) = store.tail.clone() {
            tokio::spawn(follow_change_log(Arc::downgrade(&store), nudge));
        }
        Ok(store)
    }

    async fn read_meta(pool: &AnyPool, key: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1").bind(key).fetch_one(pool).await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    pub fn hub(&self) -> &WatchHub {
        &self.hub
    }

    /// Whether other servers may share this store (PostgreSQL): then the
    /// controllers run on one elected server only.
    pub fn is_shared(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// The newest committed revision.
    pub async fn revision(&self) -> Result<i64, StoreError> {
        Self::read_meta(&self.pool, "revision").await
    }

    pub async fn get(&self, key: &Key) -> Result<Option<Value>, StoreError> {
        let row = sqlx::query("SELECT value FROM objects WHERE resource = $1 AND namespace = $2 AND name = $3")
            .bind(&key.resource)
            .bind(&key.namespace)
            .bind(&key.name)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(serde_json::from_str(&row.try_get::<String, _>(0)?)?)),
            None => Ok(None),
        }
    }

    /// Every object of `resource` (in one namespace, or all), read page by page.
    pub async fn list_every(&self, resource: &str, namespace: Option<&str>) -> Result<Vec<Value>, StoreError> {
        let mut items = Vec::new();
        let mut after: Option<(String, String)> = None;
        loop {
            let page =
                self.list(resource, namespace, after.as_ref().map(|(a, b)| (a.as_str(), b.as_str())), 1000).await?;
            let more = page.more;
            for row in &page.items {
                items.push(row.parse()?);
            }
            match page.items.last() {
                Some(last) if more => after = Some((last.namespace.clone(), last.name.clone())),
                _ => return Ok(items),
            }
        }
    }

    /// Reads up to `limit` objects of `resource` (in one namespace, or all when
    /// `namespace` is None) ordered by (namespace, name), starting after `after`.
    pub async fn list(
        &self,
        resource: &str,
        namespace: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
        }
        let revision: i64 =
            sqlx::query("SELECT value FROM meta WHERE key = 'revision'").fetch_one(&mut *tx).await?.try_get(0)?;
        let (after_ns, after_name) = after.unwrap_or(("", ""));
        // Fetch one more than asked to learn whether more rows follow.
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let rows: Vec<AnyRow> = match namespace {
            Some(ns) => {
                sqlx::query(
                    "SELECT namespace, name, value FROM objects WHERE resource = $1 AND namespace = $2 AND name > $3 ORDER BY name LIMIT $4",
                )
                .bind(resource)
                .bind(ns)
                .bind(after_name)
                .bind(fetch)
                .fetch_all(&mut *tx)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT namespace, name, value FROM objects WHERE resource = $1 AND (namespace > $2 OR (namespace = $3 AND name > $4)) ORDER BY namespace, name LIMIT $5",
                )
                .bind(resource)
                .bind(after_ns)
                .bind(after_ns)
                .bind(after_name)
                .bind(fetch)
                .fetch_all(&mut *tx)
                .await?
            }
        };
        tx.commit().await?;
        let more = rows.len() > limit;
        let mut items = Vec::with_capacity(rows.len().min(limit));
        for row in rows.into_iter().take(limit) {
            items.push(Row { namespace: row.try_get(0)?, name: row.try_get(1)?, json: row.try_get(2)? });
        }
        Ok(Page { items, revision, more })
    }

    /// Objects of any resource in `namespace` (all namespaces when None) whose
    /// stored JSON contains `needle`; callers re-check the match. Used to find
    /// dependents of an owner by uid without a secondary index.
    pub async fn scan_containing(
        &self,
        namespace: Option<&str>,
        needle: &str,
    ) -> Result<Vec<(Key, Value)>, StoreError> {
        let pattern = format!("%{}%", needle.replace(['%', '_'], ""));
        let rows = match namespace {
            Some(ns) => {
                sqlx::query(
                    "SELECT resource, namespace, name, value FROM objects WHERE namespace = $1 AND value LIKE $2",
                )
                .bind(ns)
                .bind(pattern)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query("SELECT resource, namespace, name, value FROM objects WHERE value LIKE $1")
                    .bind(pattern)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.into_iter()
            .map(|row| {
                let key = Key { resource: row.try_get(0)?, namespace: row.try_get(1)?, name: row.try_get(2)? };
                let value = serde_json::from_str(&row.try_get::<String, _>(3)?)?;
                Ok((key, value))
            })
            .collect()
    }

    /// Every (resource, name) stored in a namespace: what namespace deletion must remove.
    pub async fn keys_in_namespace(&self, namespace: &str) -> Result<Vec<Key>, StoreError> {
        let rows = sqlx::query("SELECT resource, namespace, name FROM objects WHERE namespace = $1")
            .bind(namespace)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| Ok(Key { resource: row.try_get(0)?, namespace: row.try_get(1)?, name: row.try_get(2)? }))
            .collect()
    }

    /// The one write primitive: read the current object and decide, atomically.
    /// `decide` runs inside the write transaction, so it never races another writer.
    /// Returns the object as written (or as deleted, with the deletion's revision),
    /// or None when `decide` kept it.
    pub async fn mutate<E, F>(&self, key: &Key, decide: F) -> Result<Option<Value>, E>
    where
        F: FnOnce(Option<Value>) -> Result<Decision, E>,
        E: From<StoreError>,
    {
        let _guard = self.write_lock.lock().await;
        let written = match &self.sqlite_writer {
            // Synchronous on purpose: a few in-thread SQLite calls (well under a
            // millisecond, serialised anyway) cost less than a thread hop per
            // statement through the pool.
            Some(writer) => writer.write(key, |revision, current| Written::decide(current, revision, decide))?,
            None => self.write_pooled(key, decide).await?,
        };
        Ok(written.map(|w| self.publish(key, w)))
    }

    /// Writes `object` over `previous` (read earlier, outside any lock) if the
    /// stored object is still that version, else fails with `Changed`. The
    /// caller computes the new version unlocked, so the write lock covers a
    /// version check and the write rather than parsing and validating.
    pub async fn replace(&self, key: &Key, previous: Value, object: Value) -> Result<Value, StoreError> {
        let expected = previous["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string();
        let Some(writer) = &self.sqlite_writer else {
            // PostgreSQL's transaction reads the current object anyway.
            let decide = |current: Option<Value>| match current {
                None => Err(StoreError::NotFound),
                Some(c) if c["metadata"]["resourceVersion"].as_str() != Some(expected.as_str()) => {
                    Err(StoreError::Changed)
                }
                Some(_) => Ok(Decision::Put(object)),
            };
            return self.mutate(key, decide).await?.ok_or(StoreError::NotFound);
        };
        let _guard = self.write_lock.lock().await;
        let written = writer.write(key, |revision, current: Option<String>| {
            let Some(text) = current else { return Err(StoreError::NotFound) };
            if stored_version(&text)? != expected {
                return Err(StoreError::Changed);
            }
            let mut object = object;
            set_resource_version(&mut object, revision);
            let text = object.to_string();
            Ok(Some(Written { revision, event: EventType::Modified, object, text, previous: Some(previous) }))
        })?;
        written.map(|w| self.publish(key, w)).ok_or(StoreError::NotFound)
    }

    /// Hands a committed write to the watchers; returns the object as written.
    fn publish(&self, key: &Key, w: Written) -> Value {
        if let Some(nudge) = &self.tail {
            // The tail publishes it, in order with other servers' writes.
            nudge.notify_one();
            return w.object;
        }
        let object = Arc::new(w.object);
        self.hub.publish(Change {
            revision: w.revision,
            event: w.event,
            resource: key.resource.clone(),
            namespace: key.namespace.clone(),
            object: object.clone(),
            json: Arc::from(w.text),
            lines: Default::default(),
            previous: w.previous.map(Arc::new),
        });
        Arc::unwrap_or_clone(object)
    }

    /// The write transaction through the sqlx pool (PostgreSQL).
    async fn write_pooled<E, F>(&self, key: &Key, decide: F) -> Result<Option<Written>, E>
    where
        F: FnOnce(Option<Value>) -> Result<Decision, E>,
        E: From<StoreError>,
    {
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        // Taking the counter's row lock first orders this write after every other.
        let revision: i64 = sqlx::query("UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value")
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?
            .try_get(0)
            .map_err(StoreError::from)?;
        let current: Option<String> =
            match sqlx::query("SELECT value FROM objects WHERE resource = $1 AND namespace = $2 AND name = $3")
                .bind(&key.resource)
                .bind(&key.namespace)
                .bind(&key.name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from)?
            {
                Some(row) => Some(row.try_get::<String, _>(0).map_err(StoreError::from)?),
                None => None,
            };
        // An error here drops the transaction: rolled back, revision bump included.
        let Some(w) = Written::decide(current, revision, decide)? else { return Ok(None) };
        match w.event {
            EventType::Added | EventType::Modified => {
                sqlx::query(
                    "INSERT INTO objects (resource, namespace, name, rv, value) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (resource, namespace, name) DO UPDATE SET rv = excluded.rv, value = excluded.value",
                )
                .bind(&key.resource)
                .bind(&key.namespace)
                .bind(&key.name)
                .bind(revision)
                .bind(&w.text)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            }
            EventType::Deleted => {
                sqlx::query("DELETE FROM objects WHERE resource = $1 AND namespace = $2 AND name = $3")
                    .bind(&key.resource)
                    .bind(&key.namespace)
                    .bind(&key.name)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
            }
        }
        sqlx::query(
            "INSERT INTO changes (rv, resource, namespace, name, event, value) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(revision)
        .bind(&key.resource)
        .bind(&key.namespace)
        .bind(&key.name)
        .bind(w.event.as_str())
        .bind(&w.text)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Some(w))
    }

    /// Changes after `after` (exclusive) up to `upto` (inclusive), oldest first,
    /// read from the durable change log.
    pub async fn changes_between(&self, after: i64, upto: i64) -> Result<Vec<Change>, StoreError> {
        // One snapshot: a compaction between the check and the read would drop events unseen.
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
        }
        let compacted: i64 =
            sqlx::query("SELECT value FROM meta WHERE key = 'compacted'").fetch_one(&mut *tx).await?.try_get(0)?;
        if after < compacted {
            return Err(StoreError::Gone { requested: after, oldest: compacted + 1 });
        }
        let rows = sqlx::query(
            // Each change with the value its key had just before (the log has no
            // separate "previous" column); watches need it to see an object leave
            // or enter a selector.
            "SELECT rv, resource, namespace, name, event, value, previous FROM ( \
               SELECT rv, resource, namespace, name, event, value, \
                      LAG(value) OVER (PARTITION BY resource, namespace, name ORDER BY rv) AS previous \
               FROM changes \
               WHERE rv <= $1 AND (resource, namespace, name) IN \
                     (SELECT resource, namespace, name FROM changes WHERE rv > $2 AND rv <= $3) \
             ) AS recent WHERE rv > $4 ORDER BY rv",
        )
        .bind(upto)
        .bind(after)
        .bind(upto)
        .bind(after)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter()
            .map(|row| {
                let event = EventType::parse(&row.try_get::<String, _>(4)?);
                let text: String = row.try_get(5)?;
                let previous = match (event, row.try_get::<Option<String>, _>(6)?) {
                    (EventType::Modified, Some(p)) => Some(Arc::new(serde_json::from_str(&p)?)),
                    (EventType::Deleted, _) => Some(Arc::new(serde_json::from_str(&text)?)),
                    _ => None,
                };
                Ok(Change {
                    revision: row.try_get(0)?,
                    resource: row.try_get(1)?,
                    namespace: row.try_get(2)?,
                    event,
                    object: Arc::new(serde_json::from_str(&text)?),
                    json: Arc::from(text),
                    lines: Default::default(),
                    previous,
                })
            })
            .collect()
    }

    /// Drops change-log entries so that only the newest `keep` revisions remain;
    /// watches from older revisions then get 410 Gone.
    pub async fn compact(&self, keep: i64) -> Result<i64, StoreError> {
        let _guard = self.write_lock.lock().await;
        let head = self.revision().await?;
        let upto = head - keep.max(0);
        let mut tx = self.pool.begin().await?;
        let compacted: i64 =
            sqlx::query("SELECT value FROM meta WHERE key = 'compacted'").fetch_one(&mut *tx).await?.try_get(0)?;
        if upto <= compacted {
            return Ok(compacted);
        }
        sqlx::query("DELETE FROM changes WHERE rv <= $1").bind(upto).execute(&mut *tx).await?;
        sqlx::query("UPDATE meta SET value = $1 WHERE key = 'compacted'").bind(upto).execute(&mut *tx).await?;
        tx.commit().await?;
        self.hub.compacted(upto);
        Ok(upto)
    }

    /// Opens a watch of every change after revision `after`.
    pub async fn watch(self: &Arc<Self>, after: i64) -> Result<WatchStream, StoreError> {
        WatchHub::subscribe(self.clone(), after).await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A write decided and ready to store: what both write paths commit.
struct Written {
    revision: i64,
    event: EventType,
    object: Value,
    /// `object` as stored.
    text: String,
    previous: Option<Value>,
}

impl Written {
    /// Runs `decide` on the stored text of the current object; None when it keeps the object.
    fn decide<E, F>(current: Option<String>, revision: i64, decide: F) -> Result<Option<Written>, E>
    where
        F: FnOnce(Option<Value>) -> Result<Decision, E>,
        E: From<StoreError>,
    {
        let previous: Option<Value> = match current {
            Some(text) => Some(serde_json::from_str(&text).map_err(StoreError::from)?),
            None => None,
        };
        let (event, mut object) = match decide(previous.clone())? {
            Decision::Keep => return Ok(None),
            Decision::Put(object) => (if previous.is_some() { EventType::Modified } else { EventType::Added }, object),
            Decision::Delete => match previous.clone() {
                Some(object) => (EventType::Deleted, object),
                None => return Err(StoreError::NotFound.into()),
            },
        };
        set_resource_version(&mut object, revision);
        let text = object.to_string();
        Ok(Some(Written { revision, event, object, text, previous }))
    }
}

/// PostgreSQL: publishes every committed change, from any server, in
/// revision order. Ends when the store is dropped.
async fn follow_change_log(store: std::sync::Weak<Store>, nudge: Arc<tokio::sync::Notify>) {
    loop {
        tokio::select! {
            _ = nudge.notified() => {}
            _ = tokio::time::sleep(TAIL_EVERY) => {}
        }
        let Some(store) = store.upgrade() else { return };
        let after = store.hub.head();
        match store.changes_between(after, i64::MAX).await {
            Ok(changes) => {
                for change in changes {
                    store.hub.publish(change);
                }
            }
            Err(StoreError::Gone { oldest, .. }) => {
                // Compacted before we read it: watchers of the gap get 410 when they resume.
                tracing::warn!(after, oldest, "change log compacted past the watch hub; skipping ahead");
                store.hub.skip_to(oldest - 1);
            }
            Err(e) => tracing::warn!(error = %e, "reading the change log failed; retrying"),
        }
    }
}

/// The resourceVersion in a stored object's text, without building the object.
fn stored_version(text: &str) -> Result<String, StoreError> {
    #[derive(serde::Deserialize)]
    struct Stored {
        metadata: StoredMeta,
    }
    #[derive(serde::Deserialize)]
    struct StoredMeta {
        #[serde(rename = "resourceVersion", default)]
        resource_version: String,
    }
    Ok(serde_json::from_str::<Stored>(text)?.metadata.resource_version)
}

fn set_resource_version(object: &mut Value, revision: i64) {
    if let Some(obj) = object.as_object_mut() {
        let metadata = obj.entry("metadata").or_insert_with(|| Value::Object(Default::default()));
        if let Some(metadata) = metadata.as_object_mut() {
            metadata.insert("resourceVersion".into(), Value::String(revision.to_string()));
        }
    }
}

#[cfg(test)]
mod tests;
