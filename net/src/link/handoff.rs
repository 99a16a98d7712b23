//! [`Handoff`]: a queue many threads push to and one thread takes from without ever waiting.
//! Pushed on tokio's threads, taken on the tick thread.
//!
//! Why not a channel: every lock-free channel's receiver can wait for a sender. A sender
//! claims a slot, then writes it; a receiver that reaches the claimed slot first spins
//! (crossbeam's `try_recv` included) until the write lands. The tick thread runs under
//! SCHED_FIFO (`--tick-realtime`): when it wakes on the core of a worker that was between the
//! claim and the write, that worker cannot run there again until the kernel moves it, and the
//! tick spins meanwhile. Measured under `load --players 800`: 8,732 `sched_yield`s of the
//! tick thread in one stall inside `receive_commands`, and 54,420 `state`s dropped in one run.
//! Here the taker only tries the lock: when a pusher holds it, the taker gets nothing this
//! time and everything at its next try.

use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

/// A queue pushed to by threads that may wait for a lock (briefly: a push holds it for one
/// `Vec::push`) and taken from by one that never waits.
pub struct Handoff<T> {
    queue: Mutex<Queue<T>>,
}

struct Queue<T> {
    items: Vec<T>,
    closed: bool,
}

/// A push refused: the taker is gone ([`Handoff::close`]). Holds what was pushed.
pub struct Closed<T>(pub T);

impl<T> std::fmt::Debug for Closed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Closed(..)")
    }
}

impl<T> Default for Handoff<T> {
    fn default() -> Self {
        Handoff {
            queue: Mutex::new(Queue {
                items: Vec::new(),
                closed: false,
            }),
        }
    }
}

impl<T> Handoff<T> {
    /// Queues `item` after everything pushed before it, unless the queue is closed.
    pub fn push(&self, item: T) -> Result<(), Closed<T>> {
        match self.push_within(item, usize::MAX) {
            Some(refused) => Err(Closed(refused)),
            None => Ok(()),
        }
    }

    /// Queues `item` unless the queue is closed or holds `most` items already; gives it back
    /// when it is not queued (for a pool of buffers kept for reuse).
    pub fn push_within(&self, item: T, most: usize) -> Option<T> {
        let mut queue = self.lock();
        if queue.closed || queue.items.len() >= most {
            return Some(item);
        }
        queue.items.push(item);
        None
    }

    /// Moves everything queued to the end of `taken`, in order, and returns true; or, when a
    /// pusher holds the lock at this moment, moves nothing and returns false (the items wait
    /// for the next call). Never waits. With `taken` empty, the two buffers are swapped, so
    /// neither side allocates once both have grown to a batch.
    pub fn take_into(&self, taken: &mut Vec<T>) -> bool {
        let Some(mut queue) = self.try_lock() else {
            return false;
        };
        if taken.is_empty() {
            std::mem::swap(taken, &mut queue.items);
        } else {
            taken.append(&mut queue.items);
        }
        true
    }

    /// The item pushed last, if there is one and no pusher holds the lock. Never waits.
    pub fn try_pop(&self) -> Option<T> {
        self.try_lock()?.items.pop()
    }

