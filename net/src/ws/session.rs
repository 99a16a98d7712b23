//! One WebSocket connection: reader and writer (tokio threads).
//!
//! One WebSocket connection: its identity, its reader (frames in → replies, chat, commands for
//! the tick thread) and its writer task (the [`Outbox`] → the socket). The writer is the only
//! code that awaits the socket's send side; everyone else pushes to the outbox and moves on.
//! The connection owns its TCP socket: the reader parses frames in place
//! ([`crate::ws::frame::Reader`]), the writer writes them ([`Parked::write_all`]:
//! one `send` of the queued frames gathered, or one `writev` past 4 KiB).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arcade_systems::model::PlayerRef;
use arcade_systems::sim;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::timeout;
use tracing::{Instrument, debug, info_span};

use crate::bridge::{Command, MatchOp, ReplyTo};
use crate::clock::now_ms;
use crate::hub::{ConnEntry, ConnId};
use crate::limits::{CHAT_PER_ADDRESS_PER_SECOND, CHAT_PER_PLAYER_PER_SECOND, ChatRefusal};
use crate::link::InputReply;
use crate::link::handoff::Closed;
use crate::metrics::{Direction, Metrics};
use crate::outbox::{Batch, CLOSE_TOO_MANY_ERRORS, CLOSE_TOO_SLOW, CloseReason, Outbox, Parked};
use crate::state::AppState;
use crate::wire::codec::{self, Codec, Frame, Inbound, Payload};
use crate::wire::input;
use crate::wire::protocol::{
    self, AuthRequest, ChatSend, ErrorCode, Hello, MatchCreate, MatchJoin, MatchLeave, MatchList,
    PROTOCOL_VERSION, PlayerInfo,
};
use crate::ws::frame::{self, Message, Out, Reader};
use crate::ws::limits::SlidingWindow;
use crate::{matchmaking, social};

/// The largest message a client may send (PROTOCOL.md: 16 KiB, after reassembly).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// How long the writer may wait on a socket that takes nothing before it gives up (1008).
pub const SEND_STALL_LIMIT: Duration = Duration::from_secs(5);

/// `bad_request` answers allowed in [`MALFORMED_WINDOW`] before the connection is closed.
pub const MAX_MALFORMED: usize = 20;

pub const MALFORMED_WINDOW: Duration = Duration::from_secs(10);

/// Inputs a player may send per second; more are dropped and counted.
pub const INPUTS_PER_SECOND: usize = 120;

/// How long a closing connection's writer gets to send what is queued.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// How long a stalled connection gets to take its close frame.
const STALLED_CLOSE_WAIT: Duration = Duration::from_millis(100);

/// Free room in the read buffer before each read (the buffer is reused: what was parsed is
/// reclaimed, so this rarely allocates).
const READ_SPARE_BYTES: usize = 1024;

/// What the upgrade request asked for, and where it came from.
#[derive(Clone)]
pub struct ConnectParams {
    /// `?token=`.
    pub token: Option<String>,
    /// `?codec=`.
    pub codec: Option<Codec>,
    /// The client's address (the key of the per-address limits).
    pub address: std::net::IpAddr,
    /// `?codec=compact`: MessagePack envelopes and compact `state` frames.
    pub compact: bool,
}

/// Runs a connection to its end, on its upgraded socket (`read`: bytes read past the
/// handshake).
pub async fn run(socket: TcpStream, read: Bytes, state: AppState, params: ConnectParams) {
    let conn = state.hub.next_conn_id();
    // `player` is filled in once the connection knows who it is.
    let span = info_span!("ws", conn, player = tracing::field::Empty);
    run_connection(socket, read, state, params, conn)
        .instrument(span)
        .await
}

