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

/// Loads `path` and everything it extends into one merged mapping.
pub(crate) fn load_merged(path: &Path) -> Result<Value, ConfigError> {
    let mut chain = Vec::new();
    load_rec(path, &mut chain)
}

fn load_rec(path: &Path, chain: &mut Vec<PathBuf>) -> Result<Value, ConfigError> {
    let canonical = path.canonicalize().map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if chain.contains(&canonical) {
        return Err(ConfigError::ExtendsCycle {
            path: path.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut value: Value = serde_yaml::from_str(&text).map_err(|e| ConfigError::Yaml {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })?;
    if value.is_null() {
        value = Value::Mapping(Mapping::new());
    }
    let Value::Mapping(map) = &mut value else {
        return Err(ConfigError::Invalid {
            file: path.to_path_buf(),
            key: "(top level)".into(),
            msg: "an experiment must be a YAML mapping (key: value lines)".into(),
        });
    };
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    for keys in INPUT_PATH_KEYS {
        resolve_relative(map, keys, &dir);
    }
    let extends = map.remove("extends");
    let bases: Vec<String> = match extends {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s],
        Some(Value::Sequence(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(bad_extends(path, &other)),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(bad_extends(path, &other)),
    };
    chain.push(canonical);
    let mut merged = Value::Mapping(Mapping::new());
    for base in bases {
        let base_value = load_rec(&normalize(&dir.join(&base)), chain)?;
        deep_merge(&mut merged, base_value);
    }
    chain.pop();
    deep_merge(&mut merged, value);
    Ok(merged)
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
    fn extends_cycle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "extends: b.yaml\n").unwrap();
        std::fs::write(dir.path().join("b.yaml"), "extends: a.yaml\n").unwrap();
        let e = load_merged(&dir.path().join("a.yaml")).unwrap_err();
        assert!(matches!(e, ConfigError::ExtendsCycle { .. }), "{e}");
    }
}
