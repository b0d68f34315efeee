//! Tree-structured Parzen estimator (TPE), as Optuna's default sampler
//! (univariate, `consider_prior`, `prior_weight = 1`, magic clip, 24 EI
//! candidates, `gamma(n) = min(ceil(0.1 n), 25)`, Optuna's default weights).
//!
//! Finished trials are split by the metric into the best `gamma(n)` ("below",
//! density l) and the rest ("above", density g); for each parameter on its
//! own, 24 candidates are drawn from l and the one with the largest
//! `l(x) / g(x)` is suggested. The first `n_startup_trials` are random.
//!
//! A suggestion is a pure function of (seed, trial index, the finished
//! trials it sees, in index order), and each one is recorded under
//! `<sweep>/suggested/` with the trials it was based on: a resumed sweep
//! re-runs what was suggested and continues the same sequence.

use super::plan::{draw, round, Plan};
use crate::config::ParamSpace;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde_yaml::Value;
use std::collections::BTreeMap;

/// Candidates drawn from l(x) per parameter (Optuna's `n_ei_candidates`).
const N_EI_CANDIDATES: usize = 24;
/// Weight of the prior component of each Parzen mixture.
const PRIOR_WEIGHT: f64 = 1.0;

/// A finished trial as TPE sees it.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Its parameter values.
    pub overrides: BTreeMap<String, Value>,
    /// The metric, oriented so that higher is better.
    pub score: f64,
}

/// The random stream of suggestion `index` (SplitMix64 of the two).
fn stream(seed: u64, index: usize, attempt: u32) -> Pcg64 {
    let mut z = seed
        ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ u64::from(attempt).wrapping_mul(0xd1b5_4a32_d192_ed03);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    Pcg64::seed_from_u64(z ^ (z >> 31))
}

/// Optuna's `default_gamma`: how many of `n` finished trials are "good".
fn gamma(n: usize) -> usize {
    n.div_ceil(10).clamp(1, 25)
}

/// Optuna's `default_weights`: recent trials weigh 1, older ones (beyond the
/// last 25) ramp up from 1/n.
fn weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let mut w: Vec<f64> = (0..ramp)
        .map(|i| {
            if ramp == 1 {
                1.0 / n as f64
            } else {
                1.0 / n as f64 + (1.0 - 1.0 / n as f64) * i as f64 / (ramp - 1) as f64
            }
        })
        .collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

/// Suggests the parameters of trial `index` (attempt > 0 when an earlier
/// attempt repeated an existing config).
pub fn suggest(
    plan: &Plan,
    index: usize,
    attempt: u32,
    history: &[Observation],
) -> BTreeMap<String, Value> {
    let mut rng = stream(plan.seed, index, attempt);
    if history.len() < plan.n_startup_trials.max(1) {
        return plan
            .space
            .iter()
            .map(|(k, s)| (k.clone(), draw(s, &mut rng)))
            .collect();
    }
    // Stable sort, best first; ties keep trial order.
    let mut order: Vec<usize> = (0..history.len()).collect();
    order.sort_by(|&a, &b| history[b].score.total_cmp(&history[a].score));
    let n_below = gamma(history.len());
    let w = weights(history.len());
    let (mut below, mut above) = (order[..n_below].to_vec(), order[n_below..].to_vec());
    // Each side keeps trial order, so the weights follow trial age.
    below.sort_unstable();
    above.sort_unstable();
    plan.space
        .iter()
        .map(|(k, space)| {
            let side = |idx: &[usize]| -> (Vec<&Value>, Vec<f64>) {
                idx.iter()
                    .filter_map(|&i| history[i].overrides.get(k).map(|v| (v, w[i])))
                    .unzip()
            };
            let (bv, bw) = side(&below);
            let (av, aw) = side(&above);
            (k.clone(), suggest_one(space, &bv, &bw, &av, &aw, &mut rng))
        })
        .collect()
}

