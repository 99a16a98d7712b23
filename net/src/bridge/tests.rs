//! The bridge in one process (the test thread plays the tick thread): a `Simulation` with the
//! bridge installed, the command queue and outboxes, no sockets.

use std::sync::Arc;

use arcade_systems::model::{Game, MatchId, Mode, PlayerId, PlayerRef};
use arcade_systems::sim::{SimConfig, Simulation};
use serde_json::Value;

use super::*;
use crate::bridge::WakeUps;
use crate::link::{CommandSender, command_queue, playing_in};
use crate::outbox::{Batch, Outbox};
use crate::wire::codec::{Codec, Frame, RequestId};
use crate::wire::protocol::{Input, JoinAs, MatchCreate, MatchJoin};

/// The server's tick with the bridge, and the sending end of its command queue.
struct Bridge {
    sim: Simulation,
    commands: CommandSender,
}

/// A connection as the bridge sees it: an id, a player, an outbox.
struct Conn {
    id: u64,
    player: PlayerRef,
    outbox: Arc<Outbox>,
}

/// What one connection was sent: control frames in order, and the `state` frames waiting.
struct Received {
    control: Vec<Value>,
    states: Vec<Value>,
}

impl Received {
    fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.control.iter().filter(|m| m["type"] == kind).collect()
    }
}

fn parse(frame: &Frame) -> Value {
    match frame {
        Frame::Text(text) => serde_json::from_slice(text.as_bytes()).unwrap(),
        Frame::Binary(bytes) => rmp_serde::from_slice(bytes).unwrap(),
        Frame::Ping => Value::Null,
    }
}

impl Bridge {
    fn new() -> Bridge {
        let (commands, inbox) = command_queue();
        let mut sim = Simulation::new(SimConfig {
            tick_rate: 60,
            reconnect_grace_ticks: 600,
        });
        install(&mut sim, inbox, BridgeConfig { snapshot_every: 1 });
        Bridge { sim, commands }
    }

    /// Opens connection `n` (player `p_…n`) as a session would.
    fn connect(&self, n: u64, codec: Codec) -> Conn {
        let conn = Conn {
            id: n,
            player: PlayerRef {
                id: PlayerId(n),
                name: format!("player-{n}"),
            },
            outbox: Arc::new(Outbox::new(codec)),
        };
        let connected = Command::Connected {
            conn: conn.id,
            player: conn.player.clone(),
            outbox: conn.outbox.clone(),
        };
        self.commands.send(connected).unwrap();
        conn
    }

    fn reply_to(conn: &Conn) -> ReplyTo {
        ReplyTo {
            outbox: conn.outbox.clone(),
            codec: conn.outbox.codec(),
            request_id: Some(RequestId::Text(format!("r{}", conn.id))),
        }
    }

    fn request(&self, conn: &Conn, op: MatchOp) {
        let command = Command::request(conn.id, conn.player.clone(), Bridge::reply_to(conn), op);
        self.commands.send(command).unwrap();
    }

    fn input(&self, conn: &Conn, match_id: MatchId, seq: u64) {
        let input = Input {
            match_id,
            seq,
            axis: 1.0,
            launch: false,
        };
        // As a session does: with the route the connection's inputs took last.
        let command = Command::Input {
            player: conn.player.id,
            reply: crate::link::InputReply {
                conn: conn.id,
                codec: conn.outbox.codec(),
                request_id: Some(RequestId::Text(format!("r{}", conn.id))),
            },
            input,
            route: conn.outbox.input_route(),
        };
        self.commands.send(command).unwrap();
    }

    fn step(&mut self, ticks: usize) {
        for _ in 0..ticks {
            self.sim.step();
        }
    }

    /// Creates a pong 1v1 match by `creator` and returns its id.
    fn create(&mut self, creator: &Conn) -> MatchId {
        let create = MatchCreate {
            game: Game::Pong,
            mode: Mode::OneVsOne,
            options: None,
        };
        self.request(creator, MatchOp::Create(create));
        self.step(1);
        let ack = &take(creator).of_type("ack")[0].clone();
        ack["data"]["matchId"].as_str().unwrap().parse().unwrap()
    }

