//! One WebSocket connection: its identity, its reader (frames in → replies, chat, commands for
//! the tick thread) and its writer task (the [`Outbox`] → the socket). The writer is the only
//! code that awaits the socket's send side; everyone else pushes to the outbox and moves on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arcade_systems::model::{PlayerId, PlayerRef};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::timeout;
use tracing::{Instrument, debug, info_span, warn};

use crate::app::AppState;
use crate::bridge::{Command, MatchOp, ReplyTo};
use crate::codec::{self, Codec, Frame, Inbound};
use crate::hub::{ConnEntry, ConnId};
use crate::limits::SlidingWindow;
use crate::metrics::Direction;
use crate::outbox::{
    Batch, CLOSE_TOO_LARGE, CLOSE_TOO_MANY_ERRORS, CLOSE_TOO_SLOW, CloseReason, Outbox,
};
use crate::protocol::{
    self, AuthRequest, ChatEvent, ChatFrom, ChatSend, ErrorCode, Hello, MatchCreate, MatchJoin,
    MatchLeave, MatchList, PROTOCOL_VERSION, PlayerInfo,
};

/// The largest message a client may send (PROTOCOL.md: 16 KiB, after reassembly).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// How long the writer may wait on a socket that takes nothing before it gives up (1008).
pub const SEND_STALL_LIMIT: Duration = Duration::from_secs(5);
/// `bad_request` answers allowed in [`MALFORMED_WINDOW`] before the connection is closed.
pub const MAX_MALFORMED: usize = 20;
pub const MALFORMED_WINDOW: Duration = Duration::from_secs(10);
/// Chat messages a connection may send per second.
pub const CHAT_PER_SECOND: usize = 5;
/// Inputs a player may send per second; more are dropped and counted.
pub const INPUTS_PER_SECOND: usize = 120;
/// How long a closing connection's writer gets to send what is queued.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// What the upgrade request asked for.
#[derive(Default, Clone)]
pub struct ConnectParams {
    pub token: Option<String>,
    pub codec: Option<Codec>,
}

/// Runs a connection to its end.
pub async fn run(socket: WebSocket, state: AppState, params: ConnectParams) {
    let conn = state.hub.next_conn_id();
    let span = info_span!("ws", conn);
    run_connection(socket, state, params, conn)
        .instrument(span)
        .await
}

async fn run_connection(socket: WebSocket, state: AppState, params: ConnectParams, conn: ConnId) {
    let outbox = Arc::new(Outbox::new(params.codec.unwrap_or(Codec::Json)));
    let (sink, stream) = socket.split();
    let mut writer = tokio::spawn(write_frames(sink, outbox.clone()));
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
    debug!(player = %player.info.id, "connected");
    state.hub.insert(
        conn,
        ConnEntry {
            player: player.info.clone(),
            outbox: outbox.clone(),
        },
    );
    let mut session = Session {
        conn,
        state: state.clone(),
        outbox: outbox.clone(),
        player,
        codec_fixed: params.codec.is_some(),
        malformed: SlidingWindow::new(MAX_MALFORMED, MALFORMED_WINDOW),
        chats: SlidingWindow::new(CHAT_PER_SECOND, Duration::from_secs(1)),
        inputs: SlidingWindow::new(INPUTS_PER_SECOND, Duration::from_secs(1)),
    };
    session.say_hello();
    session.tell_tick_thread_connected();

    tokio::select! {
        _ = session.read_frames(stream) => {}
        _ = &mut writer => {}
    }
    if !writer.is_finished() {
        outbox.close(CloseReason {
            code: 1000,
            reason: "bye",
        });
        let _ = timeout(CLOSE_GRACE, &mut writer).await;
        writer.abort();
    }
    state.hub.remove(conn);
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
/// token was given but is not valid).
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
    match state.new_guest().await {
        Ok((info, token)) => Some(Identity { info, token }),
        Err(error) => {
            warn!(%error, "could not create a guest");
            None
        }
    }
}

struct Session {
    conn: ConnId,
    state: AppState,
    outbox: Arc<Outbox>,
    player: Identity,
    /// The codec was set by `?codec=`; otherwise the first frame sets it.
    codec_fixed: bool,
    malformed: SlidingWindow,
    chats: SlidingWindow,
    inputs: SlidingWindow,
}

impl Session {
    fn player_ref(&self) -> PlayerRef {
        PlayerRef {
            id: self.player.info.id,
            name: self.player.info.name.clone(),
        }
    }