fn suggest_one(
    space: &ParamSpace,
    below: &[&Value],
    bw: &[f64],
    above: &[&Value],
    aw: &[f64],
    rng: &mut Pcg64,
) -> Value {
    match space {
        ParamSpace::Values(choices) => {
            let idx = |vals: &[&Value], ws: &[f64]| -> (Vec<usize>, Vec<f64>) {
                vals.iter()
                    .zip(ws)
                    .filter_map(|(v, &w)| choices.iter().position(|c| c == *v).map(|i| (i, w)))
                    .unzip()
            };
            let (bi, bw) = idx(below, bw);
            let (ai, aw) = idx(above, aw);
            let l = categorical(choices.len(), &bi, &bw);
            let g = categorical(choices.len(), &ai, &aw);
            let mut best = (f64::NEG_INFINITY, 0usize);
            for _ in 0..N_EI_CANDIDATES {
                let c = sample_discrete(&l, rng);
                let s = l[c].ln() - g[c].ln();
                if s > best.0 {
                    best = (s, c);
                }
            }
            choices[best.1].clone()
        }
        ParamSpace::Uniform { uniform: [lo, hi] } => {
            let x = numeric(*lo, *hi, below, bw, above, aw, |v| v, rng);
            round(x.clamp(*lo, *hi))
        }
        ParamSpace::LogUniform {
            log_uniform: [lo, hi],
        } => {
            let x = numeric(lo.ln(), hi.ln(), below, bw, above, aw, f64::ln, rng);
            round(x.exp().clamp(*lo, *hi))
        }
        ParamSpace::IntUniform {
            int_uniform: [lo, hi],
        } => {
            let (l, h) = (*lo as f64 - 0.5, *hi as f64 + 0.5);
            let x = numeric(l, h, below, bw, above, aw, |v| v, rng);
            Value::from((x.round() as i64).clamp(*lo, *hi))
        }
    }
}

/// Optuna's categorical Parzen estimator: each observation is a kernel with
/// `prior_weight / K` on every choice plus 1 on its own, normalised; the
/// prior kernel is uniform; the mixture weighs kernels by `ws` (prior: 1).
fn categorical(k: usize, obs: &[usize], ws: &[f64]) -> Vec<f64> {
    let mut p = vec![PRIOR_WEIGHT / k as f64; k];
    let mut total = PRIOR_WEIGHT;
    for (&o, &w) in obs.iter().zip(ws) {
        let norm = 1.0 + PRIOR_WEIGHT;
        for (c, pc) in p.iter_mut().enumerate() {
            let own = if c == o { 1.0 } else { 0.0 };
            *pc += w * (own + PRIOR_WEIGHT / k as f64) / norm;
        }
        total += w;
    }
    p.iter_mut().for_each(|x| *x /= total);
    p
}

fn sample_discrete(p: &[f64], rng: &mut Pcg64) -> usize {
    let mut u = rng.random::<f64>() * p.iter().sum::<f64>();
    for (i, &x) in p.iter().enumerate() {
        if u < x {
            return i;
        }
        u -= x;
    }
    p.len() - 1
}

/// A truncated-Gaussian mixture on [lo, hi] (transformed space).
struct Mixture {
    mu: Vec<f64>,
    sigma: Vec<f64>,
    w: Vec<f64>,
    lo: f64,
    hi: f64,
}

impl Mixture {
    /// Optuna's numerical Parzen estimator: one kernel per observation and
    /// the prior N((lo+hi)/2, hi-lo); a kernel's bandwidth is the larger gap
    /// to its sorted neighbours, clipped to [(hi-lo)/min(100, n+2), hi-lo].
    fn new(lo: f64, hi: f64, obs: &[f64], ws: &[f64]) -> Self {
        let range = hi - lo;
        let mut mu: Vec<f64> = obs.to_vec();
        let mut w: Vec<f64> = ws.to_vec();
        mu.push(0.5 * (lo + hi));
        w.push(PRIOR_WEIGHT);
        let n = mu.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| mu[a].total_cmp(&mu[b]));
        let mut sigma = vec![0.0; n];
        for (r, &i) in order.iter().enumerate() {
            let left = if r == 0 {
                mu[i] - lo
            } else {
                mu[i] - mu[order[r - 1]]
            };
            let right = if r + 1 == n {
                hi - mu[i]
            } else {
                mu[order[r + 1]] - mu[i]
            };
            sigma[i] = left.max(right);
        }
        let min_sigma = range / (100f64).min(1.0 + n as f64);
        for s in &mut sigma {
            *s = s.clamp(min_sigma, range);
        }
        sigma[n - 1] = range; // the prior keeps its full width
        let total: f64 = w.iter().sum();
        w.iter_mut().for_each(|x| *x /= total);
        Self {
            mu,
            sigma,
            w,
            lo,
            hi,
        }
    }

    fn sample(&self, rng: &mut Pcg64) -> f64 {
        let c = sample_discrete(&self.w, rng);
        for _ in 0..100 {
            let x = self.mu[c] + self.sigma[c] * std_normal(rng);
            if (self.lo..=self.hi).contains(&x) {
                return x;
            }
        }
        self.mu[c].clamp(self.lo, self.hi)
    }

    fn log_pdf(&self, x: f64) -> f64 {
        let mut p = 0.0;
        for ((&m, &s), &w) in self.mu.iter().zip(&self.sigma).zip(&self.w) {
            let mass = normal_cdf((self.hi - m) / s) - normal_cdf((self.lo - m) / s);
            let z = (x - m) / s;
            let pdf = (-0.5 * z * z).exp() / (s * (2.0 * std::f64::consts::PI).sqrt());
            p += w * pdf / mass.max(1e-300);
        }
        p.max(1e-300).ln()
    }
}