    fn join(&self, conn: &Conn, match_id: MatchId, join_as: JoinAs) {
        let join = MatchJoin {
            match_id: Some(match_id),
            join_code: None,
            join_as,
        };
        self.request(conn, MatchOp::Join(join));
    }
}

fn take(conn: &Conn) -> Received {
    let mut batch = Batch::default();
    conn.outbox.take(&mut batch);
    Received {
        control: batch.control.iter().map(parse).collect(),
        states: batch.states.iter().map(|(_, frame)| parse(frame)).collect(),
    }
}

/// Two players in a started pong match (countdown under way), both outboxes drained.
fn started(bridge: &mut Bridge) -> (Conn, Conn, MatchId) {
    let left = bridge.connect(1, Codec::Json);
    let right = bridge.connect(2, Codec::Msgpack);
    let match_id = bridge.create(&left);
    bridge.join(&right, match_id, JoinAs::Player);
    bridge.step(1);
    // Both players get exactly one `match.start`: the join that fills the last seat starts
    // the match, and the tick's `Started` event announces it to every member.
    for conn in [&left, &right] {
        let got = take(conn);
        assert_eq!(got.of_type("match.start").len(), 1, "{:?}", got.control);
    }
    (left, right, match_id)
}

#[test]
fn create_join_input_and_leave_answer_through_the_outboxes() {
    let mut bridge = Bridge::new();
    let (left, right, match_id) = started(&mut bridge);
    assert!(playing_in(&bridge.sim.world, PlayerId(1)).is_some());

    // A player's input is taken silently; a stranger's is `forbidden`, an unknown match's
    // `not_found`.
    let stranger = bridge.connect(3, Codec::Json);
    bridge.input(&right, match_id, 1);
    bridge.input(&stranger, match_id, 1);
    bridge.input(&stranger, MatchId(7), 1);
    bridge.step(1);
    assert!(take(&right).of_type("error").is_empty());
    let errors: Vec<Value> = take(&stranger)
        .of_type("error")
        .into_iter()
        .map(|e| e["data"]["code"].clone())
        .collect();
    assert_eq!(errors, ["forbidden", "not_found"]);

    // Leaving: `ack`, then the forfeit's `match.end` for both players.
    bridge.request(&right, MatchOp::Leave(match_id));
    bridge.step(1);
    let got = take(&right);
    let kinds: Vec<&Value> = got.control.iter().map(|m| &m["type"]).collect();
    assert_eq!(kinds, ["ack", "match.end"], "the ack comes first");
    assert_eq!(got.control[1]["data"]["reason"], "forfeit");
    assert_eq!(take(&left).of_type("match.end").len(), 1);
    assert!(playing_in(&bridge.sim.world, PlayerId(1)).is_none());

    // Nothing more of the match afterwards.
    bridge.step(3);
    for conn in [&left, &right] {
        let got = take(conn);
        assert!(got.control.is_empty() && got.states.is_empty());
    }
}

/// The bridge keeps each open connection's outbox, where a refused input is answered, and
/// forgets it when the connection closes.
#[test]
fn a_closed_connection_leaves_the_index_of_outboxes() {
    let mut bridge = Bridge::new();
    let conn = bridge.connect(7, Codec::Json);
    bridge.step(1);
    let known = |bridge: &Bridge| {
        let lobby = bridge.sim.world.resource::<crate::link::Lobby>();
        lobby.outboxes.contains_key(&conn.id)
    };
    assert!(known(&bridge));
    let closed = Command::Disconnected {
        conn: conn.id,
        player: conn.player.id,
    };
    bridge.commands.send(closed).unwrap();
    bridge.step(1);
    assert!(!known(&bridge));
}

/// The last `acks` entry of player 2 in the states a connection holds.
fn ack_of_right(got: &Received) -> Option<Value> {
    let state = got.states.last()?;
    Some(state["data"]["acks"]["p_0000000000000002"].clone())
}