async fn run_connection(
    socket: TcpStream,
    read: Bytes,
    state: AppState,
    params: ConnectParams,
    conn: ConnId,
) {
    let outbox = Arc::new(if params.compact {
        Outbox::new_compact()
    } else {
        Outbox::new(params.codec.unwrap_or(Codec::Json))
    });
    let (read_half, write_half) = socket.into_split();
    let reader = Reader::new(super::WS_READ_BUFFER_BYTES, MAX_MESSAGE_BYTES, &read);
    // Copied: held past here, it would keep hyper's whole handshake buffer for the connection's life.
    drop(read);
    let mut writer = tokio::spawn(write_frames(
        write_half,
        outbox.clone(),
        state.metrics.clone(),
    ));
    state.metrics.ws_connections.inc();

    let Some(player) = identify(&state, params.token.as_deref(), &outbox).await else {
        outbox.close(CloseReason {
            code: 1011,
            reason: "identity unavailable",
        });
        let _ = timeout(CLOSE_GRACE, &mut writer).await;
        state.metrics.ws_connections.dec();
        return;
    };
    tracing::Span::current().record("player", tracing::field::display(player.info.id));
    // A banned account is refused at the door (issue 14), guests included.
    if let Ok(Some(ban)) = crate::moderation::ban_of(&state, player.info.id).await {
        let error = crate::moderation::SanctionError::new("banned", ban.until_ms, now_ms());
        outbox.push(
            outbox
                .codec()
                .encode_once(&protocol::Envelope::event("error", error)),
        );
        outbox.close(crate::moderation::CLOSE_BANNED);
        let _ = timeout(CLOSE_GRACE, &mut writer).await;
        state.metrics.ws_connections.dec();
        return;
    }
    let role = crate::moderation::role_of(&state, &player.info)
        .await
        .unwrap_or_default();
    debug!("connected");
    state.hub.insert(
        conn,
        ConnEntry {
            player: player.info.clone(),
            outbox: outbox.clone(),
            session: state.tokens.verify(&player.token).map(|claims| claims.sid),
        },
    );
    let mut session = Session {
        conn,
        state: state.clone(),
        outbox: outbox.clone(),
        player,
        codec_fixed: params.codec.is_some(),
        compact: outbox.is_compact(),
        address: params.address,
        malformed: SlidingWindow::new(MAX_MALFORMED, MALFORMED_WINDOW),
        inputs: SlidingWindow::new(INPUTS_PER_SECOND, Duration::from_secs(1)),
    };
    session.say_hello(role);
    session.tell_tick_thread_connected();

    // The reader ends the connection, or the writer does: as it ends it marks the outbox
    // closing and shuts the socket's read side, which stops the reader (the writer's handle is
    // not polled beside the reader: that was a poll of another task's state for every frame read).
    session.read_frames(read_half, reader).await;
    if !writer.is_finished() {
        outbox.close(CloseReason {
            code: 1000,
            reason: "bye",
        });
        let _ = timeout(CLOSE_GRACE, &mut writer).await;
        writer.abort();
    }
    // An aborted writer may have left the send half parked: the socket closes now, not when
    // the last holder of the outbox lets go.
    drop(outbox.unpark());
    state.hub.remove(conn);
    if let Some(cluster) = &state.cluster {
        let reply = ReplyTo {
            outbox: outbox.clone(),
            codec: outbox.codec(),
            request_id: None,
        };
        cluster.forget_conn(conn, &session.player_ref(), &reply);
    }
    let _ = state.commands.send(Command::Disconnected {
        conn,
        player: session.player.info.id,
    });
    state.metrics.ws_connections.dec();
    debug!("disconnected");
}

/// Who a connection is.
struct Identity {
    info: PlayerInfo,
    token: String,
}

/// The player of a valid token, or else a fresh guest (after an `unauthorized` error when a
/// token was given but is not valid). A fresh guest writes nothing to the database.
async fn identify(state: &AppState, token: Option<&str>, outbox: &Outbox) -> Option<Identity> {
    if let Some(token) = token {
        match state.player_of_token(token).await {
            Some(info) => {
                return Some(Identity {
                    info,
                    token: token.to_owned(),
                });
            }
            None => {
                let error =
                    protocol::error(ErrorCode::Unauthorized, "invalid or revoked token", None);
                outbox.push(outbox.codec().encode_once(&error));
            }
        }
    }
    let (info, token) = state.new_guest(None);
    Some(Identity { info, token })
}

