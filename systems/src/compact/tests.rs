//! Tests of the compact codec: against `view::serialize_state`, sizes of bot-filled matches,
//! a property test of chains with drops, losses, rejoins and keyframes, and the fixture the
//! JavaScript decoder's node test reads (`e2e/fixtures/compact.json`).

use proptest::prelude::*;
use serde_json::{Value, json};

use bevy_ecs::prelude::*;

use super::*;
use crate::components::{Ball, FieldBall, FieldPaddle, Paddle, SeatSlot, Seats};
use crate::model::BotLevel;
use crate::sim::{self, InputFrame, Simulation};
use crate::testkit::{player, simulation, spec};
use crate::view;

const TICK_RATE: u32 = 60;

/// `MatchStream::update` with the match read from the World as the bridge reads it (a reader
/// made for the call).
fn update(stream: &mut MatchStream, world: &mut World, game: Entity) {
    let mut reader = view::StateReader::new(world);
    reader.update(world);
    stream.update(&reader.read(world, game).unwrap()).unwrap();
}

/// Who plays the seats of a sized run.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Seated {
    /// Every seat is a server bot: acks never move.
    Bots,
    /// Every player seat is a player who sends an input every tick (its paddle follows the
    /// ball): acks move every tick, as in the load.
    Players,
}

fn mode_of(layout: Layout) -> Mode {
    match layout {
        Layout::PongOneVsOne => Mode::OneVsOne,
        Layout::PongVsBot => Mode::VsBot,
        Layout::PongTwoVsTwo => Mode::TwoVsTwo,
        Layout::BreakoutSolo => Mode::Solo,
        Layout::BreakoutVersus => Mode::Versus,
    }
}

/// A match of `layout` in `sim`, seats filled as `seated` says (players 10·n + 1, ...).
fn start(sim: &mut Simulation, layout: Layout, n: u64, seated: Seated) -> Entity {
    let mode = mode_of(layout);
    let game = sim::create_match(&mut sim.world, spec(1000 + n, mode, 21, 77 + n));
    if seated == Seated::Players {
        for p in 0..mode.player_seats().len() as u64 {
            sim::join_match(&mut sim.world, game, player(10 * n + p + 1)).unwrap();
        }
    }
    sim::fill_with_bots(&mut sim.world, game, BotLevel::Hard).unwrap();
    game
}

/// One input per player seat of `game`: the axis toward the ball, the next seq.
fn play_inputs(sim: &mut Simulation, game: Entity, seq: u64) {
    let Some(seats) = sim.world.get::<Seats>(game).copied() else {
        return;
    };
    for seat in seats.entities() {
        let Some(id) = sim
            .world
            .get::<SeatSlot>(*seat)
            .and_then(SeatSlot::player_id)
        else {
            continue;
        };
        let (at, target) = if let Some(paddle) = sim.world.get::<Paddle>(*seat) {
            (paddle.y, sim.world.get::<Ball>(game).unwrap().y)
        } else {
            let paddle = sim.world.get::<FieldPaddle>(*seat).unwrap();
            (paddle.x, sim.world.get::<FieldBall>(*seat).unwrap().x)
        };
        let axis = ((target - at) / 20.0).clamp(-1.0, 1.0);
        let input = InputFrame {
            seq,
            axis,
            launch: seq.is_multiple_of(30),
        };
        sim::submit_input(&mut sim.world, game, id, input).unwrap();
    }
}

fn is_live(world: &World, game: Entity) -> bool {
    view::match_phase(world, game).is_some_and(|p| p != Phase::Finished)
}

