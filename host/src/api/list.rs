//! list: selectors, `limit`/`continue` pagination, resourceVersion semantics.

use base64::Engine;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::request::Query;
use super::selectors::Filter;
use super::Api;
use crate::resources::ResourceType;
use crate::store::Row;

#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

impl ListOptions {
    pub fn from_query(q: &Query) -> ApiResult<ListOptions> {
        let limit = match q.int("limit")? {
            Some(l) if l > 0 => Some(usize::try_from(l).unwrap_or(usize::MAX)),
            _ => None,
        };
        Ok(ListOptions {
            label_selector: q.get("labelSelector").map(str::to_string),
            field_selector: q.get("fieldSelector").map(str::to_string),
            limit,
            continue_token: q.get("continue").map(str::to_string),
            resource_version: q.get("resourceVersion").map(str::to_string),
            resource_version_match: q.get("resourceVersionMatch").map(str::to_string),
        })
    }
}

pub struct ListResult {
    pub items: Vec<Value>,
    pub revision: i64,
    pub continue_token: Option<String>,
}

/// Where a paginated list continues: the snapshot's revision and the last key returned.
#[derive(serde::Serialize, serde::Deserialize)]
struct Continue {
    rv: i64,
    ns: String,
    name: String,
}

fn encode_continue(c: &Continue) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode_continue(token: &str) -> ApiResult<Continue> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            ApiError::bad_request("continue key is not valid: it was not issued by this server for this list")
        })
}

impl Api {
    pub async fn list(&self, rt: &ResourceType, namespace: Option<&str>, opts: &ListOptions) -> ApiResult<ListResult> {
        let filter = Filter::new(rt, opts.label_selector.as_deref(), opts.field_selector.as_deref())?;
        let mut items = Vec::new();
        let (revision, continue_token) = self
            .scan(rt, namespace, opts, |row| {
                let item = row.parse()?;
                let keep = filter.matches(&item);
                if keep {
                    items.push(rt.as_served(item));
                }
                Ok(keep)
            })
            .await?;
        Ok(ListResult { items, revision, continue_token })
    }

    /// A page of a list without selectors, as the stored JSON texts: what a
    /// plain `GET` of a collection sends, without parsing and re-encoding
    /// every object. Custom kinds (whose apiVersion follows the version
    /// asked for) take [`Api::list`].
    pub async fn list_stored(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<(Vec<String>, i64, Option<String>)> {
        let mut items = Vec::new();
        let (revision, continue_token) = self
            .scan(rt, namespace, opts, |row| {
                items.push(std::mem::take(&mut row.json));
                Ok(true)
            })
            .await?;
        Ok((items, revision, continue_token))
    }

    /// Pages through the stored objects of `rt` from the continue point,
    /// handing each row to `take` (true: it counts towards the limit) until
    /// `limit` counted; returns the revision read at and the next continue token.
    async fn scan<F>(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        opts: &ListOptions,
        mut take: F,
    ) -> ApiResult<(i64, Option<String>)>
    where
        F: FnMut(&mut Row) -> ApiResult<bool>,
    {
        let resume = opts.continue_token.as_deref().map(decode_continue).transpose()?;
        if resume.is_some() && opts.resource_version.as_deref().is_some_and(|rv| !rv.is_empty()) {
            return Err(ApiError::bad_request("specifying resource version is not allowed when using continue"));
        }
        if let (Some(rv), Some(m)) = (opts.resource_version.as_deref(), opts.resource_version_match.as_deref()) {
            let current = self.store.revision().await?;
            let wanted: i64 =
                rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version {rv:?}")))?;
            match m {
                "NotOlderThan" if wanted > current => {
                    return Err(ApiError::gone(format!("Too large resource version: {wanted}, current: {current}")))
                }
                "Exact" if wanted != current => {
                    return Err(ApiError::gone(format!(
                        "resourceVersionMatch=Exact for {wanted} cannot be served: skiff keeps no older snapshots than the current one ({current})"
                    )))
                }
                "NotOlderThan" | "Exact" => {}
                other => return Err(ApiError::bad_request(format!("unsupported resourceVersionMatch {other:?}"))),
            }
        }
        let store_key = rt.store_key();
        let ns = if rt.namespaced { namespace } else { None };
        let limit = opts.limit.unwrap_or(usize::MAX);
        // Without a limit everything comes from one query, so from one snapshot.
        let batch = opts.limit.map_or(usize::MAX / 2, |l| l.clamp(100, 5000));
        let mut after = resume.as_ref().map(|c| (c.ns.clone(), c.name.clone()));
        let mut counted = 0usize;
        let mut revision = None;
        let mut continue_from = None;
        'pages: loop {
            let page =
                self.store.list(&store_key, ns, after.as_ref().map(|(a, b)| (a.as_str(), b.as_str())), batch).await?;
            revision.get_or_insert(page.revision);
            let count = page.items.len();
            for (i, mut row) in page.items.into_iter().enumerate() {
                if take(&mut row)? {
                    counted += 1;
                }
                after = Some((row.namespace, row.name));
                if counted >= limit {
                    if i + 1 < count || page.more {
                        continue_from = after.clone();
                    }
                    break 'pages;
                }
            }
            if !page.more {
                break;
            }
        }
        // A continued list reports the revision its first page was read at, so a
        // watch started from it replays anything that changed in between.
        let revision = resume.as_ref().map(|c| c.rv).or(revision).unwrap_or(0);
        let continue_token = continue_from.map(|(ns, name)| encode_continue(&Continue { rv: revision, ns, name }));
        Ok((revision, continue_token))
    }

    /// Every matching object, all pages.
    pub async fn list_all(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<Vec<Value>> {
        let mut opts = opts.clone();
        opts.limit = None;
        opts.continue_token = None;
        Ok(self.list(rt, namespace, &opts).await?.items)
    }
}

/// The `XxxList` body for stored JSON texts: the same document as
/// [`list_object`] would give, spliced instead of re-encoded.
pub fn stored_list_body(rt: &ResourceType, items: &[String], revision: i64, continue_token: Option<String>) -> String {
    let mut head = list_object(rt, ListResult { items: Vec::new(), revision, continue_token });
    if let Some(o) = head.as_object_mut() {
        o.remove("items");
    }
    let head = head.to_string();
    let mut body = String::with_capacity(head.len() + 12 + items.iter().map(|i| i.len() + 1).sum::<usize>());
    // `{...}` without its closing brace, then the items.
    body.push_str(&head[..head.len() - 1]);
    body.push_str(",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push_str("]}");
    body
}

/// The `XxxList` object for a list result.
pub fn list_object(rt: &ResourceType, result: ListResult) -> Value {
    let mut metadata = json!({"resourceVersion": result.revision.to_string()});
    if let Some(c) = result.continue_token {
        metadata["continue"] = json!(c);
    }
    json!({
        "kind": rt.list_kind(),
        "apiVersion": rt.api_version(),
        "metadata": metadata,
        "items": result.items,
    })
}
