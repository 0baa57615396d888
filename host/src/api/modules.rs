//! `/apis/plugins.skiff.dev/v1alpha1/modules`: plugin modules by content.
//! POST the bytes of a component (201 with its digest; the same bytes twice
//! are stored once), GET the list, GET or HEAD `modules/sha256:<hex>`.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::{ApiError, ApiResult};
use super::Api;
use crate::store::modules::is_digest;

pub const PREFIX: &str = "/apis/plugins.skiff.dev/v1alpha1/modules";

/// Components built from interpreters (Python, JavaScript) run to tens of MiB.
pub const MAX_MODULE: usize = 128 << 20;

pub async fn serve(api: &Api, method: Method, rest: &str, body: Body) -> ApiResult<Response> {
    let rest = rest.trim_matches('/');
    match (method, rest) {
        (Method::POST, "") => {
            let bytes = axum::body::to_bytes(body, MAX_MODULE).await.map_err(|_| {
                ApiError::entity_too_large(format!(
                    "a plugin module may be at most {} MiB; strip debug info or build in release mode",
                    MAX_MODULE >> 20
                ))
            })?;
            check_component(&bytes)?;
            let digest = skiff_wasm::PluginEngine::digest(&bytes);
            let created = api.store.put_module(&digest, std::sync::Arc::from(&bytes[..])).await?;
            tracing::info!(%digest, size = bytes.len(), created, "plugin module uploaded");
            let code = if created { StatusCode::CREATED } else { StatusCode::OK };
            Ok(json_response(code, json!({"kind": "Module", "digest": digest, "size": bytes.len()})))
        }
        (Method::GET, "") => {
            let items: Vec<_> = api
                .store
                .list_modules()
                .await?
                .into_iter()
                .map(|m| json!({"digest": m.digest, "size": m.size, "created": m.created}))
                .collect();
            Ok(json_response(StatusCode::OK, json!({"kind": "ModuleList", "items": items})))
        }
        (method @ (Method::GET | Method::HEAD), digest) if is_digest(digest) => {
            if method == Method::HEAD {
                return match api.store.module_info(digest).await? {
                    Some(info) => Ok((StatusCode::OK, [("content-length", info.size.to_string())]).into_response()),
                    None => Err(not_found(digest)),
                };
            }
            match api.store.get_module(digest).await? {
                Some(bytes) => Ok((StatusCode::OK, [("content-type", "application/wasm")], bytes).into_response()),
                None => Err(not_found(digest)),
            }
        }
        (_, other) if !other.is_empty() && !is_digest(other) => Err(ApiError::bad_request(format!(
            "{other:?} is not a module digest; modules are named sha256:<64 hex digits>"
        ))),
        (method, _) => Err(ApiError::method_not_allowed(format!("{method} is not supported on plugin modules"))),
    }
}

fn not_found(digest: &str) -> ApiError {
    ApiError::not_found("plugins.skiff.dev", "modules", digest)
}

fn json_response(code: StatusCode, value: serde_json::Value) -> Response {
    (code, [("content-type", "application/json")], value.to_string()).into_response()
}

/// A WebAssembly component: the magic, then the component layer's version
/// (a core module has version 1 and needs wrapping first).
fn check_component(bytes: &[u8]) -> ApiResult<()> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(ApiError::bad_request("the body is not a WebAssembly binary (it does not start with \\0asm)"));
    }
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(ApiError::bad_request(
            "this is a core WebAssembly module, not a component: build for wasm32-wasip2, or wrap it with `wasm-tools component new`",
        ));
    }
    Ok(())
}
