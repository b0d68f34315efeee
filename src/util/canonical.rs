//! A canonical text form of a YAML value, for content hashes that must not
//! change when the YAML library does: JSON with mapping keys sorted, no
//! whitespace, numbers as integers or shortest round-trip floats.

use serde_yaml::Value;

/// Canonical JSON of `v` (see the module docs). Non-string keys are written
/// as their canonical text; tags are dropped (resolved configs have none);
/// non-finite floats, which JSON lacks, become the strings `.inf`, `-.inf`
/// and `.nan`.
pub(crate) fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                match serde_json::Number::from_f64(f) {
                    Some(j) => out.push_str(&j.to_string()),
                    None if f.is_nan() => out.push_str("\".nan\""),
                    None if f > 0.0 => out.push_str("\".inf\""),
                    None => out.push_str("\"-.inf\""),
                }
            }
        }
        Value::String(s) => string(s, out),
        Value::Sequence(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Mapping(m) => {
            let mut entries: Vec<(String, &Value)> = m
                .iter()
                .map(|(k, v)| match k {
                    Value::String(s) => (s.clone(), v),
                    other => (canonical_json(other), v),
                })
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(k, out);
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
        Value::Tagged(t) => write(&t.value, out),
    }
}

fn string(s: &str, out: &mut String) {
    // serde_json's string escaping is the JSON standard's; it cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn key_order_and_layout_do_not_matter() {
        let a = yaml("model: {kind: ease, l2: 500}\nname: x\neval: {k: [5, 10]}\n");
        let b = yaml("name: x\neval:\n  k:\n  - 5\n  - 10\nmodel:\n  l2: 500\n  kind: ease\n");
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"eval":{"k":[5,10]},"model":{"kind":"ease","l2":500},"name":"x"}"#
        );
    }

    #[test]
    fn values_keep_their_types() {
        let v = yaml("a: 1.0\nb: 1\nc: '1'\nd: 1e-5\ne: .inf\nf: null\ng: \"q\\\"uote\"\n");
        assert_eq!(
            canonical_json(&v),
            r#"{"a":1.0,"b":1,"c":"1","d":0.00001,"e":".inf","f":null,"g":"q\"uote"}"#
        );
    }

    #[test]
    fn the_trial_id_of_a_config_is_pinned() {
        // Trial ids name sweep directories: a change here makes every
        // existing sweep start over instead of resuming.
        let v = yaml("model: {kind: ease, l2: 500}\nname: x\neval: {k: [5, 10]}\n");
        let id = crate::util::hash::Fingerprint::new()
            .str(&canonical_json(&v))
            .hex();
        assert_eq!(&id[..12], "589805f51ed4");
    }
}
