//! The scoring engine: a weighted, normalised blend of parts over the users'
//! rating histories. Used by evaluation, `anirec recommend` and the server.

use super::autoencoder::Autoencoder;
use super::knn_index::NeighbourIndex;
use super::parts::{dot, liked_mask, Mat, Part};
use crate::config::Normalization;
use crate::sparse::Csr;

/// One blended part.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Model kind that produced the part (e.g. "ease").
    pub name: String,
    /// Blend weight.
    pub weight: f32,
    /// The part.
    pub part: Part,
}

/// Who is being scored: a known user (dense index) and/or a list of rated items.
#[derive(Debug, Clone, Copy)]
pub struct UserCtx<'a> {
    /// Known user, if any.
    pub user: Option<u32>,
    /// Rated (or liked) items, dense indices, ascending.
    pub items: &'a [u32],
    /// Their ratings (same length).
    pub ratings: &'a [f32],
}

/// A fitted, servable recommender.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Parts and weights.
    pub members: Vec<Member>,
    /// How member scores are put on one scale.
    pub normalization: Normalization,
    /// users × items train ratings (what is excluded and what profiles are built from).
    pub history: Csr,
    item_users: Csr,
    user_norms: Vec<f32>,
    like_cut: Vec<f32>,
    /// Per member: `dot(v, v)` of each item vector of a factor member (empty
    /// for other parts), so similarity lookups do not recompute 17,000 norms
    /// per request. Derived in [`Engine::new`] like the indexes above: the
    /// members and history are not to be changed after construction.
    item_sq_norms: Vec<Vec<f32>>,
}

impl Engine {
    /// Builds an engine and its derived indexes.
    pub fn new(members: Vec<Member>, normalization: Normalization, history: Csr) -> Self {
        let needs_knn = members
            .iter()
            .any(|m| matches!(m.part, Part::UserKnn { .. }));
        let (item_users, user_norms, like_cut) = if needs_knn {
            let q = members
                .iter()
                .find_map(|m| match &m.part {
                    Part::UserKnn { like_quantile, .. } => Some(*like_quantile),
                    _ => None,
                })
                .unwrap_or(0.75);
            let norms = (0..history.n_rows)
                .map(|u| history.row(u).1.iter().map(|r| r * r).sum::<f32>().sqrt())
                .collect();
            let cuts = (0..history.n_rows)
                .map(|u| {
                    let r = history.row(u).1;
                    let f = liked_mask(r, q);
                    r.iter()
                        .copied()
                        .filter(|&x| f(x))
                        .fold(f32::INFINITY, f32::min)
                })
                .collect();
            (history.transpose(), norms, cuts)
        } else {
            (Csr::default(), Vec::new(), Vec::new())
        };
        let item_sq_norms = members
            .iter()
            .map(|m| match m.part.item_vectors() {
                Some(item) => (0..item.rows)
                    .map(|r| dot(item.row(r), item.row(r)))
                    .collect(),
                None => Vec::new(),
            })
            .collect();
        Self {
            members,
            normalization,
            history,
            item_users,
            user_norms,
            like_cut,
            item_sq_norms,
        }
    }

    /// Items in the catalogue of the model.
    pub fn n_items(&self) -> usize {
        self.history.n_cols
    }

    /// Known users.
    pub fn n_users(&self) -> usize {
        self.history.n_rows
    }

