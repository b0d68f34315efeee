//! What every epoch-trained model (mf_bpr, mult_vae, feature_mf) does
//! between two epochs, in one place: the look at the epoch's model (metric
//! events, a sweep's pruner), early stopping on the value that look
//! watches, the history, and the atomic checkpoint that lets `run --resume`
//! continue at the next epoch bit for bit.
//!
//! Why early stopping lives here and not in the glue: its state (the best
//! value, the best epoch's weights, the patience counter) must be in the
//! same checkpoint as the weights it judged, or a resumed run would forget
//! the best epoch and stop elsewhere than a straight one.
//!
//! The trainer keeps what is its own (burn records of the model and the
//! optimizer, or plain arrays) as blobs after the best epoch's arrays; the
//! per-epoch randomness needs nothing stored, since every stream is derived
//! from (seed, purpose, epoch) (`rng`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checkpoint::{read_checkpoint, write_checkpoint};
use super::early_stop::{EarlyStop, Goal};
use super::error::{invalid, TrainError};
use super::input::TrainInput;
use super::metrics::EpochMetrics;

/// What a look at an epoch says.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Verdict {
    /// Stop after this epoch (a sweep's pruner).
    pub stop: bool,
    /// The value early stopping watches for this epoch; `None`: nothing to
    /// watch (e.g. no validation users to rank).
    pub watched: Option<f64>,
}

/// A look at each epoch's metrics and weights (metric events, validation
/// ranking, a pruner), called after the epoch and before its checkpoint.
pub type Watcher<'a, M> = &'a mut dyn FnMut(&EpochMetrics, &M) -> Verdict;

/// How an epoch-trained run is kept.
#[derive(Debug, Clone, Default)]
pub struct EpochRun {
    /// The checkpoint file, written atomically after every epoch and resumed
    /// from when it is there; `None` keeps none.
    pub checkpoint: Option<PathBuf>,
    /// Early stopping on [`Verdict::watched`]: which way it improves and
    /// after how many epochs without improvement to stop.
    pub early_stop: Option<(Goal, u32)>,
}

/// A trained model and, when early stopping watched, its best epoch (the
/// model is then that epoch's, else the last epoch's).
#[derive(Debug, Clone)]
pub struct Trained<M> {
    /// The weights returned, with the history of every epoch run.
    pub model: M,
    /// 0-based epoch of `model` when early stopping chose it.
    pub best_epoch: Option<u32>,
}

/// A model as flat f32 arrays, as the best epoch's copy is checkpointed.
pub(crate) trait Snapshot: Clone {
    /// The weights, in a fixed order.
    fn arrays(&self) -> Vec<&[f32]>;
    /// A model of `self`'s shape with these weights (`None` when they do
    /// not fit it).
    fn with_arrays(&self, arrays: Vec<Vec<f32>>) -> Option<Self>;
}

/// Checkpoint metadata shared by the epoch-trained models.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LedgerMeta {
    format: u32,
    kind: String,
    /// Everything that shapes the run (parameters, early stopping), as JSON
    /// text: compared as text, since JSON floats need not read back bit for
    /// bit.
    setup: String,
    data_fingerprint: u64,
    /// First epoch still to run.
    next_epoch: u32,
    #[serde(with = "exact_history")]
    history: Vec<EpochMetrics>,
    /// A stop was decided (early stopping or the watcher): nothing more to
    /// train on resume.
    stopped: bool,
    /// Early stopping: best watched value (as f64 bits) and its epoch.
    best: Option<(u64, u32)>,
    since_best: u32,
    /// How many blobs (first) are the best epoch's arrays.
    best_arrays: usize,
}

const FORMAT: u32 = 1;

/// The record blobs a trainer keeps in its checkpoint.
pub(crate) type Blobs = Vec<Vec<u8>>;

/// One run's bookkeeping between epochs.
pub(crate) struct Ledger<M> {
    path: Option<PathBuf>,
    meta: LedgerMeta,
    stop: Option<EarlyStop<M>>,
}

fn goal_name(g: Goal) -> &'static str {
    match g {
        Goal::Lower => "lower",
        Goal::Higher => "higher",
    }
}

