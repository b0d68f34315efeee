//! mf_bpr against planted data: it ranks held-out positives and is
//! deterministic.

use super::*;
use crate::config::OptimizerKind;
use crate::train::testutil::{strip_secs, Planted};

fn bpr_params(optimizer: OptimizerKind, lr: f64, weight_decay: f64) -> MfBprParams {
    MfBprParams {
        factors: 8,
        epochs: 20,
        batch_size: 128,
        lr,
        lr_schedule: None,
        reg: 1e-2,
        seed: 3,
        min_rating: 8.0,
        optimizer,
        weight_decay,
        lazy_adam: false,
    }
}

/// AUC of held-out positives against the items their user never rated.
fn held_out_auc(data: &Planted, m: &MfBprModel, min_rating: f32) -> f64 {
    let mut rated = vec![false; data.n_users * data.n_items];
    for t in [&data.train, &data.val] {
        for k in 0..t.0.len() {
            rated[t.0[k] as usize * data.n_items + t.1[k] as usize] = true;
        }
    }
    let (mut wins, mut total) = (0f64, 0f64);
    for k in 0..data.val.0.len() {
        if data.val.2[k] < min_rating {
            continue;
        }
        let (u, i) = (data.val.0[k], data.val.1[k]);
        for j in 0..data.n_items as u32 {
            if !rated[u as usize * data.n_items + j as usize] {
                let (a, b) = (m.score(u, i), m.score(u, j));
                wins += if a > b {
                    1.0
                } else if a == b {
                    0.5
                } else {
                    0.0
                };
                total += 1.0;
            }
        }
    }
    wins / total
}

#[test]
fn bpr_ranks_held_out_positives() {
    let data = Planted::new(200, 100, 0.5, 0.5, 11);
    let input = data.input();
    let p = bpr_params(OptimizerKind::KerasAdam, 0.01, 0.0);
    let m = train_mf_bpr(&input, &p, &mut |_| {}).unwrap();
    assert_eq!(m.history.len(), 20);

    assert!(m.history.last().unwrap().train_loss < m.history[0].train_loss);
    assert!(m.history.iter().all(|e| e.val_mae.is_nan()));
    let auc = held_out_auc(&data, &m, p.min_rating);
    eprintln!("BPR held-out AUC {auc:.3}");
    assert!(auc > 0.8, "AUC {auc}");
    // Same seed, same model.
    let again = train_mf_bpr(&input, &p, &mut |_| {}).unwrap();
    assert_eq!(strip_secs(&again.history), strip_secs(&m.history));
    assert_eq!(again.user_emb, m.user_emb);
}

#[test]
fn every_optimizer_learns_and_they_differ() {
    let data = Planted::new(200, 100, 0.5, 0.5, 11);
    let input = data.input();
    // SGD on a batch-mean loss moves a row by lr / batch per triple: here
    // it needs a rate 2,000 × Adam's (at 2 its AUC was 0.64).
    let runs = [
        (OptimizerKind::Adam, 0.01, 0.0),
        (OptimizerKind::Adamw, 0.01, 1e-3),
        (OptimizerKind::Sgd, 20.0, 0.0),
        (OptimizerKind::KerasAdam, 0.01, 1e-3),
    ];
    let mut tables = Vec::new();
    for (kind, lr, wd) in runs {
        let p = bpr_params(kind, lr, wd);
        let m = train_mf_bpr(&input, &p, &mut |_| {}).unwrap();
        let auc = held_out_auc(&data, &m, p.min_rating);
        eprintln!("{kind:?} (lr {lr}, decay {wd}): held-out AUC {auc:.3}");
        assert!(auc > 0.8, "{kind:?}: AUC {auc}");
        tables.push(m.item_emb);
    }
    for (k, t) in tables.iter().enumerate() {
        assert!(
            tables[k + 1..].iter().all(|u| u != t),
            "run {k} repeats another"
        );
    }
}

