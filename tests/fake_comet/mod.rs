//! A fake Comet server for the tests: an in-process axum app on 127.0.0.1
//! that implements the endpoints anirec uses with the shapes of
//! shared/reference/comet-captures, records what arrives, and injects faults
//! (refused connections by stopping the server, 500, 429 + Retry-After, slow
//! replies, a dropped connection after the request was applied).
//!
//! Shared by several test crates (`mod fake_comet;`); each uses a subset.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const KEY: &str = "sk-TEST-9f8e7d6c5b4a39281706f5e4d3c2b1a0";

#[derive(Debug, Clone, Copy)]
pub enum Fault {
    Status(u16),
    TooMany(u64),
    /// Apply, then answer after this long (the client times out first).
    Slow(u64),
    /// Apply, then drop the connection without an answer.
    Drop,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub path: &'static str,
    pub fault: Fault,
    pub skip: usize,
    pub count: usize,
}

#[derive(Debug, Default, Clone)]
pub struct Exp {
    pub key: String,
    pub name: String,
    pub workspace: String,
    pub project: String,
    pub metrics: Vec<Value>,
    pub params: BTreeMap<String, Value>,
    pub others: BTreeMap<String, Value>,
    pub tags: BTreeSet<String>,
    pub git: Option<Value>,
    pub git_patch: Option<usize>,
    pub system: Vec<Value>,
    /// (fileName, type, groupingName) -> size
    pub assets: BTreeMap<(String, String, String), usize>,
    pub start_end: Option<Value>,
    pub status: Option<Value>,
}

#[derive(Debug, Default)]
pub struct Fake {
    pub exps: Vec<Exp>,
    pub rules: Vec<Rule>,
    pub requests: Vec<(String, String, u16)>,
    pub next_key: u64,
    /// Model-registry versions created (request bodies).
    pub registry: Vec<Value>,
}

pub type Shared = Arc<Mutex<Fake>>;

pub struct Server {
    pub state: Shared,
    pub port: u16,
    pub rt: Option<tokio::runtime::Runtime>,
}

impl Server {
    pub fn start() -> Self {
        let mut s = Server {
            state: Shared::default(),
            port: 0,
            rt: None,
        };
        s.up();
        s
    }
    pub fn up(&mut self) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let state = self.state.clone();
        let port = self.port;
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.set_reuseaddr(true).unwrap();
            sock.bind(([127, 0, 0, 1], port).into()).unwrap();
            let l = sock.listen(1024).unwrap();
            tx.send(l.local_addr().unwrap().port()).unwrap();
            let app = axum::Router::new().fallback(handle).with_state(state);
            axum::serve(l, app).await.unwrap();
        });
        self.port = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        self.rt = Some(rt);
    }
    /// Full outage: nothing listens (connections are refused).
    pub fn down(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/clientlib/", self.port)
    }
    pub fn fault(&self, path: &'static str, fault: Fault, skip: usize, count: usize) {
        self.state.lock().unwrap().rules.push(Rule {
            path,
            fault,
            skip,
            count,
        });
    }
    pub fn exps(&self) -> Vec<Exp> {
        self.state.lock().unwrap().exps.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn bad(status: StatusCode, msg: &str) -> Response {
    (
        status,
        axum::Json(json!({"msg": msg, "code": status.as_u16(), "sdk_error_code": 0})),
    )
        .into_response()
}

async fn handle(State(s): State<Shared>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), urldecode(v)))
                .collect()
        })
        .unwrap_or_default();
    let headers: HeaderMap = req.headers().clone();
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(KEY) {
        s.lock()
            .unwrap()
            .requests
            .push((method.to_string(), path.clone(), 401));
        return bad(StatusCode::UNAUTHORIZED, "bad api key");
    }
    // Which fault applies?
    let fault = {
        let mut f = s.lock().unwrap();
        let mut hit = None;
        for r in f.rules.iter_mut() {
            if path.contains(r.path) && r.count > 0 {
                if r.skip > 0 {
                    r.skip -= 1;
                } else {
                    r.count -= 1;
                    hit = Some(r.fault);
                }
                break;
            }
        }
        hit
    };
    match fault {
        Some(Fault::Status(c)) => {
            s.lock()
                .unwrap()
                .requests
                .push((method.to_string(), path.clone(), c));
            return bad(StatusCode::from_u16(c).unwrap(), "injected");
        }
        Some(Fault::TooMany(secs)) => {
            s.lock()
                .unwrap()
                .requests
                .push((method.to_string(), path.clone(), 429));
            let mut r = bad(StatusCode::TOO_MANY_REQUESTS, "throttled");
            r.headers_mut()
                .insert("Retry-After", secs.to_string().parse().unwrap());
            return r;
        }
        _ => {}
    }
    let is_multipart = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("multipart/"));
    let (body, file_len) = if is_multipart {
        let mut mp = Multipart::from_request(req, &()).await.unwrap();
        let mut len = 0;
        while let Some(field) = mp.next_field().await.unwrap() {
            let name = field.name().unwrap_or_default().to_string();
            let bytes = field.bytes().await.unwrap();
            if name == "file" {
                len = bytes.len();
            }
        }
        (Value::Null, len)
    } else {
        let b: Bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .unwrap();
        (serde_json::from_slice(&b).unwrap_or(Value::Null), 0)
    };
    let resp = apply(&s, &method, &path, &query, &body, file_len);
    let code = resp.as_ref().map_or_else(|(c, _)| *c, |_| 200);
    s.lock()
        .unwrap()
        .requests
        .push((method.to_string(), path.clone(), code));
    match fault {
        Some(Fault::Drop) => panic!("fake comet: dropping the connection after applying {path}"),
        Some(Fault::Slow(ms)) => tokio::time::sleep(Duration::from_millis(ms)).await,
        _ => {}
    }
    match resp {
        Ok(v) => axum::Json(v).into_response(),
        Err((c, m)) => bad(StatusCode::from_u16(c).unwrap(), &m),
    }
}