    fn say_hello(&self) {
        let hello = Hello {
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
    }

    fn push<T: serde::Serialize>(&self, codec: Codec, message: &T) {
        self.outbox.push(codec.encode_once(message));
    }

    async fn read_frames(&mut self, mut stream: SplitStream<WebSocket>) {
        while let Some(message) = stream.next().await {
            let (codec, bytes) = match message {
                Ok(Message::Text(text)) => (Codec::Json, Frame::Text(text)),
                Ok(Message::Binary(bytes)) => (Codec::Msgpack, Frame::Binary(bytes)),
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(Message::Close(_)) => return,
                Err(error) => {
                    if is_too_large(error) {
                        self.outbox.close(CLOSE_TOO_LARGE);
                    }
                    return;
                }
            };
            self.state
                .metrics
                .count_frames(Direction::In, codec, 1, bytes.len() as u64);
            if !self.codec_fixed {
                self.codec_fixed = true;
                self.outbox.set_codec(codec);
            }
            let payload: &[u8] = match &bytes {
                Frame::Text(text) => text.as_bytes(),
                Frame::Binary(bytes) => bytes,
            };
            match codec::decode(codec, payload) {
                Ok(inbound) => self.handle(codec, inbound).await,
                Err(error) => self.bad_request(codec, None, error.0),
            }
            if self.outbox.is_closing() {
                return;
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

    async fn handle(&mut self, codec: Codec, inbound: Inbound) {
        let request_id = inbound.request_id.clone();
        let reply = ReplyTo {
            outbox: self.outbox.clone(),
            codec,
            request_id,
        };
        match inbound.kind.as_str() {
            "ws.ping" => {
                let pong = protocol::Pong {
                    server_time: now_ms(),
                    tick: self.state.clock.tick(),
                };
                let envelope =
                    protocol::Envelope::reply("ws.pong", pong, reply.request_id.as_ref());
                self.push(codec, &envelope);
            }
            "chat.message" => {
                if let Some(chat) = self.data::<ChatSend>(&reply, inbound.data) {
                    self.chat(reply, chat);
                }
            }
            "auth" => {
                if let Some(auth) = self.data::<AuthRequest>(&reply, inbound.data) {
                    self.auth(reply, auth).await;
                }
            }
            "match.create" => {
                if let Some(create) = self.data::<MatchCreate>(&reply, inbound.data) {
                    self.to_tick_thread(reply, MatchOp::Create(create));
                }
            }
            "match.join" => {
                if let Some(join) = self.data::<MatchJoin>(&reply, inbound.data) {
                    self.to_tick_thread(reply, MatchOp::Join(join));
                }
            }
            "match.leave" => {
                if let Some(leave) = self.data::<MatchLeave>(&reply, inbound.data) {
                    self.to_tick_thread(reply, MatchOp::Leave(leave.match_id));
                }
            }
            "match.list" => {
                if let Some(list) = self.data::<MatchList>(&reply, inbound.data) {
                    self.to_tick_thread(reply, MatchOp::List(list.game));
                }
            }
            "input" => {
                if let Some(input) = self.data::<protocol::Input>(&reply, inbound.data) {
                    if self.inputs.allow(Instant::now()) {
                        self.to_tick_thread(reply, MatchOp::Input(input));
                    } else {
                        self.state
                            .metrics
                            .inputs_rejected
                            .with_label_values(&["rate"])
                            .inc();
                    }
                }
            }
            other => {
                let message = format!("unknown message type {other:?}");
                reply.error(ErrorCode::Unsupported, message);
            }
        }
    }

    /// The typed `data` of a message, or `bad_request` (a missing `data` reads as `{}`).
    fn data<T: DeserializeOwned>(&mut self, reply: &ReplyTo, data: Option<Value>) -> Option<T> {
        let data = data.unwrap_or_else(|| Value::Object(Default::default()));
        match serde_json::from_value::<T>(data) {
            Ok(value) => Some(value),
            Err(error) => {
                self.bad_request(
                    reply.codec,
                    reply.request_id.as_ref(),
                    format!("invalid data: {error}"),
                );
                None
            }
        }
    }

    fn to_tick_thread(&self, reply: ReplyTo, op: MatchOp) {
        let command = Command::Match {
            conn: self.conn,
            player: self.player_ref(),
            reply,
            op,
        };
        if let Err(crossbeam_channel::SendError(Command::Match { reply, .. })) =
            self.state.commands.send(command)
        {
            reply.error(ErrorCode::Internal, "the game loop is not running");
        }
    }

    fn chat(&mut self, reply: ReplyTo, chat: ChatSend) {
        let text = chat.text.trim();
        let chars = text.chars().count();
        if chars == 0 || chars > protocol::CHAT_MAX_CHARS {
            let message = format!("text must be 1..={} characters", protocol::CHAT_MAX_CHARS);
            return self.bad_request(reply.codec, reply.request_id.as_ref(), message);
        }
        if !self.chats.allow(Instant::now()) {
            return reply.error(ErrorCode::RateLimited, "at most 5 chat messages a second");
        }
        let channel = chat.channel.as_deref().unwrap_or("global");
        let recipients: Option<Vec<PlayerId>> = if channel == "global" {
            None
        } else if let Some(other) = channel.strip_prefix("dm:") {
            match other.parse::<PlayerId>() {
                Ok(other) => Some(vec![self.player.info.id, other]),
                Err(_) => {
                    let message = format!("no such channel {channel:?}");
                    return self.bad_request(reply.codec, reply.request_id.as_ref(), message);
                }
            }
        } else {
            let message = format!("channel {channel:?} is not available");
            return reply.error(ErrorCode::NotFound, message);
        };
        reply.ack_bare();
        let at = arcade_data::time::format_rfc3339_ms(now_ms());
        let event = ChatEvent {
            from: ChatFrom {
                id: self.player.info.id,
                name: &self.player.info.name,
            },
            channel,
            text,
            at: &at,
        };
        let envelope = protocol::Envelope::event("chat.message", event);
        match recipients {
            None => self.state.hub.broadcast(&envelope, |_| true),
            Some(players) => self.state.hub.send_to_players(&envelope, &players),
        }
    }

    async fn auth(&mut self, reply: ReplyTo, auth: AuthRequest) {
        let Some(info) = self.state.player_of_token(&auth.token).await else {
            return reply.error(ErrorCode::Unauthorized, "invalid or revoked token");
        };
        if info.id != self.player.info.id {
            let _ = self.state.commands.send(Command::Disconnected {
                conn: self.conn,
                player: self.player.info.id,
            });
            self.player = Identity {
                info: info.clone(),
                token: auth.token,
            };
            self.state.hub.update_player(self.conn, info.clone());
            self.tell_tick_thread_connected();
        }
        #[derive(serde::Serialize)]
        struct AuthReply<'a> {
            player: &'a PlayerInfo,
        }
        reply.ack(AuthReply {
            player: &self.player.info,
        });
    }
}

fn is_too_large(error: axum::Error) -> bool {
    matches!(
        error.into_inner().downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(_))
    )
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Writes what the outbox holds to the socket until the connection closes. A socket that
/// accepts nothing for [`SEND_STALL_LIMIT`] is closed with 1008.
async fn write_frames(mut sink: SplitSink<WebSocket, Message>, outbox: Arc<Outbox>) {
    let mut batch = Batch::default();
    loop {
        outbox.take(&mut batch);
        if batch.control.is_empty() && batch.states.is_empty() && batch.close.is_none() {
            outbox.wait().await;
            continue;
        }
        let frames = batch
            .control
            .drain(..)
            .chain(batch.states.drain(..).map(|(_, frame)| frame));
        for frame in frames {
            match timeout(SEND_STALL_LIMIT, sink.feed(frame.into_message())).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => return close_stalled(sink).await,
            }
        }
        match timeout(SEND_STALL_LIMIT, sink.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => return close_stalled(sink).await,
        }
        if let Some(reason) = batch.close.take() {
            let frame = close_frame(reason);
            let _ = timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
            return;
        }
    }
}

/// Tries, briefly, to tell a stalled client why it is dropped; then the socket is dropped.
async fn close_stalled(mut sink: SplitSink<WebSocket, Message>) {
    let frame = close_frame(CLOSE_TOO_SLOW);
    let _ = timeout(
        Duration::from_millis(100),
        sink.send(Message::Close(Some(frame))),
    )
    .await;
}

fn close_frame(reason: CloseReason) -> CloseFrame {
    CloseFrame {
        code: reason.code,
        reason: Utf8Bytes::from_static(reason.reason),
    }
}
