//! The load runner: `C` tasks on the multi-thread runtime take jobs from
//! one counter until the jobs or the time run out, and what they saw is
//! merged into a [`Phase`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Errors kept per phase, to print.
const SHOWN: usize = 5;

/// What the tasks saw during one phase.
#[derive(Debug, Default)]
pub(crate) struct Phase {
    /// Every job's latency, sorted.
    pub(crate) latencies: Vec<Duration>,
    /// Jobs that failed.
    pub(crate) failures: usize,
    /// The first few failures, said.
    pub(crate) shown: Vec<String>,
    /// From the first job's start to the last one's end.
    pub(crate) elapsed: Duration,
}

impl Phase {
    /// Jobs done (passed or failed).
    pub(crate) fn count(&self) -> usize {
        self.latencies.len()
    }

    /// Jobs per second.
    pub(crate) fn rate(&self) -> f64 {
        self.count() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at `p` (0 to 1), by nearest rank.
    pub(crate) fn percentile(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        self.latencies[rank - 1]
    }
}

/// How long a phase runs: a number of jobs, or for a while.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Until {
    /// Jobs `0..n`.
    Done(usize),
    /// Jobs `0..` until this much time has passed.
    Elapsed(Duration),
}

/// Runs `job(0)`, `job(1)`, ... on `tasks` concurrent tasks until `until`.
pub(crate) async fn run<F, Fut>(tasks: usize, until: Until, job: F) -> Phase
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks.max(1) {
        let (next, job) = (next.clone(), job.clone());
        handles.push(tokio::spawn(async move {
            let mut seen = Phase::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                match until {
                    Until::Done(n) if i >= n => break,
                    Until::Elapsed(limit) if start.elapsed() >= limit => break,
                    _ => {}
                }
                let began = Instant::now();
                let outcome = job(i).await;
                seen.latencies.push(began.elapsed());
                if let Err(what) = outcome {
                    seen.failures += 1;
                    if seen.shown.len() < SHOWN {
                        seen.shown.push(format!("#{i}: {what}"));
                    }
                }
            }
            seen
        }));
    }
    let mut all = Phase::default();
    for handle in handles {
        let seen = handle.await.expect("a load task panicked");
        all.latencies.extend(seen.latencies);
        all.failures += seen.failures;
        all.shown.extend(seen.shown);
    }
    all.elapsed = start.elapsed();
    all.latencies.sort_unstable();
    all.shown.truncate(SHOWN);
    all
}
