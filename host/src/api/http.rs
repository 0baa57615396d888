//! HTTP: authentication, routing of Kubernetes paths onto the `Api`
//! operations, content negotiation and the non-resource endpoints.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use super::delete::DeleteOptions;
use super::error::{ApiError, ApiResult};
use super::list::{list_object, stored_list_body, ListOptions};
use super::patch::{Patch, PatchType};
use super::request::{self, Query, Representation, Target, MAX_BODY};
use super::scale::{scale_of, ScaleChange};
use super::watch::WatchOptions;
use super::{discovery, openapi, proxy, table, watch, Api, Outcome, WriteOptions};
use crate::auth::User;
use crate::metrics::Metrics;
use crate::resources::ResourceType;

#[derive(Clone)]
pub struct HttpState {
    pub api: Arc<Api>,
    /// Bearer tokens accepted as the cluster admin.
    pub admin_token: Arc<String>,
    pub metrics: Arc<Metrics>,
    /// host:port clients reach us at, for discovery.
    pub advertise: Arc<String>,
}

pub fn router(state: HttpState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(State(state): State<HttpState>, req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = match route(&state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    // Only known methods become labels, so clients cannot grow the metrics without bound.
    let verb = match method {
        Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE | Method::HEAD | Method::OPTIONS => {
            method.as_str()
        }
        _ => "OTHER",
    };
    state.metrics.observe_request(verb, response.status().as_u16(), started.elapsed());
    tracing::debug!(%method, %path, status = response.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
    response
}

/// Who sends the request, if anyone we know: today the holder of the admin token.
fn authenticate(state: &HttpState, headers: &HeaderMap) -> Option<Arc<User>> {
    let value = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok())?;
    let token = value.strip_prefix("Bearer ").map(str::trim)?;
    // Constant-time comparison: the token is the admin's password.
    let expected = state.admin_token.as_bytes();
    let matches =
        token.len() == expected.len() && token.bytes().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    matches.then(User::admin)
}

async fn route(state: &HttpState, req: Request) -> ApiResult<Response> {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = Query::parse(parts.uri.query());
    let headers = parts.headers;
    let method = parts.method;

    // The public endpoints: what Kubernetes grants system:unauthenticated.
    match path.as_str() {
        "/healthz" | "/livez" | "/readyz" => return Ok(health(state, &path, &query).await),
        "/version" | "/version/" => return Ok(json_response(StatusCode::OK, &state.api.version, &headers, &[])),
        _ => {}
    }
    let Some(user) = authenticate(state, &headers) else {
        return Err(ApiError::unauthorized());
    };
    match path.trim_end_matches('/') {
        "/metrics" => {
            let hub = state.api.store.hub();
            let mut text = state.metrics.render();
            text.push_str(&format!(
                "# HELP skiff_watchers Open watch streams, the controllers' included.\n\
                 # TYPE skiff_watchers gauge\nskiff_watchers {}\n\
                 # HELP skiff_store_revision The newest revision the watch hub has published.\n\
                 # TYPE skiff_store_revision gauge\nskiff_store_revision {}\n",
                hub.watchers(),
                hub.head()
            ));
            return Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response());
        }
        "/api" => {
            if discovery::wants_aggregated(&headers) {
                return Ok(aggregated(discovery::aggregated(&state.api.registry(), true)));
            }
            return Ok(json_response(StatusCode::OK, &discovery::api_versions(&state.advertise), &headers, &[]));
        }
        "/apis" => {
            if discovery::wants_aggregated(&headers) {
                return Ok(aggregated(discovery::aggregated(&state.api.registry(), false)));
            }
            return Ok(json_response(StatusCode::OK, &discovery::api_group_list(&state.api.registry()), &headers, &[]));
        }
        "/openapi/v2" => return openapi_v2(state, &headers),
        "/openapi/v3" => {
            let paths: serde_json::Map<String, Value> = openapi::documents(&state.api.registry())
                .v3
                .iter()
                .map(|(p, (_, hash))| (p.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")})))
                .collect();
            return Ok(json_response(StatusCode::OK, &json!({"paths": paths}), &headers, &[]));
        }
        _ => {}
    }
    if let Some(gv) = path.strip_prefix("/openapi/v3/") {
        return match openapi::documents(&state.api.registry()).v3.get(gv.trim_end_matches('/')) {
            Some((doc, _)) => Ok(json_response(StatusCode::OK, doc, &headers, &[])),
            None => Err(ApiError::path_not_found()),
        };
    }
    if let Some(rest) = path.strip_prefix(super::modules::PREFIX) {
        if rest.is_empty() || rest.starts_with('/') {
            return super::modules::serve(&state.api, method, rest, body).await;
        }
    }
    let registry = state.api.registry();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", version] => {
            return discovery::resource_list(&registry, "", version)
                .map(|doc| json_response(StatusCode::OK, &doc, &headers, &[]))
                .ok_or_else(ApiError::path_not_found)
        }
        ["apis", group] => {
            return discovery::api_group(&registry, group)
                .map(|doc| json_response(StatusCode::OK, &doc, &headers, &[]))
                .ok_or_else(ApiError::path_not_found)
        }
        ["apis", group, version] => {
            return discovery::resource_list(&registry, group, version)
                .map(|doc| json_response(StatusCode::OK, &doc, &headers, &[]))
                .ok_or_else(ApiError::path_not_found)
        }
        _ => {}
    }
    let Some((target, legacy_watch)) = request::parse_path(&registry, &path)? else {
        return Err(ApiError::path_not_found());
    };
    // pods/log, exec and attach stream from the node's agent: no body to read, no object to answer.
    if let Some(kind) = proxy::StreamKind::of(&target) {
        return proxy::serve(state, kind, &target, &method, parts.uri.query(), &headers, &mut parts.extensions).await;
    }
    let body = if request::is_write(&method) { read_body(body).await? } else { bytes::Bytes::new() };
    let request = Incoming { user, method, target, legacy_watch, query, headers, body };
    resource(state, request).await
}

async fn read_body(body: Body) -> ApiResult<bytes::Bytes> {
    to_bytes(body, MAX_BODY).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.downcast_ref::<http_body_util::LengthLimitError>().is_some());
        if too_large {
            ApiError::too_large(MAX_BODY)
        } else {
            ApiError::bad_request(format!("reading the request body failed: {e}"))
        }
    })
}