/// A player's inputs reach its seat through the route the bridge keeps, and still do after
/// what moves the seat or ends it: a reconnect, the match handed over and restored in the same
/// World (new entities, the same id), its end (then `not_found`), and another match.
#[test]
fn inputs_find_their_seat_after_a_reconnect_a_restore_an_end_and_a_new_match() {
    let mut bridge = Bridge::new();
    let (left, right, match_id) = started(&mut bridge);
    bridge.input(&right, match_id, 1);
    bridge.step(1);
    assert_eq!(ack_of_right(&take(&left)), Some(1.into()));
    // The route is kept with the connection, which sends it with its next inputs.
    let first_route = right.outbox.input_route().expect("a route kept");
    assert_eq!(first_route.0, match_id);
    bridge.input(&right, match_id, 2);
    bridge.step(1);
    assert_eq!(ack_of_right(&take(&left)), Some(2.into()));

    // A reconnect (the route goes with the connection).
    bridge
        .commands
        .send(Command::Disconnected {
            conn: right.id,
            player: right.player.id,
        })
        .unwrap();
    let right = bridge.connect(2, Codec::Msgpack);
    bridge.input(&right, match_id, 3);
    bridge.step(1);
    assert_eq!(ack_of_right(&take(&left)), Some(3.into()));
    assert!(take(&right).of_type("error").is_empty());

    // Handed over and restored into the same World: new entities under the same id; the
    // route kept from seq 3 names a seat that is gone.
    let mut saved = Vec::new();
    let handed = checkpoint::hand_over(&mut bridge.sim.world, |list| {
        saved = list.iter().map(checkpoint::encode).collect();
        Ok::<(), String>(())
    });
    assert_eq!(handed, 1);
    bridge.step(1);
    let restored = checkpoint::decode(&saved[0]).unwrap();
    checkpoint::restore_match(&mut bridge.sim.world, &restored).unwrap();
    for conn in [&left, &right] {
        let connected = Command::Connected {
            conn: conn.id,
            player: conn.player.clone(),
            outbox: conn.outbox.clone(),
        };
        bridge.commands.send(connected).unwrap();
    }
    bridge.input(&right, match_id, 4);
    bridge.step(1);
    assert!(take(&right).of_type("error").is_empty());
    assert_eq!(ack_of_right(&take(&left)), Some(4.into()));
    let restored_route = right.outbox.input_route().expect("routed again");
    assert_eq!(restored_route.0, match_id);
    assert_ne!(restored_route, first_route, "the restored match's new seat");

    // The end: the leaver's inputs to the ended match are `not_found` once it is gone.
    bridge.request(&right, MatchOp::Leave(match_id));
    bridge.step(2);
    take(&left);
    take(&right);
    bridge.input(&right, match_id, 5);
    bridge.step(1);
    let errors = take(&right).of_type("error").len();
    assert_eq!(errors, 1);

    // Another match: the route follows.
    let other = bridge.create(&right);
    bridge.join(&left, other, JoinAs::Player);
    bridge.step(1);
    take(&left);
    bridge.input(&right, other, 1);
    bridge.step(1);
    assert_eq!(ack_of_right(&take(&left)), Some(1.into()));
    assert!(take(&right).of_type("error").is_empty());
}

#[test]
fn the_state_slot_keeps_only_the_newest_state_of_a_match() {
    let mut bridge = Bridge::new();
    let (left, _right, match_id) = started(&mut bridge);
    bridge.step(5);
    let first = take(&left);
    assert_eq!(first.states.len(), 1, "five ticks, one state waiting");
    let tick = first.states[0]["data"]["tick"].as_u64().unwrap();
    bridge.step(4);
    let second = take(&left);
    assert_eq!(second.states.len(), 1);
    assert_eq!(second.states[0]["data"]["matchId"], match_id.to_string());
    assert_eq!(second.states[0]["data"]["tick"].as_u64().unwrap(), tick + 4);
}

#[test]
fn match_end_reaches_every_member_once_spectators_included() {
    let mut bridge = Bridge::new();
    let (left, right, match_id) = started(&mut bridge);
    let watcher = bridge.connect(3, Codec::Msgpack);
    bridge.join(&watcher, match_id, JoinAs::Spectator);
    bridge.step(1);
    let got = take(&watcher);
    assert_eq!(got.of_type("ack")[0]["data"]["seat"], Value::Null);
    assert_eq!(
        got.of_type("match.start").len(),
        1,
        "a late spectator gets the start"
    );
    bridge.step(1);
    assert_eq!(take(&watcher).states.len(), 1, "and the state");

    abort_all(&mut bridge.sim.world);
    bridge.step(2);
    for conn in [&left, &right, &watcher] {
        let ends = take(conn);
        let ends = ends.of_type("match.end");
        assert_eq!(ends.len(), 1, "player {}", conn.id);
        assert_eq!(ends[0]["data"]["reason"], "aborted");
    }
}

