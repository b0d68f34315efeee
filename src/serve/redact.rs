//! What `/v1/model` may publish of a promotion record (`PROMOTED.json`):
//! the record is written for operators and holds the run directory, the
//! candidates' directories, the config and the git remote as recorded. The
//! server publishes a fixed set of fields, with no filesystem path and no
//! credentials, whatever an older or hand-edited record contains.

use serde_json::{json, Map, Value};

/// A git remote fit to publish: URLs only (a local path is a filesystem
/// path), without `user:password@` (an HTTPS remote with a token in it is
/// common), query or fragment.
pub fn public_remote(remote: &str) -> Option<String> {
    let r = remote.trim();
    if let Some((scheme, rest)) = r.split_once("://") {
        let scheme_ok = !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok || scheme.eq_ignore_ascii_case("file") {
            return None;
        }
        let rest = rest.split(['?', '#']).next().unwrap_or("");
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        // userinfo ends at the last '@' of the authority.
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host.is_empty() {
            return None;
        }
        return Some(format!("{scheme}://{host}{path}"));
    }
    // scp-like `git@github.com:owner/repo.git`: the user is a login name
    // (no secret), but drop it anyway so the rule is one rule.
    let (head, path) = r.split_once(':')?;
    let host = head.rsplit_once('@').map_or(head, |(_, h)| h);
    // More than one character: `C:\\repos` is a Windows path, not a host.
    let looks_like_host = host.len() > 1
        && !host.contains('/')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    (looks_like_host && !path.is_empty() && !path.starts_with("//"))
        .then(|| format!("{host}:{path}"))
}

fn text(v: &Value) -> Value {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => v.clone(),
        _ => Value::Null,
    }
}

/// The public view of a promotion record.
pub fn promoted_public(p: &Value) -> Value {
    let g = &p["git"];
    let git = if g.is_object() {
        json!({
            "commit": text(&g["commit"]),
            "branch": text(&g["branch"]),
            "dirty": text(&g["dirty"]),
            "remote": g["remote"].as_str().and_then(public_remote),
        })
    } else {
        Value::Null
    };
    let pick = |v: &Value, keys: &[&str]| -> Value {
        if !v.is_object() {
            return Value::Null;
        }
        let m: Map<String, Value> = keys.iter().map(|k| (k.to_string(), text(&v[*k]))).collect();
        Value::Object(m)
    };
    let comet = pick(
        &p["comet"],
        &["workspace", "project", "experiment_key", "link"],
    );
    let registry = if p["registry"].get("error").is_some() {
        json!({"registered": false})
    } else {
        pick(
            &p["registry"],
            &["registry_model_name", "version", "workspace"],
        )
    };
    json!({
        "promoted_at": text(&p["promoted_at"]),
        "metric": text(&p["metric"]),
        "value": text(&p["value"]),
        "run": text(&p["run"]["id"]),
        "git": git,
        "comet": comet,
        "registry": registry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_lose_credentials_and_paths_are_dropped() {
        let cases = [
            (
                "https://user:ghp_SECRET@github.com/o/r.git",
                Some("https://github.com/o/r.git"),
            ),
            (
                "https://ghp_SECRET@github.com/o/r.git?x=1#f",
                Some("https://github.com/o/r.git"),
            ),
            (
                "https://a@b:c@host.example/x",
                Some("https://host.example/x"),
            ),
            ("ssh://git@host:22/o/r", Some("ssh://host:22/o/r")),
            ("git@github.com:o/r.git", Some("github.com:o/r.git")),
            ("/home/alice/src/anirec", None),
            ("../upstream", None),
            ("file:///srv/git/anirec.git", None),
            ("C:\\repos\\anirec", None),
            ("https://@/x", None),
        ];
        for (input, want) in cases {
            assert_eq!(public_remote(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn record_is_reduced_to_public_fields() {
        let p = json!({
            "promoted_at": "2026-11-27T04:00:00Z", "metric": "ndcg@10", "value": 0.41,
            "run": {"id": "r1", "dir": "/home/alice/runs/r1"},
            "git": {"commit": "abc", "branch": "main", "dirty": false,
                    "remote": "https://alice:ghp_SECRET@github.com/o/r.git"},
            "comet": {"workspace": "w", "project": "p", "experiment_key": "k", "link": "https://comet/x", "api_key": "nope"},
            "registry": {"error": "POST https://comet failed: /home/alice/.netrc"},
            "candidates": [{"run_dir": "/home/alice/runs/r1"}],
            "config": {"runs_dir": "/home/alice/runs"}
        });
        let v = promoted_public(&p);
        let s = v.to_string();
        for leak in ["SECRET", "alice", "/home", "nope", "netrc"] {
            assert!(!s.contains(leak), "{leak} leaked: {s}");
        }
        assert_eq!(v["git"]["remote"], "https://github.com/o/r.git");
        assert_eq!(v["run"], "r1");
        assert_eq!(v["registry"]["registered"], false);
    }
}
