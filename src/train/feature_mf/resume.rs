//! Resuming feature_mf: its whole state is the model's arrays (embeddings,
//! biases and AdaGrad's accumulators), checkpointed as they are; what
//! shapes a run is its parameters and the feature matrix.

use serde::Serialize;

use super::{FeatureMfModel, FeatureMfParams};
use crate::config::LrSchedule;
use crate::sparse::Csr;
use crate::train::epochs::{fit_lens, Snapshot};
use crate::util::hash::splitmix64;

/// Everything in [`FeatureMfParams`] that shapes a run, and the feature
/// matrix's fingerprint (other `synopsis_terms` give other features): a
/// checkpoint written with other values is refused.
#[derive(Serialize)]
pub(super) struct Setup<'a> {
    factors: usize,
    /// Only with a schedule, whose rates depend on it; else a run may be
    /// extended, as recommender_net's (under `run --resume` the saved
    /// config fixes it anyway).
    epochs: Option<u32>,
    lr: f64,
    lr_schedule: Option<&'a LrSchedule>,
    max_sampled: u32,
    reg: f64,
    min_rating: f32,
    /// Left out when off, so checkpoints from before the key still resume.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    user_features: bool,
    seed: u64,
    features: String,
}

impl<'a> Setup<'a> {
    pub(super) fn of(p: &'a FeatureMfParams, features: &Csr) -> Self {
        Setup {
            factors: p.factors,
            epochs: p.lr_schedule.as_ref().map(|_| p.epochs),
            lr: p.lr,
            lr_schedule: p.lr_schedule.as_ref(),
            max_sampled: p.max_sampled,
            reg: p.reg,
            min_rating: p.min_rating,
            user_features: p.user_features,
            seed: p.seed,
            features: format!("{:016x}", fingerprint(features)),
        }
    }
}

/// A change detector over the feature matrix's shape and entries.
fn fingerprint(f: &Csr) -> u64 {
    let mut h = splitmix64(f.n_rows as u64 ^ (f.n_cols as u64).rotate_left(32));
    let mut word = |w: u64| h = splitmix64(h ^ w);
    f.indptr.iter().for_each(|&x| word(x as u64));
    f.indices.iter().for_each(|&x| word(u64::from(x)));
    f.values.iter().for_each(|&x| word(u64::from(x.to_bits())));
    h
}

impl Snapshot for FeatureMfModel {
    fn arrays(&self) -> Vec<&[f32]> {
        vec![
            &self.user_emb,
            &self.feat_emb,
            &self.feat_bias,
            &self.user_acc,
            &self.feat_acc,
            &self.bias_acc,
        ]
    }

    fn with_arrays(&self, arrays: Vec<Vec<f32>>) -> Option<Self> {
        let lens: Vec<usize> = self.arrays().iter().map(|a| a.len()).collect();
        let [user_emb, feat_emb, feat_bias, user_acc, feat_acc, bias_acc]: [Vec<f32>; 6] =
            fit_lens(arrays, &lens)?.try_into().ok()?;
        Some(FeatureMfModel {
            factors: self.factors,
            user_emb,
            feat_emb,
            feat_bias,
            user_acc,
            feat_acc,
            bias_acc,
            user_rows: self.user_rows.clone(),
            history: Vec::new(),
        })
    }
}
