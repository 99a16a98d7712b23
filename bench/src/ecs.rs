//! The server's own simulation (arcade-systems' `Simulation`, the World and Schedule the tick
//! thread runs, without the bridge) filled with matches through its public operations: the
//! worlds `arcade-bench sim` and the criterion benches time, and the side the struct-of-arrays
//! baseline ([`crate::soa_pong`]) is checked against.

use arcade_systems::bevy_ecs::prelude::Entity;
use arcade_systems::components::{
    Ball, MatchClock, MatchPhase, Paddle, PlayerInput, PongCourt, Seats, TeamScore,
};
use arcade_systems::model::{
    BotLevel, Game, MatchId, MatchOptions, Mode, Phase, PlayerId, PlayerRef, Seat,
};
use arcade_systems::sim::{self, InputFrame, MatchSpec, SimConfig, Simulation};

/// The level of every bot the benchmarks seat.
pub const BOT_LEVEL: BotLevel = BotLevel::Hard;

/// A match spec as the bridge makes one, with the options resolved for the game and mode.
pub fn spec(n: u64, game: Game, mode: Mode, seed: u64, score_limit: Option<u32>) -> MatchSpec {
    let options = MatchOptions {
        score_limit,
        ..Default::default()
    }
    .resolve(game, mode)
    .expect("valid options");
    MatchSpec {
        id: MatchId(n + 1),
        game,
        mode,
        options,
        seed,
        started_at_ms: 0,
    }
}

/// A simulation at `tick_rate` with `matches` matches of `game` and `mode`, every seat given
/// to a server bot (`fill_with_bots`), all counting down. Match `n` has seed `n`.
pub fn bot_world(game: Game, mode: Mode, matches: usize, tick_rate: u32) -> Simulation {
    let mut sim = Simulation::new(SimConfig {
        tick_rate,
        ..SimConfig::default()
    });
    let score_limit = (game == Game::Pong).then_some(arcade_systems::model::MAX_SCORE_LIMIT);
    for n in 0..matches as u64 {
        let entity = sim::create_match(&mut sim.world, spec(n, game, mode, n, score_limit));
        sim::fill_with_bots(&mut sim.world, entity, BOT_LEVEL).expect("bots fill the seats");
    }
    sim
}

/// How many matches of the World are still live (not finished).
pub fn live_matches(sim: &mut Simulation) -> usize {
    sim.world
        .query::<&MatchPhase>()
        .iter(&sim.world)
        .filter(|phase| phase.phase != Phase::Finished)
        .count()
}

/// Pong 1v1 in the ECS, addressed like [`crate::soa_pong::SoaPong`]: by match index and side.
pub struct EcsPong {
    pub sim: Simulation,
    games: Vec<Entity>,
}

/// What the baseline's tests compare of one ECS match.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PongView {
    pub playing: bool,
    pub tick: u64,
    pub ball: [f32; 4],
    pub paddles: [f32; 2],
    pub score: [u32; 2],
    pub acks: [u64; 2],
}

impl EcsPong {
    pub fn new(tick_rate: u32) -> EcsPong {
        EcsPong {
            sim: Simulation::new(SimConfig {
                tick_rate,
                ..SimConfig::default()
            }),
            games: Vec::new(),
        }
    }

    /// A 1v1 match from `seed`; `bots[side]` gives that seat to a bot, else a player sits
    /// (player ids `2n + 1` and `2n + 2`). Returns its index.
    pub fn add_match(&mut self, seed: u64, score_limit: u32, bots: [bool; 2]) -> usize {
        let n = self.games.len() as u64;
        let world = &mut self.sim.world;
        let spec = spec(n, Game::Pong, Mode::OneVsOne, seed, Some(score_limit));
        let game = sim::create_match(world, spec);
        for (side, seat) in [Seat::Left, Seat::Right].into_iter().enumerate() {
            if bots[side] {
                sim::attach_bot(world, game, seat, BOT_LEVEL).expect("a free seat");
            } else {
                let player = PlayerRef {
                    id: Self::player(n as usize, side),
                    name: format!("p{}", 2 * n + side as u64 + 1),
                };
                sim::join_match(world, game, player).expect("a free seat");
            }
        }
        self.games.push(game);
        self.games.len() - 1
    }

    fn player(game: usize, side: usize) -> PlayerId {
        PlayerId(2 * game as u64 + side as u64 + 1)
    }

    pub fn submit_input(&mut self, game: usize, side: usize, seq: u64, axis: f32) {
        let frame = InputFrame {
            seq,
            axis,
            launch: false,
        };
        let player = Self::player(game, side);
        let _ = sim::submit_input(&mut self.sim.world, self.games[game], player, frame);
    }

    pub fn step(&mut self) {
        self.sim.step();
    }

    /// The match's state, or None once it is gone (the step after its end).
    pub fn view(&self, game: usize) -> Option<PongView> {
        let world = &self.sim.world;
        let entity = self.games[game];
        let phase = world.get::<MatchPhase>(entity)?;
        let seats = world.get::<Seats>(entity)?.entities();
        world.get::<PongCourt>(entity)?;
        let ball = world.get::<Ball>(entity)?;
        let paddle = |i: usize| world.get::<Paddle>(seats[i]).map_or(f32::NAN, |p| p.y);
        let ack = |i: usize| {
            world
                .get::<PlayerInput>(seats[i])
                .map_or(0, |p| p.applied_seq)
        };
        Some(PongView {
            playing: phase.phase == Phase::Playing,
            tick: world.get::<MatchClock>(entity)?.tick,
            ball: [ball.x, ball.y, ball.vx, ball.vy],
            paddles: [paddle(0), paddle(1)],
            score: world.get::<TeamScore>(entity)?.0,
            acks: [ack(0), ack(1)],
        })
    }
}
