//! Franchises: sequels, films and OVAs of one series. On MAL a large share of the catalogue
//! belongs to a franchise, and whoever watched one entry is likely to list the others; those
//! pairwise links are much of what item-item models (EASE, SLIM) learn from real lists.

use rand::Rng;

use super::catalogue::Anime;
use super::params::FRANCHISE_SHARE;
use super::rng::{normal, stream, STREAM_FRANCHISE};

/// The franchises as a compressed list: the members of franchise `f` are
/// `items[start[f]..start[f + 1]]`; `of[anime]` is its franchise (every anime has one, most
/// are alone in it).
#[derive(Clone)]
pub(super) struct Franchises {
    pub(super) of: Vec<u32>,
    pub(super) start: Vec<u32>,
    pub(super) items: Vec<u32>,
}

impl Franchises {
    /// The other members of `anime`'s franchise, `anime` included.
    pub(super) fn members(&self, anime: u32) -> &[u32] {
        let f = self.of[anime as usize] as usize;
        &self.items[self.start[f] as usize..self.start[f + 1] as usize]
    }
}

/// Makes a `FRANCHISE_SHARE` of the anime later entries of an earlier anime's franchise: a
/// later entry takes the genres of its franchise's first entry, a latent vector close to it
/// and a fraction of its popularity (sequels are listed less than the first season).
pub(super) fn link(anime: &mut [Anime], seed: u64) -> Franchises {
    let mut rng = stream(seed, STREAM_FRANCHISE);
    let share = FRANCHISE_SHARE;
    let n = anime.len();
    let mut root: Vec<u32> = (0..n as u32).collect();
    for i in 1..n {
        if !rng.random_bool(share) {
            continue;
        }
        let r = root[rng.random_range(0..i)] as usize;
        root[i] = r as u32;
        let (head, tail) = anime.split_at_mut(i);
        let (first, entry) = (&head[r], &mut tail[0]);
        entry.genres.clone_from(&first.genres);
        for (v, base) in entry.latent.iter_mut().zip(&first.latent) {
            *v = base + (0.3 * normal(&mut rng)) as f32;
        }
        entry.popularity = first.popularity * rng.random_range(0.2..0.8);
    }
    group(&root)
}

/// Franchise ids in order of first appearance, and the compressed member lists.
fn group(root: &[u32]) -> Franchises {
    let n = root.len();
    let mut id_of_root = vec![u32::MAX; n];
    let mut of = vec![0u32; n];
    let mut sizes: Vec<u32> = Vec::new();
    for (i, &r) in root.iter().enumerate() {
        let r = r as usize;
        if id_of_root[r] == u32::MAX {
            id_of_root[r] = sizes.len() as u32;
            sizes.push(0);
        }
        of[i] = id_of_root[r];
        sizes[of[i] as usize] += 1;
    }
    let mut start = Vec::with_capacity(sizes.len() + 1);
    start.push(0u32);
    for s in &sizes {
        start.push(start[start.len() - 1] + s);
    }
    let mut fill = start.clone();
    let mut items = vec![0u32; n];
    for (i, &f) in of.iter().enumerate() {
        items[fill[f as usize] as usize] = i as u32;
        fill[f as usize] += 1;
    }
    Franchises { of, start, items }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_grouped_by_root() {
        let f = group(&[0, 1, 0, 1, 4, 0]);
        assert_eq!(f.members(0), &[0, 2, 5]);
        assert_eq!(f.members(5), &[0, 2, 5]);
        assert_eq!(f.members(3), &[1, 3]);
        assert_eq!(f.members(4), &[4]);
    }
}
