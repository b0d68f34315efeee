//! animelist.csv: each user's rows (which anime, rating, status, episodes), generated in
//! fixed-size user blocks in parallel and written in block order.

use std::io::{self, Write};

use rand::Rng;
use rand_pcg::Pcg64;
use rayon::prelude::*;

use super::model::Model;
use super::params::{
    DROP_PENALTY, DUP_RATE, FRANCHISE_FOLLOW, GENRE_GAIN, LATENT_DIM, LATENT_GAIN, MISS_DROP,
    MISS_PROB, MU, NOISE_SD,
};
use super::rng::{block_stream, normal, pick_weighted};
use super::users::{gen_user, UserProfile};
use super::SynthSpec;

/// Users per parallel block. Fixed (not derived from the thread count) so that the RNG stream
/// of each user, hence the output, is independent of the machine.
pub(super) const BLOCK_USERS: u32 = 256;
/// A round of blocks is generated in parallel and then written; capping the rows per round
/// bounds memory regardless of `spec.rows`.
pub(super) const ROUND_ROWS: u64 = 1 << 21;
/// Also cap the number of blocks in a round (many tiny users would otherwise make one round
/// span the whole user range).
pub(super) const ROUND_MAX_BLOCKS: usize = 256;

pub(super) const ANIMELIST_HEADER: &str =
    "user_id,anime_id,rating,watching_status,watched_episodes";

#[derive(Clone, Copy)]
pub(super) struct Row {
    pub(super) anime: u32,
    pub(super) rating: u8,
    pub(super) status: u8,
    pub(super) episodes: u32,
    pub(super) seq: u32,
}

/// Scratch reused across the users of one block: a stamp array marks anime already in the
/// current user's list without clearing `anime` entries per user.
pub(super) struct Scratch {
    pub(super) stamp: Vec<u32>,
    pub(super) generation: u32,
    pub(super) rows: Vec<Row>,
    pub(super) leftover: Vec<u32>,
    /// Franchise entries the current user is about to list (after listing a sibling).
    pub(super) queue: Vec<u32>,
}

impl Scratch {
    pub(super) fn new(n_anime: usize) -> Scratch {
        Scratch {
            stamp: vec![0; n_anime],
            generation: 0,
            rows: Vec::new(),
            leftover: Vec::new(),
            queue: Vec::new(),
        }
    }

    pub(super) fn next_user(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.fill(0);
            self.generation = 1;
        }
        self.rows.clear();
        self.leftover.clear();
        self.queue.clear();
    }
}

/// Rows of one user: distinct anime (plus rare exact duplicates), sorted by watching status
/// like the real dump.
pub(super) fn gen_user_rows(
    rng: &mut Pcg64,
    model: &Model,
    user: &UserProfile,
    k: u32,
    sc: &mut Scratch,
) {
    sc.next_user();
    let n_anime = model.mal_id.len();
    let k = k as usize;
    // Heavy users exhaust their genre pools and then the popular head; rejection sampling
    // would then spin, so after these budgets we fall back to global draws, then to a
    // uniform draw from the anime still missing.
    let mixed_budget = 2 * k + 64;
    let global_budget = 6 * k + 256;
    let mut attempts = 0usize;
    let mut fallback_ready = false;
    for slot in 0..k {
        if !sc.rows.is_empty() && rng.random::<f64>() < DUP_RATE {
            let j = rng.random_range(0..sc.rows.len());
            let dup = sc.rows[j];
            sc.rows.push(dup);
            continue;
        }
        let mut chosen: Option<u32> = None;
        while let Some(q) = sc.queue.pop() {
            if sc.stamp[q as usize] != sc.generation {
                chosen = Some(q);
                break;
            }
        }
        while chosen.is_none() && attempts < global_budget {
            attempts += 1;
            let cand = draw(rng, model, user, attempts < mixed_budget);
            if sc.stamp[cand as usize] != sc.generation {
                chosen = Some(cand);
                break;
            }
        }
        if chosen.is_none() {
            if !fallback_ready {
                sc.leftover.clear();
                sc.leftover
                    .extend((0..n_anime as u32).filter(|&a| sc.stamp[a as usize] != sc.generation));
                fallback_ready = true;
            }
            if !sc.leftover.is_empty() {
                let j = rng.random_range(0..sc.leftover.len());
                chosen = Some(sc.leftover.swap_remove(j));
            }
        }
        let Some(a) = chosen else {
            // Catalogue exhausted (cannot happen with k <= 80 % of it): repeat a row rather
            // than emit fewer rows than requested.
            let j = rng.random_range(0..sc.rows.len().max(1));
            if let Some(&dup) = sc.rows.get(j) {
                sc.rows.push(dup);
            }
            continue;
        };
        sc.stamp[a as usize] = sc.generation;
        for &m in model.franchises.members(a) {
            if sc.stamp[m as usize] != sc.generation && rng.random::<f64>() < FRANCHISE_FOLLOW {
                sc.queue.push(m);
            }
        }
        let row = gen_row(rng, model, user, a, slot as u32);
        sc.rows.push(row);
    }
    // (status, seq) is unique per distinct row and duplicates are identical, so the unstable
    // sort still gives one deterministic order.
    sc.rows.sort_unstable_by_key(|r| (r.status, r.seq));
}

