//! Early termination of trials: ASHA (Ray Tune's asynchronous successive
//! halving) and the median rule (Optuna's MedianPruner).
//!
//! A trial process installs the sweep's rule before its run; the learned
//! models report their per-epoch validation metrics here
//! ([`report_epoch`]), which records the value in the trial's state file
//! (where the other trials' processes read it) and decides from what every
//! trial has recorded so far. A pruned trial ends normally with the model it
//! has, and is recorded as `pruned`.

use super::state::{self, TrialState};
use crate::compare::stats::percentile;
use crate::config::EarlyStop;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

struct Active {
    sweep_dir: PathBuf,
    index: usize,
    id: String,
    dir_name: String,
    rule: EarlyStop,
    pruned_at: Option<u32>,
}

/// One trial runs per process at a time (a pod, a child of the sweeper, or a
/// worker's loop), so the rule of the running trial is process-wide.
static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);

/// The installed rule of the running trial; removed when dropped.
#[must_use]
pub struct Guard(());

impl Guard {
    /// The epoch at which the trial was pruned, if it was.
    pub fn pruned_at(&self) -> Option<u32> {
        ACTIVE
            .lock()
            .ok()
            .and_then(|a| a.as_ref().and_then(|a| a.pruned_at))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut a) = ACTIVE.lock() {
            *a = None;
        }
    }
}

/// Installs `rule` for the trial about to run in this process.
pub fn install(
    sweep_dir: PathBuf,
    index: usize,
    id: &str,
    dir_name: &str,
    rule: EarlyStop,
) -> Guard {
    if let Ok(mut a) = ACTIVE.lock() {
        *a = Some(Active {
            sweep_dir,
            index,
            id: id.to_string(),
            dir_name: dir_name.to_string(),
            rule,
            pruned_at: None,
        });
    }
    Guard(())
}

/// Called by the learned models after each (1-based) epoch with their
/// validation metrics; true means "stop training now". `last` is the final
/// epoch the trial was configured for: it is recorded (the median rule
/// compares against it) but never judged, as in Ray's ASHA, where a trial
/// that reaches `max_t` completes: a trial that trained every epoch was not
/// stopped early, and labelling it `pruned` would only drop a fully trained
/// model from the ranking. Without an installed rule (a plain run) it
/// records nothing and never stops.
pub fn report_epoch(epoch: u32, last: bool, values: &[(&str, f64)]) -> bool {
    let Ok(mut guard) = ACTIVE.lock() else {
        return false;
    };
    let Some(a) = guard.as_mut() else {
        return false;
    };
    if a.pruned_at.is_some() {
        return true;
    }
    let Some(value) = values
        .iter()
        .find(|(n, _)| *n == a.rule.metric())
        .map(|x| x.1)
        .filter(|v| v.is_finite())
    else {
        return false;
    };
    let recorded = state::update(&a.sweep_dir, a.index, &a.id, &a.dir_name, |st| {
        st.epochs.insert(epoch, value);
    });
    if let Err(e) = recorded {
        // Without its record the others cannot compare against it; the
        // trial itself can still be judged.
        tracing::warn!("cannot record epoch {epoch} of trial {}: {e}", a.index);
    }
    if last {
        return false;
    }
    let all = state::read_all(&a.sweep_dir).unwrap_or_default();
    let stop = decide(&a.rule, epoch, value, &a.id, &all);
    if stop {
        a.pruned_at = Some(epoch);
        let _ = state::update(&a.sweep_dir, a.index, &a.id, &a.dir_name, |st| {
            st.pruned_at = Some(epoch);
        });
        eprintln!(
            "trial {}: pruned at epoch {epoch} ({} = {value:.4} lags the other trials)",
            a.index,
            a.rule.metric()
        );
    }
    stop
}

/// Rung epochs of ASHA: `min_epochs * rf^k`.
fn is_rung(epoch: u32, min_epochs: u32, rf: u32) -> bool {
    let mut r = u64::from(min_epochs.max(1));
    while r < u64::from(epoch) {
        r *= u64::from(rf.max(2));
    }
    r == u64::from(epoch)
}

