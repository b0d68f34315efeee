//! mf_bpr against planted data: it ranks held-out positives and is
//! deterministic.

use super::*;
use crate::train::testutil::{strip_secs, Planted};

#[test]
fn bpr_ranks_held_out_positives() {
    let data = Planted::new(200, 100, 0.5, 0.5, 11);
    let input = data.input();
    let p = MfBprParams {
        factors: 8,
        epochs: 20,
        batch_size: 128,
        lr: 0.01,
        lr_schedule: None,
        reg: 1e-2,
        seed: 3,
        min_rating: 8.0,
        lazy_adam: false,
    };
    let m = train_mf_bpr(&input, &p, &mut |_| {}).unwrap();
    assert_eq!(m.history.len(), 20);

    assert!(m.history.last().unwrap().train_loss < m.history[0].train_loss);
    assert!(m.history.iter().all(|e| e.val_mae.is_nan()));
    // AUC of held-out positives vs items the user never rated.
    let mut rated = vec![false; data.n_users * data.n_items];
    for t in [&data.train, &data.val] {
        for k in 0..t.0.len() {
            rated[t.0[k] as usize * data.n_items + t.1[k] as usize] = true;
        }
    }
    let (mut wins, mut total) = (0f64, 0f64);
    for k in 0..data.val.0.len() {
        if data.val.2[k] < p.min_rating {
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
    let auc = wins / total;
    eprintln!("BPR held-out AUC {auc:.3}");
    assert!(auc > 0.8, "AUC {auc}");
    // Same seed, same model.
    let again = train_mf_bpr(&input, &p, &mut |_| {}).unwrap();
    assert_eq!(strip_secs(&again.history), strip_secs(&m.history));
    assert_eq!(again.user_emb, m.user_emb);
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
        lazy_adam: true,
    };
    let train = |run: &EpochRun, w: crate::train::epochs::Watcher<'_, MfBprModel>| {
        train_mf_bpr_probed(&input, &p, run, w)
    };
    let kept = crash_and_resume("bpr-resume", &train, &|m| strip_secs(&m.history));

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
