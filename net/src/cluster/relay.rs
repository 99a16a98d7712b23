//! Playing and watching a match another instance holds (tokio threads). A match lives on the
//! instance that created it (its owner). When a client connected to instance B joins a match
//! that instance A owns, B forwards the request to A, and from then on that connection's
//! requests and inputs for the match; A serves them through a virtual connection (an
//! [`Outbox`] like a socket's, drained by a task here instead of a socket writer), and sends
//! what that outbox receives — replies, events, `state` frames already encoded in the client's
//! codec — back to B, which pushes them into the client's real outbox. Both directions travel
//! on each instance's own Redis channel (`arcade:<db>:to:<instance>`), in MessagePack.

use std::sync::Arc;

use arcade_systems::model::{MatchId, PlayerRef};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::outbox::{Batch, ConnId, Outbox};
use crate::wire::codec::{Codec, Frame, RequestId, TextBytes};
use crate::wire::protocol::{Input, MatchJoin};

/// An instance's own channel: requests forwarded to the matches it owns, and frames for its
/// connections that play or watch elsewhere.
pub fn direct_channel(database: i64, instance: &str) -> String {
    format!("arcade:{database}:to:{instance}")
}

/// What one instance sends another on its own channel.
#[derive(Serialize, Deserialize)]
pub enum Direct {
    /// From the client's instance to the match's owner: a request of one connection.
    Forward(Forwarded),
    /// From the owner back: what the owner queued for that connection.
    Frames {
        conn: ConnId,
        control: Vec<WireFrame>,
        states: Vec<(MatchId, WireFrame)>,
    },
    /// From the instance that took a queue group (its match's owner) to a member's instance:
    /// the member is offered `match_id` (`crate::cluster::queues`).
    Offer {
        owner: String,
        group: u64,
        match_id: MatchId,
        entry: crate::matchmaking::shared::Entry,
    },
    /// From the owner to a member's instance: the member was seated, or goes back to its
    /// queue (the group was discarded).
    Settled {
        group: u64,
        player: arcade_systems::model::PlayerId,
        seated: bool,
    },
}

/// A request of a connection on another instance, for a match this instance owns.
#[derive(Serialize, Deserialize)]
pub struct Forwarded {
    /// The client's instance (where the frames go back).
    pub from: String,
    /// The connection there.
    pub conn: ConnId,
    pub player: PlayerRef,
    /// The connection's codec: JSON (false) or MessagePack (true).
    pub msgpack: bool,
    /// Whether the connection gets compact `state` frames.
    pub compact: bool,
    /// The request's codec and id, for the answer.
    pub request_msgpack: bool,
    pub request_id: Option<RequestId>,
    pub op: ForwardedOp,
}

/// What a forwarded request asks.
#[derive(Serialize, Deserialize)]
pub enum ForwardedOp {
    Join(MatchJoin),
    Leave(MatchId),
    Resync(MatchId),
    Input(Input),
    /// The connection closed (or changed player): its seats start their reconnect grace.
    Gone,
    /// The connection just opened with the token of a player seated in a match held by the
    /// owner: it is re-attached there as a local reconnection is (`cluster::seats`).
    Attach,
    /// The connection's player claims its seat in a queue group the owner formed (no answer:
    /// `match.start` says it is seated, as on one instance).
    Seat {
        group: u64,
    },
}

/// A WebSocket frame as it crosses instances: the encoded bytes, shared, never copied (a text
/// frame's are checked to be UTF-8 again on arrival).
#[derive(Serialize, Deserialize)]
pub enum WireFrame {
    Text(Bytes),
    Binary(Bytes),
}

impl WireFrame {
    fn of(frame: &Frame) -> Option<WireFrame> {
        match frame {
            Frame::Text(text) => Some(WireFrame::Text(text.bytes().clone())),
            Frame::Binary(bytes) => Some(WireFrame::Binary(bytes.clone())),
            Frame::Ping => None,
        }
    }

