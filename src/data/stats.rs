//! Dataset statistics (`anirec data stats`, and the data stage of `anirec run`).

use super::Dataset;
use serde::Serialize;
use std::fmt;

/// Summary numbers of a processed dataset.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DatasetStats {
    /// Rows loaded from the ratings file.
    pub rows_read: u64,
    /// Unrated rows dropped.
    pub unrated_dropped: u64,
    /// Duplicate rows dropped.
    pub duplicates_dropped: u64,
    /// Users dropped for too few ratings.
    pub sparse_users_dropped: u64,
    /// Users kept.
    pub users: usize,
    /// Anime in the catalogue.
    pub catalog_anime: usize,
    /// Anime with at least one train rating.
    pub rated_anime: usize,
    /// Train rows.
    pub train_ratings: usize,
    /// Test rows.
    pub test_ratings: usize,
    /// 1 - ratings / (users × rated anime).
    pub sparsity: f64,
    /// Ratings per user: mean.
    pub ratings_per_user_mean: f64,
    /// Ratings per user: median.
    pub ratings_per_user_median: f64,
    /// Histogram of train+test ratings: (rating, count), ascending.
    pub rating_histogram: Vec<(f32, u64)>,
}

impl DatasetStats {
    /// Computes the statistics.
    pub fn of(d: &Dataset) -> Self {
        let n = d.train.nnz() + d.test.nnz();
        let users = d.users.len();
        let mut per_user: Vec<usize> = (0..users)
            .map(|u| {
                d.train.indptr[u + 1] - d.train.indptr[u] + d.test.indptr[u + 1] - d.test.indptr[u]
            })
            .collect();
        per_user.sort_unstable();
        let median = match per_user.len() {
            0 => 0.0,
            m if m % 2 == 1 => per_user[m / 2] as f64,
            m => (per_user[m / 2 - 1] + per_user[m / 2]) as f64 / 2.0,
        };
        // Ratings are few distinct values (1..10, or halves); key by value × 2.
        let mut hist = std::collections::BTreeMap::<i64, u64>::new();
        for &r in d.train.values.iter().chain(&d.test.values) {
            *hist.entry((r * 2.0).round() as i64).or_default() += 1;
        }
        let cells = users as f64 * d.items.len() as f64;
        Self {
            rows_read: d.clean.rows_read,
            unrated_dropped: d.clean.unrated,
            duplicates_dropped: d.clean.duplicates,
            sparse_users_dropped: d.clean.sparse_users,
            users,
            catalog_anime: d.catalog.anime.len(),
            rated_anime: d.items.len(),
            train_ratings: d.train.nnz(),
            test_ratings: d.test.nnz(),
            sparsity: if cells > 0.0 {
                1.0 - n as f64 / cells
            } else {
                1.0
            },
            ratings_per_user_mean: if users > 0 {
                n as f64 / users as f64
            } else {
                0.0
            },
            ratings_per_user_median: median,
            rating_histogram: hist.into_iter().map(|(k, c)| (k as f32 / 2.0, c)).collect(),
        }
    }
}

impl fmt::Display for DatasetStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rows read            {:>12}", self.rows_read)?;
        writeln!(f, "  unrated dropped    {:>12}", self.unrated_dropped)?;
        writeln!(f, "  duplicates dropped {:>12}", self.duplicates_dropped)?;
        writeln!(f, "  sparse users drop. {:>12}", self.sparse_users_dropped)?;
        writeln!(f, "users                {:>12}", self.users)?;
        writeln!(f, "anime (catalogue)    {:>12}", self.catalog_anime)?;
        writeln!(f, "anime (rated)        {:>12}", self.rated_anime)?;
        writeln!(f, "ratings (train)      {:>12}", self.train_ratings)?;
        writeln!(f, "ratings (test)       {:>12}", self.test_ratings)?;
        writeln!(f, "sparsity             {:>12.6}", self.sparsity)?;
        writeln!(
            f,
            "ratings/user mean    {:>12.1}",
            self.ratings_per_user_mean
        )?;
        writeln!(
            f,
            "ratings/user median  {:>12.1}",
            self.ratings_per_user_median
        )?;
        writeln!(f, "rating histogram:")?;
        let max = self
            .rating_histogram
            .iter()
            .map(|x| x.1)
            .max()
            .unwrap_or(1)
            .max(1);
        for (r, c) in &self.rating_histogram {
            let bar = "#".repeat(((*c as f64 / max as f64) * 40.0).round() as usize);
            writeln!(f, "  {r:>4} {c:>10} {bar}")?;
        }
        Ok(())
    }
}