/// One candidate anime: the user's tribe pool first, then a favourite genre's pool, then the
/// global popularity pool; only the last once `mixed` is over (the user's pools are spent).
fn draw(rng: &mut Pcg64, model: &Model, user: &UserProfile, mixed: bool) -> u32 {
    let r = rng.random::<f64>();
    if mixed && r < user.p_tribe {
        model.tribes[user.tribe].pool.sample(rng)
    } else if mixed && r < user.p_tribe + (1.0 - user.p_tribe) * user.p_genre {
        let f = pick_weighted(rng, user.fav_w[..user.n_fav].iter().copied());
        match &model.by_genre[user.fav[f] as usize] {
            Some(pool) => pool.sample(rng),
            None => model.global.sample(rng),
        }
    } else {
        model.global.sample(rng)
    }
}

pub(super) fn gen_row(rng: &mut Pcg64, model: &Model, user: &UserProfile, a: u32, seq: u32) -> Row {
    let i = a as usize;
    let genre_match: f32 = model.genres[i][..model.n_genres[i] as usize]
        .iter()
        .map(|&g| user.genre_w[g as usize])
        .sum();
    let dot: f32 = user
        .latent
        .iter()
        .zip(&model.latent[i])
        .map(|(u, v)| u * v)
        .sum();
    let affinity = MU
        + user.bias
        + f64::from(model.quality[i])
        + GENRE_GAIN * f64::from(genre_match)
        + LATENT_GAIN * f64::from(dot) / (LATENT_DIM as f64).sqrt()
        + NOISE_SD * normal(rng)
        // A left tail the normal noise lacks: now and then a show simply does not land
        // (MAL's 1-3 ratings are ~2.4 % of all, several times a normal tail's share).
        - if rng.random::<f64>() < MISS_PROB { MISS_DROP } else { 0.0 };

    let r = rng.random::<f64>();
    let status: u8 = if r < 0.13 {
        6
    } else if r < 0.21 {
        1
    } else if r < 0.26 {
        3
    } else {
        // Shows the user would rate low are the ones they drop.
        let p_drop = 0.02 + 0.5 / (1.0 + (2.0 * (affinity - 5.0)).exp());
        if rng.random::<f64>() < p_drop {
            4
        } else {
            2
        }
    };
    let p_rated = match status {
        2 => 0.87,
        1 => 0.5,
        3 => 0.55,
        4 => 0.55,
        _ => 0.03,
    };
    let rating = if rng.random::<f64>() < p_rated {
        let x = if status == 4 {
            affinity - DROP_PENALTY
        } else {
            affinity
        };
        x.round().clamp(1.0, 10.0) as u8
    } else {
        0
    };
    let eps = model.episodes[i];
    let episodes = match status {
        2 => eps,
        6 => 0,
        _ => rng.random_range(0..eps.max(1)),
    };
    Row {
        anime: a,
        rating,
        status,
        episodes,
        seq,
    }
}

#[inline]
pub(super) fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

pub(super) struct BlockOut {
    pub(super) bytes: Vec<u8>,
    pub(super) rows: u64,
    pub(super) unrated: u64,
}

