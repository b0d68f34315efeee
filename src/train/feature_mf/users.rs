//! User features (LightFM's `user_features`): with `user_features: true` a
//! user is not only an id embedding but the weighted sum of the embeddings
//! of their id and of the tags (genres, type, studios, terms) of the anime
//! they liked in training. The tags' user-side embeddings are their own
//! table, as in LightFM: a tag may mean one thing in an item ("this is a
//! mecha") and another in a user ("this user likes mecha").
//!
//! Why it can help: a user with few positives gets most of their vector
//! from tags many users share, which are trained on every step of those
//! users, instead of from an id row trained a handful of times.

use crate::sparse::Csr;
use crate::train::positives::Positives;

/// Share of a user's row that goes to the id when they have tags (the tags
/// share the rest in proportion to how often they appear in the liked
/// anime). LightFM normalises a row of one id and its tags to sum to 1;
/// giving the id half keeps a prolific user's own taste from being drowned
/// by dozens of tags.
const ID_SHARE: f32 = 0.5;

/// Rows of the user-side feature matrix: user `u`'s row holds column `u`
/// (their id) and column `n_users + t` for each tag `t` of the anime in
/// `positives` (the train positives, as `(users, items)`), weighted as
/// `ID_SHARE` and the tags' mean over the liked anime (each anime's tag
/// weights renormalised to 1, so an anime with many tags counts as much as
/// one with few). A user without tagged positives is their id alone.
/// `item_features` is the item × feature matrix whose columns from
/// `n_items` on are tags.
pub(crate) fn user_rows(n_users: usize, positives: (&[u32], &[u32]), item_features: &Csr) -> Csr {
    let n_items = item_features.n_rows;
    let n_tags = item_features.n_cols - n_items;
    let liked = Positives::new(n_users, positives.0, positives.1);
    let mut acc = vec![0f32; n_tags];
    let mut touched: Vec<u32> = Vec::new();
    let (mut indptr, mut indices, mut values) = (vec![0usize], Vec::new(), Vec::new());
    for u in 0..n_users {
        let mut n_tagged = 0usize;
        for &i in liked.of(u as u32) {
            let (cols, ws) = item_features.row(i as usize);
            let tag_sum: f32 = cols
                .iter()
                .zip(ws)
                .filter(|(&c, _)| c as usize >= n_items)
                .map(|(_, &w)| w)
                .sum();
            if tag_sum <= 0.0 {
                continue;
            }
            n_tagged += 1;
            for (&c, &w) in cols.iter().zip(ws) {
                if let Some(t) = (c as usize).checked_sub(n_items) {
                    if acc[t] == 0.0 {
                        touched.push(t as u32);
                    }
                    acc[t] += w / tag_sum;
                }
            }
        }
        indices.push(u as u32);
        if n_tagged == 0 {
            values.push(1.0);
        } else {
            values.push(ID_SHARE);
            touched.sort_unstable();
            let scale = (1.0 - ID_SHARE) / n_tagged as f32;
            for &t in &touched {
                indices.push((n_users + t as usize) as u32);
                values.push(acc[t as usize] * scale);
                acc[t as usize] = 0.0;
            }
            touched.clear();
        }
        indptr.push(indices.len());
    }
    Csr {
        n_rows: n_users,
        n_cols: n_users + n_tags,
        indptr,
        indices,
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_half_id_and_half_the_mean_of_the_liked_tags() {
        // 3 items: item 0 tags {0, 1}, item 1 tag {1}, item 2 untagged.
        let f = Csr::from_triplets(
            3,
            5,
            &[
                (0, 0, 1.0 / 3.0),
                (0, 3, 1.0 / 3.0),
                (0, 4, 1.0 / 3.0),
                (1, 1, 0.5),
                (1, 4, 0.5),
                (2, 2, 1.0),
            ],
        );
        // User 0 liked items 0 and 1; user 1 only the untagged item 2;
        // user 2 nothing.
        let rows = user_rows(3, (&[0, 1, 0], &[0, 2, 1]), &f);
        assert_eq!((rows.n_rows, rows.n_cols), (3, 5));
        let (c, w) = rows.row(0);
        assert_eq!(c, [0, 3, 4]);
        // Tag 0: (1/2) / 2 liked = 0.25 of the tags' half; tag 1: (1/2 + 1) / 2.
        let want = [0.5, 0.5 * 0.25, 0.5 * 0.75];
        for (a, b) in w.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{w:?}");
        }
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(rows.row(1), ([1u32].as_slice(), [1.0f32].as_slice()));
        assert_eq!(rows.row(2), ([2u32].as_slice(), [1.0f32].as_slice()));
    }
}