/// Numbers of a JSON `state` equal up to `tolerance` (ints exactly, with tolerance 0).
fn assert_close(quantized: &Value, exact: &Value, tolerance: f64, path: &str) {
    match (quantized, exact) {
        (Value::Number(a), Value::Number(b)) if a.is_u64() && b.is_u64() => {
            assert_eq!(a, b, "{path}")
        }
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() <= tolerance, "{path}: {a} vs {b}");
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>(),
                "{path}"
            );
            for (key, value) in a {
                assert_close(value, &b[key], tolerance, &format!("{path}.{key}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_close(x, y, tolerance, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(quantized, exact, "{path}"),
    }
}

#[test]
fn a_decoded_state_is_the_json_state_to_the_nearest_eighth() {
    for layout in Layout::ALL {
        for seated in [Seated::Bots, Seated::Players] {
            let mut sim = simulation(TICK_RATE);
            let game = start(&mut sim, layout, 1, seated);
            let mut stream = MatchStream::new(TICK_RATE);
            let mut client = Decoder::new();
            for tick in 1..=900 {
                if seated == Seated::Players {
                    play_inputs(&mut sim, game, tick);
                }
                sim.step();
                if !is_live(&sim.world, game) {
                    break;
                }
                update(&mut stream, &mut sim.world, game);
                let frame = match stream.delta() {
                    Some(delta) if !tick.is_multiple_of(97) => delta.to_vec(),
                    _ => stream.keyframe().to_vec(),
                };
                let id = match client.decode(&frame).unwrap() {
                    Decoded::Applied(id) => id,
                    broken => panic!("{layout:?} tick {tick}: {broken:?}"),
                };
                let decoded = client.state(id).unwrap();
                assert_eq!(decoded, stream.snapshot().unwrap());
                let mut exact = Vec::new();
                view::serialize_state(
                    &sim.world,
                    game,
                    &mut serde_json::Serializer::new(&mut exact),
                )
                .unwrap();
                let exact: Value = serde_json::from_slice(&exact).unwrap();
                let quantized = serde_json::to_value(decoded).unwrap();
                assert_close(&quantized, &exact, 0.5 / f64::from(SCALE), "state");
            }
        }
    }
}

#[test]
fn frames_are_encoded_once_a_tick_into_buffers_that_never_grow() {
    let mut sim = simulation(TICK_RATE);
    let game = start(&mut sim, Layout::BreakoutVersus, 1, Seated::Bots);
    let mut stream = MatchStream::new(TICK_RATE);
    let (delta_at, key_at) = (stream.delta.as_ptr(), stream.keyframe.as_ptr());
    for _ in 0..600 {
        sim.step();
        update(&mut stream, &mut sim.world, game);
        let first = stream.delta().map(<[u8]>::as_ptr);
        assert_eq!(first, stream.delta().map(<[u8]>::as_ptr));
        let key = stream.keyframe().as_ptr();
        assert_eq!(key, stream.keyframe().as_ptr());
    }
    assert_eq!(stream.delta.as_ptr(), delta_at);
    assert_eq!(stream.keyframe.as_ptr(), key_at);
    assert_eq!(stream.delta.capacity(), MAX_FRAME);
}

#[test]
fn a_seat_changing_hands_needs_a_keyframe_for_all() {
    let mut sim = simulation(TICK_RATE);
    let game = sim::create_match(&mut sim.world, spec(5, Mode::OneVsOne, 11, 5));
    sim::join_match(&mut sim.world, game, player(1)).unwrap();
    let mut stream = MatchStream::new(TICK_RATE);
    sim.step();
    update(&mut stream, &mut sim.world, game);
    assert!(stream.delta().is_none(), "the first snapshot has no base");
    sim.step();
    update(&mut stream, &mut sim.world, game);
    assert!(stream.delta().is_some());
    sim::join_match(&mut sim.world, game, player(2)).unwrap();
    sim.step();
    update(&mut stream, &mut sim.world, game);
    assert!(stream.delta().is_none(), "player 2 sat down");
    let keyframe = read_keyframe(stream.keyframe()).unwrap();
    assert_eq!(
        keyframe.players[..2],
        [Some(PlayerId(1)), Some(PlayerId(2))]
    );
}

#[test]
fn the_first_byte_tells_a_compact_state_from_a_msgpack_envelope() {
    for tag in [KEYFRAME_TAG, DELTA_TAG] {
        assert!(!(0x80..=0x8f).contains(&tag) && tag != 0xde && tag != 0xdf);
    }
    let envelope = rmp_serde::to_vec_named(&json!({"type": "ack"})).unwrap();
    assert_eq!(envelope[0], 0x81);
    assert_eq!(
        Decoder::new().decode(&envelope),
        Err(CompactError::Malformed)
    );
}

#[test]
fn two_matches_on_one_connection_keep_their_own_chains() {
    let mut sim = simulation(TICK_RATE);
    let pong = start(&mut sim, Layout::PongOneVsOne, 1, Seated::Bots);
    let breakout = start(&mut sim, Layout::BreakoutSolo, 2, Seated::Bots);
    let (mut a, mut b) = (MatchStream::new(TICK_RATE), MatchStream::new(TICK_RATE));
    let mut client = Decoder::new();
    for _ in 0..300 {
        sim.step();
        update(&mut a, &mut sim.world, pong);
        update(&mut b, &mut sim.world, breakout);
        for stream in [&mut a, &mut b] {
            let frame = match stream.delta() {
                Some(delta) => delta.to_vec(),
                None => stream.keyframe().to_vec(),
            };
            let Decoded::Applied(id) = client.decode(&frame).unwrap() else {
                panic!("broken")
            };
            assert_eq!(client.state(id), stream.snapshot());
        }
    }
}

/// Typical frame sizes of `layout`: (mean delta bytes, p99 delta bytes, mean keyframe bytes,
/// bytes per client per second with WebSocket framing at 60 Hz, deltas only).
fn measure(layout: Layout, seated: Seated) -> (f64, usize, f64, f64) {
    const MATCHES: u64 = 8;
    const COUNTDOWN: u64 = 180;
    const MEASURED: u64 = 60 * 60;
    let mut sim = simulation(TICK_RATE);
    let games: Vec<Entity> = (0..MATCHES)
        .map(|n| start(&mut sim, layout, n, seated))
        .collect();
    let mut streams: Vec<MatchStream> = games.iter().map(|_| MatchStream::new(TICK_RATE)).collect();
    let (mut deltas, mut keyframes) = (Vec::new(), Vec::new());
    for tick in 1..=COUNTDOWN + MEASURED {
        if seated == Seated::Players {
            for game in &games {
                if is_live(&sim.world, *game) {
                    play_inputs(&mut sim, *game, tick);
                }
            }
        }
        sim.step();
        for (game, stream) in games.iter().zip(&mut streams) {
            if !is_live(&sim.world, *game) {
                continue;
            }
            update(stream, &mut sim.world, *game);
            if tick > COUNTDOWN {
                deltas.push(stream.delta().unwrap().len());
                keyframes.push(stream.keyframe().len());
            }
        }
    }
    deltas.sort_unstable();
    let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len() as f64;
    let framed: Vec<usize> = deltas.iter().map(|n| n + ws_header(*n)).collect();
    (
        mean(&deltas),
        deltas[deltas.len() * 99 / 100],
        mean(&keyframes),
        mean(&framed) * f64::from(TICK_RATE),
    )
}

/// Bytes of a server WebSocket frame's header (unmasked) for a payload of `len`.
fn ws_header(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    }
}

