//! recommender_net against planted data, its determinism, early stopping,
//! resume, and its head against burn's own modules.

use std::fs;

use burn::module::{AutodiffModule, Param, RunningState};
use burn::nn::{BatchNorm, Linear};

use super::net::RecNet;
use super::resume::RECNET_CKPT;
use super::train::{bce_with_logits, train_recnet_inner};
use super::*;
use crate::train::error::TrainError;
use crate::train::host::{host_vec, tensor_from, EvalBackend, TrainBackend};
use crate::train::input::{TrainInput, Triplets};
use crate::train::testutil::{close, scratch_dir, strip_secs, Planted};

fn params(dim: usize, epochs: u32, batch: usize) -> RecNetParams {
    RecNetParams {
        dim,
        epochs,
        batch_size: batch,
        patience: None,
        seed: 7,
        optimizer: crate::config::OptimizerKind::KerasAdam,
        weight_decay: 0.0,
        checkpoint_dir: None,
    }
}

#[test]
fn recnet_beats_global_mean() {
    let data = Planted::new(200, 100, 0.5, 0.5, 1);
    let input = data.input();
    let mean = data.train.2.iter().map(|&r| r as f64).sum::<f64>() / data.train.2.len() as f64;
    let base_mse = data
        .val
        .2
        .iter()
        .map(|&r| (r as f64 - mean).powi(2))
        .sum::<f64>()
        / data.val.2.len() as f64;
    let m = train_recommender_net(&input, &params(16, 25, 256), &|_| 0.01, &mut |_| {}).unwrap();
    let best = &m.history[m.best_epoch as usize];
    eprintln!(
        "global-mean MSE {base_mse:.3}, recnet val MSE {:.3} (epoch {})",
        best.val_mse, m.best_epoch
    );
    assert!(
        best.val_mse < 0.6 * base_mse,
        "{} vs {base_mse}",
        best.val_mse
    );
    // The exported numbers reproduce the reported val MSE.
    let mse = (0..data.val.0.len())
        .map(|k| (m.predict(data.val.0[k], data.val.1[k], 1.0, 10.0) - data.val.2[k]) as f64)
        .map(|e| e * e)
        .sum::<f64>()
        / data.val.0.len() as f64;
    assert!(
        (mse - best.val_mse).abs() < 1e-4,
        "{mse} vs {}",
        best.val_mse
    );
}

#[test]
fn recnet_is_deterministic() {
    let data = Planted::new(60, 40, 0.5, 0.5, 2);
    let p = params(8, 3, 64);
    let a = train_recommender_net(&data.input(), &p, &|_| 0.01, &mut |_| {}).unwrap();
    let b = train_recommender_net(&data.input(), &p, &|_| 0.01, &mut |_| {}).unwrap();
    assert_eq!(strip_secs(&a.history), strip_secs(&b.history));
    assert_eq!(a.user_emb, b.user_emb);
    assert_eq!(a.item_emb, b.item_emb);
    let c = train_recommender_net(
        &data.input(),
        &RecNetParams { seed: 8, ..p },
        &|_| 0.01,
        &mut |_| {},
    )
    .unwrap();
    assert_ne!(a.user_emb, c.user_emb);
}

#[test]
fn recnet_early_stopping_keeps_best() {
    // Sparse data, big embeddings, high lr: val loss turns up quickly.
    let data = Planted::new(100, 80, 0.12, 1.5, 3);
    let p = RecNetParams {
        patience: Some(3),
        ..params(64, 60, 32)
    };
    let mut seen = Vec::new();
    let m =
        train_recommender_net(&data.input(), &p, &|_| 0.05, &mut |e| seen.push(e.clone())).unwrap();
    let h = &m.history;
    assert_eq!(&seen, h);
    assert!(h.len() < 60, "did not stop: {} epochs", h.len());
    let argmin = h
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.val_loss.total_cmp(&b.1.val_loss))
        .map(|x| x.0)
        .unwrap();
    assert_eq!(m.best_epoch as usize, argmin);
    assert_eq!(
        h.len(),
        argmin + 1 + 3,
        "stops `patience` epochs after the best"
    );
    // The returned weights are the best epoch's: they reproduce its val loss.
    let input = data.input();
    let loss = (0..input.val.len())
        .map(|k| {
            let pr = m.predict(input.val.users[k], input.val.items[k], 1.0, 10.0);
            let p01 = ((pr - 1.0) / 9.0) as f64;
            let y = ((input.val.ratings[k] - 1.0) / 9.0) as f64;
            -(y * p01.max(1e-12).ln() + (1.0 - y) * (1.0 - p01).max(1e-12).ln())
        })
        .sum::<f64>()
        / input.val.len() as f64;
    assert!(
        (loss - h[argmin].val_loss).abs() < 1e-4,
        "{loss} vs {}",
        h[argmin].val_loss
    );
    assert!(h.last().unwrap().val_loss > h[argmin].val_loss);
}

