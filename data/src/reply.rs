//! How a queued write is answered: the reply channel a caller waits on, and what the writer
//! thread does for each write once its batch's commit succeeded or failed. Used by the writer
//! thread (and by `store` and `social`, which build the writes).

use arcade_systems::model::MatchId;
use crossbeam_channel::Sender;

use crate::error::DataError;
use crate::notice::CommitNotice;

/// Where a waiting caller gets its answer, after the commit.
pub(crate) type Reply<T> = Sender<Result<T, DataError>>;

/// What to do for a write once its batch's commit succeeded or failed.
pub(crate) enum Ack {
    /// Nothing: the write failed on its own and has been answered or counted already.
    Nothing,
    /// A match record nobody blocks on: counted as lost if the commit fails; its notice is
    /// settled either way.
    Record(MatchId, CommitNotice),
    /// A write nobody blocks on whose notice is settled with the commit's outcome.
    Notice(CommitNotice),
    /// A waiting caller: sends its result, or the commit's error.
    Reply(Answer),
}

/// Sends a waiting caller its answer, given how the commit went.
type Answer = Box<dyn FnOnce(Result<(), &DataError>)>;

/// The [`Ack`] of a write whose caller waits on `reply` for `result`.
pub(crate) fn reply<T: 'static>(reply: Reply<T>, result: Result<T, DataError>) -> Ack {
    Ack::Reply(Box::new(move |commit: Result<(), &DataError>| {
        let answer = match commit {
            Ok(()) => result,
            Err(error) => result.and(Err(error.clone())),
        };
        // The caller may have given up waiting; nothing to do then.
        let _ = reply.send(answer);
    }))
}
