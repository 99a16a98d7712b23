//! The tick thread's scheduling priority (the tick thread, as it starts): raised above the
//! network's workers so that the senders it wakes after a tick do not take its core midway.

/// How much the tick thread's scheduling priority is raised (a nice value below 0), when the
/// process may: a tick that waits for a core behind socket writers misses its deadline.
const TICK_THREAD_NICE: i32 = -10;

/// The SCHED_FIFO priority of the tick thread under `--tick-realtime`: the lowest real-time
/// one, above every normal thread, below the kernel's own real-time threads.
const TICK_THREAD_FIFO_PRIORITY: i32 = 1;

/// Best effort: raises this thread's priority (needs CAP_SYS_NICE; otherwise a debug line, or
/// a warning when `realtime` was asked for). Under a nice value the scheduler still lets a
/// worker the tick wakes (the senders after a tick) take the core midway: `strace -T` showed a
/// tick's wake-up calls returning 4-9 ms later under load. A SCHED_FIFO thread is not preempted
/// by normal threads (BENCHMARKS.md "The tick's waits"). Called by the server's tick
/// thread (`src/tick.rs`) and by the bench that times its tick (`arcade-bench sim --bridge`).
pub fn raise(realtime: bool) {
    #[cfg(not(target_os = "linux"))]
    let _ = realtime;
    #[cfg(target_os = "linux")]
    {
        if realtime {
            let param = libc::sched_param {
                sched_priority: TICK_THREAD_FIFO_PRIORITY,
            };
            // SAFETY: `param` is a valid sched_param that outlives the call; pid 0 is the
            // calling thread.
            let result = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
            if result == 0 {
                tracing::info!("tick thread runs under SCHED_FIFO");
                return;
            }
            tracing::warn!(
                "--tick-realtime: SCHED_FIFO refused (no CAP_SYS_NICE); raising the nice value instead"
            );
        }
        // On Linux the nice value is per thread: `who = 0` with PRIO_PROCESS means the caller.
        // SAFETY: setpriority only reads its integer arguments.
        let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, TICK_THREAD_NICE) };
        if result == 0 {
            tracing::debug!(nice = TICK_THREAD_NICE, "tick thread priority raised");
        } else {
            tracing::debug!("tick thread priority unchanged (no CAP_SYS_NICE)");
        }
    }
}
