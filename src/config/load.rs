//! Reading experiment YAML: `extends` chains (deep merge, the child wins),
//! relative input paths resolved against the file that names them, and
//! `--set a.b.c=value` overrides.

use super::ConfigError;
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

/// Keys whose values are input paths; a relative path is taken relative to the
/// YAML file that wrote it, so an experiment means the same thing from any cwd.
const INPUT_PATH_KEYS: &[&[&str]] = &[
    &["data", "source"],
    &["data", "split", "train"],
    &["data", "split", "test"],
];

/// Config files one experiment may pull in through `extends` (all levels).
const MAX_FILES: usize = 64;
/// A config file larger than this is not an experiment.
const MAX_BYTES: u64 = 1 << 20;
/// Values one file may hold after YAML alias expansion: a fixed cap, and
/// at most this many per byte of text beyond the first thousand (a config
/// never needs more; a "billion laughs" file needs far more).
const MAX_NODES: usize = 100_000;
const NODES_PER_BYTE: usize = 10;

/// What one load has seen: each file is read and parsed once, however
/// often the `extends` graph names it.
#[derive(Default)]
struct Loader {
    chain: Vec<PathBuf>,
    done: std::collections::HashMap<PathBuf, Value>,
}

/// Loads `path` and everything it extends into one merged mapping.
pub(crate) fn load_merged(path: &Path) -> Result<Value, ConfigError> {
    Loader::default().load(path)
}

impl Loader {
    fn load(&mut self, path: &Path) -> Result<Value, ConfigError> {
        let canonical = path.canonicalize().map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if self.chain.contains(&canonical) {
            return Err(ConfigError::ExtendsCycle {
                path: path.to_path_buf(),
            });
        }
        if let Some(v) = self.done.get(&canonical) {
            return Ok(v.clone());
        }
        if self.done.len() >= MAX_FILES {
            return Err(invalid_at(
                path,
                "extends",
                format!("more than {MAX_FILES} files through `extends`; flatten the chain"),
            ));
        }
        let (mut map, bases) = read_one(path)?;
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let mut seen = Vec::new();
        for base in &bases {
            let p = normalize(&dir.join(base));
            let c = p.canonicalize().unwrap_or_else(|_| p.clone());
            if seen.contains(&c) {
                return Err(invalid_at(
                    path,
                    "extends",
                    format!("{base:?} is listed twice; list each file once"),
                ));
            }
            seen.push(c);
        }
        self.chain.push(canonical.clone());
        let mut merged = Value::Mapping(Mapping::new());
        for base in bases {
            let base_value = self.load(&normalize(&dir.join(&base)))?;
            deep_merge(&mut merged, base_value);
        }
        self.chain.pop();
        map.remove("extends");
        deep_merge(&mut merged, Value::Mapping(map));
        self.done.insert(canonical, merged.clone());
        Ok(merged)
    }
}

/// Reads and parses one file (bounded), resolves its input paths and
/// returns its mapping and the files it extends.
fn read_one(path: &Path) -> Result<(Mapping, Vec<String>), ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    // Read at most one byte past the cap: a FIFO or /dev/zero has no size.
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| {
            std::io::Read::read_to_string(&mut std::io::Read::take(f, MAX_BYTES + 1), &mut text)
        })
        .map_err(read_err)?;
    if text.len() as u64 > MAX_BYTES {
        return Err(invalid_at(
            path,
            "(top level)",
            format!("the file is larger than {MAX_BYTES} bytes; an experiment file is smaller"),
        ));
    }
    let mut value: Value = serde_yaml::from_str(&text).map_err(|e| ConfigError::Yaml {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })?;
    let limit = MAX_NODES.min(NODES_PER_BYTE * text.len() + 1000);
    if count_nodes(&value, limit + 1) > limit {
        return Err(invalid_at(
            path,
            "(top level)",
            format!(
                "YAML aliases expand this {}-byte file to more than {limit} values; write the values out or use fewer aliases",
                text.len()
            ),
        ));
    }
    if value.is_null() {
        value = Value::Mapping(Mapping::new());
    }
    let Value::Mapping(mut map) = value else {
        return Err(invalid_at(
            path,
            "(top level)",
            "an experiment must be a YAML mapping (key: value lines)",
        ));
    };
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    for keys in INPUT_PATH_KEYS {
        resolve_relative(&mut map, keys, &dir);
    }
    let bases = match map.get("extends") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(bad_extends(path, other)),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(bad_extends(path, other)),
    };
    Ok((map, bases))
}

