//! The SQLite write path: one blocking connection used under the store's
//! write lock, so a write is a few in-thread calls rather than a thread hop
//! per statement through the async pool (about 1.8× the write throughput).
//! Reads keep using the pool; WAL mode lets them run alongside.

use rusqlite::{params, OptionalExtension};

use super::{EventType, Key, StoreError, Written};

pub struct Writer {
    conn: std::sync::Mutex<rusqlite::Connection>,
}

impl Writer {
    /// Opens the database file of a `sqlite://PATH?...` URL (the pool has
    /// already created it and its schema).
    pub fn open(url: &str) -> Result<Writer, StoreError> {
        let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || path.starts_with(":memory:") {
            return Err(StoreError::Unsupported("an in-memory SQLite store; give a file path".into()));
        }
        let conn = rusqlite::Connection::open(path)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;")?;
        Ok(Writer { conn: std::sync::Mutex::new(conn) })
    }

    /// One write transaction: takes the next revision, reads the current
    /// value, lets `decide` choose, and stores the object and the change record.
    pub fn write<E>(
        &self,
        key: &Key,
        decide: impl FnOnce(i64, Option<String>) -> Result<Option<Written>, E>,
    ) -> Result<Option<Written>, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.conn.lock().unwrap_or_else(|poison| poison.into_inner());
        let tx = conn.transaction().map_err(StoreError::from)?;
        let revision: i64 = tx
            .query_row("UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value", [], |r| r.get(0))
            .map_err(StoreError::from)?;
        let current: Option<String> = tx
            .prepare_cached("SELECT value FROM objects WHERE resource = ?1 AND namespace = ?2 AND name = ?3")
            .and_then(|mut stmt| {
                stmt.query_row(params![key.resource, key.namespace, key.name], |r| r.get(0)).optional()
            })
            .map_err(StoreError::from)?;
        // An error drops the transaction: rolled back, revision bump included.
        let Some(w) = decide(revision, current)? else { return Ok(None) };
        match w.event {
            EventType::Deleted => tx
                .prepare_cached("DELETE FROM objects WHERE resource = ?1 AND namespace = ?2 AND name = ?3")
                .and_then(|mut stmt| stmt.execute(params![key.resource, key.namespace, key.name])),
            EventType::Added | EventType::Modified => tx
                .prepare_cached(
                    "INSERT INTO objects (resource, namespace, name, rv, value) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (resource, namespace, name) DO UPDATE SET rv = excluded.rv, value = excluded.value",
                )
                .and_then(|mut stmt| stmt.execute(params![key.resource, key.namespace, key.name, revision, w.text])),
        }
        .map_err(StoreError::from)?;
        tx.prepare_cached(
            "INSERT INTO changes (rv, resource, namespace, name, event, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![revision, key.resource, key.namespace, key.name, w.event.as_str(), w.text])
        })
        .map_err(StoreError::from)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(Some(w))
    }

    /// Stores a module blob unless one with this digest is there; true when new.
    pub fn put_module(&self, digest: &str, bytes: &[u8], created: &str) -> Result<bool, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|poison| poison.into_inner());
        let n = conn.execute(
            "INSERT INTO modules (digest, size, created, data) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (digest) DO NOTHING",
            params![digest, bytes.len() as i64, created, bytes],
        )?;
        Ok(n == 1)
    }
}
