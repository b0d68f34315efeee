//! Resuming recommender_net: what its checkpoint holds (metadata with the
//! early-stopping state, and the model, optimizer and best-model records),
//! the check that a checkpoint belongs to this run, and loading and saving.

use std::path::Path;

use burn::backend::ndarray::NdArrayDevice;
use burn::module::Module;
use burn::record::Recorder;
use serde::{Deserialize, Serialize};

use super::net::RecNet;
use super::{RecNetModel, RecNetParams};
use crate::config::OptimizerKind;
use crate::train::checkpoint::{blobs_n, read_checkpoint, write_checkpoint, Rec};
use crate::train::early_stop::{EarlyStop, Goal};
use crate::train::epochs::{arrays_from, stop_blobs, Blobs, Snapshot};
use crate::train::error::{invalid, TrainError};
use crate::train::host::{EvalBackend, TrainBackend};
use crate::train::input::TrainInput;
use crate::train::metrics::EpochMetrics;
use crate::train::optim::AnyOptim;

pub(super) type RecNetOptim = AnyOptim<RecNet<TrainBackend>, TrainBackend>;

/// Resumable state of a recommender_net run (checkpoint metadata).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RecNetMeta {
    format: u32,
    kind: String,
    n_users: usize,
    n_items: usize,
    dim: usize,
    batch_size: usize,
    seed: u64,
    data_fingerprint: u64,
    /// Absent in checkpoints written before the choice existed: those
    /// stepped with Keras' Adam and no decay.
    #[serde(default = "keras_adam")]
    optimizer: OptimizerKind,
    #[serde(default)]
    weight_decay: f64,
    /// First epoch still to run.
    pub(super) next_epoch: u32,
    pub(super) history: Vec<EpochMetrics>,
    /// Lowest monitored loss so far (None before the first epoch).
    best_loss: Option<f64>,
    pub(super) best_epoch: Option<u32>,
    /// Epochs since the last improvement (Keras EarlyStopping `wait`).
    bad_epochs: u32,
    /// Early stopping fired; nothing more to train.
    pub(super) stopped: bool,
    /// The caller's early stopping on a ranking metric (which way, patience)
    /// when it has one; absent in checkpoints written before it was kept.
    #[serde(default)]
    ranking_stop: Option<(String, u32)>,
    /// Its best value (f64 bits) and epoch, and the epochs since.
    #[serde(default)]
    ranked_best: Option<(u64, u32)>,
    #[serde(default)]
    ranked_since: u32,
}

fn keras_adam() -> OptimizerKind {
    OptimizerKind::KerasAdam
}

pub(super) const RECNET_CKPT: &str = "recommender_net.ckpt";
const CKPT_FORMAT: u32 = 1;

impl RecNetMeta {
    /// The state of a run that has not trained yet.
    pub(super) fn fresh(
        input: &TrainInput,
        p: &RecNetParams,
        ranking: Option<(Goal, u32)>,
    ) -> Self {
        RecNetMeta {
            format: CKPT_FORMAT,
            kind: "recommender_net".into(),
            n_users: input.n_users,
            n_items: input.n_items,
            dim: p.dim,
            batch_size: p.batch_size,
            seed: p.seed,
            data_fingerprint: input.fingerprint(),
            optimizer: p.optimizer,
            weight_decay: p.weight_decay,
            next_epoch: 0,
            history: Vec::new(),
            best_loss: None,
            best_epoch: None,
            bad_epochs: 0,
            stopped: false,
            ranking_stop: ranking.map(|(g, n)| (format!("{g:?}"), n)),
            ranked_best: None,
            ranked_since: 0,
        }
    }

    /// Keras `EarlyStopping` bookkeeping (`min_delta = 0`) after `epoch`
    /// whose monitored loss is `monitored`: true when it improved, i.e. is
    /// strictly below the best so far.
    pub(super) fn note_epoch(&mut self, epoch: u32, monitored: f64, patience: Option<u32>) -> bool {
        if self.best_loss.is_none_or(|b| monitored < b) {
            self.best_loss = Some(monitored);
            self.best_epoch = Some(epoch);
            self.bad_epochs = 0;
            true
        } else {
            self.bad_epochs += 1;
            if patience.is_some_and(|pat| self.bad_epochs >= pat) {
                self.stopped = true;
            }
            false
        }
    }
}