/// `cargo test -p arcade-systems compact::tests::typical_sizes -- --nocapture` prints the table.
#[test]
fn typical_sizes() {
    println!(
        "| layout | seats | delta mean | delta p99 | keyframe mean | B/client/s (60 Hz, WS framed) |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for layout in Layout::ALL {
        for seated in [Seated::Bots, Seated::Players] {
            let (mean, p99, keyframe, per_second) = measure(layout, seated);
            println!(
                "| {layout:?} | {seated:?} | {mean:.1} | {p99} | {keyframe:.1} | {per_second:.0} |"
            );
            if layout == Layout::PongOneVsOne {
                assert!(per_second <= 1300.0, "{seated:?}: {per_second} B/s");
            }
        }
    }
}

/// Writes the fixture of the JavaScript decoder's test: per layout, the frames one client
/// receives (keyframe, deltas at a step of 1 or 3 ticks, a frame lost on the way, a keyframe
/// after it) and what it must decode each to. Rewritten only when it changes.
#[test]
fn writes_the_javascript_fixture() {
    let mut cases = Vec::new();
    for (n, layout) in Layout::ALL.into_iter().enumerate() {
        let step = if layout.game() == Game::Pong { 1 } else { 3 };
        let mut sim = simulation(TICK_RATE);
        let game = start(&mut sim, layout, n as u64, Seated::Players);
        let mut stream = MatchStream::new(TICK_RATE);
        let mut client = Decoder::new();
        let mut frames = Vec::new();
        let mut need_keyframe = true;
        let mut sent = 0;
        for tick in 1..=400u64 {
            play_inputs(&mut sim, game, tick);
            sim.step();
            if tick < 160 || !tick.is_multiple_of(step) || !is_live(&sim.world, game) {
                continue;
            }
            update(&mut stream, &mut sim.world, game);
            let frame = match stream.delta() {
                Some(delta) if !need_keyframe => delta.to_vec(),
                _ => stream.keyframe().to_vec(),
            };
            need_keyframe = false;
            sent += 1;
            if sent == 26 {
                // Lost on the way (the server did not know): the next delta breaks the chain.
                continue;
            }
            let expect = match client.decode(&frame).unwrap() {
                Decoded::Applied(id) => serde_json::to_value(client.state(id).unwrap()).unwrap(),
                Decoded::Broken { .. } => {
                    need_keyframe = true;
                    Value::Null
                }
            };
            frames.push(json!({"frame": hex(&frame), "expect": expect}));
            if frames.len() == 50 {
                break;
            }
        }
        assert!(frames.iter().any(|f| f["expect"].is_null()));
        cases.push(json!({"layout": format!("{layout:?}"), "frames": frames}));
    }
    for layout in [Layout::PongTwoVsTwo, Layout::BreakoutVersus] {
        cases.push(synthetic_case(layout));
    }
    let text = serde_json::to_string(&json!({"scale": SCALE, "cases": cases})).unwrap() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../e2e/fixtures/compact.json");
    if std::fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
        std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/../e2e/fixtures")).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Frames of made-up snapshots with values no game reaches (negative, up to ±2^40, odd tick
/// rate, steps of 1 to 3, brick rows of any bits), for the decoder's arithmetic.
fn synthetic_case(layout: Layout) -> Value {
    let mut rng = crate::rng::SplitMix64::new(layout as u64);
    let mut snapshot = Snapshot {
        layout,
        match_id: MatchId(0x1f_ffff_ffff_fff0 + layout as u64),
        tick: 65_530,
        tick_rate: 7,
        ..Snapshot::default()
    };
    snapshot.players[1] = Some(PlayerId(0x1f_0000_0000_0001));
    let mut stream = MatchStream::new(7);
    let mut client = Decoder::new();
    let mut frames = Vec::new();
    for n in 0..20 {
        snapshot.tick += 1 + rng.next_u64() % 3;
        for value in &mut snapshot.values[1..layout.value_count()] {
            match rng.next_u64() % 4 {
                0 => *value = (rng.next_u64() >> 23) as i64 - (1 << 40),
                1 => *value += (rng.next_u64() % 400) as i64 - 200,
                _ => {}
            }
        }
        snapshot.values[0] = (rng.next_u64() % 5) as i64;
        for seat in 0..layout.seats().len() {
            // Acks stay below 2^53: JSON.parse would round the expected value.
            snapshot.values[layout.ack(seat)] = (n * 3 + seat) as i64;
        }
        stream.push(&snapshot);
        let frame = match stream.delta() {
            Some(delta) if !n.is_multiple_of(10) => delta.to_vec(),
            _ => stream.keyframe().to_vec(),
        };
        let Decoded::Applied(id) = client.decode(&frame).unwrap() else {
            panic!("broken")
        };
        let expect = serde_json::to_value(client.state(id).unwrap()).unwrap();
        frames.push(json!({"frame": hex(&frame), "expect": expect}));
    }
    json!({"layout": format!("{layout:?} (synthetic)"), "frames": frames})
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What happens to the frame a member is sent this tick.
#[derive(Clone, Copy, Debug)]
enum Fate {
    /// It arrives.
    Delivered,
    /// Its outbox drops it, and the server knows: the member's next frame is a keyframe.
    Dropped,
    /// It never arrives and the server does not know (the client must notice).
    Lost,
    /// The client reconnects before this tick: a fresh decoder, and a keyframe.
    Rejoined,
    /// The client is not a member this tick (it left, or is not there yet).
    Away,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        12 => Just(Fate::Delivered),
        1 => Just(Fate::Dropped),
        1 => Just(Fate::Lost),
        1 => Just(Fate::Rejoined),
        1 => Just(Fate::Away),
    ]
}

/// A value as a tick may change it: mostly small moves, sometimes anything.
fn change() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        6 => Just(None),
        4 => (-200i64..200).prop_map(Some),
        1 => any::<i64>().prop_map(Some),
    ]
}

