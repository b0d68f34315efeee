//! The mult_vae training loop: shuffled users in mini-batches through one of
//! burn's optimizers, β annealed per step, and the held-out likelihood of
//! the validation rows after each epoch.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;

use super::batch::{encoder_input, targets, Positives};
use super::net::{normal, MultVaeNet};
use super::resume::{self, VaeOptim};
use super::{MultVae, MultVaeModel};
use crate::config::LrSchedule;
use crate::train::epochs::{EpochRun, Ledger, Trained, Watcher};
use crate::train::error::{invalid, TrainError};
use crate::train::host::{host_vec, tensor_from, EvalBackend, TrainBackend};
use crate::train::input::TrainInput;
use crate::train::metrics::{epoch_bar, EpochMetrics};
use crate::train::optim::AnyOptim;
use crate::train::rng::{epoch_order, stream_rng, STREAM_INIT, STREAM_NEG};

fn check(p: &MultVae) -> Result<(), TrainError> {
    if p.hidden == 0 || p.latent == 0 || p.batch_size == 0 {
        return Err(invalid(
            "mult_vae: hidden, latent and batch_size must be > 0",
        ));
    }
    if !(p.lr.is_finite() && p.lr > 0.0) {
        return Err(invalid(format!("mult_vae: lr = {}; need finite > 0", p.lr)));
    }
    let beta_ok = p.beta_max.is_finite() && p.beta_max >= 0.0;
    if !((0.0..1.0).contains(&p.dropout) && beta_ok) {
        return Err(invalid(
            "mult_vae: dropout must be in [0, 1) and beta_max >= 0",
        ));
    }
    Ok(())
}

/// Trains Mult-VAE on the positives of `input.train` (every draw from
/// `seed`'s streams), kept as `run` says (a checkpoint after every epoch,
/// resumed from at the next epoch when it is there; early stopping on what
/// `watcher` watches); `watcher` sees each epoch's metrics and weights (the
/// epochs this call runs) and may stop training. Returns the best epoch's
/// model when early stopping chose one, else the last's, with the history
/// of every epoch.
pub fn train_mult_vae(
    input: &TrainInput,
    p: &MultVae,
    seed: u64,
    run: &EpochRun,
    watcher: Watcher<'_, MultVaeModel>,
) -> Result<Trained<MultVaeModel>, TrainError> {
    input.check()?;
    check(p)?;
    let device = Default::default();
    let (nu, ni) = (input.n_users, input.n_items);
    let fit = Positives::new(&input.train, nu, p.min_rating);
    let val = Positives::new(&input.val, nu, p.min_rating);
    let users = fit.users();
    if users.is_empty() {
        return Err(invalid(format!(
            "mult_vae: no train rows rated >= {} (min_rating)",
            p.min_rating
        )));
    }
    let mut rng = stream_rng(seed, STREAM_INIT, 0);
    let mut model = MultVaeNet::<TrainBackend>::init(ni, p.hidden, p.latent, &mut rng, &device);
    let mut optim = AnyOptim::new(p.optimizer, p.weight_decay, false);
    let template = export(&model.valid());
    let setup = resume::setup(p, seed)?;
    let (mut ledger, state) = Ledger::open("mult_vae", &setup, input, run, &template)?;
    if let (Some(blobs), Some(path)) = (state, run.checkpoint.as_deref()) {
        (model, optim) = resume::load_state(path, blobs, model, optim, &device)?;
    }
    let batches = Batches {
        fit: &fit,
        users: &users,
        p,
        seed,
        n_items: ni,
    };
    while let Some(epoch) = ledger.next_epoch(p.epochs) {
        let t0 = Instant::now();
        let lr = LrSchedule::rate(p.lr_schedule.as_ref(), p.lr, epoch, p.epochs);
        let (next, train_loss) = batches.run_epoch(model, &mut optim, epoch, lr);
        model = next;
        let eval = model.valid();
        let val_loss = held_out_nll(&eval, &fit, &val, ni, p.batch_size);
        let exported = export(&eval);
        let secs = t0.elapsed().as_secs_f64();
        let m = EpochMetrics::ranking(epoch, lr, train_loss, val_loss, secs);
        ledger.close_epoch(m, &exported, watcher);
        ledger.save(|| resume::state_blobs(&model, &optim))?;
    }
    let (mut trained, history) = ledger.finish(export(&model.valid()));
    trained.model.history = history;
    Ok(trained)
}