pub(super) fn gen_block(spec: &SynthSpec, model: &Model, counts: &[u32], block: usize) -> BlockOut {
    let first = block * BLOCK_USERS as usize;
    let last = (first + BLOCK_USERS as usize).min(counts.len());
    let rows: u64 = counts[first..last].iter().map(|&c| u64::from(c)).sum();
    let mut out = BlockOut {
        bytes: Vec::with_capacity(rows as usize * 22),
        rows,
        unrated: 0,
    };
    let mut rng = block_stream(spec.seed, block as u64);
    let mut sc = Scratch::new(model.mal_id.len());
    let mut uid = Vec::with_capacity(12);
    for (user_id, &k) in (first..last).zip(&counts[first..last]) {
        let profile = gen_user(&mut rng, model);
        gen_user_rows(&mut rng, model, &profile, k, &mut sc);
        uid.clear();
        push_u64(&mut uid, user_id as u64);
        uid.push(b',');
        for r in &sc.rows {
            out.bytes.extend_from_slice(&uid);
            push_u64(&mut out.bytes, u64::from(model.mal_id[r.anime as usize]));
            out.bytes.push(b',');
            push_u64(&mut out.bytes, u64::from(r.rating));
            out.bytes.push(b',');
            out.bytes.push(b'0' + r.status);
            out.bytes.push(b',');
            push_u64(&mut out.bytes, u64::from(r.episodes));
            out.bytes.push(b'\n');
            out.unrated += u64::from(r.rating == 0);
        }
    }
    out
}

