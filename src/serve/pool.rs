//! The bounded pool for scoring whose cost the client controls (a body of up
//! to 1,000 liked titles, similar anime, title search): it runs on tokio's
//! blocking threads, never more than `threads` at once, with at most `queue`
//! more requests waiting for a thread; beyond that, 503 at once.
//!
//! Both permits move into the blocking closure, so a request that times out
//! or is cancelled while its work runs still holds its place until the work
//! ends: the number of scoring jobs alive never exceeds the bound. Work whose
//! request went away before a thread picked it up is skipped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::error::ApiError;

/// Bounded blocking work.
pub(crate) struct Pool {
    /// One permit per running job.
    run: Arc<Semaphore>,
    /// One permit per job running or waiting.
    admitted: Arc<Semaphore>,
    threads: usize,
}

/// Marks the work abandoned when the request's future is dropped first.
struct Abandon(Option<Arc<AtomicBool>>);

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some(gone) = self.0.take() {
            gone.store(true, Ordering::Relaxed);
        }
    }
}

impl Pool {
    /// `threads` jobs at once (at least 1), `queue` more waiting.
    pub(crate) fn new(threads: usize, queue: usize) -> Self {
        let threads = threads.clamp(1, 1024);
        let queue = queue.min(Semaphore::MAX_PERMITS - threads);
        Self {
            run: Arc::new(Semaphore::new(threads)),
            admitted: Arc::new(Semaphore::new(threads + queue)),
            threads,
        }
    }

    /// Jobs running now.
    pub(crate) fn running(&self) -> usize {
        self.threads - self.run.available_permits()
    }

    /// Runs `f` on a blocking thread within the bounds.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let admitted = self.admitted.clone().try_acquire_owned().map_err(|_| {
            ApiError::Unavailable("overloaded: the scoring queue is full, retry shortly".into())
        })?;
        // Waiting here is cancel-safe: a request dropped while it waits
        // gives its place back and no work starts.
        let running = self
            .run
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Unavailable("shutting down".into()))?;
        let gone = Arc::new(AtomicBool::new(false));
        let mut abandon = Abandon(Some(gone.clone()));
        let handle = tokio::task::spawn_blocking(move || {
            let _permits = (admitted, running);
            if gone.load(Ordering::Relaxed) {
                return Err(ApiError::Unavailable("request cancelled".into()));
            }
            f()
        });
        let r = handle
            .await
            .map_err(|e| ApiError::Internal(format!("scoring task failed: {e}")))?;
        abandon.0 = None;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_the_bound_and_sheds_beyond_the_queue() {
        let pool = Arc::new(Pool::new(2, 3));
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..20 {
            let (pool, live, peak) = (pool.clone(), live.clone(), peak.clone());
            handles.push(tokio::spawn(async move {
                pool.run(move || {
                    let n = live.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(30));
                    live.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                })
                .await
            }));
        }
        let mut ok = 0;
        let mut shed = 0;
        for h in handles {
            match h.await.expect("task") {
                Ok(()) => ok += 1,
                Err(ApiError::Unavailable(_)) => shed += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert_eq!(ok + shed, 20);
        assert!(ok >= 5 && shed >= 1, "ok {ok}, shed {shed}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_requests_keep_their_permit_until_the_work_ends() {
        let pool = Arc::new(Pool::new(1, 0));
        let p = pool.clone();
        let req = tokio::spawn(async move {
            p.run(|| {
                std::thread::sleep(Duration::from_millis(200));
                Ok(())
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        req.abort();
        let _ = req.await;
        // The request is gone, its work is not: the pool is still full.
        assert_eq!(pool.running(), 1);
        assert!(matches!(
            pool.run(|| Ok(())).await,
            Err(ApiError::Unavailable(_))
        ));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(pool.running(), 0);
        assert!(pool.run(|| Ok(())).await.is_ok());
    }
}
