//! [`ReplyTo`]: where the tick thread answers one request (the connection's outbox, in the
//! request's encoding). Used on the tick thread; never waits.

use std::sync::Arc;

use serde::Serialize;

use crate::outbox::Outbox;
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