/// Everything a run carries from epoch to epoch, and its checkpoint holds.
pub(super) struct RunState {
    pub(super) model: RecNet<TrainBackend>,
    pub(super) optim: RecNetOptim,
    /// Weights of the best epoch so far (eval mode); None before the first.
    pub(super) best: Option<RecNet<EvalBackend>>,
    /// The caller's early stopping on a ranking metric, kept here so that
    /// its best epoch and patience count survive a resume.
    pub(super) ranked: Option<EarlyStop<RecNetModel>>,
    pub(super) meta: RecNetMeta,
}

/// `st` continued from the checkpoint at `path` when there is one (weights,
/// optimizer state, best weights, metadata), else `st` unchanged. A
/// checkpoint written for another run (`fresh` differs) is an error.
pub(super) fn load(
    path: &Path,
    st: RunState,
    fresh: &RecNetMeta,
    device: &NdArrayDevice,
) -> Result<RunState, TrainError> {
    let Some((m, blobs)) = read_checkpoint::<RecNetMeta>(path)? else {
        return Ok(st);
    };
    check_resume(path, &m, fresh)?;
    let (blobs, ranked_b) = split_ranked(path, blobs)?;
    let [model_b, optim_b, best_b] = blobs_n::<3>(path, blobs)?;
    let rec = Rec::default();
    let load = |what: &str, e: burn::record::RecorderError| {
        invalid(format!("checkpoint {}: {what} record: {e}", path.display()))
    };
    let model = st
        .model
        .load_record(rec.load(model_b, device).map_err(|e| load("model", e))?);
    let optim = st
        .optim
        .load_bytes(optim_b, device)
        .map_err(|e| load("optimizer", e))?;
    let mut best = st.best;
    if m.best_epoch.is_some() {
        let b = RecNet::<EvalBackend>::init(
            fresh.n_users,
            fresh.n_items,
            fresh.dim,
            fresh.seed,
            device,
        );
        best = Some(b.load_record(rec.load(best_b, device).map_err(|e| load("best", e))?));
    }
    let ranked = match (st.ranked, m.ranked_best) {
        (Some(fresh_stop), Some((bits, epoch))) => {
            let model = arrays_from(path, &template(fresh.dim), &ranked_b)?;
            let (goal, patience) = fresh_stop.rule();
            let best = Some((f64::from_bits(bits), epoch, model));
            Some(EarlyStop::restored(goal, patience, best, m.ranked_since))
        }
        (Some(fresh_stop), None) => {
            let (goal, patience) = fresh_stop.rule();
            Some(EarlyStop::restored(goal, patience, None, m.ranked_since))
        }
        (None, _) => None,
    };
    Ok(RunState {
        model,
        optim,
        best,
        ranked,
        meta: m,
    })
}

/// The three record blobs, and the ranked best epoch's arrays after them.
fn split_ranked(path: &Path, mut blobs: Vec<Vec<u8>>) -> Result<(Blobs, Blobs), TrainError> {
    if blobs.len() < 3 {
        return blobs_n::<3>(path, blobs).map(|_| (Vec::new(), Vec::new()));
    }
    let ranked = blobs.split_off(3);
    Ok((blobs, ranked))
}

