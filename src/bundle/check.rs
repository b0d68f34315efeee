//! Sanity bounds of a bundle. Checksums live in the manifest, so they prove
//! the files are the ones the manifest names, not that the numbers in them
//! are sane: every number that later sizes an allocation or indexes an array
//! (a neighbour count, a feature count, a vector's length, an id) is checked
//! here, and a bundle that breaks one is refused with the reason.

use std::collections::HashSet;

use super::{CatalogEntry, MemberMeta};
use crate::model::parts::Part;

/// Largest manifest.json read (it holds lineage and metrics, not data).
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// Most content features (columns of a content member); a scoring request
/// allocates one f32 per feature.
pub const MAX_FEATURES: usize = 1 << 20;
/// Most neighbours of a user-kNN member.
pub const MAX_NEIGHBORS: u64 = u32::MAX as u64;
/// Widest embedding.
pub const MAX_DIMS: usize = 1 << 16;

/// Ids are unique and the catalogue lists the items in the tensors' order.
pub(crate) fn ids(users: &[u32], items: &[u32], catalog: &[CatalogEntry]) -> Result<(), String> {
    let mut seen = HashSet::with_capacity(users.len());
    if let Some(u) = users.iter().find(|u| !seen.insert(**u)) {
        return Err(format!("user id {u} appears twice in the tensors"));
    }
    let mut seen = HashSet::with_capacity(items.len());
    if let Some(i) = items.iter().find(|i| !seen.insert(**i)) {
        return Err(format!("anime id {i} appears twice in the tensors"));
    }
    if let Some((d, (c, i))) = catalog
        .iter()
        .zip(items)
        .enumerate()
        .find(|(_, (c, i))| c.id != **i)
    {
        return Err(format!(
            "catalogue entry {d} is anime {} but the tensors have anime {i} there",
            c.id
        ));
    }
    Ok(())
}

/// A finite parameter within `lo..=hi`.
fn within(k: usize, name: &str, v: f64, lo: f64, hi: f64) -> Result<(), String> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "member {k}: {name} is {v}, expected a finite value from {lo} to {hi}"
        ))
    }
}

/// The member's settings and shapes fit the bundle's users and items.
pub(crate) fn member(
    k: usize,
    mm: &MemberMeta,
    part: &Part,
    n_users: usize,
    n_items: usize,
) -> Result<(), String> {
    if !mm.weight.is_finite() {
        return Err(format!(
            "member {k}: weight is {}, expected a finite number",
            mm.weight
        ));
    }
    if let Some((name, v)) = mm.params.iter().find(|(_, v)| !v.is_finite()) {
        return Err(format!(
            "member {k}: parameter {name} is {v}, expected a finite number"
        ));
    }
    match part {
        Part::Factors {
            user,
            item,
            item_bias,
            ..
        } => {
            if item.cols == 0 || item.cols > MAX_DIMS {
                return Err(format!(
                    "member {k}: {} factor dimensions, expected 1 to {MAX_DIMS}",
                    item.cols
                ));
            }
            if user.rows != n_users || item.rows != n_items {
                return Err(format!(
                    "member {k}: factors for {} users × {} items, the bundle has {n_users} × {n_items}",
                    user.rows, item.rows
                ));
            }
            if let Some(b) = item_bias {
                if b.len() != n_items {
                    return Err(format!(
                        "member {k}: {} item biases for {n_items} items",
                        b.len()
                    ));
                }
            }
        }
        Part::Content {
            vectors,
            like_quantile,
        } => {
            if vectors.n_cols == 0 || vectors.n_cols > MAX_FEATURES {
                return Err(format!(
                    "member {k}: {} content features, expected 1 to {MAX_FEATURES}",
                    vectors.n_cols
                ));
            }
            // Any finite quantile works (the scorer clamps it to 0..=1).
            within(
                k,
                "like_quantile",
                f64::from(*like_quantile),
                f64::MIN,
                f64::MAX,
            )?;
        }
        Part::UserKnn {
            neighbors,
            like_quantile,
            user_vectors,
            index,
        } => {
            // More neighbours than users is legitimate (a config written for
            // a larger data set; the scorer takes them all); absurd values
            // are refused.
            let raw = mm.params.get("neighbors").copied().unwrap_or(f64::NAN);
            within(k, "neighbors", raw, 1.0, MAX_NEIGHBORS as f64)?;
            if raw.fract() != 0.0 || *neighbors == 0 {
                return Err(format!(
                    "member {k}: neighbors is {raw}, expected a whole number from 1 to {MAX_NEIGHBORS}"
                ));
            }
            // Any finite quantile works (the scorer clamps it to 0..=1).
            within(
                k,
                "like_quantile",
                f64::from(*like_quantile),
                f64::MIN,
                f64::MAX,
            )?;
            if let Some(v) = user_vectors {
                if v.rows != n_users || v.cols == 0 || v.cols > MAX_DIMS {
                    return Err(format!(
                        "member {k}: user vectors are {}×{}, expected {n_users} rows and 1 to {MAX_DIMS} columns",
                        v.rows, v.cols
                    ));
                }
            }
            if let Some(x) = index {
                x.check(n_users, *neighbors)
                    .map_err(|e| format!("member {k}: {e}"))?;
            }
        }
        Part::Autoencoder(a) => {
            if let Some(e) = a.shape_error(n_items, MAX_DIMS) {
                return Err(format!("member {k}: {e}"));
            }
        }
        Part::ItemItem { .. } | Part::Popularity { .. } => {}
    }
    Ok(())
}
