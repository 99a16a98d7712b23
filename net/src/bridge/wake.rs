//! [`WakeUps`]: the outboxes the tick thread filled, handed in one batch to a waker task on the
//! tokio runtime (filled on the tick thread, woken on tokio).

use std::sync::Arc;

use arcade_systems::bevy_ecs;
use arcade_systems::bevy_ecs::prelude::*;

use crate::outbox::Outbox;

/// Where the tick thread hands the outboxes it filled, to be woken by one task on the tokio
/// runtime (a wake from inside the runtime is a local queue push; thousands from outside it
/// contend on the runtime's shared queue). Without it, outboxes are woken directly.
#[derive(Resource, Default)]
pub struct WakeUps {
    pub(super) staged: Vec<Arc<Outbox>>,
    waker: Option<Waker>,
}

/// The channels to the waker task: batches out, emptied batches back for reuse.
struct Waker {
    batches: tokio::sync::mpsc::UnboundedSender<Vec<Arc<Outbox>>>,
    emptied: crossbeam_channel::Receiver<Vec<Arc<Outbox>>>,
}

/// Batches the waker task has emptied, kept for reuse.
const RECYCLED_BATCHES: usize = 4;

impl WakeUps {
    /// Wake-ups handed to a task on the runtime, and that task (spawn it there).
    pub fn with_waker_task() -> (WakeUps, impl std::future::Future<Output = ()> + Send) {
        let (batches, mut to_wake) = tokio::sync::mpsc::unbounded_channel::<Vec<Arc<Outbox>>>();
        let (give_back, emptied) = crossbeam_channel::bounded(RECYCLED_BATCHES);
        let task = async move {
            while let Some(mut batch) = to_wake.recv().await {
                for outbox in batch.drain(..) {
                    outbox.wake();
                }
                let _ = give_back.try_send(batch);
            }
        };
        let waker = Waker { batches, emptied };
        (
            WakeUps {
                staged: Vec::new(),
                waker: Some(waker),
            },
            task,
        )
    }

    pub(super) fn flush(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let Some(waker) = &self.waker else {
            self.staged.drain(..).for_each(|outbox| outbox.wake());
            return;
        };
        let next = waker.emptied.try_recv().unwrap_or_default();
        let staged = std::mem::replace(&mut self.staged, next);
        if let Err(unsent) = waker.batches.send(staged) {
            unsent.0.iter().for_each(|outbox| outbox.wake());
        }
    }
}
