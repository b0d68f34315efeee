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

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::engine::{Loaded, Mode};
use super::error::ApiError;

type Top = Result<Vec<(u32, f32)>, ApiError>;

struct Job {
    seq: u64,
    model: Arc<Loaded>,
    user: u32,
    mode: Mode,
    k: usize,
    tx: oneshot::Sender<Top>,
}

/// Most jobs scored in one pass: enough to share the read, small enough that
/// the request that runs the batch does not wait long for the others.
const MAX_BATCH: usize = 16;

/// Most jobs waiting; more are shed with 503. The concurrency limit bounds
/// the queue already; this keeps the work one request may do bounded
/// whatever that limit is set to.
pub(crate) const MAX_QUEUED: usize = 128;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    next_seq: u64,
}

/// The queue of known users' top-k jobs.
#[derive(Default)]
pub(crate) struct Batcher {
    queue: Mutex<Queue>,
}

impl Batcher {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves a plain queue behind; keep going.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Top-k of dense user `user` under `model`, scored in a batch with
    /// whatever other requests are ready.
    pub(crate) async fn top(&self, model: Arc<Loaded>, user: u32, mode: Mode, k: usize) -> Top {
        let (tx, mut rx) = oneshot::channel();
        let seq = {
            let mut q = self.lock();
            if q.jobs.len() >= MAX_QUEUED {
                return Err(ApiError::Unavailable(
                    "overloaded: the scoring queue is full, retry shortly".into(),
                ));
            }
            let seq = q.next_seq;
            q.next_seq += 1;
            q.jobs.push_back(Job {
                seq,
                model,
                user,
                mode,
                k,
                tx,
            });
            seq
        };
        tokio::task::yield_now().await;
        // Run batches while jobs queued no later than ours are waiting: the
        // queue is first in, first out, so that is at most MAX_QUEUED /
        // MAX_BATCH batches, and the worker is yielded between them so
        // health checks and other connections are not held up.
        while let Some(batch) = self.take_batch(seq) {
            Self::run(batch);
            if let Ok(top) = rx.try_recv() {
                return top;
            }
            tokio::task::yield_now().await;
        }
        // Our job is being scored by another request's batch.
        rx.await
            .map_err(|_| ApiError::Internal("the scoring batch was dropped".into()))?
    }

    /// Up to MAX_BATCH of the oldest jobs, if the oldest was queued no later
    /// than `upto`. Jobs whose request has gone (timeout, closed connection)
    /// are dropped unscored.
    fn take_batch(&self, upto: u64) -> Option<Vec<Job>> {
        let mut q = self.lock();
        q.jobs.retain(|j| !j.tx.is_closed());
        if q.jobs.front().is_none_or(|j| j.seq > upto) {
            return None;
        }
        let n = q.jobs.len().min(MAX_BATCH);
        Some(q.jobs.drain(..n).collect())
    }

    /// Scores a batch, grouped by model (a reload can leave jobs for two
    /// models in the queue).
    fn run(mut batch: Vec<Job>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::bundle::{write_synthetic, BundleSpec};

    #[tokio::test]
    async fn batched_requests_get_their_own_results() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_synthetic(dir.path(), &BundleSpec::default()).expect("bundle");
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
        assert!(b.lock().jobs.is_empty());
    }

    #[test]
    fn a_request_runs_only_the_batches_queued_before_it_and_skips_abandoned_jobs() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_synthetic(dir.path(), &BundleSpec::default()).expect("bundle");
        let m = Arc::new(Loaded::load(dir.path()).expect("load"));
        let b = Batcher::default();
        let mut rxs = Vec::new();
        for u in 0..40u32 {
            let (tx, rx) = oneshot::channel();
            let mut q = b.lock();
            let seq = q.next_seq;
            q.next_seq += 1;
            q.jobs.push_back(Job {
                seq,
                model: m.clone(),
                user: u,
                mode: Mode::Hybrid,
                k: 3,
                tx,
            });
            rxs.push(rx);
        }
        // Requests 20..40 went away (timeout, closed connection).
        rxs.truncate(20);
        // The request with job 5 runs the first batch (jobs 0-15), then stops.
        let first = b.take_batch(5).expect("a batch");
        assert_eq!(first.len(), MAX_BATCH);
        Batcher::run(first);
        assert!(b.take_batch(5).is_none());
        // The next batch holds only the 4 live jobs left (16-19).
        let second = b.take_batch(19).expect("a batch");
        assert_eq!(
            second.iter().map(|j| j.seq).collect::<Vec<_>>(),
            vec![16, 17, 18, 19]
        );
        Batcher::run(second);
        assert!(b.lock().jobs.is_empty());
        for mut rx in rxs {
            assert!(rx.try_recv().expect("scored").is_ok());
        }
    }
}
