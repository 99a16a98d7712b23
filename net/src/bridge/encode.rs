//! [`Encoder`]: writes a match's `state` frames from the state the tick thread read (tokio, a
//! sender task of `bridge::wake`; the tick thread itself when there are no senders). Each frame
//! is written once per match and tick, on the first member that reads it ([`Frames`]), and
//! shared by every member: the JSON and MessagePack `state`, and the compact delta and keyframe
//! of the match's compact stream, which the encoder keeps from tick to tick.

use std::collections::HashMap;

use arcade_systems::compact::MatchStream;
use arcade_systems::model::MatchId;
use arcade_systems::view::{self, StateJson, StateView};

use crate::wire::arena::FrameArena;
use crate::wire::codec::{Codec, Frame, TextBytes};

/// How a JSON `state` frame starts: the envelope around the match's `data` object.
const STATE_JSON_HEAD: &[u8] = b"{\"type\":\"state\",\"data\":";

/// How a MessagePack `state` frame starts: a map of 2, `"type": "state"`, then the key
/// `"data"` of the match's `data` map.
const STATE_MSGPACK_HEAD: &[u8] = b"\x82\xa4type\xa5state\xa4data";

/// Shares a compact stream may go unused before it is dropped (its match ended, left this
/// instance, or lost its compact members); a member that comes back gets a keyframe anyway.
const STREAM_IDLE_SHARES: u64 = 64;

/// What one sender writes `state` frames with, kept across ticks.
#[derive(Default)]
pub(crate) struct Encoder {
    /// Where every frame ends up.
    arena: FrameArena,
    /// The JSON writer (and its table of float texts).
    json: StateJson,
    /// A state is written here, then copied into the arena in one go (writing it in place,
    /// through `BytesMut::extend_from_slice`, costs more: see BENCHMARKS.md).
    buf: Vec<u8>,
    /// Each match's compact stream (its previous and current snapshot), while it has compact
    /// members, and the share that last used it.
    streams: HashMap<MatchId, (MatchStream, u64)>,
    /// Shares encoded so far (a share is one tick's deliveries).
    shares: u64,
}

impl Encoder {
    /// Starts the next tick's share: now and then, drops the streams no share used lately.
    pub(crate) fn next_share(&mut self) {
        self.shares += 1;
        if self.shares.is_multiple_of(STREAM_IDLE_SHARES) {
            let shares = self.shares;
            self.streams
                .retain(|_, (_, used)| shares - *used < STREAM_IDLE_SHARES);
        }
    }

    /// A match's `state` frame in `codec`: the same bytes as `codec.encode(&StateMessage ..)`
    /// (both written by hand, see `view::StateJson` and `view::write_state_msgpack`).
    pub(crate) fn plain(&mut self, codec: Codec, state: &StateView) -> Frame {
        self.buf.clear();
        match codec {
            Codec::Json => {
                self.buf.extend_from_slice(STATE_JSON_HEAD);
                self.json.write(state, &mut self.buf);
                self.buf.push(b'}');
                Frame::Text(TextBytes::written(self.arena.copy(&self.buf)))
            }
            Codec::Msgpack => {
                self.buf.extend_from_slice(STATE_MSGPACK_HEAD);
                view::write_state_msgpack(state, &mut self.buf);
                Frame::Binary(self.arena.copy(&self.buf))
            }
        }
    }

    /// Takes `state` as its match's compact snapshot: `None` when the state has no compact form
    /// (the stream then starts again with a keyframe), else the delta for every member whose
    /// chain holds, when one can lead there.
    fn compact_delta(&mut self, state: &StateView, tick_rate: u32) -> Option<Option<Frame>> {
        let Encoder {
            arena,
            streams,
            shares,
            ..
        } = self;
        let (stream, used) = streams
            .entry(state.id())
            .or_insert_with(|| (MatchStream::new(tick_rate), *shares));
        *used = *shares;
        stream.update(state).ok()?;
        Some(stream.delta().map(|bytes| Frame::Binary(arena.copy(bytes))))
    }

    /// The keyframe of the snapshot the match's stream took this tick.
    fn compact_keyframe(&mut self, id: MatchId) -> Option<Frame> {
        let (stream, _) = self.streams.get_mut(&id)?;
        let bytes = stream.keyframe();
        (!bytes.is_empty()).then(|| Frame::Binary(self.arena.copy(bytes)))
    }
}

/// One delivery's frames, each written on the first member that reads it.
pub(crate) struct Frames<'a> {
    encoder: &'a mut Encoder,
    state: &'a StateView,
    tick_rate: u32,
    plain: [Option<Frame>; 2],
    /// Whether the compact stream took this tick's snapshot (`None` before the first ask).
    compact: Option<bool>,
    delta: Option<Frame>,
    keyframe: Option<Frame>,
}

