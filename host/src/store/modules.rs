//! Plugin modules: content-addressed blobs (`sha256:<hex>` → bytes), kept
//! beside the objects so every server sharing the store can load them. They
//! are written once and never change, so they need no revisions or watches.

use std::sync::Arc;

use sqlx::Row;

use super::{Backend, Store, StoreError};

pub(super) fn schema(postgres: bool) -> &'static str {
    if postgres {
        "CREATE TABLE IF NOT EXISTS modules (digest TEXT PRIMARY KEY, size BIGINT NOT NULL, created TEXT NOT NULL, data BYTEA NOT NULL)"
    } else {
        "CREATE TABLE IF NOT EXISTS modules (digest TEXT PRIMARY KEY, size BIGINT NOT NULL, created TEXT NOT NULL, data BLOB NOT NULL)"
    }
}

/// A stored module, without its bytes.
#[derive(Clone, Debug)]
pub struct ModuleInfo {
    pub digest: String,
    pub size: i64,
    pub created: String,
}

impl Store {
    /// Stores `bytes` under `digest` (the caller computed it from the bytes);
    /// true when it was not there yet.
    pub async fn put_module(self: &Arc<Self>, digest: &str, bytes: Arc<[u8]>) -> Result<bool, StoreError> {
        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match self.backend {
            Backend::Sqlite => {
                let store = self.clone();
                let digest = digest.to_string();
                tokio::task::spawn_blocking(move || match &store.sqlite_writer {
                    Some(w) => w.put_module(&digest, &bytes, &created),
                    None => Err(StoreError::Unsupported("no SQLite writer".into())),
                })
                .await
                .map_err(|e| StoreError::Unsupported(format!("module write did not finish: {e}")))?
            }
            Backend::Postgres => {
                let done = sqlx::query(
                    "INSERT INTO modules (digest, size, created, data) VALUES ($1, $2, $3, $4) ON CONFLICT (digest) DO NOTHING",
                )
                .bind(digest)
                .bind(bytes.len() as i64)
                .bind(created)
                .bind(bytes.to_vec())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    }

    pub async fn get_module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row =
            sqlx::query("SELECT data FROM modules WHERE digest = $1").bind(digest).fetch_optional(&self.pool).await?;
        Ok(match row {
            Some(r) => Some(r.try_get::<Vec<u8>, _>(0)?),
            None => None,
        })
    }

    pub async fn module_info(&self, digest: &str) -> Result<Option<ModuleInfo>, StoreError> {
        let row = sqlx::query("SELECT digest, size, created FROM modules WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| info(&r)).transpose()
    }

    pub async fn list_modules(&self) -> Result<Vec<ModuleInfo>, StoreError> {
        let rows = sqlx::query("SELECT digest, size, created FROM modules ORDER BY created, digest")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(info).collect()
    }
}

/// A `digest, size, created` row.
fn info(row: &sqlx::any::AnyRow) -> Result<ModuleInfo, StoreError> {
    Ok(ModuleInfo { digest: row.try_get(0)?, size: row.try_get(1)?, created: row.try_get(2)? })
}

/// `sha256:` and 64 hex digits: how modules are named.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}