async fn health(state: &HttpState, path: &str, query: &Query) -> Response {
    let ok = path == "/livez" || state.api.store.revision().await.is_ok();
    let check = if path == "/livez" { "ping" } else { "etcd" };
    let body = if query.0.contains_key("verbose") {
        format!(
            "[+]ping ok\n[{}]{check} {}\n{} check {}\n",
            if ok { "+" } else { "-" },
            if ok { "ok" } else { "failed" },
            path.trim_start_matches('/'),
            if ok { "passed" } else { "failed" }
        )
    } else if ok {
        "ok".to_string()
    } else {
        format!("[-]{check} failed: the datastore does not answer\n")
    };
    let code = if ok { StatusCode::OK } else { StatusCode::INTERNAL_SERVER_ERROR };
    (code, [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn aggregated(doc: Value) -> Response {
    (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, discovery::AGGREGATED_CONTENT_TYPE)], doc.to_string())
        .into_response()
}

fn openapi_v2(state: &HttpState, headers: &HeaderMap) -> ApiResult<Response> {
    let accept = headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("*/*");
    let json_ok = accept.split(',').any(|a| {
        let a = a.trim();
        a.starts_with("application/json") || a.starts_with("*/*") || a.is_empty()
    });
    if !json_ok {
        return Err(ApiError::not_acceptable(
            "skiff serves the OpenAPI v2 document as application/json only; use /openapi/v3 for kubectl",
        ));
    }
    Ok(json_response(StatusCode::OK, &openapi::documents(&state.api.registry()).v2, headers, &[]))
}

/// Serialises `value` as JSON (or YAML when asked), with warnings as `Warning` headers.
fn json_response(code: StatusCode, value: &Value, headers: &HeaderMap, warnings: &[String]) -> Response {
    let (content_type, body) = if request::wants_yaml(headers) {
        ("application/yaml", serde_yaml::to_string(value).unwrap_or_default())
    } else {
        ("application/json", value.to_string())
    };
    let mut response = (code, [(axum::http::header::CONTENT_TYPE, content_type)], body).into_response();
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = HeaderValue::from_str(&text) {
            response.headers_mut().append("warning", v);
        }
    }
    response
}

fn write_options(user: &Arc<User>, query: &Query, headers: &HeaderMap) -> ApiResult<WriteOptions> {
    let user_agent = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    let given = query.get("fieldManager");
    Ok(WriteOptions {
        dry_run: query.dry_run()?,
        field_validation: query.field_validation()?,
        user: user.clone(),
        field_manager: super::managed::manager_name(given, user_agent)?,
        manager_given: given.is_some(),
        force: query.flag("force"),
        owners_recorded: false,
    })
}