/// What one epoch's mini-batches are made of.
struct Batches<'a> {
    fit: &'a Positives,
    users: &'a [u32],
    p: &'a MultVae,
    seed: u64,
    n_items: usize,
}

impl Batches<'_> {
    /// One pass over the users in epoch `epoch`'s shuffled order at
    /// learning rate `lr`, β annealed per step from the epoch's first step
    /// (so a resumed epoch anneals as a straight one). Returns the model and
    /// the mean loss per user.
    fn run_epoch(
        &self,
        mut model: MultVaeNet<TrainBackend>,
        optim: &mut VaeOptim,
        epoch: u32,
        lr: f64,
    ) -> (MultVaeNet<TrainBackend>, f64) {
        let (p, ni, device) = (self.p, self.n_items, Default::default());
        let steps_per_epoch = self.users.len().div_ceil(p.batch_size);
        let anneal_steps = (u64::from(p.anneal_epochs) * steps_per_epoch as u64).max(1);
        let step0 = u64::from(epoch) * steps_per_epoch as u64;
        let beta = |step: u64| (step as f64 / anneal_steps as f64).min(p.beta_max);
        let mut rng = stream_rng(self.seed, STREAM_NEG, u64::from(epoch));
        let order = epoch_order(self.users.len(), self.seed, epoch);
        let (mut loss_sum, mut n) = (0f64, 0usize);
        let bar = epoch_bar("mult_vae", epoch, p.epochs, steps_per_epoch, "batches");
        for (k, chunk) in order.chunks(p.batch_size).enumerate() {
            bar.inc(1);
            let batch: Vec<u32> = chunk.iter().map(|&r| self.users[r as usize]).collect();
            let b = batch.len();
            let x = encoder_input(self.fit, &batch, ni, Some((p.dropout, &mut rng)));
            let y = targets(self.fit, &batch, ni);
            let eps = normal(b, p.latent, &mut rng);
            let l = model.losses(&x, &y, Some(tensor_from(eps, [b, p.latent], &device)));
            let loss = l.nll + l.kl.mul_scalar(beta(step0 + k as u64));
            loss_sum += f64::from(loss.clone().into_scalar()) * b as f64;
            n += b;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
        }
        (model, loss_sum / n.max(1) as f64)
    }
}

/// Mean over validation users of −Σ log p(val item | fit positives), the
/// mean decoded (no dropout, no sample). NaN when no user has both.
fn held_out_nll(
    m: &MultVaeNet<EvalBackend>,
    fit: &Positives,
    val: &Positives,
    n_items: usize,
    batch_size: usize,
) -> f64 {
    let users: Vec<u32> = val
        .users()
        .into_iter()
        .filter(|&u| !fit.row(u).is_empty())
        .collect();
    if users.is_empty() {
        return f64::NAN;
    }
    let mut sum = 0f64;
    for batch in users.chunks(batch_size) {
        let b = batch.len();
        let x = encoder_input(fit, batch, n_items, None);
        let y = targets(val, batch, n_items);
        let l = m.losses(&x, &y, None);
        sum += f64::from(l.nll.into_scalar()) * b as f64;
    }
    sum / users.len() as f64
}

fn pair<B: Backend>(l: &burn::nn::Linear<B>) -> (Vec<f32>, Vec<f32>) {
    let b = l
        .bias
        .as_ref()
        .map(|b| host_vec(b.val()))
        .unwrap_or_default();
    (host_vec(l.weight.val()), b)
}

fn export(m: &MultVaeNet<EvalBackend>) -> MultVaeModel {
    let [hidden, two_l] = m.enc_out.weight.dims();
    let l = two_l / 2;
    let mu_w = host_vec(m.enc_out.weight.val().slice([0..hidden, 0..l]));
    let mu_b = m
        .enc_out
        .bias
        .as_ref()
        .map(|b| host_vec(b.val().narrow(0, 0, l)))
        .unwrap_or_default();
    let out_w = host_vec(m.dec_out.weight.val().transpose());
    let out_b = m
        .dec_out
        .bias
        .as_ref()
        .map(|b| host_vec(b.val()))
        .unwrap_or_default();
    MultVaeModel {
        enc: pair(&m.enc),
        mu: (mu_w, mu_b),
        dec: pair(&m.dec),
        out: (out_w, out_b),
        history: Vec::new(),
    }
}