/// Values in `v` (each scalar, sequence and mapping, keys included), counting
/// no further than `stop`.
fn count_nodes(v: &Value, stop: usize) -> usize {
    let mut n = 0usize;
    let mut stack = vec![v];
    while let Some(x) = stack.pop() {
        n += 1;
        if n >= stop {
            return n;
        }
        match x {
            Value::Sequence(s) => stack.extend(s.iter()),
            Value::Mapping(m) => {
                for (k, v) in m {
                    stack.push(k);
                    stack.push(v);
                }
            }
            Value::Tagged(t) => stack.push(&t.value),
            _ => {}
        }
    }
    n
}

fn invalid_at(path: &Path, key: &str, msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        file: path.to_path_buf(),
        key: key.into(),
        msg: msg.into(),
    }
}

fn bad_extends(path: &Path, v: &Value) -> ConfigError {
    ConfigError::Invalid {
        file: path.to_path_buf(),
        key: "extends".into(),
        msg: format!(
            "{} is not allowed; allowed: a file path or a list of file paths",
            short(v)
        ),
    }
}

fn resolve_relative(map: &mut Mapping, keys: &[&str], dir: &Path) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut cur = map;
    for k in parents {
        match cur.get_mut(*k) {
            Some(Value::Mapping(m)) => cur = m,
            _ => return,
        }
    }
    if let Some(Value::String(s)) = cur.get_mut(*last) {
        let p = Path::new(s.as_str());
        if !s.is_empty() && p.is_relative() {
            *s = normalize(&dir.join(p)).to_string_lossy().into_owned();
        }
    }
}

/// Removes `.` and `name/..` lexically, so resolved paths read cleanly in
/// saved configs and messages (symlinks are not followed on purpose).
pub(crate) fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last_is_normal =
                    matches!(out.components().next_back(), Some(Component::Normal(_)));
                if last_is_normal {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Deep-merges `over` into `base`: mappings merge key by key, anything else
/// (scalars, lists) is replaced by `over`.
pub(crate) fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => deep_merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Applies one `a.b.c=value` override. The value is read as a YAML scalar or
/// flow collection, so `3`, `true`, `1e-4`, `[5, 10]` and `{kind: head}` work.
pub(crate) fn apply_set(root: &mut Value, arg: &str) -> Result<(), ConfigError> {
    let Some((key, raw)) = arg.split_once('=') else {
        return Err(ConfigError::BadSet {
            arg: arg.into(),
            msg: "expected KEY=VALUE, e.g. train.epochs=3".into(),
        });
    };
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(ConfigError::BadSet {
            arg: arg.into(),
            msg: "the key must be a dotted path such as data.split.kind".into(),
        });
    }
    let value: Value = if raw.trim().is_empty() {
        Value::String(String::new())
    } else {
        serde_yaml::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
    };
    set_path(root, key, value).map_err(|msg| ConfigError::BadSet {
        arg: arg.into(),
        msg,
    })
}

/// Sets a dotted path, creating intermediate mappings.
pub(crate) fn set_path(root: &mut Value, key: &str, value: Value) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        if cur.is_null() {
            *cur = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(map) = cur else {
            return Err(format!(
                "{} is not a section, so it has no key `{part}`",
                parts[..i].join(".")
            ));
        };
        if i + 1 == parts.len() {
            map.insert(Value::String((*part).into()), value);
            return Ok(());
        }
        cur = map
            .entry(Value::String((*part).into()))
            .or_insert(Value::Null);
    }
    Ok(())
}

/// Looks up a dotted path.
pub(crate) fn get_path<'a>(root: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(root, |cur, part| cur.get(part))
}