struct Session {
    conn: ConnId,
    state: AppState,
    outbox: Arc<Outbox>,
    player: Identity,
    /// The codec was set by `?codec=`; otherwise the first frame sets it.
    codec_fixed: bool,
    /// The connection gets compact `state`s (fixed at connect; read here, not in the outbox,
    /// whose line the senders write).
    compact: bool,
    /// The client's address: chat, invitations and join codes count per player and per
    /// address (`crate::limits`), not per connection.
    address: std::net::IpAddr,
    malformed: SlidingWindow,
    inputs: SlidingWindow,
}

impl Session {
    fn player_ref(&self) -> PlayerRef {
        PlayerRef {
            id: self.player.info.id,
            name: self.player.info.name.clone(),
        }
    }

    fn say_hello(&self, role: arcade_data::moderation::Role) {
        let hello = Hello {
            role: role.as_str(),
            protocol: PROTOCOL_VERSION,
            player: &self.player.info,
            token: &self.player.token,
            tick_rate: self.state.config.tick_rate,
            server_time: now_ms(),
        };
        self.push(
            self.outbox.codec(),
            &protocol::Envelope::event("hello", hello),
        );
    }

    fn tell_tick_thread_connected(&self) {
        let _ = self.state.commands.send(Command::Connected {
            conn: self.conn,
            player: self.player_ref(),
            outbox: self.outbox.clone(),
        });
        // In a cluster, a seat in a match another instance owns is re-attached there.
        if let Some(cluster) = &self.state.cluster {
            cluster.reseat(self.conn, self.player_ref(), self.outbox.clone());
        }
    }

    fn push<T: serde::Serialize>(&self, codec: Codec, message: &T) {
        self.outbox.push(codec.encode_once(message));
    }

