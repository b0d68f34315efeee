//! Paired statistics for comparing two runs user by user: mean difference,
//! percentile bootstrap confidence interval, paired t-test, Wilcoxon
//! signed-rank test (as scipy's defaults), and Holm's step-down correction.
//!
//! The special functions are computed from their textbook definitions
//! (Lanczos log-gamma, the incomplete gamma and beta functions by series and
//! Lentz continued fractions) to about 1e-14, far below the 1e-6 to which the
//! p-values are checked against scipy.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the accuracy for small x.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, &c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

const EPS: f64 = 1e-15;
const TINY: f64 = 1e-300;
const MAX_ITER: usize = 10_000;

/// Regularised upper incomplete gamma Q(a, x).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let lg = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        // Series for P(a, x).
        let (mut ap, mut sum, mut del) = (a, 1.0 / a, 1.0 / a);
        for _ in 0..MAX_ITER {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * EPS {
                break;
            }
        }
        1.0 - sum * lg.exp()
    } else {
        // Continued fraction for Q(a, x) (modified Lentz).
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..MAX_ITER {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < EPS {
                break;
            }
        }
        lg.exp() * h
    }
}

/// Complementary error function.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let q = gamma_q(0.5, x * x);
    if x >= 0.0 {
        q
    } else {
        2.0 - q
    }
}

/// P(Z > z) for a standard normal Z.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Regularised incomplete beta I_x(a, b).
pub fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The continued fraction converges fast for x < (a+1)/(a+b+2).
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..MAX_ITER {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// Two-sided p-value of Student's t with `df` degrees of freedom.
pub fn t_two_sided(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    beta_inc(0.5 * df, 0.5, df / (df + t * t))
}

/// A paired t-test (scipy `ttest_rel`, two-sided) on differences `d`:
/// (t, p). With every difference equal the test is undefined: p = 1 when
/// they are all zero (no difference at all), 0 otherwise.
pub fn paired_t(d: &[f64]) -> (f64, f64) {
    let n = d.len();
    if n < 2 {
        return (f64::NAN, f64::NAN);
    }
    let mean = d.iter().sum::<f64>() / n as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    if var == 0.0 {
        return if mean == 0.0 {
            (0.0, 1.0)
        } else {
            (mean.signum() * f64::INFINITY, 0.0)
        };
    }
    let t = mean / (var / n as f64).sqrt();
    (t, t_two_sided(t, (n - 1) as f64))
}

/// Average ranks (1-based) of `x`, ties sharing their mean rank (scipy
/// `rankdata`), and the sizes of the tie groups.
fn ranks(x: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            r[o] = avg;
        }
        if j > i {
            ties.push(j - i + 1);
        }
        i = j + 1;
    }
    (r, ties)
}

/// Largest n for an exact Wilcoxon p-value (scipy's `auto` cut-off).
pub const WILCOXON_EXACT_MAX: usize = 50;
/// Largest n for which scipy enumerates sign flips when there are ties or
/// zeros (2^13 < its 9,999 resamples, so the permutation test is exact).
pub const WILCOXON_PERMUTATION_MAX: usize = 13;

/// The Wilcoxon signed-rank test as scipy's `wilcoxon(d)` defaults
/// (`zero_method='wilcox'`: zero differences dropped; two-sided; no
/// continuity correction; `method='auto'`): for n ≤ 50 with no ties and no
/// zeros the exact null distribution; for n ≤ 13 otherwise, every sign flip
/// enumerated (scipy's permutation test); else the normal approximation with
/// the tie correction of the variance. n counts the zeros, as scipy does.
/// Returns (statistic = min(W+, W−), p, method).
pub fn wilcoxon(d: &[f64]) -> (f64, f64, &'static str) {
    let zeros = d.iter().filter(|&&x| x == 0.0).count();
    let nz: Vec<f64> = d.iter().copied().filter(|&x| x != 0.0).collect();
    let n = nz.len();
    if n == 0 {
        return (0.0, 1.0, "none");
    }
    let abs: Vec<f64> = nz.iter().map(|x| x.abs()).collect();
    let (r, ties) = ranks(&abs);
    let r_plus: f64 = nz
        .iter()
        .zip(&r)
        .filter(|(x, _)| **x > 0.0)
        .map(|(_, r)| r)
        .sum();
    let r_minus: f64 = nz
        .iter()
        .zip(&r)
        .filter(|(x, _)| **x < 0.0)
        .map(|(_, r)| r)
        .sum();
    let t = r_plus.min(r_minus);
    if d.len() <= WILCOXON_EXACT_MAX && ties.is_empty() && zeros == 0 {
        return (t, wilcoxon_exact(n, r_plus), "exact");
    }
    if d.len() <= WILCOXON_PERMUTATION_MAX {
        return (t, wilcoxon_flips(&r, r_plus), "permutation");
    }
    let nf = n as f64;
    let mn = nf * (nf + 1.0) / 4.0;
    let tie_term: f64 = ties
        .iter()
        .map(|&c| {
            let c = c as f64;
            c * (c * c - 1.0)
        })
        .sum();
    let se = ((nf * (nf + 1.0) * (2.0 * nf + 1.0) - 0.5 * tie_term) / 24.0).sqrt();
    if se == 0.0 {
        return (t, 1.0, "normal");
    }
    let z = (r_plus - mn) / se;
    (t, (2.0 * normal_sf(z.abs())).min(1.0), "normal")
}

