//! Request batching for known users' recommendations.
//!
//! Scoring a user reads every item vector (17,000 × 128 f32 = 8.7 MB at MAL
//! scale); that read, not the arithmetic, is what a request waits on. Under
//! load many requests are ready at once, so each one queues its job and
//! yields once, letting the other requests its worker has ready queue
//! theirs; then whichever finds the queue non-empty scores everything in it
//! as one batch (one pass over the item vectors, see
//! `Engine::score_many`) and hands each request its top-k. Results are the
//! same, bit for bit, as scoring alone. An idle server pays one extra task
//! poll per request and no thread hand-off.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::engine::{Loaded, Mode};
use super::error::ApiError;

type Top = Result<Vec<(u32, f32)>, ApiError>;

struct Job {
    model: Arc<Loaded>,
    user: u32,
    mode: Mode,
    k: usize,
    tx: oneshot::Sender<Top>,
}

/// Most jobs scored in one pass: enough to share the read, small enough that
/// the request that runs the batch does not wait long for the others.
const MAX_BATCH: usize = 16;

/// The queue of known users' top-k jobs.
#[derive(Default)]
pub(crate) struct Batcher {
    queue: Mutex<Vec<Job>>,
}

impl Batcher {
    fn lock(&self) -> MutexGuard<'_, Vec<Job>> {
        // A panic while holding the lock leaves a plain Vec behind; keep going.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Top-k of dense user `user` under `model`, scored in a batch with
    /// whatever other requests are ready.
    pub(crate) async fn top(&self, model: Arc<Loaded>, user: u32, mode: Mode, k: usize) -> Top {
        let (tx, rx) = oneshot::channel();
        self.lock().push(Job {
            model,
            user,
            mode,
            k,
            tx,
        });
        tokio::task::yield_now().await;
        // Our job is either still queued (we run it, with the others) or
        // already taken by a request that is running it now.
        self.run_queued();
        rx.await
            .map_err(|_| ApiError::Internal("the scoring batch was dropped".into()))?
    }

    /// Scores every queued job, MAX_BATCH at a time, grouped by model (a
    /// reload can leave jobs for two models in the queue).
    fn run_queued(&self) {
        loop {
            let mut batch = {
                let mut q = self.lock();
                let n = q.len().min(MAX_BATCH);
                q.drain(..n).collect::<Vec<Job>>()
            };
            if batch.is_empty() {
                return;
            }
            while let Some(first) = batch.first() {
                let model = first.model.clone();
                let (same, rest): (Vec<Job>, Vec<Job>) = batch
                    .into_iter()
                    .partition(|j| Arc::ptr_eq(&j.model, &model));
                batch = rest;
                let jobs: Vec<(u32, Mode, usize)> =
                    same.iter().map(|j| (j.user, j.mode, j.k)).collect();
                for (job, top) in same.into_iter().zip(model.top_many(&jobs)) {
                    // The request may have gone (timeout, closed connection).
                    let _ = job.tx.send(top);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::synth::{write_synthetic, SynthSpec};

    #[tokio::test]
    async fn batched_requests_get_their_own_results() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_synthetic(dir.path(), &SynthSpec::default()).expect("bundle");
        let m = Arc::new(Loaded::load(dir.path()).expect("load"));
        let b = Arc::new(Batcher::default());
        let mut handles = Vec::new();
        for u in 0..20u32 {
            let (b, m) = (b.clone(), m.clone());
            let mode = [Mode::Hybrid, Mode::Collaborative, Mode::Content][u as usize % 3];
            handles.push(tokio::spawn(async move {
                (u, mode, b.top(m, u, mode, 5).await)
            }));
        }
        for h in handles {
            let (u, mode, got) = h.await.expect("task");
            let want = m.top_many(&[(u, mode, 5)]).pop().expect("one result");
            assert_eq!(
                got.expect("scored"),
                want.expect("scored"),
                "user {u} {mode:?}"
            );
        }
        assert!(b.lock().is_empty());
    }
}
