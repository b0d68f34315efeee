//! `anirec promote --require-significant`: the candidate must beat the
//! currently promoted model's run, user by user, on the ranking metric.

use super::{paired, read_per_user, Options};
use crate::config::SweepGoal;
use crate::promote::PromoteError;
use crate::Result;
use serde_json::{json, Value};
use std::path::Path;

/// Tests `candidate` against what `dest` serves now. Nothing promoted yet:
/// passes (recorded as such). Otherwise both runs need per_user.csv, and
/// the difference must point the right way with both the paired t-test and
/// the Wilcoxon test below 5 %. Returns the record for PROMOTED.json.
pub fn check(candidate: &Path, dest: &Path, metric: &str, goal: SweepGoal) -> Result<Value> {
    let Some(current) = crate::bundle::promoted::run_dir(dest) else {
        return Ok(json!({"test": "none", "reason": "nothing promoted yet at the destination"}));
    };
    let same = std::fs::canonicalize(&current).ok() == std::fs::canonicalize(candidate).ok();
    if same {
        return Err(PromoteError::AlreadyPromoted(candidate.to_path_buf()).into());
    }
    let col = |run: &Path| -> Result<_> {
        read_per_user(run)?.column(metric).ok_or_else(|| {
            PromoteError::NoPerUserColumn {
                run: run.to_path_buf(),
                metric: metric.to_string(),
            }
            .into()
        })
    };
    let opts = Options::default();
    let t = paired(metric, &col(&current)?, &col(candidate)?, &opts);
    let better = match goal {
        SweepGoal::Maximize => t.diff > 0.0,
        SweepGoal::Minimize => t.diff < 0.0,
    };
    let record = json!({
        "test": "paired t-test and Wilcoxon signed-rank, per user, two-sided",
        "against_run": current,
        "metric": metric,
        "users": t.users,
        "diff": t.diff,
        "ci95": t.ci,
        "bootstrap": {"resamples": opts.resamples, "seed": opts.seed},
        "p_t": t.p_t,
        "p_wilcoxon": t.p_wilcoxon,
        "alpha": opts.alpha,
        "significant": better && t.significant,
    });
    if !(better && t.significant) {
        return Err(PromoteError::NotSignificant {
            run: candidate.to_path_buf(),
            detail: format!(
            "against the promoted run {} on {metric}, diff {:+.5} (95 % CI [{:+.5}, {:+.5}]), p = {:.3e} (t), {:.3e} (Wilcoxon): not a significant improvement at {}",
            current.display(),
            t.diff,
            t.ci[0],
            t.ci[1],
            t.p_t,
            t.p_wilcoxon,
            opts.alpha
        ),
        }
        .into());
    }
    Ok(record)
}