    /// Reads frames until the client closes, errs, goes silent past the heartbeat, or the
    /// connection is being closed. Silence for `heartbeat.idle` brings a ping; silence for
    /// `heartbeat.timeout` after it ends the connection (handled as a drop).
    ///
    /// One timer serves the whole connection: a read only notes when it was heard, and the
    /// timer, when it fires, is moved to the deadline that note gives (instead of a timer
    /// registered and cancelled for every frame read).
    ///
    /// Frames are parsed in place in `reader`'s buffer; a message is decoded from its slice. A
    /// frame that breaks RFC 6455 closes the connection with its code (1002, 1007, 1009); a
    /// ping is answered with a pong, a close with a close.
    async fn read_frames(&mut self, mut socket: OwnedReadHalf, mut reader: Reader) {
        let heartbeat = self.state.config.heartbeat;
        let mut pinged = false;
        let mut heard = tokio::time::Instant::now();
        let silence = tokio::time::sleep_until(heard + heartbeat.idle);
        tokio::pin!(silence);
        loop {
            // The writer ended (or a close was asked for): nothing more is read.
            if self.outbox.is_closing() {
                return;
            }
            loop {
                let message = match reader.read_message() {
                    Ok(Some(message)) => message,
                    Ok(None) => break,
                    Err(violation) => {
                        debug!(?violation, "closing: a frame breaks RFC 6455");
                        return self.outbox.close(violation.close_reason());
                    }
                };
                let payload = match message {
                    Message::Text(text) => Payload::Json(text),
                    Message::Binary(bytes) => Payload::Msgpack(bytes),
                    Message::Ping(payload) => {
                        self.outbox.pong(payload);
                        continue;
                    }
                    Message::Pong => continue,
                    Message::Close(code) => return self.outbox.close(frame::close_reply(code)),
                };
                let codec = payload.codec();
                let metrics = &self.state.metrics;
                let bytes = payload.byte_len() as u64;
                metrics.count_frames(Direction::In, codec, self.compact, 1, bytes);
                if !self.codec_fixed {
                    self.codec_fixed = true;
                    self.outbox.set_codec(codec);
                }
                // The hot message in one pass; anything else (a bad input too) the general way.
                match input::decode_input(payload) {
                    Some((input, request_id)) => {
                        self.input(codec, request_id, input, heard.into_std())
                    }
                    None => match codec::decode(payload) {
                        Ok(inbound) => self.handle(codec, inbound, payload).await,
                        Err(error) => self.bad_request(codec, None, error.0),
                    },
                }
                if self.outbox.is_closing() {
                    return;
                }
            }
            let read = tokio::select! {
                biased;
                read = socket.read_buf(reader.buffer(READ_SPARE_BYTES)) => read,
                () = &mut silence => {
                    let wait = if pinged { heartbeat.timeout } else { heartbeat.idle };
                    let due = heard + wait;
                    let now = tokio::time::Instant::now();
                    if due > now {
                        silence.as_mut().reset(due);
                    } else if pinged {
                        debug!("no answer to the heartbeat: dropping");
                        return;
                    } else {
                        pinged = true;
                        heard = now;
                        self.outbox.ping();
                        silence.as_mut().reset(now + heartbeat.timeout);
                    }
                    continue;
                }
            };
            match read {
                // The client went away (or the socket failed): handled as a drop.
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    heard = tokio::time::Instant::now();
                    pinged = false;
                }
            }
        }
    }

    /// Answers `bad_request`; too many of them close the connection.
    fn bad_request(
        &mut self,
        codec: Codec,
        request_id: Option<&codec::RequestId>,
        message: String,
    ) {
        self.push(
            codec,
            &protocol::error(ErrorCode::BadRequest, message, request_id),
        );
        if !self.malformed.allow(Instant::now()) {
            self.outbox.close(CLOSE_TOO_MANY_ERRORS);
        }
    }

    fn reply_to(&self, codec: Codec, request_id: Option<codec::RequestId>) -> ReplyTo {
        ReplyTo {
            outbox: self.outbox.clone(),
            codec,
            request_id,
        }
    }

    async fn handle(&mut self, codec: Codec, inbound: Inbound<'_>, payload: Payload<'_>) {
        let reply = self.reply_to(codec, inbound.request_id.clone());
        match inbound.kind.as_ref() {
            "ws.ping" => {
                if self.data::<protocol::PingData>(&reply, payload).is_none() {
                    return;
                }
                let pong = protocol::Pong {
                    server_time: now_ms(),
                    tick: self.state.clock.tick(),
                };
                let envelope =
                    protocol::Envelope::reply("ws.pong", pong, reply.request_id.as_ref());
                self.push(codec, &envelope);
            }
            "chat.message" => {
                if let Some(chat) = self.data::<ChatSend>(&reply, payload) {
                    self.chat(reply, chat).await;
                }
            }
            "chat.typing" => {
                if let Some(send) = self.data::<social::typing::TypingSend>(&reply, payload) {
                    let (state, sender) = (self.state.clone(), self.player.info.clone());
                    let (codec, request_id) = (reply.codec, reply.request_id.clone());
                    if let Err(message) = social::typing::typing(&state, &sender, reply, send).await
                    {
                        self.bad_request(codec, request_id.as_ref(), message);
                    }
                }
            }
            "auth" => {
                if let Some(auth) = self.data::<AuthRequest>(&reply, payload) {
                    self.auth(reply, auth).await;
                }
            }
            "match.create" => {
                if let Some(create) = self.data::<MatchCreate>(&reply, payload) {
                    if let Some(reason) = self.state.refuses_new_matches() {
                        return reply.error(ErrorCode::Unavailable, reason);
                    }
                    self.to_tick_thread(reply, MatchOp::Create(create));
                    if let Some(cluster) = &self.state.cluster {
                        // Other instances learn of the new match at once, not at the next beat.
                        cluster.beat_soon();
                    }
                }
            }
            "match.join" => {
                if let Some(mut join) = self.data::<MatchJoin>(&reply, payload) {
                    let limits = &self.state.limits;
                    if join.join_code.is_some()
                        && !limits.join_code(self.player.info.id, self.address, Instant::now())
                    {
                        let message = format!(
                            "at most {} join codes a minute",
                            crate::limits::CODE_ATTEMPTS
                        );
                        return reply.error(ErrorCode::RateLimited, message);
                    }
                    if let (Some(cluster), None, Some(code)) = (
                        &self.state.cluster,
                        join.match_id,
                        join.join_code.as_deref(),
                    ) && let Some(id) = cluster.match_of_code(code).await
                    {
                        // A private match of any instance, found by its code in Redis.
                        (join.match_id, join.join_code) = (Some(id), None);
                    } else if let (Some(cluster), Some(id)) = (&self.state.cluster, join.match_id) {
                        // A match created elsewhere within the last second is not in the
                        // heartbeat's list yet: look again before the tick thread says no.
                        let held_here = async {
                            let (reply, answer) = tokio::sync::oneshot::channel();
                            let job = Command::Run(Box::new(move |world| {
                                let _ = reply.send(sim::find_match(world, id).is_some());
                            }));
                            self.state.ask_tick(job, answer).await.unwrap_or(false)
                        };
                        cluster.learn_owner(id, held_here).await;
                    }
                    self.to_tick_thread(reply, MatchOp::Join(join));
                    if let Some(cluster) = &self.state.cluster {
                        // A seat taken here is written to Redis at once (`cluster::seats`).
                        cluster.beat_soon();
                    }
                }
            }
            "match.leave" => {
                if let Some(leave) = self.data::<MatchLeave>(&reply, payload) {
                    self.to_tick_thread(reply, MatchOp::Leave(leave.match_id));
                }
            }
            "state.resync" => {
                if let Some(resync) = self.data::<protocol::StateResync>(&reply, payload) {
                    self.to_tick_thread(reply, MatchOp::Resync(resync.match_id));
                }
            }
            "match.list" => {
                if let Some(list) = self.data::<MatchList>(&reply, payload) {
                    if self.state.cluster.is_none() {
                        return self.to_tick_thread(reply, MatchOp::List(list.game));
                    }
                    // In a cluster, every instance's matches (as `GET /api/matches/live`).
                    match self.state.live_matches(list.game).await {
                        Ok(matches) => reply.ack(serde_json::json!({ "matches": matches })),
                        Err(error) => reply.error(ErrorCode::Unavailable, error.to_string()),
                    }
                }
            }
            "queue.join" => {
                if let Some(join) = self.data::<protocol::QueueJoin>(&reply, payload) {
                    let player = self.player.info.id;
                    let rating = matchmaking::rating_for(&self.state, player, join.game).await;
                    let request = matchmaking::QueueRequest {
                        game: join.game,
                        mode: join.mode,
                        rating,
                    };
                    self.to_tick_thread(reply, MatchOp::QueueJoin(request));
                }
            }
            "queue.leave" => {
                if let Some(protocol::QueueLeave {}) = self.data(&reply, payload) {
                    self.to_tick_thread(reply, MatchOp::QueueLeave);
                }
            }
            "match.invite" => {
                if let Some(invite) = self.data::<protocol::MatchInvite>(&reply, payload) {
                    let limits = &self.state.limits;
                    if !limits.invite(self.player.info.id, self.address, Instant::now()) {
                        let message = format!(
                            "at most {} invitations a minute",
                            crate::limits::INVITES_PER_PLAYER
                        );
                        return reply.error(ErrorCode::RateLimited, message);
                    }
                    social::invite(&self.state, &self.player.info, reply, invite).await;
                }
            }
            "tournament.watch" => {
                if let Some(watch) = self.data::<protocol::TournamentWatch>(&reply, payload) {
                    let id = watch.tournament_id;
                    match crate::tournament::service::view(&self.state, id).await {
                        Ok(view) => {
                            let tournaments = &self.state.tournaments;
                            tournaments.watch(id, self.conn, self.outbox.clone());
                            reply.ack(serde_json::json!({ "tournament": view }));
                        }
                        Err(error) if error.status.as_u16() == 404 => {
                            reply.error(ErrorCode::NotFound, error.message);
                        }
                        Err(error) => reply.error(ErrorCode::Internal, error.message),
                    }
                }
            }
            "tournament.unwatch" => {
                if let Some(watch) = self.data::<protocol::TournamentWatch>(&reply, payload) {
                    let tournaments = &self.state.tournaments;
                    if tournaments.unwatch(watch.tournament_id, self.conn) {
                        reply.ack_bare();
                    } else {
                        reply.error(ErrorCode::NotFound, "not watching that tournament");
                    }
                }
            }
            "input" => {
                if let Some(input) = self.data::<protocol::Input>(&reply, payload) {
                    self.input(codec, reply.request_id, input, Instant::now());
                }
            }
            other => {
                let message = format!("unknown message type {other:?}");
                reply.error(ErrorCode::Unsupported, message);
            }
        }
    }

    /// An `input` (read at `now`): within the rate, to the tick thread (or, in a cluster, to
    /// the match's owner); over it, counted and dropped.
    fn input(
        &mut self,
        codec: Codec,
        request_id: Option<codec::RequestId>,
        input: protocol::Input,
        now: Instant,
    ) {
        if !self.inputs.allow(now) {
            self.state
                .metrics
                .inputs_rejected
                .with_label_values(&["rate"])
                .inc();
            return;
        }
        let reply = InputReply {
            conn: self.conn,
            codec,
            request_id,
        };
        let input = match &self.state.cluster {
            Some(cluster) => {
                let via = reply.to(self.outbox.clone());
                match cluster.forward_input(self.conn, &self.player_ref(), &via, input) {
                    Ok(()) => return,
                    Err(input) => input,
                }
            }
            None => input,
        };
        let player = self.player.info.id;
        let command = Command::Input {
            player,
            input,
            route: self.outbox.input_route(),
            reply,
        };
        if let Err(Closed(Command::Input { reply, .. })) = self.state.commands.send(command) {
            let reply = reply.to(self.outbox.clone());
            reply.error(ErrorCode::Internal, "the game loop is not running");
        }
    }

    /// The typed `data` of a message, or `bad_request` (a missing `data` reads as `{}`).
    fn data<T: DeserializeOwned>(&mut self, reply: &ReplyTo, payload: Payload<'_>) -> Option<T> {
        match codec::decode_data::<T>(payload) {
            Ok(value) => Some(value),
            Err(error) => {
                self.bad_request(reply.codec, reply.request_id.as_ref(), error.0);
                None
            }
        }
    }

    fn to_tick_thread(&self, reply: ReplyTo, op: MatchOp) {
        // In a cluster, a match another instance holds is served there.
        let op = match &self.state.cluster {
            Some(cluster) => match cluster.forward_match(self.conn, &self.player_ref(), &reply, op)
            {
                Ok(()) => return,
                Err(op) => op,
            },
            None => op,
        };
        let command = Command::request(self.conn, self.player_ref(), reply, op);
        if let Err(Closed(Command::Match(request))) = self.state.commands.send(command) {
            request
                .reply
                .error(ErrorCode::Internal, "the game loop is not running");
        }
    }

    async fn chat(&mut self, reply: ReplyTo, chat: ChatSend) {
        let text = chat.text.trim();
        let chars = text.chars().count();
        if chars == 0 || chars > protocol::CHAT_MAX_CHARS {
            let message = format!("text must be 1..={} characters", protocol::CHAT_MAX_CHARS);
            return self.bad_request(reply.codec, reply.request_id.as_ref(), message);
        }
        let global = chat.channel.as_deref().is_none_or(|name| name == "global");
        let counted =
            self.state
                .limits
                .chat(self.player.info.id, self.address, global, Instant::now());
        match counted {
            Ok(()) => {}
            Err(ChatRefusal::Rate) => {
                let message = format!(
                    "at most {CHAT_PER_PLAYER_PER_SECOND} chat messages a second per player \
                     ({CHAT_PER_ADDRESS_PER_SECOND} per address)"
                );
                return reply.error(ErrorCode::RateLimited, message);
            }
            Err(ChatRefusal::SlowMode(interval)) => {
                let message = format!(
                    "global is in slow mode: one message per {} ms",
                    interval.as_millis()
                );
                return reply.error(ErrorCode::RateLimited, message);
            }
        }
        // Channels, delivery and history: `crate::social`.
        let (state, sender) = (self.state.clone(), self.player.info.clone());
        let (codec, request_id) = (reply.codec, reply.request_id.clone());
        if let Err(message) =
            social::send_chat(&state, &sender, reply, chat.channel.as_deref(), text).await
        {
            self.bad_request(codec, request_id.as_ref(), message);
        }
    }

    async fn auth(&mut self, reply: ReplyTo, auth: AuthRequest) {
        let Some(info) = self.state.player_of_token(&auth.token).await else {
            return reply.error(ErrorCode::Unauthorized, "invalid or revoked token");
        };
        // A banned account's token closes the connection (issue 14).
        if let Ok(Some(ban)) = crate::moderation::ban_of(&self.state, info.id).await {
            let error = crate::moderation::SanctionError::new("banned", ban.until_ms, now_ms());
            let envelope = protocol::Envelope::reply("error", error, reply.request_id.as_ref());
            self.outbox.push(reply.codec.encode_once(&envelope));
            return self.outbox.close(crate::moderation::CLOSE_BANNED);
        }
        if info.id != self.player.info.id {
            if let Some(cluster) = &self.state.cluster {
                cluster.forget_conn(self.conn, &self.player_ref(), &reply);
            }
            let _ = self.state.commands.send(Command::Disconnected {
                conn: self.conn,
                player: self.player.info.id,
            });
            self.player = Identity {
                info: info.clone(),
                token: auth.token,
            };
            self.state.hub.update_player(self.conn, info.clone());
            tracing::Span::current().record("player", tracing::field::display(info.id));
            self.tell_tick_thread_connected();
        } else {
            self.player.token = auth.token;
        }
        // Logout of this token's session closes the connection (accounts.rs).
        let session = self.state.tokens.verify(&self.player.token).map(|c| c.sid);
        self.state.hub.update_session(self.conn, session);
        #[derive(serde::Serialize)]
        struct AuthReply<'a> {
            player: &'a PlayerInfo,
        }
        reply.ack(AuthReply {
            player: &self.player.info,
        });
    }
}

