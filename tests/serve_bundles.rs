//! Bundles that lie (issue 13 item 5): a bundle whose checksums match but
//! whose numbers are crafted to size an allocation or index out of range is
//! refused with a clear error, never loaded (where the first request would
//! have panicked or aborted). Plus property tests over manifests and tensor
//! files: loading never panics.
#![cfg(feature = "serve")]

use std::collections::BTreeMap;
use std::path::Path;

use anirec::bundle::sha256;
use anirec::serve::{Loaded, Mode};
use anirec::testdata::bundle::{write_synthetic, BundleSpec};
use proptest::prelude::*;
use safetensors::{Dtype, SafeTensors};
use serde_json::{json, Value};

type Tensors = BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>;

fn synth(dir: &Path) {
    let spec = BundleSpec {
        n_items: 60,
        n_users: 20,
        dims: 8,
        per_user: 5,
        ..BundleSpec::default()
    };
    write_synthetic(dir, &spec).unwrap();
}

fn read_tensors(dir: &Path) -> Tensors {
    let bytes = std::fs::read(dir.join("tensors.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, t)| (n, (t.dtype(), t.shape().to_vec(), t.data().to_vec())))
        .collect()
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

/// Writes the files back with checksums that match, so only the sanity
/// bounds stand between the bundle and the server.
fn write_back(dir: &Path, mut man: Value, tensors: Option<&Tensors>, catalog: Option<&Value>) {
    let tbytes = match tensors {
        Some(t) => {
            let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = t
                .iter()
                .map(|(n, (d, s, b))| {
                    (
                        n.clone(),
                        safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
                    )
                })
                .collect();
            safetensors::serialize(views, None).unwrap()
        }
        None => std::fs::read(dir.join("tensors.safetensors")).unwrap(),
    };
    set_tensor_bytes(dir, &mut man, &tbytes);
    if let Some(c) = catalog {
        let cb = serde_json::to_vec(c).unwrap();
        man["files"]["catalog.json"] = json!(sha256(&cb));
        std::fs::write(dir.join("catalog.json"), cb).unwrap();
    }
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&man).unwrap()).unwrap();
}

fn set_tensor_bytes(dir: &Path, man: &mut Value, bytes: &[u8]) {
    man["files"]["tensors.safetensors"] = json!(sha256(bytes));
    std::fs::write(dir.join("tensors.safetensors"), bytes).unwrap();
}

fn u64s(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn refused(dir: &Path, want: &str) {
    match Loaded::load(dir) {
        Ok(_) => panic!("a crafted bundle was accepted (want an error with `{want}`)"),
        Err(e) => {
            let e = e.to_string();
            assert!(e.contains(want), "want `{want}` in: {e}");
        }
    }
}

/// Adds a user-kNN member (no tensors of its own) with `params`.
fn with_knn(dir: &Path, params: Value) {
    let mut man = manifest(dir);
    man["members"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "user_knn", "weight": 0.1, "part": "user_knn", "params": params}));
    write_back(dir, man, None, None);
}

#[test]
fn a_sane_crafted_bundle_still_loads() {
    // The harness itself must not be what refuses bundles.
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    with_knn(d.path(), json!({"neighbors": 5, "like_quantile": 0.75}));
    let m = Loaded::load(d.path()).unwrap();
    assert_eq!(m.recommend_user(1, Mode::Hybrid, 5).unwrap().len(), 5);
}

#[test]
fn neighbors_beyond_the_users_are_refused() {
    for n in [
        json!(4611686018427387904u64),
        json!(1u64 << 33),
        json!(0),
        json!(2.5),
        json!(-3),
    ] {
        let d = tempfile::tempdir().unwrap();
        synth(d.path());
        with_knn(
            d.path(),
            json!({"neighbors": n.clone(), "like_quantile": 0.75}),
        );
        eprintln!("neighbors {n}");
        refused(d.path(), "neighbors");
    }
    // More neighbours than the 20 users is a config written for more data:
    // accepted, and scored as all of them.
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    with_knn(d.path(), json!({"neighbors": 500, "like_quantile": 0.75}));
    let m = Loaded::load(d.path()).unwrap();
    assert_eq!(m.recommend_user(1, Mode::Hybrid, 5).unwrap().len(), 5);
}

#[test]
fn content_feature_counts_are_bounded() {
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    let man = manifest(d.path());
    let k = man["members"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["part"] == "content")
        .unwrap();
    let mut t = read_tensors(d.path());
    // 2^40 feature columns with the same (valid) entries: every content
    // request would allocate 4 TiB for its profile.
    let shape = t.get_mut(&format!("m{k}.vectors.shape")).unwrap();
    shape.2 = u64s(&[60, 1 << 40]);
    write_back(d.path(), man, Some(&t), None);
    refused(d.path(), "content features");
}

#[test]
fn factor_and_bias_shapes_must_fit() {
    // An item bias shorter than the items.
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    let mut t = read_tensors(d.path());
    t.insert(
        "m0.item_bias".into(),
        (Dtype::F32, vec![3], f32s(&[0.1, 0.2, 0.3])),
    );
    write_back(d.path(), manifest(d.path()), Some(&t), None);
    refused(d.path(), "item biases");

    // Zero-width factors.
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    let mut t = read_tensors(d.path());
    t.insert("m0.user".into(), (Dtype::F32, vec![20, 0], Vec::new()));
    t.insert("m0.item".into(), (Dtype::F32, vec![60, 0], Vec::new()));
    write_back(d.path(), manifest(d.path()), Some(&t), None);
    refused(d.path(), "factor dimensions");

    // User vectors of a kNN member for other users.
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    let mut man = manifest(d.path());
    let k = man["members"].as_array().unwrap().len();
    man["members"].as_array_mut().unwrap().push(
        json!({"name": "user_knn", "weight": 0.1, "part": "user_knn", "params": {"neighbors": 5, "like_quantile": 0.5}}),
    );
    let mut t = read_tensors(d.path());
    t.insert(
        format!("m{k}.user_vectors"),
        (Dtype::F32, vec![7, 4], f32s(&[0.5; 28])),
    );
    write_back(d.path(), man, Some(&t), None);
    refused(d.path(), "user vectors");
}