/// Writes `st` atomically to `path`.
pub(super) fn save(path: &Path, st: &mut RunState) -> Result<(), TrainError> {
    let rec = Rec::default();
    let enc = |what: &str, r: Result<Vec<u8>, burn::record::RecorderError>| {
        r.map_err(|e| invalid(format!("encoding the {what} record: {e}")))
    };
    let model_b = enc("model", rec.record(st.model.clone().into_record(), ()))?;
    let optim_b = enc("optimizer", st.optim.record_bytes())?;
    let best_b = match &st.best {
        Some(b) => enc("best", rec.record(b.clone().into_record(), ()))?,
        None => Vec::new(),
    };
    let mut blobs = vec![model_b, optim_b, best_b];
    (st.meta.ranked_best, st.meta.ranked_since) = stop_blobs(st.ranked.as_ref(), &mut blobs);
    let refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
    write_checkpoint(path, &st.meta, &refs)
}

/// The ranked best epoch's model as the arrays a checkpoint keeps: the two
/// tables, then each number of the head.
impl Snapshot for RecNetModel {
    fn arrays(&self) -> Vec<&[f32]> {
        let one = std::slice::from_ref;
        vec![
            &self.user_emb,
            &self.item_emb,
            one(&self.dense_w),
            one(&self.dense_b),
            one(&self.bn_mean),
            one(&self.bn_var),
            one(&self.bn_gamma),
            one(&self.bn_beta),
            one(&self.bn_eps),
        ]
    }

    /// Any number of rows of `self.dim` (the template has none).
    fn with_arrays(&self, arrays: Vec<Vec<f32>>) -> Option<Self> {
        let d = self.dim.max(1);
        let [user_emb, item_emb, head @ ..]: [Vec<f32>; 9] = arrays.try_into().ok()?;
        let head: Vec<f32> = head
            .iter()
            .map(|h| (h.len() == 1).then(|| h[0]))
            .collect::<Option<_>>()?;
        let [dense_w, dense_b, bn_mean, bn_var, bn_gamma, bn_beta, bn_eps]: [f32; 7] =
            head.try_into().ok()?;
        (user_emb.len() % d == 0 && item_emb.len() % d == 0).then(|| RecNetModel {
            dim: self.dim,
            user_emb,
            item_emb,
            dense_w,
            dense_b,
            bn_mean,
            bn_var,
            bn_gamma,
            bn_beta,
            bn_eps,
            history: Vec::new(),
            best_epoch: 0,
        })
    }
}

/// A model of `dim` with no rows: the shape the ranked best epoch's arrays
/// are read into.
fn template(dim: usize) -> RecNetModel {
    RecNetModel {
        dim,
        user_emb: Vec::new(),
        item_emb: Vec::new(),
        dense_w: 0.0,
        dense_b: 0.0,
        bn_mean: 0.0,
        bn_var: 0.0,
        bn_gamma: 0.0,
        bn_beta: 0.0,
        bn_eps: 0.0,
        history: Vec::new(),
        best_epoch: 0,
    }
}

fn check_resume(path: &Path, got: &RecNetMeta, want: &RecNetMeta) -> Result<(), TrainError> {
    let same = got.format == want.format
        && got.kind == want.kind
        && got.n_users == want.n_users
        && got.n_items == want.n_items
        && got.dim == want.dim
        && got.batch_size == want.batch_size
        && got.seed == want.seed
        && got.data_fingerprint == want.data_fingerprint
        && got.optimizer == want.optimizer
        && got.weight_decay.to_bits() == want.weight_decay.to_bits()
        && got.ranking_stop == want.ranking_stop;
    if same {
        Ok(())
    } else {
        Err(TrainError::OtherRun {
            path: path.to_path_buf(),
            why: format!(
                "users {} vs {}, items {} vs {}, dim {} vs {}, batch {} vs {}, seed {} vs {}, \
             data {:016x} vs {:016x}, optimizer {:?} vs {:?}, weight decay {} vs {}, \
             ranking stop {:?} vs {:?}",
                got.n_users,
                want.n_users,
                got.n_items,
                want.n_items,
                got.dim,
                want.dim,
                got.batch_size,
                want.batch_size,
                got.seed,
                want.seed,
                got.data_fingerprint,
                want.data_fingerprint,
                got.optimizer,
                want.optimizer,
                got.weight_decay,
                want.weight_decay,
                got.ranking_stop,
                want.ranking_stop
            ),
        })
    }
}