/// One server tick: its step, the value changes, whether a seat changes hands, each
/// client's fate.
type TickPlan = (u64, Vec<Option<i64>>, Option<(usize, u64)>, Vec<Fate>);

const CLIENTS: usize = 3;

fn tick_plan() -> impl Strategy<Value = TickPlan> {
    (
        1u64..=4,
        prop::collection::vec(change(), MAX_VALUES),
        prop::option::weighted(0.03, (0usize..MAX_SEATS, 0u64..3)),
        prop::collection::vec(fate(), CLIENTS),
    )
}

fn first_snapshot() -> impl Strategy<Value = Snapshot> {
    (
        0usize..Layout::ALL.len(),
        any::<u64>(),
        any::<u64>(),
        1u32..=240,
        prop::collection::vec(any::<i64>(), MAX_VALUES),
    )
        .prop_map(|(layout, id, tick, tick_rate, values)| {
            let layout = Layout::ALL[layout];
            let mut snapshot = Snapshot {
                layout,
                match_id: MatchId(id),
                tick: tick >> 1,
                tick_rate,
                ..Snapshot::default()
            };
            snapshot.values[..layout.value_count()]
                .copy_from_slice(&values[..layout.value_count()]);
            snapshot.players[0] = Some(PlayerId(id ^ 1));
            snapshot
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever is dropped, lost, rejoined or keyframed, a client that applies a frame holds
    /// exactly the snapshot the server encoded that tick, and a client that missed a frame
    /// unknown to the server never applies a delta until its keyframe.
    #[test]
    fn every_applied_frame_is_the_servers_snapshot(
        first in first_snapshot(),
        plan in prop::collection::vec(tick_plan(), 1..120),
    ) {
        let mut stream = MatchStream::new(first.tick_rate);
        let mut server = first;
        let mut clients: Vec<Decoder> = (0..CLIENTS).map(|_| Decoder::new()).collect();
        // Server side: whether each member needs a keyframe. Client side: whether it missed a
        // frame the server believes it got.
        let mut needs_keyframe = [true; CLIENTS];
        let mut missed = [false; CLIENTS];
        for (n, (step, changes, seat_change, fates)) in plan.into_iter().enumerate() {
            if n > 0 {
                server.tick += step;
                for (value, change) in server.values[..server.layout.value_count()].iter_mut().zip(changes) {
                    if let Some(change) = change {
                        *value = value.wrapping_add(change);
                    }
                }
                if let Some((seat, who)) = seat_change {
                    let seat = seat % server.layout.seats().len();
                    server.players[seat] = (who > 0).then_some(PlayerId(who));
                }
            }
            stream.push(&server);
            let has_delta = stream.delta().is_some();
            for (c, fate) in fates.into_iter().enumerate() {
                if matches!(fate, Fate::Away) {
                    needs_keyframe[c] = true;
                    continue;
                }
                if matches!(fate, Fate::Rejoined) {
                    clients[c] = Decoder::new();
                    needs_keyframe[c] = true;
                    missed[c] = false;
                }
                let keyframe = needs_keyframe[c] || !has_delta;
                let frame = if keyframe {
                    stream.keyframe().to_vec()
                } else {
                    stream.delta().unwrap().to_vec()
                };
                needs_keyframe[c] = false;
                match fate {
                    Fate::Dropped => needs_keyframe[c] = true,
                    Fate::Lost => missed[c] = true,
                    _ => match clients[c].decode(&frame).unwrap() {
                        Decoded::Applied(id) => {
                            prop_assert!(keyframe || !missed[c], "applied a delta after a loss");
                            prop_assert_eq!(clients[c].state(id), Some(&server));
                            missed[c] = false;
                        }
                        Decoded::Broken { tag } => {
                            prop_assert!(!keyframe && missed[c]);
                            prop_assert_eq!(tag, server.tag());
                            // The client asks for a keyframe (`state.resync`).
                            needs_keyframe[c] = true;
                        }
                    },
                }
            }
        }
    }

    /// No bytes make the decoder panic.
    #[test]
    fn any_bytes_decode_or_fail_cleanly(first in first_snapshot(), bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let mut client = Decoder::new();
        let mut stream = MatchStream::new(first.tick_rate);
        stream.push(&first);
        client.decode(stream.keyframe()).unwrap();
        let mut frame = vec![DELTA_TAG];
        frame.extend_from_slice(&first.tag().to_le_bytes());
        frame.extend_from_slice(&(first.tick as u16).to_le_bytes());
        frame.extend_from_slice(&bytes);
        if client.decode(&frame).is_err() {
            // A malformed delta of a held match breaks its chain.
            prop_assert!(client.state(first.match_id).is_none());
        }
        let _ = client.decode(&bytes);
        let mut cut = stream.keyframe().to_vec();
        cut.truncate(bytes.len().min(cut.len().saturating_sub(1)));
        prop_assert!(client.decode(&cut).is_err());
    }
}

proptest! {
    /// The prediction's division in 64 bits, where it is taken, is the 128-bit one, up to the
    /// extremes of velocity (which fall back to 128 bits) and steps of any 32-bit length.
    #[test]
    fn round_div_is_the_exact_rounded_quotient(
        velocity in prop_oneof![-10_000i64..10_000, any::<i64>()],
        step in prop_oneof![1u64..1_000, any::<u32>().prop_map(u64::from)],
        rate in 1u32..1_000,
    ) {
        let (a, b) = (i128::from(velocity) * i128::from(step), i128::from(rate));
        prop_assert_eq!(round_div(velocity, step, rate), (2 * a + b).div_euclid(2 * b));
    }
}