    /// The frame to push into the client's outbox; `None` for text that is not UTF-8.
    pub fn into_frame(self) -> Option<Frame> {
        match self {
            WireFrame::Text(bytes) => TextBytes::from_utf8(bytes).map(Frame::Text),
            WireFrame::Binary(bytes) => Some(Frame::Binary(bytes)),
        }
    }
}

/// The codec a flag names.
pub fn codec_of(msgpack: bool) -> Codec {
    if msgpack { Codec::Msgpack } else { Codec::Json }
}

/// A virtual connection's outbox: shaped like the client's (codec, compact).
pub fn virtual_outbox(msgpack: bool, compact: bool) -> Arc<Outbox> {
    Arc::new(if compact {
        Outbox::new_compact()
    } else {
        Outbox::new(codec_of(msgpack))
    })
}

/// What a virtual connection's outbox holds now, as the message for the client's instance
/// (`None` when there is nothing to send). Empties `batch`.
pub fn frames_of(conn: ConnId, batch: &mut Batch) -> Option<Direct> {
    let control: Vec<WireFrame> = batch
        .control
        .drain(..)
        .filter_map(|f| WireFrame::of(&f))
        .collect();
    let states: Vec<(MatchId, WireFrame)> = batch
        .states
        .drain(..)
        .filter_map(|(id, frame)| Some((id, WireFrame::of(&frame)?)))
        .collect();
    (!control.is_empty() || !states.is_empty()).then_some(Direct::Frames {
        conn,
        control,
        states,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::protocol::JoinAs;

    #[test]
    fn a_forwarded_join_reads_back_in_messagepack() {
        let forwarded = Direct::Forward(Forwarded {
            from: "b".into(),
            conn: 7,
            player: PlayerRef {
                id: arcade_systems::model::PlayerId(9),
                name: "ada".into(),
            },
            msgpack: false,
            compact: true,
            request_msgpack: true,
            request_id: Some(RequestId::Text("r1".into())),
            op: ForwardedOp::Join(MatchJoin {
                match_id: Some(MatchId(0x42)),
                join_code: None,
                join_as: JoinAs::Spectator,
            }),
        });
        let bytes = rmp_serde::to_vec(&forwarded).unwrap();
        let Direct::Forward(back) = rmp_serde::from_slice::<Direct>(&bytes).unwrap() else {
            panic!("not a forward");
        };
        assert_eq!(
            (back.from.as_str(), back.conn, back.compact),
            ("b", 7, true)
        );
        let ForwardedOp::Join(join) = back.op else {
            panic!("not a join");
        };
        assert_eq!(join.match_id, Some(MatchId(0x42)));
        assert_eq!(join.join_as, JoinAs::Spectator);
    }

    #[test]
    fn frames_cross_as_they_were_encoded() {
        let mut batch = Batch::default();
        batch
            .control
            .push_back(Frame::Text("{\"type\":\"ack\"}".into()));
        batch.control.push_back(Frame::Ping);
        batch
            .states
            .push((MatchId(1), Frame::Binary(Bytes::from_static(&[0xd6, 1, 2]))));
        let message = frames_of(3, &mut batch).unwrap();
        let bytes = rmp_serde::to_vec(&message).unwrap();
        let Direct::Frames {
            conn,
            control,
            states,
        } = rmp_serde::from_slice(&bytes).unwrap()
        else {
            panic!("not frames");
        };
        assert_eq!((conn, control.len(), states.len()), (3, 1, 1));
        assert!(matches!(states[0].1, WireFrame::Binary(ref b) if b.as_ref() == [0xd6, 1, 2]));
        let Some(Some(Frame::Text(text))) = control.into_iter().next().map(WireFrame::into_frame)
        else {
            panic!("the text frame did not cross");
        };
        assert_eq!(text.as_str(), "{\"type\":\"ack\"}");
        // A text frame whose bytes are not UTF-8 (a corrupted message) is dropped.
        assert!(
            WireFrame::Text(Bytes::from_static(&[0xff, 0xfe]))
                .into_frame()
                .is_none()
        );
        assert!(frames_of(3, &mut batch).is_none(), "emptied");
    }
}
