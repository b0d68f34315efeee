//! Comet's model registry over REST: what `anirec promote` calls to register
//! a promoted bundle as the next version of a registry model.

use super::client::{Client, CometError, Settings};
use serde_json::{json, Value};

/// One registration: the experiment whose model is registered and how the
/// new version is labelled.
pub struct Registration<'a> {
    /// Workspace of the experiment (and of the registry).
    pub workspace: &'a str,
    /// The experiment holding the model's files.
    pub experiment_key: &'a str,
    /// Model name inside the experiment (anirec logs the bundle under the
    /// run's `model.kind`).
    pub experiment_model: &'a str,
    /// Registry model name as the user gave it; normalised as Comet does.
    pub registry_name: &'a str,
    /// The version's comment.
    pub comment: String,
    /// The version's tags.
    pub tags: Vec<String>,
}

/// What the registry recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// The normalised registry model name.
    pub name: String,
    /// The version created, `major.minor.patch`.
    pub version: String,
    /// Comet's id of the registry item, when it returned one.
    pub item_id: Option<Value>,
}

/// Registers `r` as one minor version above the highest one registered
/// (1.0.0 for a new registry model), with the key from the environment.
pub fn register(r: &Registration) -> Result<Registered, CometError> {
    let client = Client::new(Settings::from_env()?)?;
    let name = registry_name(r.registry_name);
    let version = next_version(&client, r.workspace, &name)?;
    let reply = client.rest_post(
        "write/registry-model/item/create",
        &json!({
            "experimentKey": r.experiment_key,
            "experimentModelName": r.experiment_model,
            "registryModelName": name,
            "registryModelDescription": "anirec recommender bundle (anirec-serve)",
            "version": version,
            "versionComment": r.comment,
            "tags": r.tags,
            "publicModel": false,
        }),
    )?;
    Ok(Registered {
        name,
        version,
        item_id: reply.get("registryModelItemId").cloned(),
    })
}

/// Comet normalises registry names: lower case, other characters to `-`.
fn registry_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_string()
}

/// One minor version above the highest registered (1.0.0 for a new model).
fn next_version(c: &Client, workspace: &str, name: &str) -> Result<String, CometError> {
    let details = match c.rest_get(
        "registry-model/details",
        &[
            ("workspaceName", workspace.to_string()),
            ("modelName", name.to_string()),
        ],
    ) {
        Ok(v) => v,
        Err(CometError::Status { status: 404, .. }) => return Ok("1.0.0".into()),
        Err(CometError::Status {
            status: 400,
            ref msg,
            ..
        }) if msg.to_lowercase().contains("not") => return Ok("1.0.0".into()),
        Err(e) => return Err(e),
    };
    let max = details["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["version"].as_str())
        .filter_map(|v| {
            let mut p = v.split('.').map(|x| x.parse::<u64>().ok());
            Some((p.next()??, p.next()??, p.next()??))
        })
        .max();
    Ok(match max {
        Some((a, b, _)) => format!("{a}.{}.0", b + 1),
        None => "1.0.0".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_normalised_like_comet() {
        assert_eq!(registry_name("Anirec Hybrid_v2!"), "anirec-hybrid-v2");
        assert_eq!(registry_name("--x--"), "x");
    }
}