impl<'a> Frames<'a> {
    /// `tick_rate`: the server's (a compact snapshot's velocities are per tick rate).
    pub(crate) fn new(
        encoder: &'a mut Encoder,
        state: &'a StateView,
        tick_rate: u32,
    ) -> Frames<'a> {
        Frames {
            encoder,
            state,
            tick_rate,
            plain: [None, None],
            compact: None,
            delta: None,
            keyframe: None,
        }
    }

    /// The `state` frame in `codec`.
    pub(crate) fn plain(&mut self, codec: Codec) -> &Frame {
        let (encoder, state) = (&mut *self.encoder, self.state);
        self.plain[codec.index()].get_or_insert_with(|| encoder.plain(codec, state))
    }

    /// Takes the match's compact snapshot (once): whether compact members get a frame of this
    /// tick.
    pub(crate) fn compact(&mut self) -> bool {
        if let Some(taken) = self.compact {
            return taken;
        }
        let taken = match self.encoder.compact_delta(self.state, self.tick_rate) {
            Some(delta) => {
                self.delta = delta;
                true
            }
            None => false,
        };
        self.compact = Some(taken);
        taken
    }

    /// This tick's delta (after [`Frames::compact`]): for every member whose chain holds; none
    /// when no delta can lead there (the first snapshot, a seat that changed hands).
    pub(crate) fn delta(&self) -> Option<&Frame> {
        self.delta.as_ref()
    }

    /// This tick's keyframe (after [`Frames::compact`] said the stream took its snapshot).
    pub(crate) fn keyframe(&mut self) -> Option<&Frame> {
        if self.keyframe.is_none() && self.compact == Some(true) {
            self.keyframe = self.encoder.compact_keyframe(self.state.id());
        }
        self.keyframe.as_ref()
    }

    /// The keyframe, when it is already written this tick.
    pub(crate) fn written_keyframe(&self) -> Option<&Frame> {
        self.keyframe.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use arcade_systems::bevy_ecs::prelude::*;
    use arcade_systems::model::{BotLevel, Game, MatchOptions, Mode, PlayerId, PlayerRef};
    use arcade_systems::sim::{self, MatchSpec, SimConfig, Simulation};
    use arcade_systems::view::StateReader;
    use serde::Serialize;

    use serde::ser::SerializeMap;

    use super::*;

    /// The `state` message of one match, serialized straight from the World through serde:
    /// what the hand-written frames must equal.
    struct StateMessage<'w> {
        world: &'w World,
        game: Entity,
    }

    struct StateData<'w> {
        world: &'w World,
        game: Entity,
    }

    impl Serialize for StateMessage<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(2))?;
            map.serialize_entry("type", "state")?;
            map.serialize_entry(
                "data",
                &StateData {
                    world: self.world,
                    game: self.game,
                },
            )?;
            map.end()
        }
    }

    impl Serialize for StateData<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            view::serialize_state(self.world, self.game, serializer)
        }
    }

    /// Pong and Breakout matches of bots and players, stepped into play: the frames written in
    /// the arena are the bytes the codec gives for the same message, in both codecs, every tick.
    #[test]
    fn state_frames_from_the_arena_are_the_codecs_bytes() {
        let mut sim = Simulation::new(SimConfig {
            tick_rate: 60,
            reconnect_grace_ticks: 600,
        });
        let mut games = Vec::new();
        for (n, mode) in [Mode::OneVsOne, Mode::TwoVsTwo, Mode::Versus]
            .into_iter()
            .enumerate()
        {
            let game = if mode.fits(Game::Pong) {
                Game::Pong
            } else {
                Game::Breakout
            };
            let options = MatchOptions::default().resolve(game, mode).unwrap();
            let spec = MatchSpec {
                id: MatchId(0x1234_5678 + n as u64),
                game,
                mode,
                options,
                seed: n as u64,
                started_at_ms: 0,
            };
            let entity = sim::create_match(&mut sim.world, spec);
            let player = PlayerRef {
                id: PlayerId(n as u64 + 1),
                name: "p".into(),
            };
            sim::join_match(&mut sim.world, entity, player).unwrap();
            sim::fill_with_bots(&mut sim.world, entity, BotLevel::Hard).unwrap();
            games.push(entity);
        }
        let mut reader = StateReader::new(&mut sim.world);
        let mut encoder = Encoder::default();
        let mut buf = Vec::new();
        for _ in 0..600 {
            sim.step();
            // As `send_updates` does before each tick's states.
            reader.update(&sim.world);
            for &game in &games {
                let message = StateMessage {
                    world: &sim.world,
                    game,
                };
                let state = reader.read(&sim.world, game).unwrap();
                for codec in Codec::ALL {
                    let frame = encoder.plain(codec, &state);
                    assert_eq!(frame, codec.encode(&message, &mut buf));
                }
            }
        }
    }
}