impl<M: Snapshot> Ledger<M> {
    /// The ledger of a fresh run, or the one in `run.checkpoint` when that
    /// holds a checkpoint of this kind, setup and data, with the blobs the
    /// trainer saved after the best epoch's arrays. A checkpoint of another
    /// run is refused ([`TrainError::OtherRun`]). `template` gives the shape
    /// of the best epoch's model.
    pub(crate) fn open(
        kind: &str,
        setup: &impl Serialize,
        input: &TrainInput,
        run: &EpochRun,
        template: &M,
    ) -> Result<(Self, Option<Blobs>), TrainError> {
        let rule = run.early_stop.map(|(g, p)| (goal_name(g), p));
        let setup = serde_json::to_string(&(setup, rule))
            .map_err(|e| invalid(format!("{kind}: setup: {e}")))?;
        let meta = LedgerMeta {
            format: FORMAT,
            kind: kind.into(),
            setup,
            data_fingerprint: input.fingerprint(),
            next_epoch: 0,
            history: Vec::new(),
            stopped: false,
            best: None,
            since_best: 0,
            best_arrays: 0,
        };
        let mut ledger = Ledger {
            path: run.checkpoint.clone(),
            stop: run.early_stop.map(|(g, p)| EarlyStop::new(g, p)),
            meta,
        };
        let Some(path) = run.checkpoint.as_deref() else {
            return Ok((ledger, None));
        };
        let Some((got, mut blobs)) = read_checkpoint::<LedgerMeta>(path)? else {
            return Ok((ledger, None));
        };
        same_run(path, &got, &ledger.meta)?;
        let corrupt =
            |why: &str| invalid(format!("checkpoint {} is corrupt: {why}", path.display()));
        if blobs.len() < got.best_arrays {
            return Err(corrupt("fewer blobs than best arrays"));
        }
        let state = blobs.split_off(got.best_arrays);
        if let Some((goal, patience)) = run.early_stop {
            let best = match got.best {
                Some((bits, epoch)) => Some((
                    f64::from_bits(bits),
                    epoch,
                    arrays_from(path, template, &blobs)?,
                )),
                None => None,
            };
            ledger.stop = Some(EarlyStop::restored(goal, patience, best, got.since_best));
        }
        ledger.meta = got;
        Ok((ledger, Some(state)))
    }

    /// The epoch to run next, if any is left of `epochs` and no stop was
    /// decided.
    pub(crate) fn next_epoch(&self, epochs: u32) -> Option<u32> {
        let e = self.meta.next_epoch;
        (!self.meta.stopped && e < epochs).then_some(e)
    }

    /// Closes epoch `metrics.epoch`: the watcher's look, early stopping on
    /// what it watched, the history.
    pub(crate) fn close_epoch(
        &mut self,
        metrics: EpochMetrics,
        model: &M,
        watcher: Watcher<'_, M>,
    ) {
        let v = watcher(&metrics, model);
        let mut stop = v.stop;
        if let (Some(s), Some(x)) = (self.stop.as_mut(), v.watched) {
            stop |= s.observe(metrics.epoch, x, model);
        }
        self.meta.stopped |= stop;
        self.meta.next_epoch = metrics.epoch + 1;
        self.meta.history.push(metrics);
    }

    /// Writes the checkpoint (when the run keeps one): this ledger, the best
    /// epoch's arrays, then the trainer's `state` blobs (only built then).
    pub(crate) fn save(
        &mut self,
        state: impl FnOnce() -> Result<Blobs, TrainError>,
    ) -> Result<(), TrainError> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let mut blobs: Vec<Vec<u8>> = Vec::new();
        (self.meta.best, self.meta.since_best) = stop_blobs(self.stop.as_ref(), &mut blobs);
        self.meta.best_arrays = blobs.len();
        blobs.extend(state()?);
        let refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
        write_checkpoint(&path, &self.meta, &refs)
    }

    /// The model to return (the best epoch's when early stopping chose one,
    /// else `last`), its epoch, and the history of every epoch run.
    pub(crate) fn finish(self, last: M) -> (Trained<M>, Vec<EpochMetrics>) {
        let trained = match self.stop.and_then(EarlyStop::into_best) {
            Some((epoch, model)) => Trained {
                model,
                best_epoch: Some(epoch),
            },
            None => Trained {
                model: last,
                best_epoch: None,
            },
        };
        (trained, self.meta.history)
    }
}

