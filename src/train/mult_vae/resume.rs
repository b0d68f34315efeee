//! Resuming mult_vae: what its checkpoint holds besides the shared ledger
//! (the network's record and the state of burn's optimizer), and the best
//! epoch's model as plain arrays. β's annealing position and every draw
//! follow from the epoch number, so they need nothing stored.

use std::path::Path;

use burn::backend::ndarray::NdArrayDevice;
use burn::module::Module;
use burn::record::{Recorder, RecorderError};

use super::net::MultVaeNet;
use super::{MultVae, MultVaeModel};
use crate::train::checkpoint::{blobs_n, Rec};
use crate::train::epochs::{fit_lens, Snapshot};
use crate::train::error::{invalid, TrainError};
use crate::train::host::TrainBackend;
use crate::train::optim::AnyOptim;

pub(super) type VaeOptim = AnyOptim<MultVaeNet<TrainBackend>, TrainBackend>;

/// What shapes a run: every key of `p` and the seed. `epochs` only with a
/// schedule, whose rates depend on it; else a run may be extended, as
/// recommender_net's (under `run --resume` the saved config fixes it).
pub(super) fn setup(p: &MultVae, seed: u64) -> Result<serde_json::Value, TrainError> {
    let mut keys = serde_json::to_value(p).map_err(|e| invalid(format!("mult_vae: setup: {e}")))?;
    if p.lr_schedule.is_none() {
        if let Some(o) = keys.as_object_mut() {
            o.remove("epochs");
        }
    }
    Ok(serde_json::json!({ "keys": keys, "seed": seed }))
}

impl Snapshot for MultVaeModel {
    fn arrays(&self) -> Vec<&[f32]> {
        [&self.enc, &self.mu, &self.dec, &self.out]
            .into_iter()
            .flat_map(|(w, b)| [w.as_slice(), b.as_slice()])
            .collect()
    }

    fn with_arrays(&self, arrays: Vec<Vec<f32>>) -> Option<Self> {
        let lens: Vec<usize> = self.arrays().iter().map(|a| a.len()).collect();
        let [ew, eb, mw, mb, dw, db, ow, ob]: [Vec<f32>; 8] =
            fit_lens(arrays, &lens)?.try_into().ok()?;
        Some(MultVaeModel {
            enc: (ew, eb),
            mu: (mw, mb),
            dec: (dw, db),
            out: (ow, ob),
            history: Vec::new(),
        })
    }
}

/// The network's and the optimizer's records (the trainer's blobs).
pub(super) fn state_blobs(
    model: &MultVaeNet<TrainBackend>,
    optim: &VaeOptim,
) -> Result<Vec<Vec<u8>>, TrainError> {
    let enc = |what: &str, r: Result<Vec<u8>, RecorderError>| {
        r.map_err(|e| invalid(format!("encoding the mult_vae {what} record: {e}")))
    };
    let rec = Rec::default();
    Ok(vec![
        enc("model", rec.record(model.clone().into_record(), ()))?,
        enc("optimizer", optim.record_bytes())?,
    ])
}

/// `model` and `optim` continued from the blobs of [`state_blobs`].
pub(super) fn load_state(
    path: &Path,
    blobs: Vec<Vec<u8>>,
    model: MultVaeNet<TrainBackend>,
    optim: VaeOptim,
    device: &NdArrayDevice,
) -> Result<(MultVaeNet<TrainBackend>, VaeOptim), TrainError> {
    let [model_b, optim_b] = blobs_n::<2>(path, blobs)?;
    let bad = |what: &str, e: RecorderError| {
        invalid(format!("checkpoint {}: {what} record: {e}", path.display()))
    };
    let rec = Rec::default();
    let model = model.load_record(rec.load(model_b, device).map_err(|e| bad("model", e))?);
    let optim = optim
        .load_bytes(optim_b, device)
        .map_err(|e| bad("optimizer", e))?;
    Ok((model, optim))
}
