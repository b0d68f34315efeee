//! Matrix factorisation trained with BPR in burn (`train::mf_bpr`): user
//! and item factors plus an item bias, served as a factor part.

use crate::model::params::{self, ParamError};
use crate::model::spec::ModelKeys;
use serde::{Deserialize, Serialize};

/// The `mf_bpr` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfBpr {
    /// Latent factors.
    pub factors: usize,
    /// Passes over the positives.
    pub epochs: u32,
    /// Adam learning rate (constant unless `lr_schedule` is set).
    pub lr: f64,
    /// A schedule over the epochs (the keys of `train.lr_schedule`), which
    /// replaces the constant `lr` when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr_schedule: Option<crate::config::LrSchedule>,
    /// L2 on the embeddings.
    pub reg: f64,
    /// Triples per batch.
    pub batch_size: usize,
    /// Train rows rated at least this are positives (0: every rated row).
    pub min_rating: f32,
    /// Adam moves only the embedding rows a batch touched, with their
    /// moments (TF's LazyAdam); off, every row moves every step as in Keras.
    pub lazy_adam: bool,
}

impl Default for MfBpr {
    fn default() -> Self {
        Self {
            factors: 64,
            epochs: 30,
            lr: 0.01,
            lr_schedule: None,
            reg: 1e-5,
            batch_size: 4096,
            min_rating: 0.0,
            lazy_adam: false,
        }
    }
}

impl ModelKeys for MfBpr {
    const KIND: &'static str = "mf_bpr";
    fn check(&self) -> Result<(), ParamError> {
        use params::{float, int};
        int("factors", self.factors as u64, 1, 4096)?;
        params::training(self.epochs, self.lr, self.lr_schedule.as_ref())?;
        float("reg", self.reg, 0.0, false, 1e3)?;
        int("batch_size", self.batch_size as u64, 1, 1 << 24)?;
        float("min_rating", f64::from(self.min_rating), 0.0, false, 1e6)
    }
    fn trains(&self) -> bool {
        true
    }
    #[cfg(feature = "train")]
    fn fit(
        &self,
        ctx: &mut crate::model::fit::FitContext,
    ) -> Result<crate::model::Part, crate::model::fit::FitError> {
        let m = crate::model::fit::learned::bpr(ctx, self)?;
        Ok(crate::model::Part::Factors {
            user: m.user,
            item: m.item,
            item_bias: Some(m.bias),
            head: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LrSchedule;

    #[test]
    fn a_schedule_is_checked_like_train_lr_schedule() {
        let bad = MfBpr {
            lr_schedule: Some(LrSchedule {
                max: -1.0,
                ..LrSchedule::default()
            }),
            ..MfBpr::default()
        };
        let e = bad.check().unwrap_err();
        assert_eq!(e.key, "lr_schedule.max");
        assert!(e.msg.contains("positive learning rate"), "{}", e.msg);
        let good = MfBpr {
            lr_schedule: Some(LrSchedule::default()),
            ..MfBpr::default()
        };
        assert_eq!(good.check(), Ok(()));
    }
}