/// Writes what the outbox holds to the socket until the connection closes, counting frames
/// and bytes out. A socket that accepts nothing for [`SEND_STALL_LIMIT`] is closed with 1008.
///
/// The send half is parked in the outbox between writes: after a tick a sender
/// (`bridge::wake`) writes the `state`s itself when the socket takes them at once, and wakes
/// this task only for what it could not finish; replies, events, pongs and chat wake this task.
/// This task waits for the socket (`writable`) only when it is full.
///
/// The connection ends with this task: as it ends it marks the outbox closing and shuts the
/// socket's read side, so the reader, waiting for bytes or not, stops (it reads 0, or sees the
/// mark after the frame it is handling).
pub async fn write_frames(socket: OwnedWriteHalf, outbox: Arc<Outbox>, metrics: Arc<Metrics>) {
    let parked = write_until_done(socket, &outbox, metrics).await;
    outbox.mark_closing();
    let _ = socket2::SockRef::from(parked.socket.as_ref()).shutdown(std::net::Shutdown::Read);
}

/// [`write_frames`] until the connection is closed, the socket fails, or it stalls; returns the
/// send half.
async fn write_until_done(
    socket: OwnedWriteHalf,
    outbox: &Outbox,
    metrics: Arc<Metrics>,
) -> Parked {
    let mut batch = Batch::default();
    let compact = outbox.is_compact();
    outbox.park(Parked::new(socket, metrics), false);
    loop {
        outbox.wait().await;
        // None: a sender is writing; it parks the send half again and wakes this task if
        // anything is left.
        let Some(mut parked) = outbox.unpark() else {
            continue;
        };
        loop {
            outbox.take(&mut batch);
            parked.enqueue(&mut batch, compact);
            if parked.unsent.is_empty() && batch.close.is_none() {
                break;
            }
            // One deadline for the whole batch (it is one tick's worth, or a few replies).
            match timeout(SEND_STALL_LIMIT, parked.write_all()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return parked,
                Err(_) => {
                    close_stalled(&mut parked).await;
                    return parked;
                }
            }
            if let Some(reason) = batch.close.take() {
                parked.unsent.push(Out::Close(reason));
                let _ = timeout(CLOSE_GRACE, parked.write_all()).await;
                return parked;
            }
        }
        outbox.park(parked, false);
    }
}

