//! The optimizers behind one value, chosen by a model's `optimizer` key:
//! burn's stock Adam, AdamW and SGD, and the Keras-flavoured Adam of
//! [`KerasAdam`]. A model written on burn's `Module` (fused kernels
//! included) gets every one of them without an optimizer of its own.

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{
    Adam, AdamConfig, AdamW, AdamWConfig, GradientsParams, Optimizer, Sgd, SgdConfig,
};
use burn::tensor::backend::AutodiffBackend;

use burn::record::{Recorder, RecorderError};

use super::adam::KerasAdam;
use super::checkpoint::Rec;
use super::host::Host;
use crate::config::OptimizerKind;

/// One of the optimizers for module `M`.
pub(crate) enum AnyOptim<M: AutodiffModule<B>, B: AutodiffBackend>
where
    B::InnerBackend: Host,
{
    Adam(OptimizerAdaptor<Adam, M, B>),
    AdamW(OptimizerAdaptor<AdamW, M, B>),
    Sgd(OptimizerAdaptor<Sgd<B::InnerBackend>, M, B>),
    Keras(OptimizerAdaptor<KerasAdam, M, B>),
}

impl<M: AutodiffModule<B>, B: AutodiffBackend> AnyOptim<M, B>
where
    B::InnerBackend: Host,
{
    /// `weight_decay` 0 means none (AdamW's default decay is not applied);
    /// `lazy` is [`KerasAdam`]'s (the others ignore it).
    pub(crate) fn new(kind: OptimizerKind, weight_decay: f64, lazy: bool) -> Self {
        let l2 = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32));
        match kind {
            OptimizerKind::KerasAdam => Self::Keras(OptimizerAdaptor::from(KerasAdam {
                lazy,
                weight_decay: weight_decay as f32,
                ..KerasAdam::default()
            })),
            OptimizerKind::Adam => Self::Adam(AdamConfig::new().with_weight_decay(l2).init()),
            OptimizerKind::Adamw => Self::AdamW(
                AdamWConfig::new()
                    .with_weight_decay(weight_decay as f32)
                    .init(),
            ),
            OptimizerKind::Sgd => Self::Sgd(SgdConfig::new().with_weight_decay(l2).init()),
        }
    }

    /// One update of `module` with `grads` at learning rate `lr`.
    pub(crate) fn step(&mut self, lr: f64, module: M, grads: GradientsParams) -> M {
        match self {
            Self::Adam(o) => o.step(lr, module, grads),
            Self::AdamW(o) => o.step(lr, module, grads),
            Self::Sgd(o) => o.step(lr, module, grads),
            Self::Keras(o) => o.step(lr, module, grads),
        }
    }

    /// The optimizer's state (moments and step counts; nothing for plain
    /// SGD) as a checkpoint blob.
    pub(crate) fn record_bytes(&self) -> Result<Vec<u8>, RecorderError> {
        let rec = Rec::default();
        match self {
            Self::Adam(o) => rec.record(o.to_record(), ()),
            Self::AdamW(o) => rec.record(o.to_record(), ()),
            Self::Sgd(o) => rec.record(o.to_record(), ()),
            Self::Keras(o) => rec.record(o.to_record(), ()),
        }
    }

    /// This optimizer continued from a blob of [`record_bytes`](Self::record_bytes).
    pub(crate) fn load_bytes(
        self,
        bytes: Vec<u8>,
        device: &B::Device,
    ) -> Result<Self, RecorderError> {
        let rec = Rec::default();
        Ok(match self {
            Self::Adam(o) => Self::Adam(o.load_record(rec.load(bytes, device)?)),
            Self::AdamW(o) => Self::AdamW(o.load_record(rec.load(bytes, device)?)),
            Self::Sgd(o) => Self::Sgd(o.load_record(rec.load(bytes, device)?)),
            Self::Keras(o) => Self::Keras(o.load_record(rec.load(bytes, device)?)),
        })
    }
}
