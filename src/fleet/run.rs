//! Running work over the targets of a fleet: clusters concurrently (at most `jobs` at once),
//! the databases of one cluster one after another, in the manifest's order. A target that
//! fails does not stop the others; every outcome is returned, in the targets' order.

use std::future::Future;
use std::sync::Arc;

use super::Target;

/// What became of one target.
#[derive(Debug)]
pub struct Outcome<T> {
    pub target: Target,
    pub result: anyhow::Result<T>,
}

/// Runs `work` on every target: the targets of one cluster in order, one at a time; up to
/// `jobs` clusters at once. Returns the outcomes in the order of `targets`.
pub async fn per_cluster<T, F, Fut>(targets: Vec<Target>, jobs: usize, work: F) -> Vec<Outcome<T>>
where
    T: Send + 'static,
    F: Fn(usize, Target) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let mut clusters: Vec<Vec<(usize, Target)>> = Vec::new();
    for (index, target) in targets.into_iter().enumerate() {
        match clusters
            .iter_mut()
            .find(|list| list[0].1.cluster == target.cluster)
        {
            Some(list) => list.push((index, target)),
            None => clusters.push(vec![(index, target)]),
        }
    }
    let work = Arc::new(work);
    let permits = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut handles = Vec::new();
    for list in clusters {
        let work = Arc::clone(&work);
        let permits = Arc::clone(&permits);
        let targets = list.clone();
        let handle = tokio::spawn(async move {
            let _permit = permits
                .acquire()
                .await
                .expect("the semaphore is never closed");
            let mut results = Vec::new();
            for (index, target) in list {
                results.push(work(index, target).await);
            }
            results
        });
        handles.push((targets, handle));
    }
    let mut outcomes: Vec<(usize, Outcome<T>)> = Vec::new();
    for (targets, handle) in handles {
        match handle.await {
            Ok(results) => {
                for ((index, target), result) in targets.into_iter().zip(results) {
                    outcomes.push((index, Outcome { target, result }));
                }
            }
            Err(error) => {
                // A panic in one cluster's work fails each of its targets, and no other.
                for (index, target) in targets {
                    let result = Err(anyhow::anyhow!("the work on this cluster failed: {error}"));
                    outcomes.push((index, Outcome { target, result }));
                }
            }
        }
    }
    outcomes.sort_by_key(|(index, _)| *index);
    outcomes.into_iter().map(|(_, outcome)| outcome).collect()
}