/// Envelope frames and their bytes handed to a socket, per codec, until reported.
#[derive(Default)]
pub(crate) struct FrameCounts([(u64, u64); 2]);

impl FrameCounts {
    pub(crate) fn add(&mut self, frame: &Frame) {
        if let Some(codec) = frame.codec() {
            self.0[codec.index()].0 += 1;
            self.0[codec.index()].1 += frame.len() as u64;
        }
    }

    pub(crate) fn report(&mut self, metrics: &Metrics, compact: bool) {
        for codec in Codec::ALL {
            let (frames, bytes) = std::mem::take(&mut self.0[codec.index()]);
            metrics.count_frames(Direction::Out, codec, compact, frames, bytes);
        }
    }
}

/// Tries, briefly, to tell a stalled client why it is dropped (after the frame it is in the
/// middle of, if any); then the socket is dropped.
async fn close_stalled(parked: &mut Parked) {
    parked.unsent.keep_begun();
    parked.unsent.push(Out::Close(CLOSE_TOO_SLOW));
    let _ = timeout(STALLED_CLOSE_WAIT, parked.write_all()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::testing::loopback;

    #[tokio::test(start_paused = true)]
    async fn a_socket_that_takes_nothing_for_five_seconds_is_given_up() {
        let (socket, _peer) = loopback().await;
        let outbox = Arc::new(Outbox::new(Codec::Json));
        // More than the socket and its unread peer hold.
        outbox.push(Frame::Binary(Bytes::from(vec![0; 8 << 20])));
        let (mut read_half, write_half) = socket.into_split();
        let writer = tokio::spawn(write_frames(
            write_half,
            outbox.clone(),
            Arc::new(Metrics::new()),
        ));
        tokio::time::sleep(SEND_STALL_LIMIT - Duration::from_millis(100)).await;
        assert!(!writer.is_finished(), "still trying before the limit");
        assert!(!outbox.is_closing());
        tokio::time::sleep(Duration::from_millis(100) + STALLED_CLOSE_WAIT * 2).await;
        assert!(writer.is_finished(), "given up after the limit");
        // The reader stops with the writer: the outbox says so, and a read waiting on the
        // socket (whose peer is still open) ends with 0 bytes.
        assert!(outbox.is_closing());
        let mut buffer = [0; 16];
        assert_eq!(read_half.read(&mut buffer).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_writer_that_sent_the_close_stops_a_reader_waiting_on_the_socket() {
        let (socket, _peer) = loopback().await;
        let outbox = Arc::new(Outbox::new(Codec::Json));
        let (mut read_half, write_half) = socket.into_split();
        let writer = tokio::spawn(write_frames(
            write_half,
            outbox.clone(),
            Arc::new(Metrics::new()),
        ));
        let mut buffer = [0; 16];
        let reading = read_half.read(&mut buffer);
        outbox.close(CLOSE_TOO_MANY_ERRORS);
        let read = timeout(Duration::from_secs(5), reading).await;
        assert_eq!(read.expect("the read ended").unwrap(), 0);
        writer.await.unwrap();
    }
}