#[test]
fn a_spectator_watches_without_a_seat_and_leaves_without_an_end() {
    let mut bridge = Bridge::new();
    let (left, _right, match_id) = started(&mut bridge);
    let watcher = bridge.connect(3, Codec::Json);
    bridge.join(&watcher, match_id, JoinAs::Spectator);
    bridge.input(&watcher, match_id, 1);
    bridge.step(1);
    let got = take(&watcher);
    assert_eq!(got.of_type("error")[0]["data"]["code"], "forbidden");
    assert_eq!(
        bridge
            .sim
            .world
            .get::<Audience>(playing_in(&bridge.sim.world, PlayerId(1)).unwrap())
            .unwrap()
            .spectators(),
        1
    );
    // A player of the match cannot also watch it.
    bridge.join(&left, match_id, JoinAs::Spectator);
    bridge.request(&watcher, MatchOp::Leave(match_id));
    bridge.step(1);
    assert_eq!(take(&left).of_type("error")[0]["data"]["code"], "conflict");
    let got = take(&watcher);
    assert_eq!(got.of_type("ack").len(), 1);
    assert!(
        got.of_type("match.end").is_empty(),
        "a spectator forfeits nothing"
    );
    bridge.step(2);
    let got = take(&watcher);
    assert!(
        got.control.is_empty() && got.states.is_empty(),
        "no more frames"
    );
}

/// The compact `state` frames waiting in a connection's outbox (its control frames are kept
/// in `control`).
fn take_compact(conn: &Conn, control: &mut Vec<Value>) -> Vec<bytes::Bytes> {
    let mut batch = Batch::default();
    conn.outbox.take(&mut batch);
    control.extend(batch.control.iter().map(parse));
    let frames = batch.states.into_iter().map(|(_, frame)| match frame {
        Frame::Binary(bytes) => bytes,
        other => panic!("a compact state is binary: {other:?}"),
    });
    frames.collect()
}

/// A compact connection (player 3) watching `match_id`.
fn compact_spectator(bridge: &Bridge, match_id: MatchId) -> Conn {
    let watcher = Conn {
        outbox: Arc::new(Outbox::new_compact()),
        ..bridge.connect(3, Codec::Msgpack)
    };
    bridge
        .commands
        .send(Command::Connected {
            conn: watcher.id,
            player: watcher.player.clone(),
            outbox: watcher.outbox.clone(),
        })
        .unwrap();
    bridge.join(&watcher, match_id, JoinAs::Spectator);
    watcher
}