#[allow(clippy::too_many_arguments)]
fn numeric(
    lo: f64,
    hi: f64,
    below: &[&Value],
    bw: &[f64],
    above: &[&Value],
    aw: &[f64],
    transform: impl Fn(f64) -> f64,
    rng: &mut Pcg64,
) -> f64 {
    let xs = |vals: &[&Value], ws: &[f64]| -> (Vec<f64>, Vec<f64>) {
        vals.iter()
            .zip(ws)
            .filter_map(|(v, &w)| v.as_f64().map(|x| (transform(x).clamp(lo, hi), w)))
            .filter(|(x, _)| x.is_finite())
            .unzip()
    };
    let (bx, bw) = xs(below, bw);
    let (ax, aw) = xs(above, aw);
    let l = Mixture::new(lo, hi, &bx, &bw);
    let g = Mixture::new(lo, hi, &ax, &aw);
    let mut best = (f64::NEG_INFINITY, 0.5 * (lo + hi));
    for _ in 0..N_EI_CANDIDATES {
        let x = l.sample(rng);
        let s = l.log_pdf(x) - g.log_pdf(x);
        if s > best.0 {
            best = (s, x);
        }
    }
    best.1
}

fn std_normal(rng: &mut Pcg64) -> f64 {
    // Box–Muller; u1 in (0, 1] so the log is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn normal_cdf(z: f64) -> f64 {
    0.5 * crate::compare::stats::erfc(-z / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(space: BTreeMap<String, ParamSpace>) -> Plan {
        Plan {
            seed: 7,
            n_startup_trials: 5,
            space,
            ..Default::default()
        }
    }

    /// A 1-D quadratic: TPE must concentrate near the optimum faster than
    /// random draws do, and replay the same sequence from the same history.
    #[test]
    fn tpe_beats_random_on_a_quadratic_and_is_deterministic() {
        let space: BTreeMap<String, ParamSpace> = [
            (
                "x".to_string(),
                ParamSpace::Uniform {
                    uniform: [-5.0, 5.0],
                },
            ),
            (
                "c".to_string(),
                ParamSpace::Values(vec![Value::from("a"), Value::from("b"), Value::from("c")]),
            ),
        ]
        .into();
        let p = plan(space);
        let f = |o: &BTreeMap<String, Value>| {
            let x = o["x"].as_f64().unwrap();
            let c = if o["c"] == "b" { 0.0 } else { 2.0 };
            -(x - 1.3).powi(2) - c
        };
        let run = |tpe: bool| {
            let mut hist: Vec<Observation> = Vec::new();
            for i in 0..40 {
                let o = if tpe {
                    suggest(&p, i, 0, &hist)
                } else {
                    suggest(&p, i, 0, &[])
                };
                hist.push(Observation {
                    score: f(&o),
                    overrides: o,
                });
            }
            hist
        };
        let (t, r) = (run(true), run(false));
        let tail = |h: &[Observation]| h[20..].iter().map(|o| o.score).sum::<f64>() / 20.0;
        assert!(
            tail(&t) > tail(&r) + 0.5,
            "tpe {} random {}",
            tail(&t),
            tail(&r)
        );
        let again = run(true);
        for (a, b) in t.iter().zip(&again) {
            assert_eq!(a.overrides, b.overrides);
        }
    }

    #[test]
    fn suggestions_stay_in_range_for_log_and_int_spaces() {
        let space: BTreeMap<String, ParamSpace> = [
            (
                "lr".to_string(),
                ParamSpace::LogUniform {
                    log_uniform: [1e-4, 1e-1],
                },
            ),
            (
                "k".to_string(),
                ParamSpace::IntUniform {
                    int_uniform: [2, 9],
                },
            ),
        ]
        .into();
        let p = plan(space);
        let mut hist = Vec::new();
        for i in 0..30 {
            let o = suggest(&p, i, 0, &hist);
            let lr = o["lr"].as_f64().unwrap();
            let k = o["k"].as_i64().unwrap();
            assert!((1e-4..=1e-1).contains(&lr), "{lr}");
            assert!((2..=9).contains(&k), "{k}");
            hist.push(Observation {
                score: -(lr.ln() - 0.01f64.ln()).abs() - (k - 5).abs() as f64,
                overrides: o,
            });
        }
    }

    #[test]
    fn optuna_gamma_and_weights() {
        assert_eq!(gamma(1), 1);
        assert_eq!(gamma(11), 2);
        assert_eq!(gamma(1000), 25);
        assert_eq!(weights(3), vec![1.0; 3]);
        let w = weights(30);
        assert_eq!(w.len(), 30);
        assert!((w[0] - 1.0 / 30.0).abs() < 1e-12 && w[4] == 1.0 && w[29] == 1.0);
    }
}