/// The decision for trial `me` with `value` at `epoch`, given every trial's
/// recorded values (higher is better for the per-epoch metrics).
pub fn decide(
    rule: &EarlyStop,
    epoch: u32,
    value: f64,
    me: &str,
    all: &HashMap<String, TrialState>,
) -> bool {
    let others = all.values().filter(|s| s.id != me);
    match rule {
        EarlyStop::Asha {
            min_epochs,
            reduction_factor,
            ..
        } => {
            if !is_rung(epoch, *min_epochs, *reduction_factor) {
                return false;
            }
            // Ray: the cutoff is the (1 - 1/rf) quantile of what the other
            // trials recorded at this rung; the first one there passes.
            let mut v: Vec<f64> = others
                .filter_map(|s| s.epochs.get(&epoch).copied())
                .filter(|v| v.is_finite())
                .collect();
            if v.is_empty() {
                return false;
            }
            v.sort_by(f64::total_cmp);
            value < percentile(&v, 1.0 - 1.0 / f64::from(*reduction_factor))
        }
        EarlyStop::Median {
            min_epochs,
            min_trials,
            ..
        } => {
            if epoch < *min_epochs {
                return false;
            }
            // Optuna: the median over finished (complete) trials only.
            let mut v: Vec<f64> = others
                .filter(|s| s.state == crate::track::RunStatus::Done)
                .filter_map(|s| s.epochs.get(&epoch).copied())
                .filter(|v| v.is_finite())
                .collect();
            if v.len() < (*min_trials).max(1) {
                return false;
            }
            v.sort_by(f64::total_cmp);
            value < percentile(&v, 0.5)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::RunStatus;

    fn st(id: &str, state: RunStatus, epochs: &[(u32, f64)]) -> (String, TrialState) {
        let mut s: TrialState = serde_json::from_value(
            serde_json::json!({"trial": 0, "id": id, "state": "running", "at": ""}),
        )
        .unwrap();
        s.state = state;
        s.epochs = epochs.iter().copied().collect();
        (id.to_string(), s)
    }

    #[test]
    fn asha_cuts_below_the_top_third_at_rungs_only() {
        let rule = EarlyStop::Asha {
            metric: "val_ndcg@10".into(),
            min_epochs: 1,
            reduction_factor: 3,
        };
        assert!(is_rung(1, 1, 3) && is_rung(3, 1, 3) && is_rung(9, 1, 3));
        assert!(!is_rung(2, 1, 3) && !is_rung(4, 1, 3));
        let all: HashMap<_, _> = [
            st("a", RunStatus::Done, &[(1, 0.10), (3, 0.20)]),
            st("b", RunStatus::Pruned, &[(1, 0.05)]),
            st("c", RunStatus::Done, &[(1, 0.30), (3, 0.40)]),
        ]
        .into();
        // Others at epoch 1: 0.05, 0.10, 0.30; their 2/3 quantile is 0.1667.
        assert!(decide(&rule, 1, 0.15, "me", &all));
        assert!(!decide(&rule, 1, 0.2, "me", &all));
        assert!(!decide(&rule, 2, 0.0, "me", &all), "epoch 2 is no rung");
        assert!(!decide(&rule, 9, 0.0, "me", &all), "first at a rung passes");
    }

    /// A trial that trained every epoch completes even below the rung's
    /// cut (Ray's ASHA stops it at max_t as finished); its value is still
    /// recorded for the other trials. The same value one epoch short of the
    /// end is pruned.
    #[test]
    fn the_last_epoch_is_recorded_but_never_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let rule = EarlyStop::Asha {
            metric: "val_ndcg@10".into(),
            min_epochs: 1,
            reduction_factor: 3,
        };
        state::update(dir.path(), 0, "other", "000-other", |st| {
            st.epochs.insert(3, 0.9);
        })
        .unwrap();
        let g = install(dir.path().into(), 1, "last", "001-last", rule.clone());
        assert!(!report_epoch(3, true, &[("val_ndcg@10", 0.1)]));
        assert_eq!(g.pruned_at(), None);
        drop(g);
        let all = state::read_all(dir.path()).unwrap();
        assert_eq!(all["last"].epochs.get(&3), Some(&0.1), "{all:?}");
        assert_eq!(all["last"].pruned_at, None);

        let g = install(dir.path().into(), 2, "early", "002-early", rule);
        assert!(report_epoch(3, false, &[("val_ndcg@10", 0.1)]));
        assert_eq!(g.pruned_at(), Some(3));
    }

    #[test]
    fn median_uses_finished_trials_after_the_warm_up() {
        let rule = EarlyStop::Median {
            metric: "val_ndcg@10".into(),
            min_epochs: 2,
            min_trials: 2,
        };
        let all: HashMap<_, _> = [
            st("a", RunStatus::Done, &[(2, 0.1)]),
            st("b", RunStatus::Done, &[(2, 0.3)]),
            st("c", RunStatus::Running, &[(2, 0.9)]),
        ]
        .into();
        assert!(!decide(&rule, 1, 0.0, "me", &all), "warm-up");
        assert!(decide(&rule, 2, 0.15, "me", &all));
        assert!(!decide(&rule, 2, 0.25, "me", &all));
        let one: HashMap<_, _> = [st("a", RunStatus::Done, &[(2, 0.5)])].into();
        assert!(!decide(&rule, 2, 0.0, "me", &one), "needs min_trials");
    }
}