#[test]
fn a_compact_member_gets_a_keyframe_then_deltas_and_a_keyframe_after_a_dropped_state() {
    use arcade_systems::compact::{DELTA_TAG, Decoded, Decoder, KEYFRAME_TAG};
    let mut bridge = Bridge::new();
    let (left, right, match_id) = started(&mut bridge);
    let watcher = compact_spectator(&bridge, match_id);
    let mut decoder = Decoder::new();
    let mut kinds = Vec::new();
    let mut control = Vec::new();
    let mut seq = 0;
    let mut apply = |frames: Vec<bytes::Bytes>, kinds: &mut Vec<u8>| {
        assert_eq!(frames.len(), 1, "one state slot per match");
        kinds.push(frames[0][0]);
        let decoded = decoder.decode(&frames[0]).unwrap();
        assert_eq!(decoded, Decoded::Applied(match_id), "the chain holds");
    };
    for _ in 0..4 {
        seq += 1;
        bridge.input(&right, match_id, seq);
        bridge.step(1);
        apply(take_compact(&watcher, &mut control), &mut kinds);
    }
    assert_eq!(kinds, [KEYFRAME_TAG, DELTA_TAG, DELTA_TAG, DELTA_TAG]);
    // The writer takes nothing for two ticks: the second tick's delta would build on the
    // unsent first, so it is not staged (the first still chains and waits) and a keyframe is
    // asked for.
    bridge.step(2);
    kinds.clear();
    apply(take_compact(&watcher, &mut control), &mut kinds);
    assert_eq!(kinds, [DELTA_TAG]);
    // The keyframe comes at the next tick and replaces whatever is unsent by then: after three
    // ticks without the writer, what waits is that keyframe.
    bridge.step(3);
    kinds.clear();
    apply(take_compact(&watcher, &mut control), &mut kinds);
    bridge.step(1);
    apply(take_compact(&watcher, &mut control), &mut kinds);
    assert_eq!(kinds, [KEYFRAME_TAG, DELTA_TAG]);
    assert_eq!(watcher.outbox.dropped_states(), 1);
    // `state.resync`: ack, then a keyframe; a match it is not in: not_found.
    bridge.request(&watcher, MatchOp::Resync(match_id));
    bridge.request(&watcher, MatchOp::Resync(MatchId(7)));
    bridge.step(1);
    kinds.clear();
    apply(take_compact(&watcher, &mut control), &mut kinds);
    assert_eq!(kinds, [KEYFRAME_TAG]);
    let answers: Vec<&Value> = control.iter().rev().take(2).map(|m| &m["type"]).collect();
    assert_eq!(answers, ["error", "ack"], "{control:?}");
    assert_eq!(control.last().unwrap()["data"]["code"], "not_found");
    // The same ticks as the JSON player, values to the nearest eighth.
    bridge.step(1);
    apply(take_compact(&watcher, &mut control), &mut kinds);
    let json = take(&left).states.pop().unwrap();
    let compact = serde_json::to_value(decoder.state(match_id).unwrap()).unwrap();
    assert_eq!(compact["tick"], json["data"]["tick"]);
    assert_eq!(compact["acks"], json["data"]["acks"]);
}

/// With sender tasks (as in the server), the tick thread never touches a member's outbox: a
/// tick completes while another thread holds one, and only that member's `state` waits for
/// the lock, staged by the sender once it is free.
#[test]
fn a_tick_does_not_wait_for_a_members_outbox_held_by_another_thread() {
    use arcade_systems::compact::{Decoder, KEYFRAME_TAG};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let mut bridge = Bridge::new();
    let (wake_ups, senders) = {
        let _inside = runtime.enter();
        WakeUps::with_waker_task()
    };
    runtime.spawn(senders);
    bridge.sim.world.insert_resource(wake_ups);
    let (left, _right, match_id) = started(&mut bridge);
    let watcher = compact_spectator(&bridge, match_id);
    let settle = |conn: &Conn| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut control = Vec::new();
        loop {
            let frames = take_compact(conn, &mut control);
            if !frames.is_empty() || std::time::Instant::now() > deadline {
                return frames;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    };
    bridge.step(1);
    let frames = settle(&watcher);
    assert_eq!(frames[0][0], KEYFRAME_TAG);
    Decoder::new().decode(&frames[0]).unwrap();
    take(&left);

    let outbox = watcher.outbox.clone();
    let locked = std::sync::Barrier::new(2);
    let (release, released) = std::sync::mpsc::channel::<()>();
    let step_waited = std::thread::scope(|scope| {
        let holder = scope.spawn(|| {
            let released = released;
            let held = outbox.hold_lock();
            locked.wait();
            // Released when the tick is done, or after 10 s if the tick waits for this lock.
            let waited = released.recv_timeout(std::time::Duration::from_secs(10));
            drop(held);
            waited.is_err()
        });
        locked.wait();
        bridge.step(1);
        release.send(()).unwrap();
        holder.join().unwrap()
    });
    assert!(!step_waited, "the tick waited for a member's outbox");
    let frames = settle(&watcher);
    assert_eq!(
        frames.len(),
        1,
        "the held member's state, staged once the lock was free"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while take(&left).states.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the other member got its state"
        );
        bridge.step(1);
    }
}

/// How many `match.event`s of `kind` a connection got.
fn events_of(got: &Received, kind: &str) -> usize {
    got.of_type("match.event")
        .iter()
        .filter(|event| event["data"]["kind"] == kind)
        .count()
}