fn parse_body(body: &[u8], headers: &HeaderMap) -> ApiResult<Value> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty; send the object as JSON or YAML"));
    }
    request::decode_object(body, &request::content_type(headers))
}

/// A resource request as it reaches the verbs: who asks, and what.
struct Incoming {
    user: Arc<User>,
    method: Method,
    target: Target,
    legacy_watch: bool,
    query: Query,
    headers: HeaderMap,
    body: bytes::Bytes,
}

async fn resource(state: &HttpState, request: Incoming) -> ApiResult<Response> {
    let Incoming { user, method, target, legacy_watch, query, headers, body } = request;
    let api = &state.api;
    let rt: &ResourceType = &target.rt;
    let ns = target.namespace.as_deref();
    let sub = target.subresource.as_deref();
    match sub {
        None => {}
        Some("status") if rt.status => {}
        Some("scale") if rt.scale().is_some() => {}
        Some(s)
            if rt.strategy.subresources().iter().any(|x| {
                x.name == s
                    && x.verbs.iter().any(|v| match *v {
                        "create" => method == Method::POST,
                        "update" => method == Method::PUT,
                        "get" => method == Method::GET,
                        _ => false,
                    })
            }) => {}
        Some(other) => {
            return Err(ApiError::not_found(
                &rt.group,
                &format!("{}/{other}", &rt.plural),
                target.name.as_deref().unwrap_or(""),
            ))
        }
    }
    let repr = request::representation(&headers)?;
    match (&method, target.name.as_deref()) {
        (&Method::GET, None) => {
            if legacy_watch || query.flag("watch") {
                let opts = WatchOptions::from_query(&query)?;
                return watch::serve(api.clone(), target.rt.clone(), target.namespace.clone(), opts, repr).await;
            }
            let opts = ListOptions::from_query(&query)?;
            let unfiltered = [&opts.label_selector, &opts.field_selector]
                .iter()
                .all(|s| s.as_deref().is_none_or(|s| s.trim().is_empty()));
            if repr == Representation::Object && unfiltered && !rt.is_custom() && !request::wants_yaml(&headers) {
                let (items, revision, continue_token) = api.list_stored(rt, ns, &opts).await?;
                let body = stored_list_body(rt, &items, revision, continue_token);
                return Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response());
            }
            let result = api.list(rt, ns, &opts).await?;
            let value = match repr {
                Representation::Table => {
                    let include = query.get("includeObject").unwrap_or("Metadata");
                    table::table_for(rt, &result.items, Some(result.revision), result.continue_token, true, include)
                }
                Representation::Metadata => {
                    table::partial_metadata_list(&result.items, result.revision, result.continue_token)
                }
                Representation::Object => list_object(rt, result),
            };
            Ok(json_response(StatusCode::OK, &value, &headers, &[]))
        }
        (&Method::GET, Some(name)) => {
            if legacy_watch || query.flag("watch") {
                return Err(ApiError::bad_request(
                    "watch a single object with fieldSelector=metadata.name=NAME on the collection",
                ));
            }
            let obj = api.get(rt, ns, name).await?;
            let value = if let (Some("scale"), Some(paths)) = (sub, rt.scale()) {
                scale_of(&paths, &obj)
            } else {
                match repr {
                    Representation::Table => {
                        let include = query.get("includeObject").unwrap_or("Metadata");
                        table::table_for(rt, std::slice::from_ref(&obj), None, None, true, include)
                    }
                    Representation::Metadata => table::partial_metadata(&obj),
                    Representation::Object => obj,
                }
            };
            Ok(json_response(StatusCode::OK, &value, &headers, &[]))
        }
        (&Method::POST, None) => {
            let obj = parse_body(&body, &headers)?;
            let (created, warnings) = api.create(rt, ns, obj, write_options(&user, &query, &headers)?).await?;
            Ok(json_response(StatusCode::CREATED, &created, &headers, &warnings))
        }
        (&Method::PUT, Some(name)) => {
            let obj = parse_body(&body, &headers)?;
            let opts = write_options(&user, &query, &headers)?;
            if sub == Some("scale") {
                let scale = api.update_scale(rt, ns, name, ScaleChange::Replace(obj), opts).await?;
                return Ok(json_response(StatusCode::OK, &scale, &headers, &[]));
            }
            let (outcome, warnings) = api.update(rt, ns, name, sub, obj, opts).await?;
            Ok(json_response(StatusCode::OK, outcome.object(), &headers, &warnings))
        }
        (&Method::PATCH, Some(name)) => {
            let patch_type = PatchType::from_content_type(&request::content_type(&headers))?;
            if body.is_empty() {
                return Err(ApiError::bad_request("the patch is empty"));
            }
            let patch: Value = if patch_type == PatchType::Apply {
                serde_yaml::from_slice(&body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
            } else {
                serde_json::from_slice(&body)
                    .map_err(|e| ApiError::bad_request(format!("the patch is not valid JSON: {e}")))?
            };
            let opts = write_options(&user, &query, &headers)?;
            if sub == Some("scale") {
                let scale = api
                    .update_scale(rt, ns, name, ScaleChange::Patch(Patch { kind: patch_type, body: patch }), opts)
                    .await?;
                return Ok(json_response(StatusCode::OK, &scale, &headers, &[]));
            }
            let (outcome, warnings) =
                api.patch(rt, ns, name, sub, Patch { kind: patch_type, body: patch }, opts).await?;
            let code = if matches!(outcome, Outcome::Created(_)) { StatusCode::CREATED } else { StatusCode::OK };
            Ok(json_response(code, outcome.object(), &headers, &warnings))
        }
        (&Method::DELETE, Some(name)) => {
            if sub.is_some() {
                return Err(ApiError::method_not_allowed(format!(
                    "DELETE is not supported on {}/{}",
                    &rt.plural,
                    sub.unwrap_or("")
                )));
            }
            let opts = delete_options(&user, &query, &body, &headers)?;
            match api.delete(rt, ns, name, &opts).await? {
                // Some kinds answer a completed delete with the object as it was, the rest with a Status.
                Outcome::Deleted(obj) if rt.strategy.returns_deleted_object() => {
                    Ok(json_response(StatusCode::OK, &obj, &headers, &[]))
                }
                Outcome::Deleted(obj) => {
                    let status = json!({
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": {"name": name, "group": rt.group, "kind": rt.plural, "uid": obj["metadata"]["uid"]},
                    });
                    Ok(json_response(StatusCode::OK, &status, &headers, &[]))
                }
                // Still there, waiting on finalizers: 200 with the object, as Kubernetes
                // answers (202 only for the legacy orphanDependents=false).
                Outcome::Written(obj) | Outcome::Created(obj) | Outcome::Unchanged(obj) => {
                    let code = if query.get("orphanDependents") == Some("false") {
                        StatusCode::ACCEPTED
                    } else {
                        StatusCode::OK
                    };
                    Ok(json_response(code, &obj, &headers, &[]))
                }
            }
        }
        (&Method::DELETE, None) => {
            let opts = delete_options(&user, &query, &body, &headers)?;
            let list = ListOptions::from_query(&query)?;
            let items = api.delete_collection(rt, ns, &list, &opts).await?;
            let revision = api.store.revision().await?;
            let value = json!({
                "kind": rt.list_kind(),
                "apiVersion": rt.api_version(),
                "metadata": {"resourceVersion": revision.to_string()},
                "items": items,
            });
            Ok(json_response(StatusCode::OK, &value, &headers, &[]))
        }
        (&Method::POST, Some(name)) if sub == Some("binding") => {
            let binding = parse_body(&body, &headers)?;
            api.bind(ns.unwrap_or_default(), name, &binding, None, &write_options(&user, &query, &headers)?).await?;
            let status =
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
            Ok(json_response(StatusCode::CREATED, &status, &headers, &[]))
        }
        (&Method::POST, Some(_)) => Err(ApiError::method_not_allowed(format!(
            "POST is not supported on a single {}; create through the collection",
            rt.singular
        ))),
        (_, None) => {
            Err(ApiError::method_not_allowed(format!("{method} is not supported on a collection of {}", &rt.plural)))
        }
        (_, Some(_)) => Err(ApiError::method_not_allowed(format!("{method} is not supported on {}", &rt.plural))),
    }
}

fn delete_options(user: &Arc<User>, query: &Query, body: &[u8], headers: &HeaderMap) -> ApiResult<DeleteOptions> {
    let mut opts = DeleteOptions {
        propagation: query.get("propagationPolicy").map(str::to_string),
        grace_period_seconds: query.int("gracePeriodSeconds")?,
        dry_run: query.dry_run()?,
        user: Some(user.clone()),
        ..Default::default()
    };
    if query.get("orphanDependents") == Some("true") {
        opts.propagation = Some("Orphan".into());
    }
    if !body.is_empty() {
        let parsed = request::decode_object(body, &request::content_type(headers))?;
        opts = opts.merge_body(&parsed)?;
    }
    Ok(opts)
}