#[test]
fn recnet_resume_matches_straight_run() {
    let data = Planted::new(60, 40, 0.5, 0.5, 4);
    let lr = |e: u32| 0.01 * 0.8f64.powi(e as i32);
    let straight =
        train_recommender_net(&data.input(), &params(8, 4, 64), &lr, &mut |_| {}).unwrap();

    let dir = scratch_dir("resume");
    let p = RecNetParams {
        checkpoint_dir: Some(dir.clone()),
        ..params(8, 2, 64)
    };
    let first = train_recommender_net(&data.input(), &p, &lr, &mut |_| {}).unwrap();
    assert_eq!(first.history.len(), 2);
    assert!(dir.join(RECNET_CKPT).exists());
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".anirec-tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    let mut resumed_epochs = Vec::new();
    let p4 = RecNetParams {
        epochs: 4,
        ..p.clone()
    };
    let resumed = train_recommender_net(&data.input(), &p4, &lr, &mut |e| {
        resumed_epochs.push(e.epoch)
    })
    .unwrap();
    assert_eq!(resumed_epochs, vec![2, 3]);
    assert_eq!(strip_secs(&resumed.history), strip_secs(&straight.history));
    assert_eq!(resumed.user_emb, straight.user_emb);
    assert_eq!(resumed.item_emb, straight.item_emb);
    assert_eq!(resumed.best_epoch, straight.best_epoch);

    // A finished run resumes to the same answer without training.
    let again =
        train_recommender_net(&data.input(), &p4, &lr, &mut |_| panic!("trained again")).unwrap();
    assert_eq!(again, resumed);

    // Other data in the same dir is refused, not mixed in.
    let other = Planted::new(60, 40, 0.5, 0.5, 5);
    let err = train_recommender_net(&other.input(), &p4, &lr, &mut |_| {}).unwrap_err();
    assert!(matches!(err, TrainError::OtherRun { .. }), "{err}");
    // So is another optimizer.
    let adamw = RecNetParams {
        optimizer: crate::config::OptimizerKind::Adamw,
        ..p4.clone()
    };
    let err = train_recommender_net(&data.input(), &adamw, &lr, &mut |_| {}).unwrap_err();
    assert!(
        err.to_string().contains("optimizer KerasAdam vs Adamw"),
        "{err}"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn recnet_steps_with_any_optimizer_and_resumes_it() {
    use crate::config::OptimizerKind;
    let data = Planted::new(60, 40, 0.5, 0.5, 4);
    let lr = |_| 0.01;
    let with = |optimizer, weight_decay, epochs, dir: Option<std::path::PathBuf>| RecNetParams {
        optimizer,
        weight_decay,
        checkpoint_dir: dir,
        ..params(8, epochs, 64)
    };
    let keras = train_recommender_net(&data.input(), &params(8, 4, 64), &lr, &mut |_| {}).unwrap();
    for (kind, wd) in [
        (OptimizerKind::Adam, 0.0),
        (OptimizerKind::Adamw, 0.01),
        (OptimizerKind::Sgd, 0.0),
    ] {
        let straight =
            train_recommender_net(&data.input(), &with(kind, wd, 4, None), &lr, &mut |_| {})
                .unwrap();
        assert_ne!(
            straight.user_emb, keras.user_emb,
            "{kind:?} stepped like keras_adam"
        );
        let h = &straight.history;
        assert!(
            h[3].train_loss < h[0].train_loss,
            "{kind:?} did not learn: {h:?}"
        );
        // Two epochs, then two more from the checkpoint: the optimizer's
        // state survives the resume bit for bit.
        let dir = scratch_dir(&format!("optim-{kind:?}"));
        train_recommender_net(
            &data.input(),
            &with(kind, wd, 2, Some(dir.clone())),
            &lr,
            &mut |_| {},
        )
        .unwrap();
        let resumed = train_recommender_net(
            &data.input(),
            &with(kind, wd, 4, Some(dir.clone())),
            &lr,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(strip_secs(&resumed.history), strip_secs(h), "{kind:?}");
        assert_eq!(resumed.user_emb, straight.user_emb, "{kind:?}");
        let _ = fs::remove_dir_all(&dir);
    }
}

#[test]
fn corrupt_checkpoint_is_an_error() {
    let data = Planted::new(30, 20, 0.5, 0.5, 6);
    let dir = scratch_dir("corrupt");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(RECNET_CKPT), b"ANIREC-CKPT\n\x05\x00").unwrap();
    let p = RecNetParams {
        checkpoint_dir: Some(dir.clone()),
        ..params(4, 1, 32)
    };
    let err = train_recommender_net(&data.input(), &p, &|_| 0.01, &mut |_| {}).unwrap_err();
    assert!(matches!(err, TrainError::Invalid(_)), "{err}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn predict_matches_burn_eval_forward() {
    let data = Planted::new(50, 30, 0.5, 0.5, 7);
    let input = data.input();
    let (net, m, _) =
        train_recnet_inner(&input, &params(8, 3, 64), &|_| 0.02, &mut |_| {}, None).unwrap();
    let z = host_vec(net.forward(input.val.users, input.val.items));
    let mut worst = 0f32;
    for (k, &zk) in z.iter().enumerate() {
        let burn_pred = 1.0 / (1.0 + (-zk).exp()) * 9.0 + 1.0;
        let cpu = m.predict(input.val.users[k], input.val.items[k], 1.0, 10.0);
        worst = worst.max((burn_pred - cpu).abs());
    }
    assert_eq!(z.len(), input.val.len());
    assert!(worst < 1e-5, "max |burn - cpu| = {worst}");
    // BatchNorm statistics moved away from their initial values.
    assert!(m.bn_mean != 0.0 && m.bn_var != 1.0);
    assert!(m.predict(50, 0, 1.0, 10.0).is_nan());
}

/// `RecNet::head` (1-D) against burn's Linear + BatchNorm on [batch, 1]:
/// outputs, parameter gradients and running statistics, in train mode,
/// and outputs in eval mode.
#[test]
fn head_matches_burn_modules() {
    let device = Default::default();
    let n = 50;
    let x: Vec<f32> = (0..n)
        .map(|k| ((k * 37 % 11) as f32 / 5.0 - 1.0) * 0.9)
        .collect();
    let y: Vec<f32> = (0..n).map(|k| (k as f32 * 0.3).sin().abs()).collect();
    let net = || {
        let m = RecNet::<TrainBackend>::init(3, 3, 2, 5, &device);
        // A non-trivial head: weight, bias, γ, β and running stats away from defaults.
        RecNet {
            dense: Linear {
                weight: Param::from_tensor(tensor_from(vec![-1.7], [1, 1], &device)),
                bias: Some(Param::from_tensor(tensor_from(vec![0.3], [1], &device))),
            },
            bn: BatchNorm {
                gamma: Param::from_tensor(tensor_from(vec![1.4], [1], &device)),
                beta: Param::from_tensor(tensor_from(vec![-0.2], [1], &device)),
                running_mean: RunningState::new(tensor_from(vec![0.1], [1], &device)),
                running_var: RunningState::new(tensor_from(vec![2.0], [1], &device)),
                ..m.bn
            },
            ..m
        }
    };
    let (a, b) = (net(), net());
    let ours = a.head(tensor_from(x.clone(), [n], &device));
    let burn_out =
        b.bn.forward(
            b.dense
                .forward(tensor_from::<TrainBackend, 2>(x.clone(), [n, 1], &device)),
        )
        .reshape([n]);
    assert!(close(
        &host_vec(ours.clone()),
        &host_vec(burn_out.clone()),
        1e-5
    ));
    let yt = || tensor_from::<TrainBackend, 1>(y.clone(), [n], &device);
    let ga = bce_with_logits(ours, yt()).backward();
    let gb = bce_with_logits(burn_out, yt()).backward();
    let grads = |m: &RecNet<TrainBackend>,
                 g: &<TrainBackend as burn::tensor::backend::AutodiffBackend>::Gradients|
     -> Vec<f32> {
        let mut v = host_vec(m.dense.weight.val().grad(g).unwrap());
        v.extend(host_vec(
            m.dense.bias.as_ref().unwrap().val().grad(g).unwrap(),
        ));
        v.extend(host_vec(m.bn.gamma.val().grad(g).unwrap()));
        v.extend(host_vec(m.bn.beta.val().grad(g).unwrap()));
        v
    };
    assert!(
        close(&grads(&a, &ga), &grads(&b, &gb), 1e-5),
        "{:?} vs {:?}",
        grads(&a, &ga),
        grads(&b, &gb)
    );
    let stats = |m: &RecNet<TrainBackend>| {
        vec![
            host_vec(m.bn.running_mean.value())[0],
            host_vec(m.bn.running_var.value())[0],
        ]
    };
    assert!(close(&stats(&a), &stats(&b), 1e-5));
    // Eval mode: running statistics.
    let (ea, eb) = (a.valid(), b.valid());
    let ours = ea.head(tensor_from(x.clone(), [n], &device));
    let burn_out = eb
        .bn
        .forward(
            eb.dense
                .forward(tensor_from::<EvalBackend, 2>(x, [n, 1], &device)),
        )
        .reshape([n]);
    assert!(close(&host_vec(ours), &host_vec(burn_out), 1e-5));
}

#[test]
fn bad_input_is_rejected() {
    let (u, i, r) = (vec![0u32, 5], vec![0u32, 0], vec![5.0f32, 6.0]);
    let input = TrainInput {
        n_users: 3,
        n_items: 2,
        train: Triplets {
            users: &u,
            items: &i,
            ratings: &r,
        },
        val: Triplets {
            users: &[],
            items: &[],
            ratings: &[],
        },
        rating_min: 1.0,
        rating_max: 10.0,
    };
    let e = train_recommender_net(&input, &params(4, 1, 8), &|_| 0.01, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("user 5"), "{e}");
    let ok = TrainInput {
        n_users: 6,
        ..input
    };
    assert!(train_recommender_net(&ok, &params(4, 1, 8), &|_| f64::NAN, &mut |_| {}).is_err());
    let m = train_recommender_net(&ok, &params(4, 2, 8), &|_| 0.01, &mut |_| {}).unwrap();
    assert!(m.history[0].val_loss.is_nan() && m.history[0].train_loss.is_finite());
}

/// Early stopping on a watched ranking value (the glue's `val_ndcg@10`)
/// survives a crash: best epoch, its weights and the patience count come
/// back from the checkpoint, as for the other learned models.
#[test]
fn ranking_stop_resumes_bit_for_bit() {
    use crate::train::epochs::{EpochRun, Trained, Watcher};
    use crate::train::testutil::crash_and_resume;
    let data = Planted::new(60, 40, 0.5, 0.5, 4);
    let input = data.input();
    let lr = |e: u32| 0.01 * 0.8f64.powi(e as i32);
    let train = |run: &EpochRun, w: Watcher<'_, RecNetModel>| {
        let dir = run.checkpoint.as_deref().and_then(std::path::Path::parent);
        let p = RecNetParams {
            checkpoint_dir: dir.map(std::path::Path::to_path_buf),
            ..params(8, 8, 64)
        };
        let m = train_recommender_net_probed(&input, &p, &lr, run.early_stop, w)?;
        Ok(Trained {
            best_epoch: Some(m.best_epoch),
            model: m,
        })
    };
    let kept = crash_and_resume("recommender_net", &train, &|m| strip_secs(&m.history));
    if let Some(dir) = kept.checkpoint.as_ref().and_then(|c| c.parent()) {
        let _ = fs::remove_dir_all(dir);
    }
}