/// Two-sided p over every sign assignment of the (tied) ranks `r`, with
/// scipy's relative tolerance for ties of the statistic.
fn wilcoxon_flips(r: &[f64], observed: f64) -> f64 {
    let n = r.len();
    let total = 1u64 << n;
    let gamma = (f64::EPSILON * 100.0 * observed).abs();
    let (mut less, mut greater) = (0u64, 0u64);
    for mask in 0..total {
        let w: f64 = (0..n).filter(|&i| (mask >> i) & 1 == 1).map(|i| r[i]).sum();
        if w <= observed + gamma {
            less += 1;
        }
        if w >= observed - gamma {
            greater += 1;
        }
    }
    (2.0 * less.min(greater) as f64 / total as f64).min(1.0)
}

/// Exact two-sided p of W+ = `r_plus` for n untied, nonzero differences:
/// 2 · min(P(W ≤ r+), P(W ≥ r+)), capped at 1 (scipy).
fn wilcoxon_exact(n: usize, r_plus: f64) -> f64 {
    let max = n * (n + 1) / 2;
    // counts[s]: sign assignments with W+ = s, as f64 (2^50 fits exactly).
    let mut counts = vec![0f64; max + 1];
    counts[0] = 1.0;
    for k in 1..=n {
        for s in (k..=max).rev() {
            counts[s] += counts[s - k];
        }
    }
    let total = 2f64.powi(n as i32);
    let r = r_plus.round() as usize;
    let p_less: f64 = counts[..=r.min(max)].iter().sum::<f64>() / total;
    let p_greater: f64 = counts[r.min(max)..].iter().sum::<f64>() / total;
    (2.0 * p_less.min(p_greater)).min(1.0)
}

/// Percentile bootstrap interval of the mean of `d` (level e.g. 0.95),
/// `resamples` draws seeded by `seed`.
pub fn bootstrap_ci(d: &[f64], resamples: usize, level: f64, seed: u64) -> (f64, f64) {
    let n = d.len();
    if n == 0 || resamples == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let mut s = 0.0;
            for _ in 0..n {
                s += d[rng.random_range(0..n)];
            }
            s / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    (percentile(&means, alpha), percentile(&means, 1.0 - alpha))
}

/// Linear-interpolation quantile of sorted values (numpy's default).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Holm's step-down adjusted p-values, in the input order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        let adj = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn special_functions_match_known_values() {
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-13
        ));
        assert!(close(ln_gamma(10.0), 362_880f64.ln(), 1e-12));
        assert!(close(erfc(0.5), 0.479_500_122_186_953_5, 1e-13));
        assert!(close(erfc(-1.0), 1.842_700_792_949_715, 1e-13));
        assert!(close(normal_sf(1.959_963_984_540_054), 0.025, 1e-12));
        // t with 10 df: P(|T| > 2.228138851986) = 0.05.
        assert!(close(t_two_sided(2.228_138_851_986, 10.0), 0.05, 1e-10));
        assert!(close(t_two_sided(1.0, 1.0), 0.5, 1e-12));
    }

    #[test]
    fn wilcoxon_small_exact_and_ties() {
        // W+ = 21 of 28: P(W+ >= 21) = P(W+ <= 7) = 19/128 subsets.
        let (t, p, m) = wilcoxon(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -7.0]);
        assert_eq!((t, m), (7.0, "exact"));
        assert!(close(p, 2.0 * 19.0 / 128.0, 1e-12), "{p}");
        let (_, p, m) = wilcoxon(&[0.0, 0.0, 0.0]);
        assert_eq!((p, m), (1.0, "none"));
    }

    #[test]
    fn holm_is_step_down_and_monotone() {
        let adj = holm(&[0.01, 0.04, 0.03]);
        assert!(close(adj[0], 0.03, 1e-15));
        assert!(close(adj[2], 0.06, 1e-15));
        assert!(close(adj[1], 0.06, 1e-15), "{adj:?}");
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_mean() {
        let d: Vec<f64> = (0..200).map(|i| (i % 7) as f64 / 10.0 - 0.2).collect();
        let a = bootstrap_ci(&d, 2000, 0.95, 1);
        assert_eq!(a, bootstrap_ci(&d, 2000, 0.95, 1));
        let mean = d.iter().sum::<f64>() / d.len() as f64;
        assert!(a.0 < mean && mean < a.1, "{a:?} {mean}");
    }
}