#[test]
fn ids_must_be_unique_and_match_the_catalogue() {
    // Catalogue row 0 names another anime than the tensors.
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    let mut cat: Value =
        serde_json::from_slice(&std::fs::read(d.path().join("catalog.json")).unwrap()).unwrap();
    cat[0]["id"] = json!(999_999);
    write_back(d.path(), manifest(d.path()), None, Some(&cat));
    refused(d.path(), "catalogue entry 0");

    // The same anime id twice.
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    let mut t = read_tensors(d.path());
    let items = &mut t.get_mut("items").unwrap().2;
    let first: [u8; 4] = items[..4].try_into().unwrap();
    items[4..8].copy_from_slice(&first);
    write_back(d.path(), manifest(d.path()), Some(&t), None);
    refused(d.path(), "appears twice");
}

#[test]
fn truncated_or_absurd_files_are_refused() {
    // Truncated tensors with a checksum that matches the truncation.
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    let bytes = std::fs::read(d.path().join("tensors.safetensors")).unwrap();
    let mut man = manifest(d.path());
    set_tensor_bytes(d.path(), &mut man, &bytes[..bytes.len() / 2]);
    std::fs::write(
        d.path().join("manifest.json"),
        serde_json::to_vec(&man).unwrap(),
    )
    .unwrap();
    refused(d.path(), "tensors.safetensors");

    // A sparse matrix claiming u64::MAX rows.
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    let mut t = read_tensors(d.path());
    t.get_mut("history.shape").unwrap().2 = u64s(&[u64::MAX, 60]);
    write_back(d.path(), manifest(d.path()), Some(&t), None);
    refused(d.path(), "history");

    // A 17 MiB manifest is not read.
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    let mut man = manifest(d.path());
    man["experiment"] = json!("x".repeat(17 << 20));
    std::fs::write(
        d.path().join("manifest.json"),
        serde_json::to_vec(&man).unwrap(),
    )
    .unwrap();
    refused(d.path(), "a manifest is at most");
}

/// A number that might break a bound.
fn wild_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|v| json!(v)),
        any::<u64>().prop_map(|v| json!(v)),
        (-1e12f64..1e12).prop_map(|v| json!(v)),
        prop::sample::select(vec![0i64, 1, -1, 2, 19, 20, 21, 59, 60, 61, 1 << 40])
            .prop_map(|v| json!(v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Mutated manifests (counts, member layouts and parameters) and
    /// truncated tensor files: loading gives a model or an error, and a
    /// model it gives answers every route's scoring without panicking.
    #[test]
    fn loading_mutated_bundles_never_panics(
        field in prop::sample::select(vec!["n_users", "n_items", "format_version", "neighbors", "like_quantile", "weight", "part", "cut", "shape"]),
        v in wild_number(),
        part in prop::sample::select(vec!["factors", "item_item", "content", "user_knn", "popularity", "nope"]),
        cut in 0usize..4096,
    ) {
        let d = tempfile::tempdir().unwrap();
        synth(d.path());
        let mut man = manifest(d.path());
        match field {
            "neighbors" | "like_quantile" => {
                man["members"].as_array_mut().unwrap().push(json!({
                    "name": "user_knn", "weight": 0.1, "part": "user_knn",
                    "params": {"neighbors": if field == "neighbors" { v.clone() } else { json!(5) },
                               "like_quantile": if field == "like_quantile" { v.clone() } else { json!(0.5) }}
                }));
                write_back(d.path(), man, None, None);
            }
            "weight" => {
                man["members"][0]["weight"] = v;
                write_back(d.path(), man, None, None);
            }
            "part" => {
                man["members"][0]["part"] = json!(part);
                write_back(d.path(), man, None, None);
            }
            "cut" => {
                let bytes = std::fs::read(d.path().join("tensors.safetensors")).unwrap();
                let keep = cut.min(bytes.len());
                set_tensor_bytes(d.path(), &mut man, &bytes[..keep]);
                std::fs::write(d.path().join("manifest.json"), serde_json::to_vec(&man).unwrap()).unwrap();
            }
            "shape" => {
                let mut t = read_tensors(d.path());
                let n = v.as_u64().unwrap_or(7);
                let name = ["history.shape", "m2.vectors.shape"][cut % 2];
                if let Some(s) = t.get_mut(name) {
                    s.2 = u64s(&[60u64.min(n), n]);
                }
                write_back(d.path(), man, Some(&t), None);
            }
            other => {
                man[other] = v;
                write_back(d.path(), man, None, None);
            }
        }
        if let Ok(m) = Loaded::load(d.path()) {
            for mode in [Mode::Hybrid, Mode::Collaborative, Mode::Content] {
                let _ = m.recommend_user(1, mode, 10);
                let _ = m.recommend_liked(&[1, 4], mode, 10);
            }
            let _ = m.similar(1, 10);
            let _ = m.search("a", 10);
        }
    }
}