/// Writes animelist.csv in rounds of blocks: each round is generated in parallel and written
/// in block order, so memory is bounded by a round, not by the file.
pub(super) fn write_animelist(
    w: &mut dyn Write,
    spec: &SynthSpec,
    model: &Model,
    counts: &[u32],
    progress: &(dyn Fn(u64) + Sync),
) -> io::Result<u64> {
    w.write_all(ANIMELIST_HEADER.as_bytes())?;
    w.write_all(b"\n")?;
    let n_blocks = counts.len().div_ceil(BLOCK_USERS as usize);
    let block_rows = |b: usize| -> u64 {
        let first = b * BLOCK_USERS as usize;
        let last = (first + BLOCK_USERS as usize).min(counts.len());
        counts[first..last].iter().map(|&c| u64::from(c)).sum()
    };
    let mut written = 0u64;
    let mut unrated = 0u64;
    let mut start = 0usize;
    while start < n_blocks {
        let mut end = start;
        let mut round_rows = 0u64;
        while end < n_blocks
            && (end == start || round_rows < ROUND_ROWS)
            && end - start < ROUND_MAX_BLOCKS
        {
            round_rows += block_rows(end);
            end += 1;
        }
        let outs: Vec<BlockOut> = (start..end)
            .into_par_iter()
            .map(|b| gen_block(spec, model, counts, b))
            .collect();
        for out in outs {
            w.write_all(&out.bytes)?;
            written += out.rows;
            unrated += out.unrated;
            progress(written);
        }
        start = end;
    }
    Ok(unrated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use crate::data::synth::testutil::*;
    use crate::data::synth::vocab::{GENRES, N_GENRES};
    use crate::data::synth::write_mal2020_with_progress;

    #[test]
    fn progress_reports_every_block_up_to_rows() {
        let dir = TempDir::new("progress");
        let calls = AtomicUsize::new(0);
        let last = AtomicU64::new(0);
        let spec = SynthSpec {
            users: 1000,
            anime: 300,
            rows: 50_000,
            seed: 5,
        };
        write_mal2020_with_progress(&spec, &dir.0, &|n| {
            assert!(n >= last.load(Ordering::SeqCst));
            last.store(n, Ordering::SeqCst);
            calls.fetch_add(1, Ordering::SeqCst);
        })
        .expect("generate");
        assert_eq!(calls.load(Ordering::SeqCst), 1000_usize.div_ceil(256));
        assert_eq!(last.load(Ordering::SeqCst), spec.rows);
    }

    /// Genre-aware popularity must beat plain popularity at hit@10 on a held-out row per user:
    /// the planted genre taste is visible in the files.
    #[test]
    fn genre_taste_is_learnable() {
        let spec = SynthSpec::default();
        let (p, _) = generate(&spec, "learn");
        let mut genre_idx: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut anime_ids = Vec::new();
        for r in &p.anime[1..] {
            let id: u64 = r[0].parse().expect("id");
            let gs = r[3]
                .split(", ")
                .filter_map(|g| GENRES.iter().position(|d| d.name == g))
                .collect();
            genre_idx.insert(id, gs);
            anime_ids.push(id);
        }
        let mut by_user: HashMap<u64, Vec<u64>> = HashMap::new();
        for r in &p.list {
            by_user.entry(r[0]).or_default().push(r[1]);
        }
        // Hold out one pseudo-random row per user with at least 5 rows.
        let mut held: HashMap<u64, u64> = HashMap::new();
        let mut pop: HashMap<u64, f64> = HashMap::new();
        for (&u, items) in &by_user {
            let h = if items.len() >= 5 {
                let i = (u.wrapping_mul(2_654_435_761).wrapping_add(17) as usize) % items.len();
                held.insert(u, items[i]);
                Some(i)
            } else {
                None
            };
            for (i, a) in items.iter().enumerate() {
                if Some(i) != h {
                    *pop.entry(*a).or_default() += 1.0;
                }
            }
        }
        // Share of all list rows that carry each genre, the baseline for the per-user lift.
        let mut base = [0f64; N_GENRES];
        for r in &p.list {
            for &g in &genre_idx[&r[1]] {
                base[g] += 1.0 / p.list.len() as f64;
            }
        }
        let top10 = |scores: &mut Vec<(f64, u64)>| -> Vec<u64> {
            scores.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            scores.iter().take(10).map(|s| s.1).collect()
        };
        let (mut hits_pop, mut hits_genre) = (0usize, 0usize);
        for (&u, &target) in &held {
            let items = &by_user[&u];
            let seen: HashSet<u64> = items.iter().copied().filter(|&a| a != target).collect();
            // Genre lift: how over-represented each genre is in this user's list.
            let mut share = [0f64; N_GENRES];
            for a in &seen {
                for &g in &genre_idx[a] {
                    share[g] += 1.0 / seen.len() as f64;
                }
            }
            for (s, b) in share.iter_mut().zip(&base) {
                *s = if *b > 0.0 {
                    (*s / b - 1.0).max(0.0)
                } else {
                    0.0
                };
            }
            let mut s_pop = Vec::new();
            let mut s_genre = Vec::new();
            for &a in &anime_ids {
                if seen.contains(&a) {
                    continue;
                }
                let pa = pop.get(&a).copied().unwrap_or(0.0);
                let affinity: f64 = genre_idx[&a].iter().map(|&g| share[g]).sum();
                s_pop.push((pa, a));
                s_genre.push((pa * (1.0 + affinity), a));
            }
            hits_pop += usize::from(top10(&mut s_pop).contains(&target));
            hits_genre += usize::from(top10(&mut s_genre).contains(&target));
        }
        let n = held.len() as f64;
        let (hp, hg) = (hits_pop as f64 / n, hits_genre as f64 / n);
        eprintln!("hit@10 popularity {hp:.3}, genre-popularity {hg:.3} over {n} users");
        assert!(hg > hp * 1.2 && hg - hp > 0.02, "pop {hp:.3} genre {hg:.3}");
    }

    /// Ratings carry the planted signals: dropped shows are rated lower, and anime.csv Score
    /// tracks the per-anime mean rating of animelist.csv.
    #[test]
    fn ratings_are_consistent_with_status_and_score() {
        let spec = SynthSpec::default();
        let (p, _) = generate(&spec, "ratings");
        let mean_for = |status: u64| {
            let v: Vec<f64> = p
                .list
                .iter()
                .filter(|r| r[3] == status && r[2] > 0)
                .map(|r| r[2] as f64)
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        let (completed, dropped) = (mean_for(2), mean_for(4));
        eprintln!("mean rating completed {completed:.2}, dropped {dropped:.2}");
        assert!(
            completed - dropped > 1.0,
            "completed {completed} dropped {dropped}"
        );
        let n_dropped = p.list.iter().filter(|r| r[3] == 4).count() as f64;
        let drop_frac = n_dropped / p.list.len() as f64;
        eprintln!("dropped fraction {drop_frac:.3}");
        assert!(
            (0.02..0.15).contains(&drop_frac),
            "dropped fraction {drop_frac}"
        );

        let mut sums: HashMap<u64, (f64, f64)> = HashMap::new();
        for r in p.list.iter().filter(|r| r[2] > 0) {
            let e = sums.entry(r[1]).or_default();
            e.0 += r[2] as f64;
            e.1 += 1.0;
        }
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for r in &p.anime[1..] {
            let id: u64 = r[0].parse().expect("id");
            if let (Ok(score), Some(&(s, n))) = (r[2].parse::<f64>(), sums.get(&id)) {
                if n >= 30.0 {
                    xs.push(score);
                    ys.push(s / n);
                }
            }
        }
        let corr = pearson(&xs, &ys);
        let bias = (xs.iter().sum::<f64>() - ys.iter().sum::<f64>()) / xs.len() as f64;
        eprintln!(
            "score/mean-rating corr {corr:.3} over {} anime, bias {bias:.3}",
            xs.len()
        );
        assert!(corr > 0.6, "corr {corr}");
        assert!(bias.abs() < 0.5, "bias {bias}");
    }
}
