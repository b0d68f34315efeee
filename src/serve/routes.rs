//! HTTP handlers and the (fuzz-tested) query and body parsers.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::engine::{Item, Loaded, Mode, SearchHit};
use super::error::ApiError;
use super::AppState;
use std::sync::Arc;

/// Largest `k`.
pub const MAX_K: usize = 100;
/// Default `k`.
pub const DEFAULT_K: usize = 10;
/// Most liked titles accepted in one request.
pub const MAX_LIKED: usize = 1000;

/// `key=value` pairs of a raw query string, decoded (`+` is a space,
/// invalid escapes kept as is, invalid UTF-8 replaced), in order; a piece
/// without `=` is a key with an empty value.
pub fn query_pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Parses `k` (1..=100).
pub fn parse_k(v: &str) -> Result<usize, ApiError> {
    match v.trim().parse::<i64>() {
        Ok(k) if (1..=MAX_K as i64).contains(&k) => Ok(k as usize),
        _ => Err(ApiError::BadRequest(format!(
            "k must be an integer from 1 to {MAX_K}, got `{}`",
            clip(v)
        ))),
    }
}

fn clip(v: &str) -> String {
    v.chars().take(40).collect()
}

/// Query of the recommendation routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoQuery {
    /// How many.
    pub k: usize,
    /// Which members.
    pub mode: Mode,
}

/// Parses `?k=..&mode=..` (both optional; other keys are ignored).
pub fn parse_reco_query(q: Option<&str>) -> Result<RecoQuery, ApiError> {
    let mut r = RecoQuery {
        k: DEFAULT_K,
        mode: Mode::Hybrid,
    };
    for (key, v) in query_pairs(q.unwrap_or("")) {
        match key.as_str() {
            "k" => r.k = parse_k(&v)?,
            "mode" => r.mode = Mode::parse(&v)?,
            _ => {}
        }
    }
    Ok(r)
}

/// Parses `?q=..&limit=..` of the title search.
pub fn parse_search_query(q: Option<&str>) -> Result<(String, usize), ApiError> {
    let (mut text, mut limit) = (None, 20);
    for (key, v) in query_pairs(q.unwrap_or("")) {
        match key.as_str() {
            "q" => text = Some(v),
            "limit" => limit = parse_k(&v)?,
            _ => {}
        }
    }
    match text {
        Some(t) if !t.trim().is_empty() && t.chars().count() <= 200 => Ok((t, limit)),
        Some(t) if !t.trim().is_empty() => Err(ApiError::BadRequest(
            "q is longer than 200 characters".into(),
        )),
        _ => Err(ApiError::BadRequest(
            "q (the title to search for) is required, e.g. /v1/anime?q=naruto".into(),
        )),
    }
}

/// Body of `POST /v1/recommendations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikedRequest {
    /// Liked anime ids.
    pub liked: Vec<u32>,
    /// How many.
    pub k: usize,
    /// Which members.
    pub mode: Mode,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LikedBody {
    liked: Option<Vec<u32>>,
    k: Option<i64>,
    mode: Option<String>,
}

/// Parses and validates `{"liked": [ids], "k": 10, "mode": "hybrid"}`.
pub fn parse_liked_body(body: &[u8]) -> Result<LikedRequest, ApiError> {
    let b: LikedBody = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    let liked = b
        .liked
        .ok_or_else(|| ApiError::BadRequest("`liked` (a list of anime ids) is required".into()))?;
    if liked.is_empty() {
        return Err(ApiError::BadRequest(
            "`liked` is empty: give at least one anime id".into(),
        ));
    }
    if liked.len() > MAX_LIKED {
        return Err(ApiError::BadRequest(format!(
            "`liked` has {} ids; at most {MAX_LIKED}",
            liked.len()
        )));
    }
    let k = match b.k {
        None => DEFAULT_K,
        Some(k) => parse_k(&k.to_string())?,
    };
    let mode = match b.mode {
        None => Mode::Hybrid,
        Some(m) => Mode::parse(&m)?,
    };
    Ok(LikedRequest { liked, k, mode })
}

/// Parses a numeric path id.
pub fn parse_id(what: &str, v: &str) -> Result<u32, ApiError> {
    v.parse::<u32>().map_err(|_| {
        ApiError::BadRequest(format!(
            "{what} must be a non-negative integer, got `{}`",
            clip(v)
        ))
    })
}

fn model(st: &AppState) -> Result<Arc<Loaded>, ApiError> {
    st.model()
        .ok_or_else(|| ApiError::Unavailable("model not loaded yet".into()))
}

/// `GET /v1/users/{user_id}/recommendations`
pub async fn user_recommendations(
    State(st): State<AppState>,
    Path(user): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let user_id = parse_id("user id", &user)?;
    let p = parse_reco_query(q.as_deref())?;
    let m = model(&st)?;
    // Scored on the async workers, batched with the other ready requests: a
    // known user's request is a fraction of a millisecond, and handing it to
    // the blocking pool cost two thread wake-ups per request. The batch
    // queue is bounded (see the `batch` module).
    let u = m.user(user_id)?;
    let top = st.user_top(m.clone(), u, p.mode, p.k).await?;
    let items = m.user_items(u, &top, p.mode);
    Ok(Json(UserRecs {
        user_id,
        mode: p.mode,
        k: p.k,
        run_id: m.run_id(),
        items: &items,
    })
    .into_response())
}

/// Body of `GET /v1/users/{user_id}/recommendations`.
#[derive(Serialize)]
struct UserRecs<'a> {
    user_id: u32,
    mode: Mode,
    k: usize,
    run_id: &'a str,
    items: &'a [Item],
}