fn urldecode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(h, 16).unwrap());
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn apply(
    s: &Shared,
    method: &Method,
    path: &str,
    q: &HashMap<String, String>,
    body: &Value,
    file_len: usize,
) -> Result<Value, (u16, String)> {
    let mut f = s.lock().unwrap();
    let key_of = |v: &Value| v["experimentKey"].as_str().map(str::to_string);
    let route = path
        .trim_start_matches("/api/rest/v2/")
        .trim_start_matches("/clientlib/");
    if method == Method::POST && route == "write/experiment/create" {
        f.next_key += 1;
        let key = format!("{:032x}", 0x00C0_FFEE_0000_u64 + f.next_key);
        let e = Exp {
            key: key.clone(),
            name: body["experimentName"].as_str().unwrap_or_default().into(),
            workspace: body["workspaceName"].as_str().unwrap_or_default().into(),
            project: body["projectName"].as_str().unwrap_or_default().into(),
            ..Exp::default()
        };
        let link = format!("http://127.0.0.1/{}/{}/{key}", e.workspace, e.project);
        let out = json!({"experimentKey": key, "workspaceName": e.workspace, "projectName": e.project, "link": link});
        f.exps.push(e);
        return Ok(out);
    }
    if method == Method::GET && route == "registry-model/details" {
        let name = q.get("modelName").cloned().unwrap_or_default();
        let versions: Vec<Value> = f
            .registry
            .iter()
            .filter(|r| r["registryModelName"] == json!(name))
            .map(|r| json!({"version": r["version"], "registryModelItemId": "ritem", "stages": [], "tags": [], "status": "None"}))
            .collect();
        if versions.is_empty() {
            return Err((404, format!("model {name} not found")));
        }
        return Ok(json!({"registryModelId": "rmodel-1", "modelName": name, "versions": versions}));
    }
    if method == Method::POST && route == "write/registry-model/item/create" {
        // Comet registers only a model the experiment has uploaded.
        let key = key_of(body).unwrap_or_default();
        let model = body["experimentModelName"].as_str().unwrap_or_default();
        let has_model = f.exps.iter().any(|e| {
            e.key == key
                && e.assets
                    .keys()
                    .any(|(_, t, g)| t == "model-element" && g == model)
        });
        if !has_model {
            return Err((400, format!("experiment {key} has no model {model}")));
        }
        f.registry.push(body.clone());
        let n = f.registry.len();
        return Ok(
            json!({"registryModelItemId": format!("ritem-{n:04}"), "registryModelId": "rmodel-1"}),
        );
    }
    if method == Method::GET && route == "experiments" {
        let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let size: usize = q.get("size").and_then(|p| p.parse().ok()).unwrap_or(1000);
        let list: Vec<Value> = f
            .exps
            .iter()
            .filter(|e| Some(&e.workspace) == q.get("workspaceName") && Some(&e.project) == q.get("projectName"))
            .skip((page - 1) * size)
            .take(size)
            .map(|e| json!({"experimentKey": e.key, "experimentName": e.name, "projectName": e.project,
                             "workspaceName": e.workspace, "running": e.status.is_none(), "archived": false}))
            .collect();
        return Ok(json!({"experiments": list}));
    }
    let key = key_of(body).or_else(|| q.get("experimentKey").cloned());
    let Some(e) = key.and_then(|k| f.exps.iter_mut().find(|e| e.key == k)) else {
        return Err((400, "unknown experimentKey".into()));
    };
    match (method.as_str(), route) {
        ("POST", "batch/logger/experiment/metric") => {
            for v in body["values"].as_array().unwrap() {
                e.metrics.push(v.clone());
            }
        }
        ("POST", "batch/logger/experiment/parameter") => {
            for v in body["values"].as_array().unwrap() {
                e.params.insert(
                    v["parameterName"].as_str().unwrap().into(),
                    v["parameterValue"].clone(),
                );
            }
        }
        ("POST", "write/experiment/log-other") => {
            e.others
                .insert(body["key"].as_str().unwrap().into(), body["value"].clone());
        }
        ("POST", "write/experiment/tags") => {
            for t in body["addedTags"].as_array().unwrap() {
                e.tags.insert(t.as_str().unwrap().into());
            }
        }
        ("POST", "write/experiment/git/metadata") => e.git = Some(body.clone()),
        ("POST", "write/experiment/git/patch") => e.git_patch = Some(file_len),
        ("POST", "rest/v2/write/experiment/system-details") => e.system.push(body.clone()),
        ("POST", "write/experiment/upload-asset") => {
            let k = (
                q.get("fileName").cloned().unwrap_or_default(),
                q.get("type").cloned().unwrap_or_else(|| "asset".into()),
                q.get("groupingName").cloned().unwrap_or_default(),
            );
            if e.assets.contains_key(&k) && q.get("overwrite").map(String::as_str) != Some("true") {
                return Err((400, "asset exists".into()));
            }
            e.assets.insert(k, file_len);
            return Ok(json!({"assetId": "a", "web": "w", "api": "a"}));
        }
        ("POST", "write/experiment/set-start-end-time") => e.start_end = Some(body.clone()),
        ("POST", "write/experiment/update-status") => e.status = Some(body.clone()),
        ("GET", "experiment/metrics/get-all") => {
            let m: Vec<Value> = e
                .metrics
                .iter()
                .map(|v| json!({"metricName": v["metricName"], "metricValue": v["metricValue"].to_string(),
                                "timestamp": v["timestamp"], "step": v["step"], "epoch": v["epoch"]}))
                .collect();
            return Ok(json!({"metrics": m}));
        }
        ("GET", "experiment/metrics/summary") => {
            let mut by: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for v in &e.metrics {
                by.entry(v["metricName"].as_str().unwrap().into())
                    .or_default()
                    .push(v["metricValue"].as_f64().unwrap_or(f64::NAN));
            }
            let values: Vec<Value> = by
                .iter()
                .map(|(n, xs)| json!({"name": n, "valueMin": xs.iter().cloned().fold(f64::INFINITY, f64::min).to_string(),
                    "valueMax": xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max).to_string(),
                    "valueCurrent": xs.last().unwrap().to_string()}))
                .collect();
            return Ok(json!({"values": values}));
        }
        _ => return Err((404, format!("fake comet: no route {method} {path}"))),
    }
    Ok(json!({"msg": "ok", "code": 200}))
}

pub fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

pub fn assert_no_key_in(dir: &Path) {
    let mut files = Vec::new();
    walk(dir, &mut files);
    assert!(!files.is_empty());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "API key found in {}",
            f.display()
        );
    }
}