/// A short rendering of a YAML value for error messages.
pub(crate) fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("{s:?}"),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn merge_child_wins_and_keeps_siblings() {
        let mut base = yaml("data: {format: mal2020, min_user_ratings: 5}\neval: {k: [5, 10]}");
        deep_merge(
            &mut base,
            yaml("data: {min_user_ratings: 400}\neval: {k: [20]}"),
        );
        assert_eq!(
            base,
            yaml("data: {format: mal2020, min_user_ratings: 400}\neval: {k: [20]}")
        );
    }

    #[test]
    fn set_parses_scalars_and_creates_sections() {
        let mut v = yaml("train: {epochs: 20}");
        apply_set(&mut v, "train.epochs=3").unwrap();
        apply_set(&mut v, "train.lr_schedule.max=1e-3").unwrap();
        apply_set(&mut v, "eval.k=[5, 10]").unwrap();
        apply_set(&mut v, "name=my run").unwrap();
        assert_eq!(get_path(&v, "train.epochs"), Some(&Value::from(3)));
        assert_eq!(
            get_path(&v, "train.lr_schedule.max").and_then(Value::as_f64),
            Some(1e-3)
        );
        assert_eq!(get_path(&v, "eval.k"), Some(&yaml("[5, 10]")));
        assert_eq!(get_path(&v, "name"), Some(&Value::from("my run")));
    }

    #[test]
    fn set_rejects_malformed() {
        let mut v = yaml("a: 1");
        assert!(apply_set(&mut v, "novalue").is_err());
        assert!(apply_set(&mut v, "a..b=1").is_err());
        let e = apply_set(&mut v, "a.b=1").unwrap_err().to_string();
        assert!(e.contains("a is not a section"), "{e}");
    }

    #[test]
    fn extends_resolves_relative_to_the_naming_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("configs")).unwrap();
        std::fs::create_dir_all(dir.path().join("experiments")).unwrap();
        std::fs::write(
            dir.path().join("configs/base.yaml"),
            "data: {source: ../data/raw, min_user_ratings: 5}\nseed: 1\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("experiments/exp.yaml"),
            "extends: ../configs/base.yaml\nname: x\nseed: 2\n",
        )
        .unwrap();
        let v = load_merged(&dir.path().join("experiments/exp.yaml")).unwrap();
        assert_eq!(get_path(&v, "seed"), Some(&Value::from(2)));
        let src = get_path(&v, "data.source").and_then(Value::as_str).unwrap();
        assert_eq!(Path::new(src), dir.path().join("data/raw"));
        assert!(get_path(&v, "extends").is_none());
    }

    #[test]
    fn extends_loads_each_file_once() {
        // f0 extends [a1, b1]; a_k and b_k both extend [a_{k+1}, b_{k+1}]:
        // 2^24 loads when every mention is loaded, 48 when each file is read once.
        let dir = tempfile::tempdir().unwrap();
        let levels = 24;
        let name = |side: &str, k: usize| format!("{side}{k}.yaml");
        std::fs::write(
            dir.path().join("f0.yaml"),
            "extends: [a1.yaml, b1.yaml]\nseed: 1\n",
        )
        .unwrap();
        for k in 1..=levels {
            for side in ["a", "b"] {
                let body = if k == levels {
                    format!("threads: {k}\n")
                } else {
                    format!("extends: [{}, {}]\n", name("a", k + 1), name("b", k + 1))
                };
                std::fs::write(dir.path().join(name(side, k)), body).unwrap();
            }
        }
        let t = std::time::Instant::now();
        let v = load_merged(&dir.path().join("f0.yaml")).unwrap();
        assert!(t.elapsed().as_secs() < 5, "took {:?}", t.elapsed());
        assert_eq!(get_path(&v, "threads"), Some(&Value::from(levels)));
    }

    #[test]
    fn extends_naming_a_file_twice_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.yaml"), "seed: 1\n").unwrap();
        std::fs::write(dir.path().join("a.yaml"), "extends: [b.yaml, ./b.yaml]\n").unwrap();
        let e = load_merged(&dir.path().join("a.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("listed twice"), "{e}");
    }

    #[test]
    fn alias_expansion_far_beyond_the_text_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let row = |alias: &str| format!("[{}]", [alias; 10].join(", "));
        let text = format!(
            "a: &a {}\nb: &b {}\nc: &c {}\nd: {}\n",
            row("x"),
            row("*a"),
            row("*b"),
            row("*c")
        );
        std::fs::write(dir.path().join("lol.yaml"), &text).unwrap();
        let e = load_merged(&dir.path().join("lol.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("aliases expand"), "{e}");
        // A modest, real use of an alias is fine.
        std::fs::write(dir.path().join("ok.yaml"), "a: &k [5, 10]\neval: {k: *k}\n").unwrap();
        load_merged(&dir.path().join("ok.yaml")).unwrap();
    }

    #[test]
    fn extends_cycle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "extends: b.yaml\n").unwrap();
        std::fs::write(dir.path().join("b.yaml"), "extends: a.yaml\n").unwrap();
        let e = load_merged(&dir.path().join("a.yaml")).unwrap_err();
        assert!(matches!(e, ConfigError::ExtendsCycle { .. }), "{e}");
    }

    mod props {
        use proptest::prelude::*;

        /// Keys of every section (and a few that do not exist), so values
        /// reach the typed checks, not only the YAML parser.
        const KEYS: &[&str] = &[
            "name",
            "seed",
            "threads",
            "runs_dir",
            "description",
            "extends",
            "data",
            "data.format",
            "data.source",
            "data.max_rows",
            "data.sample",
            "data.sample_seed",
            "data.min_user_ratings",
            "data.holdout",
            "data.cache",
            "data.split",
            "data.split.kind",
            "data.split.test_ratio",
            "data.split.seed",
            "data.split.train",
            "data.synth.users",
            "data.synth.anime",
            "data.synth.rows",
            "train.epochs",
            "train.batch_size",
            "train.val_ratio",
            "train.lr_schedule.kind",
            "train.lr_schedule.max",
            "train.lr_schedule.decay",
            "train.lr_schedule.ramp_epochs",
            "train.early_stopping.patience",
            "eval.k",
            "eval.relevance_threshold",
            "eval.block_users",
            "tracking.comet",
            "tracking.comet.mode",
            "tracking.comet.tags",
            "model",
            "model.kind",
            "nope",
            "a.b.c",
        ];

        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("-1".to_string()),
                Just("0".to_string()),
                Just("1e308".to_string()),
                Just("-1e308".to_string()),
                Just(".inf".to_string()),
                Just(".nan".to_string()),
                Just("18446744073709551616".to_string()),
                Just("4611686018427387904".to_string()),
                Just("~".to_string()),
                Just("[]".to_string()),
                Just("{}".to_string()),
                Just("[5, 10]".to_string()),
                Just("{kind: ease}".to_string()),
                Just("{kind: hybrid, members: []}".to_string()),
                Just("*a".to_string()),
                Just("&a [1]".to_string()),
                Just("!!binary aGk=".to_string()),
                Just("synthetic".to_string()),
                Just("external".to_string()),
                Just("offline".to_string()),
                any::<i64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|x| x.to_string()),
                any::<String>().prop_map(|s| s.chars().take(40).collect()),
                "[\\[\\]{}:,&*!|>'\"#%@` a-z0-9.-]{0,30}",
            ]
        }

        fn set() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => (proptest::sample::select(KEYS), value()).prop_map(|(k, v)| format!("{k}={v}")),
                1 => any::<String>().prop_map(|s| s.chars().take(40).collect()),
            ]
        }

        const BASE: &str = "name: p\ndata: {format: synthetic}\nmodel: {kind: popularity}\n";

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 96,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            /// Any `--set` list over a valid experiment: a typed error or an
            /// experiment, never a panic.
            #[test]
            fn set_values_never_panic(sets in proptest::collection::vec(set(), 0..6)) {
                let dir = tempfile::tempdir().unwrap();
                let p = dir.path().join("exp.yaml");
                std::fs::write(&p, BASE).unwrap();
                let _ = crate::config::load_experiment(&p, &sets);
            }

            /// Any experiment text (mutated from a valid one, or arbitrary).
            #[test]
            fn yaml_configs_never_panic(
                lines in proptest::collection::vec(
                    (proptest::sample::select(KEYS), value()).prop_map(|(k, v)| {
                        // Dotted keys as nested flow mappings.
                        let parts: Vec<&str> = k.split('.').collect();
                        let mut out = v;
                        for part in parts.iter().skip(1).rev() {
                            out = format!("{{{part}: {out}}}");
                        }
                        format!("{}: {out}", parts[0])
                    }),
                    0..8,
                ),
                junk in any::<String>(),
                use_junk in any::<bool>(),
            ) {
                let dir = tempfile::tempdir().unwrap();
                let p = dir.path().join("exp.yaml");
                let text = if use_junk { junk } else { format!("{BASE}{}\n", lines.join("\n")) };
                std::fs::write(&p, text).unwrap();
                let _ = crate::config::load_experiment(&p, &[]);
            }
        }
    }
}