/// Body of `GET /v1/anime/{anime_id}/similar`.
#[derive(Serialize)]
struct Similar {
    anime_id: u32,
    name: Option<String>,
    k: usize,
    run_id: String,
    items: Vec<Item>,
}

/// `GET /v1/anime/{anime_id}/similar`
pub async fn similar(
    State(st): State<AppState>,
    Path(anime): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let anime_id = parse_id("anime id", &anime)?;
    let p = parse_reco_query(q.as_deref())?;
    let m = model(&st)?;
    m.item(anime_id)?;
    // A pass over every item (and, for a user-kNN member, over co-ratings):
    // in the bounded pool, off the async workers.
    let body = st
        .scoring(move || {
            let items = m.similar(anime_id, p.k)?;
            let name = m
                .item(anime_id)
                .ok()
                .and_then(|d| m.bundle.catalog.get(d as usize))
                .map(|c| c.name.clone());
            Ok(Similar {
                anime_id,
                name,
                k: p.k,
                run_id: m.run_id().to_string(),
                items,
            })
        })
        .await?;
    Ok(Json(body).into_response())
}

/// Body of `POST /v1/recommendations`.
#[derive(Serialize)]
struct LikedRecs {
    liked: Vec<u32>,
    mode: Mode,
    k: usize,
    run_id: String,
    items: Vec<Item>,
}

/// `POST /v1/recommendations`
pub async fn liked_recommendations(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BadRequest(format!(
                "request body too large (limit {} bytes)",
                st.cfg().max_body_bytes
            ))
        } else {
            ApiError::BadRequest(format!("could not read the body: {e}"))
        }
    })?;
    let req = parse_liked_body(&body)?;
    let m = model(&st)?;
    let body = st
        .scoring(move || {
            let items = m.recommend_liked(&req.liked, req.mode, req.k)?;
            Ok(LikedRecs {
                liked: req.liked,
                mode: req.mode,
                k: req.k,
                run_id: m.run_id().to_string(),
                items,
            })
        })
        .await?;
    Ok(Json(body).into_response())
}

/// Body of `GET /v1/anime`.
#[derive(Serialize)]
struct SearchResult {
    q: String,
    items: Vec<SearchHit>,
}

/// `GET /v1/anime?q=`
pub async fn search(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (text, limit) = parse_search_query(q.as_deref())?;
    let m = model(&st)?;
    let body = st
        .scoring(move || {
            let items = m.search(&text, limit);
            Ok(SearchResult { q: text, items })
        })
        .await?;
    Ok(Json(body).into_response())
}

/// `GET /v1/model`: lineage of the model served. No filesystem paths (the
/// bundle directory, the run directory) and no credentials: a git remote is
/// shown without its user and password, and only when it is a URL.
pub async fn model_info(State(st): State<AppState>) -> Result<Response, ApiError> {
    let m = model(&st)?;
    let man = &m.bundle.manifest;
    Ok(Json(ModelInfo {
        run_id: &man.run_id,
        experiment: &man.experiment,
        model_kind: &man.model_kind,
        created: &man.created,
        git_commit: man.git_commit.as_deref(),
        data_fingerprint: &man.data_fingerprint,
        metrics: &man.metrics,
        format_version: man.format_version,
        normalization: man.normalization,
        n_users: man.n_users,
        n_items: man.n_items,
        members: &man.members,
        promoted: m.promoted.as_ref().map(super::redact::promoted_public),
    })
    .into_response())
}

/// Body of `GET /v1/model`, serialised from the manifest's own types so an
/// f32 (a member's weight) prints as written (0.7, not 0.699999988079071).
#[derive(Serialize)]
struct ModelInfo<'a> {
    run_id: &'a str,
    experiment: &'a str,
    model_kind: &'a str,
    created: &'a str,
    git_commit: Option<&'a str>,
    data_fingerprint: &'a str,
    metrics: &'a std::collections::BTreeMap<String, f64>,
    format_version: u32,
    normalization: crate::config::Normalization,
    n_users: usize,
    n_items: usize,
    members: &'a [crate::bundle::MemberMeta],
    /// Who promoted this model and why (metric, value, run, Comet link).
    promoted: Option<serde_json::Value>,
}

/// `GET /healthz`, `/v2/health/live`
pub async fn live() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`, `/v2/health/ready`: 200 when a model is loaded and not draining, else 503.
pub async fn ready(State(st): State<AppState>) -> Response {
    let loaded = st.model().is_some();
    let draining = st.is_draining();
    let ready = loaded && !draining;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"ready": ready, "loaded": loaded, "draining": draining})),
    )
        .into_response()
}

/// `GET /metrics`
pub async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.render_metrics(),
    )
        .into_response()
}

/// The OpenAPI 3 document of this API (`docs/openapi.json`).
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// `GET /openapi.json`
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// `POST /admin/reload`: re-reads the bundle; a bad one keeps the old model.
/// Needs the admin bearer token.
pub async fn reload(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let auth = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    if let Err(e) = super::admin::authorize(st.cfg().admin_token.as_ref(), auth) {
        st.count_refused_reload();
        return Err(e);
    }
    match st.reload().await {
        Ok(run_id) => Ok(Json(json!({"reloaded": true, "run_id": run_id})).into_response()),
        Err(e) => Err(ApiError::Internal(e)),
    }
}

/// `GET /`: the page.
pub async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

/// Unknown path.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; see /openapi.json for the API".into())
}

/// A known route with another method (405, JSON like every error).
pub async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"error": "method not allowed on this route; see /openapi.json"})),
    )
        .into_response()
}
