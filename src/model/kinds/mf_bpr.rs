//! Matrix factorisation trained with BPR in burn (`train::mf_bpr`): user
//! and item factors plus an item bias, served as a factor part.

use crate::config::OptimizerKind;
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
    /// Learning rate (constant unless `lr_schedule` is set).
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
    /// `keras_adam` (the default, as the Keras original), or burn's `adam`,
    /// `adamw` or `sgd`.
    pub optimizer: OptimizerKind,
    /// Weight decay (L2 for adam/keras_adam/sgd, decoupled for adamw; 0:
    /// none), besides `reg`, which is part of the loss.
    pub weight_decay: f64,
    /// Adam moves only the embedding rows a batch touched, with their
    /// moments (TF's LazyAdam); off, every row moves every step as in Keras.
    /// Only with `keras_adam`.
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
            optimizer: OptimizerKind::KerasAdam,
            weight_decay: 0.0,
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
        float("weight_decay", self.weight_decay, 0.0, false, 10.0)?;
        if self.lazy_adam && self.optimizer != OptimizerKind::KerasAdam {
            return Err(ParamError::new(
                "lazy_adam",
                format!(
                    "is keras_adam's; optimizer is {}: set optimizer: keras_adam or drop lazy_adam",
                    format!("{:?}", self.optimizer).to_lowercase()
                ),
            ));
        }
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

    #[test]
    fn lazy_adam_needs_keras_adam() {
        let lazy = |optimizer| MfBpr {
            optimizer,
            lazy_adam: true,
            ..MfBpr::default()
        };
        assert_eq!(lazy(OptimizerKind::KerasAdam).check(), Ok(()));
        let e = lazy(OptimizerKind::Adamw).check().unwrap_err();
        assert_eq!(e.key, "lazy_adam");
        assert!(e.msg.contains("optimizer: keras_adam"), "{}", e.msg);
    }
}
