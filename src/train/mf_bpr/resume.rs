//! Resuming mf_bpr: what its checkpoint holds besides the shared ledger
//! (the network's and the optimizer's burn records, Adam's step count and
//! moments included, lazy or not), and the best epoch's model as plain arrays.

use std::path::Path;

use burn::backend::ndarray::NdArrayDevice;
use burn::module::Module;
use burn::record::{Recorder, RecorderError};
use serde::Serialize;

use super::net::MfBprNet;
use super::{MfBprModel, MfBprParams};
use crate::config::{LrSchedule, OptimizerKind};
use crate::train::checkpoint::{blobs_n, Rec};
use crate::train::epochs::{fit_lens, Snapshot};
use crate::train::error::{invalid, TrainError};
use crate::train::host::TrainBackend;
use crate::train::optim::AnyOptim;

pub(super) type MfBprOptim = AnyOptim<MfBprNet<TrainBackend>, TrainBackend>;

/// Everything in [`MfBprParams`] that shapes a run: a checkpoint written
/// with other values is refused.
#[derive(Serialize)]
pub(super) struct Setup<'a> {
    factors: usize,
    /// Only with a schedule, whose rates depend on it; else a run may be
    /// extended, as recommender_net's (under `run --resume` the saved
    /// config fixes it anyway).
    epochs: Option<u32>,
    batch_size: usize,
    lr: f64,
    lr_schedule: Option<&'a LrSchedule>,
    reg: f64,
    seed: u64,
    min_rating: f32,
    lazy_adam: bool,
    /// Left out at the default (keras_adam, no decay), so checkpoints
    /// written before the choice existed still resume.
    #[serde(skip_serializing_if = "is_keras")]
    optimizer: OptimizerKind,
    #[serde(skip_serializing_if = "is_zero")]
    weight_decay: f64,
}

fn is_keras(o: &OptimizerKind) -> bool {
    *o == OptimizerKind::KerasAdam
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl<'a> Setup<'a> {
    pub(super) fn of(p: &'a MfBprParams) -> Self {
        Setup {
            factors: p.factors,
            epochs: p.lr_schedule.as_ref().map(|_| p.epochs),
            batch_size: p.batch_size,
            lr: p.lr,
            lr_schedule: p.lr_schedule.as_ref(),
            reg: p.reg,
            seed: p.seed,
            min_rating: p.min_rating,
            lazy_adam: p.lazy_adam,
            optimizer: p.optimizer,
            weight_decay: p.weight_decay,
        }
    }
}

impl Snapshot for MfBprModel {
    fn arrays(&self) -> Vec<&[f32]> {
        vec![&self.user_emb, &self.item_emb, &self.item_bias]
    }

    fn with_arrays(&self, arrays: Vec<Vec<f32>>) -> Option<Self> {
        let lens = [
            self.user_emb.len(),
            self.item_emb.len(),
            self.item_bias.len(),
        ];
        let [user_emb, item_emb, item_bias]: [Vec<f32>; 3] =
            fit_lens(arrays, &lens)?.try_into().ok()?;
        Some(MfBprModel {
            factors: self.factors,
            user_emb,
            item_emb,
            item_bias,
            history: Vec::new(),
        })
    }
}

/// The network's and the optimizer's records (the trainer's blobs).
pub(super) fn state_blobs(
    model: &MfBprNet<TrainBackend>,
    optim: &MfBprOptim,
) -> Result<Vec<Vec<u8>>, TrainError> {
    let rec = Rec::default();
    let enc = |what: &str, r: Result<Vec<u8>, RecorderError>| {
        r.map_err(|e| invalid(format!("encoding the mf_bpr {what} record: {e}")))
    };
    Ok(vec![
        enc("model", rec.record(model.clone().into_record(), ()))?,
        enc("optimizer", optim.record_bytes())?,
    ])
}

/// `model` and `optim` continued from the blobs of [`state_blobs`].
pub(super) fn load_state(
    path: &Path,
    blobs: Vec<Vec<u8>>,
    model: MfBprNet<TrainBackend>,
    optim: MfBprOptim,
    device: &NdArrayDevice,
) -> Result<(MfBprNet<TrainBackend>, MfBprOptim), TrainError> {
    let [model_b, optim_b] = blobs_n::<2>(path, blobs)?;
    let rec = Rec::default();
    let bad = |what: &str, e: RecorderError| {
        invalid(format!("checkpoint {}: {what} record: {e}", path.display()))
    };
    let model = model.load_record(rec.load(model_b, device).map_err(|e| bad("model", e))?);
    let optim = optim
        .load_bytes(optim_b, device)
        .map_err(|e| bad("optimizer", e))?;
    Ok((model, optim))
}