#[test]
fn follows_a_learning_rate_schedule() {
    use crate::config::{LrSchedule, LrScheduleKind};
    let data = Planted::new(60, 40, 0.5, 0.5, 2);
    let input = data.input();
    let schedule = LrSchedule {
        kind: LrScheduleKind::Step,
        start: 0.02,
        max: 0.02,
        min: 0.004,
        ramp_epochs: 0,
        decay: 0.5,
        step_epochs: 2,
    };
    let p = MfBprParams {
        factors: 4,
        epochs: 6,
        batch_size: 64,
        lr: 0.01,
        lr_schedule: Some(schedule),
        reg: 1e-3,
        seed: 1,
        min_rating: 8.0,
        optimizer: OptimizerKind::KerasAdam,
        weight_decay: 0.0,
        lazy_adam: false,
    };
    let m = train_mf_bpr(&input, &p, &mut |_| {}).unwrap();
    let lrs: Vec<f64> = m.history.iter().map(|e| e.lr).collect();
    // 0.02 halved every 2 epochs, floored at 0.004 (the constant lr unused).
    assert_eq!(lrs, [0.02, 0.02, 0.01, 0.01, 0.005, 0.005]);
}

#[test]
fn resumes_bit_for_bit_and_refuses_another_run() {
    use crate::config::{LrSchedule, LrScheduleKind};
    use crate::train::epochs::{EpochRun, Verdict};
    use crate::train::error::TrainError;
    use crate::train::testutil::crash_and_resume;
    let data = Planted::new(60, 40, 0.5, 0.5, 2);
    let input = data.input();
    // A schedule (its position must survive the resume) and lazy Adam
    // (whose untouched rows keep their moments across it).
    let p = MfBprParams {
        factors: 4,
        epochs: 8,
        batch_size: 64,
        lr: 0.01,
        lr_schedule: Some(LrSchedule {
            kind: LrScheduleKind::Step,
            start: 0.02,
            max: 0.02,
            min: 0.004,
            ramp_epochs: 0,
            decay: 0.5,
            step_epochs: 2,
        }),
        reg: 1e-3,
        seed: 1,
        min_rating: 8.0,
        optimizer: OptimizerKind::KerasAdam,
        weight_decay: 0.0,
        lazy_adam: true,
    };
    let train = |run: &EpochRun, w: crate::train::epochs::Watcher<'_, MfBprModel>| {
        train_mf_bpr_probed(&input, &p, run, w)
    };
    let kept = crash_and_resume("bpr-resume", &train, &|m| strip_secs(&m.history));
    // burn's AdamW: its moments, step count and decay survive the resume too.
    let w = MfBprParams {
        optimizer: OptimizerKind::Adamw,
        weight_decay: 0.01,
        lazy_adam: false,
        ..p.clone()
    };
    let train_w = |run: &EpochRun, wt: crate::train::epochs::Watcher<'_, MfBprModel>| {
        train_mf_bpr_probed(&input, &w, run, wt)
    };
    let kept_w = crash_and_resume("bpr-resume-adamw", &train_w, &|m| strip_secs(&m.history));
    let err = train_mf_bpr_probed(&input, &p, &kept_w, &mut |_, _| Verdict::default()).unwrap_err();
    assert!(matches!(err, TrainError::OtherRun { .. }), "{err}");
    if let Some(dir) = kept_w.checkpoint.as_ref().and_then(|c| c.parent()) {
        let _ = std::fs::remove_dir_all(dir);
    }

    let other = Planted::new(60, 40, 0.5, 0.5, 3);
    let err =
        train_mf_bpr_probed(&other.input(), &p, &kept, &mut |_, _| Verdict::default()).unwrap_err();
    assert!(matches!(err, TrainError::OtherRun { .. }), "{err}");
    assert!(err.to_string().contains("data"), "{err}");
    let q = MfBprParams {
        seed: 2,
        ..p.clone()
    };
    let err = train_mf_bpr_probed(&input, &q, &kept, &mut |_, _| Verdict::default()).unwrap_err();
    assert!(matches!(err, TrainError::OtherRun { .. }), "{err}");
    if let Some(dir) = kept.checkpoint.as_ref().and_then(|c| c.parent()) {
        let _ = std::fs::remove_dir_all(dir);
    }
}
