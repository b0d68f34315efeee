use super::*;
use crate::train::epochs::{EpochRun, Verdict};
use crate::train::input::{TrainInput, Triplets};

/// Two taste groups: users 0–9 like items 0–4, users 10–19 like 5–9; each
/// user's last liked item is held out for validation.
/// (users, items, ratings) of the train rows, then of the validation rows.
type Rows = (Vec<u32>, Vec<u32>, Vec<f32>, Vec<u32>, Vec<u32>, Vec<f32>);

fn groups() -> Rows {
    let (mut tu, mut ti, mut tr, mut vu, mut vi, mut vr) = Default::default();
    for u in 0..20u32 {
        let base = if u < 10 { 0 } else { 5 };
        for k in 0..5u32 {
            let (us, is, rs): (&mut Vec<u32>, &mut Vec<u32>, &mut Vec<f32>) = if k == u % 5 {
                (&mut vu, &mut vi, &mut vr)
            } else {
                (&mut tu, &mut ti, &mut tr)
            };
            us.push(u);
            is.push(base + k);
            rs.push(8.0);
        }
    }
    (tu, ti, tr, vu, vi, vr)
}

fn params() -> MultVae {
    MultVae {
        hidden: 16,
        latent: 4,
        epochs: 60,
        batch_size: 8,
        lr: 0.01,
        lr_schedule: None,
        optimizer: crate::config::OptimizerKind::Adam,
        weight_decay: 0.0,
        dropout: 0.2,
        beta_max: 0.2,
        anneal_epochs: 20,
        min_rating: 7.0,
    }
}

#[test]
fn learns_the_groups_and_is_reproducible() {
    let (tu, ti, tr, vu, vi, vr) = groups();
    let input = TrainInput {
        n_users: 20,
        n_items: 10,
        train: Triplets {
            users: &tu,
            items: &ti,
            ratings: &tr,
        },
        val: Triplets {
            users: &vu,
            items: &vi,
            ratings: &vr,
        },
        rating_min: 1.0,
        rating_max: 10.0,
    };
    let run = || {
        train_mult_vae(&input, &params(), 5, &EpochRun::default(), &mut |_, _| {
            Verdict::default()
        })
        .unwrap()
        .model
    };
    let m = run();
    assert_eq!(m.history.len(), 60);
    let (first, last) = (&m.history[0], &m.history[59]);
    assert!(
        last.val_loss < first.val_loss,
        "held-out NLL {} → {}",
        first.val_loss,
        last.val_loss
    );
    // The held-out item of user 0 (item 0) outranks every item of the
    // other group when decoded from the user's train positives.
    let ae = crate::model::fit::learned::autoencoder_part(&m, 10, 16, 4, 7.0);
    let mut out = vec![0f32; 10];
    ae.score(&[1, 2, 3, 4], &[8.0; 4], &mut out);
    assert!((5..10).all(|j| out[0] > out[j]), "{out:?}");
    let again = run();
    assert!(
        again.enc == m.enc && again.mu == m.mu && again.dec == m.dec && again.out == m.out,
        "same seed, same weights"
    );
    let losses = |m: &MultVaeModel| -> Vec<(f64, f64)> {
        m.history
            .iter()
            .map(|e| (e.train_loss, e.val_loss))
            .collect()
    };
    assert_eq!(losses(&again), losses(&m));
}

#[test]
fn resumes_bit_for_bit_and_refuses_another_run() {
    use crate::config::OptimizerKind;
    use crate::train::epochs::Watcher;
    use crate::train::error::TrainError;
    use crate::train::testutil::{crash_and_resume, strip_secs};
    let (tu, ti, tr, vu, vi, vr) = groups();
    let input = TrainInput {
        n_users: 20,
        n_items: 10,
        train: Triplets {
            users: &tu,
            items: &ti,
            ratings: &tr,
        },
        val: Triplets {
            users: &vu,
            items: &vi,
            ratings: &vr,
        },
        rating_min: 1.0,
        rating_max: 10.0,
    };
    // β still annealing at the crash; Adam's and AdamW's moments and step
    // counts must come back from the checkpoint.
    for optimizer in [OptimizerKind::Adam, OptimizerKind::Adamw] {
        let p = MultVae {
            epochs: 8,
            optimizer,
            weight_decay: 0.01,
            ..params()
        };
        let train =
            |run: &EpochRun, w: Watcher<'_, MultVaeModel>| train_mult_vae(&input, &p, 5, run, w);
        let name = format!("vae-resume-{optimizer:?}");
        let kept = crash_and_resume(&name, &train, &|m| strip_secs(&m.history));
        let err = train_mult_vae(&input, &p, 6, &kept, &mut |_, _| Verdict::default()).unwrap_err();
        assert!(matches!(err, TrainError::OtherRun { .. }), "{err}");
        let fewer = &tu[..tu.len() - 1];
        let other = TrainInput {
            train: Triplets {
                users: fewer,
                items: &ti[..fewer.len()],
                ratings: &tr[..fewer.len()],
            },
            ..input
        };
        let err = train_mult_vae(&other, &p, 5, &kept, &mut |_, _| Verdict::default()).unwrap_err();
        assert!(matches!(err, TrainError::OtherRun { .. }), "{err}");
        if let Some(dir) = kept.checkpoint.as_ref().and_then(|c| c.parent()) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
