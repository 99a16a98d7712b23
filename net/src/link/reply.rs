//! [`ReplyTo`]: where the tick thread answers one request (the connection's outbox, in the
//! request's encoding). Used on the tick thread; never waits.

use std::sync::Arc;

use serde::Serialize;

use crate::outbox::{ConnId, Outbox};
use crate::wire::codec::{Codec, RequestId};
use crate::wire::protocol::{self, Envelope, ErrorCode};

/// Where the answer to one request goes: the connection, in the request's own encoding.
#[derive(Clone)]
pub struct ReplyTo {
    /// The requesting connection's outbound queue.
    pub outbox: Arc<Outbox>,
    /// The encoding the request came in, which its answer uses.
    pub codec: Codec,
    /// The request's `requestId`, echoed in the answer.
    pub request_id: Option<RequestId>,
}

/// Where the answer to an `input` goes, if it gets one: the connection named, not its outbox
/// held. An input is answered only when it is refused; the tick thread then finds the outbox
/// in its index of open connections (`Lobby::outboxes`). An outbox cloned for every input and
/// dropped after it would move its count's line between two cores twice an input.
pub struct InputReply {
    pub conn: ConnId,
    /// The encoding the input came in.
    pub codec: Codec,
    /// The input's `requestId`, echoed in a refusal.
    pub request_id: Option<RequestId>,
}

impl InputReply {
    /// The reply, through `outbox` (the connection's).
    pub fn to(&self, outbox: Arc<Outbox>) -> ReplyTo {
        ReplyTo {
            outbox,
            codec: self.codec,
            request_id: self.request_id.clone(),
        }
    }
}

impl ReplyTo {
    pub fn ack<T: Serialize>(&self, data: T) {
        let envelope = Envelope::reply("ack", data, self.request_id.as_ref());
        self.outbox.push(self.codec.encode_once(&envelope));
    }

    /// An `ack` without data.
    pub fn ack_bare(&self) {
        let envelope = protocol::bare_ack(self.request_id.as_ref());
        self.outbox.push(self.codec.encode_once(&envelope));
    }

    pub fn error(&self, code: ErrorCode, message: impl Into<String>) {
        let envelope = protocol::error(code, message, self.request_id.as_ref());
        self.outbox.push(self.codec.encode_once(&envelope));
    }
}
