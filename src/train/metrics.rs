//! Per-epoch metrics the trainers emit (the watcher that looks at each
//! epoch's model is `epochs::Watcher`).

/// The bar of one epoch's steps ("mf_bpr: epoch 3/20", batches or
/// positives): at the full MAL scale an epoch takes minutes, so the bar
/// moves within it (one bar at a time; the per-epoch metrics are log
/// lines).
pub(crate) fn epoch_bar(
    kind: &str,
    epoch: u32,
    epochs: u32,
    total: usize,
    unit: &'static str,
) -> crate::progress::Progress {
    crate::progress::Progress::new(
        format!("{kind}: epoch {}/{epochs}", epoch + 1),
        total as u64,
        unit,
    )
}

/// One epoch's metrics, emitted as they happen (the tracker consumes them).
///
/// `epoch` is 0-based (the value `lr_at` was called with). Non-finite values
/// (e.g. `val_mae` of BPR, which is NaN) serialise as JSON `null` and read
/// back as NaN, because JSON has no NaN.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochMetrics {
    /// 0-based epoch index.
    pub epoch: u32,
    /// Learning rate used during the epoch.
    pub lr: f64,
    /// Mean training loss over the epoch's batches (weighted by batch size).
    #[serde(with = "nan_as_null")]
    pub train_loss: f64,
    /// Validation loss after the epoch.
    #[serde(with = "nan_as_null")]
    pub val_loss: f64,
    /// Validation mean absolute error on the original rating scale.
    #[serde(with = "nan_as_null")]
    pub val_mae: f64,
    /// Validation mean squared error on the original rating scale.
    #[serde(with = "nan_as_null")]
    pub val_mse: f64,
    /// Wall-clock seconds of the epoch (training and validation).
    pub secs: f64,
}

impl EpochMetrics {
    /// An epoch of a ranking-loss model: no rating errors (NaN).
    pub(crate) fn ranking(epoch: u32, lr: f64, train_loss: f64, val_loss: f64, secs: f64) -> Self {
        Self {
            epoch,
            lr,
            train_loss,
            val_loss,
            val_mae: f64::NAN,
            val_mse: f64::NAN,
            secs,
        }
    }
}

mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_metrics_json_round_trips_nan() {
        let m = EpochMetrics {
            epoch: 1,
            lr: 0.1,
            train_loss: 0.5,
            val_loss: 0.4,
            val_mae: f64::NAN,
            val_mse: f64::NAN,
            secs: 1.0,
        };
        let s = serde_json::to_string(&m).unwrap();
        let back: EpochMetrics = serde_json::from_str(&s).unwrap();
        assert!(back.val_mae.is_nan() && back.val_loss == 0.4);
    }
}
