//! Early stopping on a validation metric that is not the trainer's own loss
//! (the ranking metrics of PROTOCOL.md, computed on the validation carve
//! each epoch): fed one value per epoch, it says when `patience` epochs
//! have passed without improvement and keeps the best epoch's model.

/// Which way a monitored metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// A loss.
    Lower,
    /// A ranking metric.
    Higher,
}

/// The state of one training run's early stopping.
pub struct EarlyStop<M> {
    goal: Goal,
    patience: u32,
    best: Option<(f64, u32, M)>,
    since_best: u32,
}

impl<M: Clone> EarlyStop<M> {
    /// Stops after `patience` (≥ 1) epochs without improvement.
    pub fn new(goal: Goal, patience: u32) -> Self {
        Self {
            goal,
            patience: patience.max(1),
            best: None,
            since_best: 0,
        }
    }

    /// Records `epoch`'s `value` (a copy of `model` when it is the best so
    /// far) and says whether to stop now. A non-finite value never improves.
    pub fn observe(&mut self, epoch: u32, value: f64, model: &M) -> bool {
        let better = value.is_finite()
            && self.best.as_ref().is_none_or(|(b, _, _)| match self.goal {
                Goal::Lower => value < *b,
                Goal::Higher => value > *b,
            });
        if better {
            self.best = Some((value, epoch, model.clone()));
            self.since_best = 0;
        } else {
            self.since_best += 1;
        }
        self.since_best >= self.patience
    }

    /// The best epoch (0-based) and its model, if any epoch was finite.
    pub fn into_best(self) -> Option<(u32, M)> {
        self.best.map(|(_, epoch, model)| (epoch, model))
    }

    /// What a checkpoint keeps: the best (value, epoch, model) and the
    /// epochs since it.
    pub(crate) fn state(&self) -> (Option<(f64, u32, &M)>, u32) {
        let best = self.best.as_ref().map(|(v, e, m)| (*v, *e, m));
        (best, self.since_best)
    }

    /// Which way the watched value improves, and the patience.
    pub(crate) fn rule(&self) -> (Goal, u32) {
        (self.goal, self.patience)
    }

    /// The stopping state of [`state`](Self::state), read back from a
    /// checkpoint.
    pub(crate) fn restored(
        goal: Goal,
        patience: u32,
        best: Option<(f64, u32, M)>,
        since_best: u32,
    ) -> Self {
        Self {
            best,
            since_best,
            ..Self::new(goal, patience)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_patience_epochs_after_the_best_and_keeps_it() {
        let mut s = EarlyStop::new(Goal::Higher, 2);
        let values = [0.10, 0.20, 0.15, f64::NAN, 0.30];
        let stops: Vec<bool> = values
            .iter()
            .enumerate()
            .map(|(e, &v)| s.observe(e as u32, v, &format!("model {e}")))
            .collect();
        // Best at epoch 1; epochs 2 and 3 (NaN) do not improve: stop at 3.
        assert_eq!(stops, [false, false, false, true, false]);
        let (epoch, model) = EarlyStop::<String>::into_best(s).unwrap();
        // Epoch 4 was observed after the stop signal and is better: kept.
        assert_eq!((epoch, model.as_str()), (4, "model 4"));

        let mut s = EarlyStop::new(Goal::Lower, 1);
        assert!(!s.observe(0, 0.5, &0));
        assert!(s.observe(1, 0.5, &1), "equal is not better");
        assert_eq!(s.into_best(), Some((0, 0)));
    }
}