#[test]
fn a_handed_over_match_is_restored_and_its_players_are_seated_back() {
    let mut bridge = Bridge::new();
    let (left, right, match_id) = started(&mut bridge);
    bridge.step(200);
    take(&left);
    take(&right);

    // Handed over: gone from the first World with no `match.end`.
    let mut saved = Vec::new();
    let handed = checkpoint::hand_over(&mut bridge.sim.world, |list| {
        saved = list.iter().map(checkpoint::encode).collect();
        Ok::<(), String>(())
    });
    assert_eq!(handed, 1);
    bridge.step(3);
    for conn in [&left, &right] {
        let got = take(conn);
        assert!(
            got.control.is_empty() && got.states.is_empty(),
            "{:?}",
            got.control
        );
    }
    assert!(playing_in(&bridge.sim.world, PlayerId(1)).is_none());
    assert!(arcade_systems::sim::find_match(&bridge.sim.world, match_id).is_none());

    // Restored elsewhere: listed, paused, both seats held.
    let mut other = Bridge::new();
    let restored = checkpoint::decode(&saved[0]).unwrap();
    assert_eq!(restored.id, match_id);
    checkpoint::restore_match(&mut other.sim.world, &restored).unwrap();
    assert!(playing_in(&other.sim.world, PlayerId(2)).is_some());
    let (reply, mut listed) = tokio::sync::oneshot::channel();
    other
        .commands
        .send(Command::ListLive { game: None, reply })
        .unwrap();
    other.step(1);
    let listed = listed.try_recv().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].phase, arcade_systems::model::Phase::Paused);

    // One comes back by connecting with its token, the other by `match.join`.
    let left = other.connect(1, Codec::Json);
    other.step(1);
    let got = take(&left);
    assert_eq!(got.of_type("match.start").len(), 1, "{:?}", got.control);
    assert_eq!(events_of(&got, "player_back"), 1, "{:?}", got.control);
    let right = Conn {
        id: 2,
        player: PlayerRef {
            id: PlayerId(2),
            name: "player-2".into(),
        },
        outbox: Arc::new(Outbox::new(Codec::Json)),
    };
    other.join(&right, match_id, JoinAs::Player);
    other.step(1);
    let got = take(&right);
    assert_eq!(got.of_type("ack")[0]["data"]["seat"], "right");
    assert_eq!(got.of_type("match.start").len(), 1, "{:?}", got.control);
    assert_eq!(events_of(&got, "player_back"), 1, "{:?}", got.control);
    other.step(1);
    assert_eq!(
        take(&left).states[0]["data"]["phase"],
        "countdown",
        "both back: a fresh countdown"
    );
}

#[test]
fn a_failed_save_leaves_the_matches_live_to_be_aborted() {
    let mut bridge = Bridge::new();
    let (left, _right, _match_id) = started(&mut bridge);
    let handed = checkpoint::hand_over(&mut bridge.sim.world, |_| Err("disk full"));
    assert_eq!(handed, 0);
    assert!(playing_in(&bridge.sim.world, PlayerId(1)).is_some());
    abort_all(&mut bridge.sim.world);
    bridge.step(2);
    let got = take(&left);
    assert_eq!(got.of_type("match.end")[0]["data"]["reason"], "aborted");
}

#[test]
fn the_seats_a_cluster_keeps_in_redis_are_the_live_matches_seats() {
    let mut bridge = Bridge::new();
    let (_left, right, match_id) = started(&mut bridge);
    let watcher = bridge.connect(3, Codec::Json);
    bridge.join(&watcher, match_id, JoinAs::Spectator);
    bridge.step(1);
    let mut seated = crate::cluster::seats::seated(&bridge.sim.world);
    seated.sort();
    assert_eq!(
        seated,
        [(PlayerId(1), match_id), (PlayerId(2), match_id)],
        "both players, a spectator not"
    );
    // A leave forfeits the match: it has ended, and no seat of it is kept any more.
    bridge.request(&right, MatchOp::Leave(match_id));
    bridge.step(2);
    assert!(crate::cluster::seats::seated(&bridge.sim.world).is_empty());
}