fn same_run(path: &Path, got: &LedgerMeta, want: &LedgerMeta) -> Result<(), TrainError> {
    let why = if got.format != want.format || got.kind != want.kind {
        format!(
            "a {} checkpoint (format {}), this is {} (format {})",
            got.kind, got.format, want.kind, want.format
        )
    } else if got.setup != want.setup {
        format!("settings {} there, {} here", got.setup, want.setup)
    } else if got.data_fingerprint != want.data_fingerprint {
        format!(
            "data {:016x} there, {:016x} here",
            got.data_fingerprint, want.data_fingerprint
        )
    } else {
        return Ok(());
    };
    Err(TrainError::OtherRun {
        path: path.to_path_buf(),
        why,
    })
}

/// f32s as little-endian bytes (a checkpoint blob).
/// What a checkpoint keeps of an early stop: the best epoch's arrays, appended to `blobs`,
/// and the best (value bits, epoch) with the epochs since it.
pub(crate) fn stop_blobs<M: Snapshot>(
    stop: Option<&EarlyStop<M>>,
    blobs: &mut Vec<Vec<u8>>,
) -> (Option<(u64, u32)>, u32) {
    let Some(s) = stop else {
        return (None, 0);
    };
    let (best, since) = s.state();
    if let Some((_, _, m)) = best {
        blobs.extend(m.arrays().into_iter().map(f32_bytes));
    }
    (best.map(|(v, e, _)| (v.to_bits(), e)), since)
}

pub(crate) fn f32_bytes(a: &[f32]) -> Vec<u8> {
    a.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The f32s of a blob of [`f32_bytes`]; `None` when its length is not a
/// multiple of 4.
pub(crate) fn f32s(b: &[u8]) -> Option<Vec<f32>> {
    let chunks = b.chunks_exact(4);
    if !chunks.remainder().is_empty() {
        return None;
    }
    Some(
        chunks
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// `template`'s shape with the arrays of `blobs` (as [`Snapshot::arrays`]
/// wrote them), or a corrupt-checkpoint error naming `path`.
pub(crate) fn arrays_from<M: Snapshot>(
    path: &Path,
    template: &M,
    blobs: &[Vec<u8>],
) -> Result<M, TrainError> {
    blobs
        .iter()
        .map(|b| f32s(b))
        .collect::<Option<Vec<_>>>()
        .and_then(|a| template.with_arrays(a))
        .ok_or_else(|| {
            invalid(format!(
                "checkpoint {} is corrupt: its weights do not fit the model",
                path.display()
            ))
        })
}

/// Arrays of `lens` from `arrays` when the counts and lengths match.
pub(crate) fn fit_lens(arrays: Vec<Vec<f32>>, lens: &[usize]) -> Option<Vec<Vec<f32>>> {
    let ok = arrays.len() == lens.len() && arrays.iter().zip(lens).all(|(a, &n)| a.len() == n);
    ok.then_some(arrays)
}

/// The history with every float as its bits: JSON floats need not read back
/// bit for bit, and a resumed run's history must equal a straight one's.
mod exact_history {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::train::metrics::EpochMetrics;

    type Row = (u32, [u64; 6]);

    pub fn serialize<S: Serializer>(h: &[EpochMetrics], s: S) -> Result<S::Ok, S::Error> {
        let rows: Vec<Row> = h
            .iter()
            .map(|m| {
                let f = [m.lr, m.train_loss, m.val_loss, m.val_mae, m.val_mse, m.secs];
                (m.epoch, f.map(f64::to_bits))
            })
            .collect();
        s.collect_seq(rows)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EpochMetrics>, D::Error> {
        let rows = Vec::<Row>::deserialize(d)?;
        Ok(rows
            .into_iter()
            .map(|(epoch, f)| {
                let [lr, train_loss, val_loss, val_mae, val_mse, secs] = f.map(f64::from_bits);
                EpochMetrics {
                    epoch,
                    lr,
                    train_loss,
                    val_loss,
                    val_mae,
                    val_mse,
                    secs,
                }
            })
            .collect())
    }
}