    /// Refuses every later push and drops what is queued (the taker is gone).
    pub fn close(&self) {
        let items = {
            let mut queue = self.lock();
            queue.closed = true;
            std::mem::take(&mut queue.items)
        };
        // Dropped outside the lock: an item's drop may push to another queue.
        drop(items);
    }

    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The queue, unless a pusher holds its lock at this moment.
    fn try_lock(&self) -> Option<MutexGuard<'_, Queue<T>>> {
        match self.queue.try_lock() {
            Ok(queue) => Some(queue),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn items_are_taken_in_the_order_pushed() {
        let handoff = Handoff::default();
        for item in 0..5 {
            handoff.push(item).unwrap();
        }
        let mut taken = vec![];
        assert!(handoff.take_into(&mut taken));
        assert_eq!(taken, [0, 1, 2, 3, 4]);
        handoff.push(5).unwrap();
        assert!(handoff.take_into(&mut taken));
        assert_eq!(taken, [0, 1, 2, 3, 4, 5], "appended after what was held");
        taken.clear();
        assert!(handoff.take_into(&mut taken));
        assert!(taken.is_empty());
    }

    #[test]
    fn buffers_are_swapped_not_reallocated() {
        let handoff = Handoff::default();
        let mut taken: Vec<u32> = Vec::with_capacity(64);
        let ours = taken.as_ptr();
        handoff.push(1).unwrap();
        assert!(handoff.take_into(&mut taken));
        taken.clear();
        handoff.push(2).unwrap();
        assert!(handoff.take_into(&mut taken));
        assert_eq!(taken, [2]);
        assert_eq!(taken.as_ptr(), ours, "the first buffer came back");
    }

    /// The point of the type: a pusher stuck while holding the lock (here: a thread holding
    /// it until told) costs the taker nothing but the items it has not pushed yet.
    #[test]
    fn the_taker_does_not_wait_for_a_pusher_holding_the_lock() {
        let handoff = Arc::new(Handoff::default());
        handoff.push(1).unwrap();
        let (held, wait_held) = mpsc::channel();
        let (release, wait_release) = mpsc::channel::<()>();
        let holder = {
            let handoff = handoff.clone();
            std::thread::spawn(move || {
                let _guard = handoff.lock();
                held.send(()).unwrap();
                wait_release.recv().unwrap();
            })
        };
        wait_held.recv().unwrap();
        let (answer, answered) = mpsc::channel();
        {
            let handoff = handoff.clone();
            std::thread::spawn(move || {
                let mut taken = vec![];
                let took = handoff.take_into(&mut taken);
                let popped = handoff.try_pop();
                let _ = answer.send((took, taken, popped));
            });
        }
        let answer = answered.recv_timeout(Duration::from_secs(5));
        release.send(()).unwrap();
        holder.join().unwrap();
        let (took, taken, popped) = answer.expect("the taker waited for the lock");
        assert!(!took);
        assert!(taken.is_empty());
        assert_eq!(popped, None);
        let mut taken = vec![];
        assert!(handoff.take_into(&mut taken));
        assert_eq!(taken, [1], "the item waited for the next try");
    }

    #[test]
    fn a_pool_holds_at_most_what_it_is_given_room_for() {
        let pool = Handoff::default();
        assert_eq!(pool.push_within(1, 2), None);
        assert_eq!(pool.push_within(2, 2), None);
        assert_eq!(pool.push_within(3, 2), Some(3), "a third is given back");
        assert_eq!(pool.try_pop(), Some(2));
        assert_eq!(pool.push_within(4, 2), None);
    }

    #[test]
    fn a_closed_handoff_refuses_pushes_and_drops_what_it_held() {
        let handoff = Handoff::default();
        let item = Arc::new(());
        handoff.push(item.clone()).unwrap();
        handoff.close();
        assert_eq!(Arc::strong_count(&item), 1, "the queued item was dropped");
        let Err(Closed(refused)) = handoff.push(item.clone()) else {
            panic!("a push after close was accepted");
        };
        assert!(Arc::ptr_eq(&refused, &item), "the refused item comes back");
    }

    /// Several pushers at once lose nothing and keep each pusher's order.
    #[test]
    fn concurrent_pushes_arrive_whole_and_in_each_pushers_order() {
        let handoff = Arc::new(Handoff::default());
        let pushers: Vec<_> = (0..4u32)
            .map(|pusher| {
                let handoff = handoff.clone();
                std::thread::spawn(move || {
                    for n in 0..10_000u32 {
                        handoff.push((pusher, n)).unwrap();
                    }
                })
            })
            .collect();
        let mut all = vec![];
        let mut batch = vec![];
        while pushers.iter().any(|pusher| !pusher.is_finished()) {
            handoff.take_into(&mut batch);
            all.append(&mut batch);
        }
        for pusher in pushers {
            pusher.join().unwrap();
        }
        assert!(handoff.take_into(&mut batch));
        all.append(&mut batch);
        assert_eq!(all.len(), 40_000);
        let mut next = [0u32; 4];
        for (pusher, n) in all {
            assert_eq!(n, next[pusher as usize], "pusher {pusher} out of order");
            next[pusher as usize] += 1;
        }
    }
}