    /// Context of a known user (their train history).
    pub fn ctx(&self, u: u32) -> UserCtx<'_> {
        let (items, ratings) = self.history.row(u as usize);
        UserCtx {
            user: Some(u),
            items,
            ratings,
        }
    }

    /// Scores every item for `ctx` into `out` (len n_items). Higher is better;
    /// seen items are not removed here (the caller excludes them).
    pub fn score(&self, ctx: &UserCtx, out: &mut [f32], tmp: &mut Vec<f32>) {
        self.score_filtered(ctx, &|_| true, out, tmp);
    }

    /// Like [`Engine::score`], blending only the members `keep` accepts (with
    /// their weights). Returns false, leaving `out` untouched, when no member
    /// with a positive weight is kept.
    pub fn score_filtered(
        &self,
        ctx: &UserCtx,
        keep: &dyn Fn(&Member) -> bool,
        out: &mut [f32],
        tmp: &mut Vec<f32>,
    ) -> bool {
        // No per-request allocation: the members are filtered twice instead
        // of being collected.
        let active = || self.members.iter().filter(|m| m.weight > 0.0 && keep(m));
        let mut it = active();
        match (it.next(), it.next()) {
            (None, _) => return false,
            (Some(m), None) => {
                self.score_part(&m.part, ctx, out);
                return true;
            }
            _ => {}
        }
        out.fill(0.0);
        tmp.resize(out.len(), 0.0);
        for m in active() {
            self.score_part(&m.part, ctx, tmp);
            blend_into(out, tmp, m.weight, self.normalization);
        }
        true
    }

    /// [`Engine::score_filtered`] for several known users at once, into
    /// `outs[..ctxs.len()]` (resized to n_items): the same scores, bit for
    /// bit, but a factor member's item vectors are read once for the whole
    /// batch (see [`Mat::matvec_many`]). `fac` is scratch. Returns false,
    /// like `score_filtered`, when no member is kept.
    pub fn score_many(
        &self,
        ctxs: &[UserCtx],
        keep: &dyn Fn(&Member) -> bool,
        outs: &mut Vec<Vec<f32>>,
        fac: &mut Vec<Vec<f32>>,
        tmp: &mut Vec<f32>,
    ) -> bool {
        let n = self.n_items();
        let b = ctxs.len();
        for v in [&mut *outs, &mut *fac] {
            if v.len() < b {
                v.resize_with(b, Vec::new);
            }
            for o in v.iter_mut().take(b) {
                o.resize(n, 0.0);
            }
        }
        let active = || self.members.iter().filter(|m| m.weight > 0.0 && keep(m));
        let mut it = active();
        let single = match (it.next(), it.next()) {
            (None, _) => return false,
            (Some(m), None) => Some(m),
            _ => None,
        };
        if let Some(m) = single {
            if !self.factors_many(&m.part, ctxs, outs) {
                for (ctx, o) in ctxs.iter().zip(outs.iter_mut()) {
                    self.score_part(&m.part, ctx, o);
                }
            }
            return true;
        }
        tmp.resize(n, 0.0);
        for o in outs.iter_mut().take(b) {
            o.fill(0.0);
        }
        for m in active() {
            if self.factors_many(&m.part, ctxs, fac) {
                for (o, f) in outs.iter_mut().zip(fac.iter_mut()).take(b) {
                    blend_into(o, f, m.weight, self.normalization);
                }
            } else {
                for (ctx, o) in ctxs.iter().zip(outs.iter_mut()) {
                    self.score_part(&m.part, ctx, tmp);
                    blend_into(o, tmp, m.weight, self.normalization);
                }
            }
        }
        true
    }

    /// A factor or autoencoder part for a batch of users in one pass over
    /// the item vectors (what `score_part` computes per user). False,
    /// writing nothing, for other parts or when a user has no vector.
    fn factors_many(&self, part: &Part, ctxs: &[UserCtx], outs: &mut [Vec<f32>]) -> bool {
        if let Part::Autoencoder(a) = part {
            let hs: Vec<Vec<f32>> = ctxs.iter().map(|c| a.encode(c.items, c.ratings)).collect();
            let vs: Vec<&[f32]> = hs.iter().map(Vec::as_slice).collect();
            let outs = &mut outs[..ctxs.len()];
            a.item.matvec_many(&vs, outs);
            for o in outs.iter_mut() {
                o.iter_mut().zip(&a.item_bias).for_each(|(o, b)| *o += b);
            }
            return true;
        }
        let Part::Factors {
            user,
            item,
            item_bias,
            ..
        } = part
        else {
            return false;
        };
        let mut vs = Vec::with_capacity(ctxs.len());
        for ctx in ctxs {
            match ctx.user.filter(|&u| (u as usize) < user.rows) {
                Some(u) => vs.push(user.row(u as usize)),
                None => return false,
            }
        }
        let outs = &mut outs[..ctxs.len()];
        item.matvec_many(&vs, outs);
        if let Some(bias) = item_bias {
            for o in outs.iter_mut() {
                o.iter_mut().zip(bias).for_each(|(o, b)| *o += b);
            }
        }
        true
    }

    /// Weighted similarity of two items over the members that define one
    /// (factors: cosine; item-item: the weight a → b; content: cosine of the
    /// vectors). `None` when no member relates items directly (popularity,
    /// user kNN). Cheap: used to explain recommendations.
    pub fn pair_similarity(&self, a: u32, b: u32) -> Option<f32> {
        let (a, b) = (a as usize, b as usize);
        let mut total = None;
        for m in self.members.iter().filter(|m| m.weight > 0.0) {
            let s = match &m.part {
                Part::Factors { .. } | Part::Autoencoder(_) => match m.part.item_vectors() {
                    Some(item) if a < item.rows && b < item.rows => {
                        let (x, y) = (item.row(a), item.row(b));
                        let (xx, yy) = match self.sq_norms(m) {
                            Some(sq) => (sq[a], sq[b]),
                            None => (dot(x, x), dot(y, y)),
                        };
                        let n = (xx * yy).sqrt().max(1e-12);
                        dot(x, y) / n
                    }
                    _ => continue,
                },
                Part::ItemItem { weights, .. } if a < weights.n_rows => {
                    let (cols, w) = weights.row(a);
                    cols.iter()
                        .position(|&c| c as usize == b)
                        .map_or(0.0, |k| w[k])
                }
                Part::Content { vectors, .. } if a < vectors.n_rows && b < vectors.n_rows => {
                    let ((fa, va), (fb, vb)) = (vectors.row(a), vectors.row(b));
                    let (mut i, mut j, mut s) = (0, 0, 0f32);
                    while i < fa.len() && j < fb.len() {
                        match fa[i].cmp(&fb[j]) {
                            std::cmp::Ordering::Less => i += 1,
                            std::cmp::Ordering::Greater => j += 1,
                            std::cmp::Ordering::Equal => {
                                s += va[i] * vb[j];
                                i += 1;
                                j += 1;
                            }
                        }
                    }
                    s
                }
                _ => continue,
            };
            *total.get_or_insert(0.0) += m.weight * s;
        }
        total
    }

    /// Item-to-item similarity of every item to `item` (the item itself included).
    pub fn similar(&self, item: u32, out: &mut [f32], tmp: &mut Vec<f32>) {
        let active = || {
            self.members
                .iter()
                .filter(|m| m.weight > 0.0 && !matches!(m.part, Part::Popularity { .. }))
        };
        let mut it = active();
        if let (Some(m), None) = (it.next(), it.next()) {
            self.similar_part(m, item, out);
            return;
        }
        out.fill(0.0);
        tmp.resize(out.len(), 0.0);
        for m in active() {
            self.similar_part(m, item, tmp);
            blend_into(out, tmp, m.weight, self.normalization);
        }
    }

    /// The precomputed `dot(v, v)` of member `m`'s item vectors, when they
    /// match its current shape.
    fn sq_norms(&self, m: &Member) -> Option<&[f32]> {
        let k = self.members.iter().position(|x| std::ptr::eq(x, m))?;
        let sq = self.item_sq_norms.get(k)?;
        m.part
            .item_vectors()
            .filter(|v| sq.len() == v.rows)
            .map(|_| &sq[..])
    }

    /// Rating predictions on the original scale (models with a rating head only).
    pub fn predict_ratings(&self, pairs: &[(u32, u32)]) -> Option<Vec<f32>> {
        let [m] = self.members.as_slice() else {
            return None;
        };
        let Part::Factors {
            user,
            item,
            head: Some(h),
            ..
        } = &m.part
        else {
            return None;
        };
        Some(
            pairs
                .iter()
                .map(|&(u, i)| h.rating(dot(user.row(u as usize), item.row(i as usize))))
                .collect(),
        )
    }

    fn score_part(&self, part: &Part, ctx: &UserCtx, out: &mut [f32]) {
        match part {
            Part::Popularity { scores } => out.copy_from_slice(scores),
            Part::Factors {
                user,
                item,
                item_bias,
                ..
            } => {
                match ctx.user.filter(|&u| (u as usize) < user.rows) {
                    Some(u) => item.matvec(user.row(u as usize), out),
                    None => {
                        let v = fold_in(item, ctx.items);
                        item.matvec(&v, out);
                    }
                }
                if let Some(b) = item_bias {
                    out.iter_mut().zip(b).for_each(|(o, b)| *o += b);
                }
            }
            Part::ItemItem {
                weights,
                min_rating,
            } => {
                out.fill(0.0);
                let min = min_rating.unwrap_or(f32::NEG_INFINITY);
                let liked = ctx.items.iter().zip(ctx.ratings).filter(|(_, &r)| r >= min);
                for (&j, _) in liked {
                    let (cols, w) = weights.row(j as usize);
                    for (&c, &w) in cols.iter().zip(w) {
                        out[c as usize] += w;
                    }
                }
            }
            Part::Content {
                vectors,
                like_quantile,
            } => {
                let liked = liked_mask(ctx.ratings, *like_quantile);
                let mut profile = vec![0f32; vectors.n_cols];
                for (&j, &r) in ctx.items.iter().zip(ctx.ratings) {
                    if liked(r) {
                        let (f, v) = vectors.row(j as usize);
                        for (&f, &v) in f.iter().zip(v) {
                            profile[f as usize] += v;
                        }
                    }
                }
                sparse_matvec(vectors, &profile, out);
            }
            Part::UserKnn {
                neighbors,
                user_vectors,
                index,
                ..
            } => self.score_knn(ctx, *neighbors, user_vectors.as_ref(), index.as_ref(), out),
            Part::Autoencoder(a) => a.score(ctx.items, ctx.ratings, out),
        }
    }

    fn similar_part(&self, m: &Member, item: u32, out: &mut [f32]) {
        let i = item as usize;
        match &m.part {
            Part::Popularity { .. } => out.fill(0.0),
            Part::Factors { item: v, .. } | Part::Autoencoder(Autoencoder { item: v, .. }) => {
                v.matvec(v.row(i), out);
                let norm = |x: f32| x.sqrt().max(1e-12);
                match self.sq_norms(m) {
                    Some(sq) => {
                        let ni = norm(sq[i]);
                        for (o, &s) in out.iter_mut().zip(sq) {
                            *o /= ni * norm(s);
                        }
                    }
                    None => {
                        let ni = norm(dot(v.row(i), v.row(i)));
                        for (k, o) in out.iter_mut().enumerate() {
                            *o /= ni * norm(dot(v.row(k), v.row(k)));
                        }
                    }
                }
            }
            Part::ItemItem { weights, .. } => {
                out.fill(0.0);
                let (cols, w) = weights.row(i);
                for (&c, &w) in cols.iter().zip(w) {
                    out[c as usize] = w;
                }
            }
            Part::Content { vectors, .. } => {
                let mut profile = vec![0f32; vectors.n_cols];
                let (f, v) = vectors.row(i);
                for (&f, &v) in f.iter().zip(v) {
                    profile[f as usize] = v;
                }
                sparse_matvec(vectors, &profile, out);
            }
            Part::UserKnn { .. } => {
                // Item-item cosine over co-ratings, from the same histories.
                out.fill(0.0);
                let (raters, ri) = self.item_users.row(i);
                for (&u, &r) in raters.iter().zip(ri) {
                    let (items, rs) = self.history.row(u as usize);
                    for (&k, &rk) in items.iter().zip(rs) {
                        out[k as usize] += r * rk;
                    }
                }
                let norm = |k: usize| {
                    self.item_users
                        .row(k)
                        .1
                        .iter()
                        .map(|x| x * x)
                        .sum::<f32>()
                        .sqrt()
                        .max(1e-12)
                };
                let ni = norm(i);
                for (k, o) in out.iter_mut().enumerate() {
                    if *o != 0.0 {
                        *o /= ni * norm(k);
                    }
                }
            }
        }
    }

    fn score_knn(
        &self,
        ctx: &UserCtx,
        k: usize,
        user_vectors: Option<&Mat>,
        index: Option<&NeighbourIndex>,
        out: &mut [f32],
    ) {
        // A known user's neighbours were found at fit time (the same list
        // the search below would find); a new user is searched for.
        let indexed = index.filter(|x| x.n_users() == self.history.n_rows);
        if let Some((x, u)) = indexed.zip(ctx.user.filter(|&u| (u as usize) < self.n_users())) {
            let (ids, sims) = x.neighbours(u as usize);
            self.knn_accumulate(ids.iter().copied().zip(sims.iter().copied()), out);
            return;
        }
        let n_users = self.history.n_rows;
        let mut sim = vec![0f32; n_users];
        match (user_vectors, ctx.user) {
            (Some(uv), Some(u)) if (u as usize) < uv.rows => {
                uv.matvec(uv.row(u as usize), &mut sim);
            }
            _ => {
                // Cosine of rating vectors through the item → users index.
                let own = ctx
                    .ratings
                    .iter()
                    .map(|r| r * r)
                    .sum::<f32>()
                    .sqrt()
                    .max(1e-12);
                for (&j, &r) in ctx.items.iter().zip(ctx.ratings) {
                    let (users, rs) = self.item_users.row(j as usize);
                    for (&v, &rv) in users.iter().zip(rs) {
                        sim[v as usize] += r * rv;
                    }
                }
                for (v, s) in sim.iter_mut().enumerate() {
                    if *s != 0.0 {
                        *s /= own * self.user_norms[v].max(1e-12);
                    }
                }
            }
        }
        if let Some(u) = ctx.user {
            if let Some(s) = sim.get_mut(u as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
        // top_k_excluding reserves min(k, users): `k` comes from a bundle.
        let mut top: Vec<(u32, f32)> = Vec::new();
        crate::eval::topk::top_k_excluding(&sim, &[], k, &mut top);
        self.knn_accumulate(top.into_iter(), out);
    }

    /// `out[i]` = the summed similarity of the neighbours who liked item
    /// `i`, over `(neighbour, similarity)` best first.
    fn knn_accumulate(&self, top: impl Iterator<Item = (u32, f32)>, out: &mut [f32]) {
        out.fill(0.0);
        for (v, s) in top {
            if s <= 0.0 {
                continue;
            }
            let cut = self.like_cut[v as usize];
            let (items, rs) = self.history.row(v as usize);
            for (&i, &r) in items.iter().zip(rs) {
                if r >= cut {
                    out[i as usize] += s;
                }
            }
        }
    }
}

/// Mean of the vectors of `items` (a new user's position in factor space).
fn fold_in(item: &Mat, items: &[u32]) -> Vec<f32> {
    let mut v = vec![0f32; item.cols];
    for &j in items {
        for (a, b) in v.iter_mut().zip(item.row(j as usize)) {
            *a += b;
        }
    }
    let n = items.len().max(1) as f32;
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn sparse_matvec(m: &Csr, v: &[f32], out: &mut [f32]) {
    for (o, w) in out.iter_mut().zip(m.indptr.windows(2)).take(m.n_rows) {
        let (f, x) = (&m.indices[w[0]..w[1]], &m.values[w[0]..w[1]]);
        *o = f.iter().zip(x).map(|(&f, &x)| x * v[f as usize]).sum();
    }
}

/// `out += weight * normalize(tmp)`. For min-max (the default) the
/// normalisation is fused into the accumulation, one pass instead of two,
/// with the same arithmetic, so blended scores are bit-identical.
fn blend_into(out: &mut [f32], tmp: &mut [f32], weight: f32, how: Normalization) {
    if how == Normalization::Minmax {
        let (lo, hi) = finite_min_max(tmp);
        let span = hi - lo;
        if span > 0.0 && span.is_finite() {
            for (o, &t) in out.iter_mut().zip(tmp.iter()) {
                *o += weight * ((t - lo) / span);
            }
            return;
        }
    }
    normalize(tmp, how);
    for (o, t) in out.iter_mut().zip(tmp.iter()) {
        *o += weight * t;
    }
}

/// Smallest and largest finite values (`(inf, -inf)` when there are none).
/// Eight independent lanes of `a < b ? a : b` selects (what `minps` does), so
/// it vectorises; `f32::min` in a fold did not, and was a seventh of a request.
fn finite_min_max(x: &[f32]) -> (f32, f32) {
    #[inline(always)]
    fn step(lo: &mut f32, hi: &mut f32, v: f32) {
        // NaN and ±inf become the neutral element of each side.
        let finite = v.abs() < f32::INFINITY;
        let l = if finite { v } else { f32::INFINITY };
        let h = if finite { v } else { f32::NEG_INFINITY };
        *lo = if l < *lo { l } else { *lo };
        *hi = if h > *hi { h } else { *hi };
    }
    let (chunks, rest) = x.as_chunks::<8>();
    let mut lo = [f32::INFINITY; 8];
    let mut hi = [f32::NEG_INFINITY; 8];
    for c in chunks {
        for l in 0..8 {
            step(&mut lo[l], &mut hi[l], c[l]);
        }
    }
    let (mut l, mut h) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in lo.iter().chain(rest) {
        step(&mut l, &mut h, v);
    }
    for &v in &hi {
        step(&mut l, &mut h, v);
    }
    (l, h)
}

/// Puts one member's scores on a common scale.
pub fn normalize(x: &mut [f32], how: Normalization) {
    match how {
        Normalization::Minmax => {
            let (lo, hi) = finite_min_max(x);
            let span = hi - lo;
            if span > 0.0 && span.is_finite() {
                x.iter_mut().for_each(|v| *v = (*v - lo) / span);
            } else {
                x.fill(0.0);
            }
        }
        Normalization::Zscore => {
            let n = x.len().max(1) as f64;
            let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = x
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n;
            let sd = var.sqrt();
            if sd > 0.0 {
                x.iter_mut()
                    .for_each(|v| *v = ((f64::from(*v) - mean) / sd) as f32);
            } else {
                x.fill(0.0);
            }
        }
        Normalization::Rank => {
            let mut idx: Vec<u32> = (0..x.len() as u32).collect();
            idx.sort_unstable_by(|&a, &b| x[b as usize].total_cmp(&x[a as usize]));
            let n = x.len().max(1) as f32;
            let mut r = vec![0f32; x.len()];
            for (rank, &i) in idx.iter().enumerate() {
                r[i as usize] = 1.0 - rank as f32 / n;
            }
            x.copy_from_slice(&r);
        }
    }
}

impl crate::eval::evaluator::Scorer for Engine {
    fn n_items(&self) -> usize {
        self.history.n_cols
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) {
        let n = self.n_items();
        let mut tmp = Vec::new();
        for (k, &u) in users.iter().enumerate() {
            let row = &mut out[k * n..(k + 1) * n];
            self.score(&self.ctx(u), row, &mut tmp);
        }
    }

    fn predict_ratings(&self, pairs: &[(u32, u32)]) -> Option<Vec<f32>> {
        Engine::predict_ratings(self, pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> Csr {
        // 3 users × 4 items
        Csr::from_triplets(
            3,
            4,
            &[
                (0, 0, 9.0),
                (0, 1, 8.0),
                (1, 0, 9.0),
                (1, 1, 7.0),
                (1, 2, 10.0),
                (2, 3, 5.0),
            ],
        )
    }

    #[test]
    fn item_item_sums_rows_of_the_history() {
        let w = Csr::from_triplets(4, 4, &[(0, 2, 0.5), (1, 2, 0.25), (1, 3, 1.0)]);
        let e = Engine::new(
            vec![Member {
                name: "ease".into(),
                weight: 1.0,
                part: Part::ItemItem {
                    weights: w,
                    min_rating: None,
                },
            }],
            Normalization::Minmax,
            history(),
        );
        let mut out = vec![0.0; 4];
        e.score(&e.ctx(0), &mut out, &mut Vec::new());
        assert_eq!(out, vec![0.0, 0.0, 0.75, 1.0]);
    }

    #[test]
    fn item_item_with_min_rating_counts_only_liked_history() {
        let w = Csr::from_triplets(4, 4, &[(0, 2, 0.5), (1, 2, 0.25), (1, 3, 1.0)]);
        let e = Engine::new(
            vec![Member {
                name: "slim".into(),
                weight: 1.0,
                part: Part::ItemItem {
                    weights: w,
                    min_rating: Some(9.0),
                },
            }],
            Normalization::Minmax,
            history(),
        );
        let mut out = vec![0.0; 4];
        // user 0 rated item 0 with 9 (counts) and item 1 with 8 (does not)
        e.score(&e.ctx(0), &mut out, &mut Vec::new());
        assert_eq!(out, vec![0.0, 0.0, 0.5, 0.0]);
    }

    #[test]
    fn user_knn_recommends_what_the_neighbour_liked() {
        let e = Engine::new(
            vec![Member {
                name: "user_knn".into(),
                weight: 1.0,
                part: Part::UserKnn {
                    neighbors: 1,
                    like_quantile: 0.75,
                    user_vectors: None,
                    index: None,
                },
            }],
            Normalization::Minmax,
            history(),
        );
        let mut out = vec![0.0; 4];
        e.score(&e.ctx(0), &mut out, &mut Vec::new());
        // user 1 is user 0's only neighbour; user 1's liked items (>= 75th pct) = {2 (10)}
        assert!(out[2] > 0.0 && out[3] == 0.0, "{out:?}");
    }

    #[test]
    fn blend_normalises_members() {
        let pop = Part::Popularity {
            scores: vec![100.0, 0.0, 50.0, 0.0],
        };
        let ii = Part::ItemItem {
            weights: Csr::from_triplets(4, 4, &[(0, 3, 2.0)]),
            min_rating: None,
        };
        let e = Engine::new(
            vec![
                Member {
                    name: "popularity".into(),
                    weight: 0.5,
                    part: pop,
                },
                Member {
                    name: "ease".into(),
                    weight: 0.5,
                    part: ii,
                },
            ],
            Normalization::Minmax,
            history(),
        );
        let mut out = vec![0.0; 4];
        e.score(&e.ctx(0), &mut out, &mut Vec::new());
        assert_eq!(out, vec![0.5, 0.0, 0.25, 0.5]);
    }

    #[test]
    fn finite_min_max_skips_non_finite() {
        let mut x: Vec<f32> = (0..37).map(|k| (k as f32 * 1.7).sin()).collect();
        x[3] = f32::NAN;
        x[20] = f32::INFINITY;
        x[36] = f32::NEG_INFINITY;
        let naive = x
            .iter()
            .filter(|v| v.is_finite())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        assert_eq!(finite_min_max(&x), naive);
        assert_eq!(
            finite_min_max(&[f32::NAN]),
            (f32::INFINITY, f32::NEG_INFINITY)
        );
    }

    #[test]
    fn fused_blend_matches_normalise_then_add() {
        let t: Vec<f32> = (0..53).map(|k| (k as f32 * 0.91).cos() * 3.0).collect();
        let base: Vec<f32> = (0..53).map(|k| k as f32 * 0.01).collect();
        let mut fused = base.clone();
        blend_into(&mut fused, &mut t.clone(), 0.3, Normalization::Minmax);
        let mut n = t.clone();
        normalize(&mut n, Normalization::Minmax);
        let two_step: Vec<f32> = base.iter().zip(&n).map(|(o, t)| o + 0.3 * t).collect();
        assert_eq!(
            fused.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            two_step.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn rank_normalisation() {
        let mut x = vec![0.3, 0.9, 0.1];
        normalize(&mut x, Normalization::Rank);
        assert_eq!(x, vec![1.0 - 1.0 / 3.0, 1.0, 1.0 - 2.0 / 3.0]);
    }
}
