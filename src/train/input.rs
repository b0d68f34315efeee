//! What the trainers read: dense-indexed rating triplets, their validation
//! against the table sizes, and the data fingerprint kept in checkpoints.

use super::error::{invalid, TrainError};

/// Training triplets with dense indices (users 0..n_users, items 0..n_items).
#[derive(Debug, Clone, Copy)]
pub struct Triplets<'a> {
    /// User index per row.
    pub users: &'a [u32],
    /// Item index per row.
    pub items: &'a [u32],
    /// Rating per row, on the original scale.
    pub ratings: &'a [f32],
}

impl Triplets<'_> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub(crate) fn check(
        &self,
        name: &str,
        n_users: usize,
        n_items: usize,
    ) -> Result<(), TrainError> {
        let n = self.users.len();
        if self.items.len() != n || self.ratings.len() != n {
            return Err(invalid(format!(
                "{name}: users/items/ratings lengths differ ({}, {}, {})",
                n,
                self.items.len(),
                self.ratings.len()
            )));
        }
        if n > u32::MAX as usize {
            return Err(invalid(format!(
                "{name}: {n} rows; at most {} allowed",
                u32::MAX
            )));
        }
        if let Some(r) = self.users.iter().position(|&u| u as usize >= n_users) {
            return Err(invalid(format!(
                "{name}: row {r} has user {} but n_users = {n_users}",
                self.users[r]
            )));
        }
        if let Some(r) = self.items.iter().position(|&i| i as usize >= n_items) {
            return Err(invalid(format!(
                "{name}: row {r} has item {} but n_items = {n_items}",
                self.items[r]
            )));
        }
        if let Some(r) = self.ratings.iter().position(|x| !x.is_finite()) {
            return Err(invalid(format!("{name}: row {r} has a non-finite rating")));
        }
        Ok(())
    }
}

/// Everything the trainers read: dense-indexed train and validation rows and
/// the rating range used for min-max scaling.
#[derive(Debug, Clone, Copy)]
pub struct TrainInput<'a> {
    /// Number of users (embedding rows).
    pub n_users: usize,
    /// Number of items (embedding rows).
    pub n_items: usize,
    /// Training rows.
    pub train: Triplets<'a>,
    /// Validation rows (may be empty; see the trainers for what that means).
    pub val: Triplets<'a>,
    /// Smallest rating of the scale (maps to 0).
    pub rating_min: f32,
    /// Largest rating of the scale (maps to 1).
    pub rating_max: f32,
}

impl TrainInput<'_> {
    pub(crate) fn check(&self) -> Result<(), TrainError> {
        if self.n_users == 0 || self.n_items == 0 {
            return Err(invalid("n_users and n_items must be > 0"));
        }
        if self.n_users > u32::MAX as usize || self.n_items > u32::MAX as usize {
            return Err(invalid("n_users and n_items must fit in u32"));
        }
        if !(self.rating_min.is_finite()
            && self.rating_max.is_finite()
            && self.rating_max > self.rating_min)
        {
            return Err(invalid(format!(
                "rating range [{}, {}] is not allowed; need finite min < max",
                self.rating_min, self.rating_max
            )));
        }
        if self.train.is_empty() {
            return Err(invalid("no training rows"));
        }
        self.train.check("train", self.n_users, self.n_items)?;
        self.val.check("val", self.n_users, self.n_items)
    }

    /// Cheap fingerprint of the data, stored in checkpoints so a resume on
    /// different data is refused instead of silently mixing runs.
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut h = Fnv::new();
        h.word(self.n_users as u64);
        h.word(self.n_items as u64);
        h.word(self.rating_min.to_bits() as u64);
        h.word(self.rating_max.to_bits() as u64);
        for t in [&self.train, &self.val] {
            h.word(t.len() as u64);
            t.users.iter().for_each(|&x| h.word(x as u64));
            t.items.iter().for_each(|&x| h.word(x as u64));
            t.ratings.iter().for_each(|x| h.word(x.to_bits() as u64));
        }
        h.0
    }
}

/// 64-bit FNV-1a over whole words (enough for a change detector).
///
/// Not the crate's `util::hash::Fingerprint`: this value is persisted (the
/// `data_fingerprint` of every recommender_net checkpoint) and compared on
/// resume, so a different hash would make every existing checkpoint look
/// like one of other data and refuse to resume. Keep it bit for bit.
struct Fnv(u64);
impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(0x0000_0100_0000_01b3);
    }
}
