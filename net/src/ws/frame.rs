//! RFC 6455 framing, server side (tokio threads: a connection's reader parses what its socket
//! read; whoever writes its socket — the connection's writer task or a sender of
//! `bridge::wake` — frames what goes out).
//!
//! - [`Reader`]: one reused buffer per connection; frames are parsed and unmasked in place, a
//!   message is handed out as a slice of that buffer (fragments are reassembled beside it), and
//!   every violation names its close code ([`Violation`]).
//! - [`Unsent`]: the frames handed to a socket and not yet written, handed to one write as
//!   `[head, payload, head, payload, ...]`: heads are computed into a small array on the
//!   stack, payloads are the shared bytes the tick thread encoded once (the write gathers small
//!   ones for one `send`: `crate::outbox::Parked::write_now`). A partial write leaves the rest
//!   first in line.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use bytes::{Buf, Bytes, BytesMut};

use crate::outbox::{CLOSE_INVALID_UTF8, CLOSE_PROTOCOL, CLOSE_TOO_LARGE, CloseReason};
use crate::wire::codec::Frame;

/// Opcode of a continuation frame.
const OP_CONTINUATION: u8 = 0x0;
/// Opcode of a text frame.
const OP_TEXT: u8 = 0x1;
/// Opcode of a binary frame.
const OP_BINARY: u8 = 0x2;
/// Opcode of a close frame.
const OP_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
const OP_PING: u8 = 0x9;
/// Opcode of a pong frame.
const OP_PONG: u8 = 0xA;

/// The FIN bit of a frame's first byte.
const FIN: u8 = 0x80;
/// The three reserved bits of a frame's first byte (no extension is negotiated).
const RESERVED: u8 = 0x70;
/// The MASK bit of a frame's second byte.
const MASKED: u8 = 0x80;
/// The longest payload a control frame may carry.
const MAX_CONTROL_PAYLOAD: usize = 125;

/// The longest head the server writes: 2 bytes, 8 of length, and a close frame's code (which
/// travels with the head, so that a close frame's reason is its payload).
const MAX_HEAD: usize = 12;

/// Frames written by one vectored write at most (two slices each).
const FRAMES_PER_WRITE: usize = 32;

/// What makes the server close a connection while reading (RFC 6455 section 7.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Unmasked client frame, reserved bit or opcode, bad fragmentation, bad control frame:
    /// 1002.
    Protocol,
    /// A message longer than the limit, after reassembly: 1009.
    TooLarge,
    /// A text message that is not UTF-8: 1007.
    InvalidUtf8,
}

impl Violation {
    /// The close frame it is answered with.
    pub fn close_reason(self) -> CloseReason {
        match self {
            Violation::Protocol => CLOSE_PROTOCOL,
            Violation::TooLarge => CLOSE_TOO_LARGE,
            Violation::InvalidUtf8 => CLOSE_INVALID_UTF8,
        }
    }
}

/// A message read, borrowed from the reader's buffer until the next read.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (UTF-8, checked here, so that its readers need not check it again).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A ping, with the payload its pong must carry.
    Ping(&'a [u8]),
    /// A pong.
    Pong,
    /// A close frame, with its code if it had one.
    Close(Option<u16>),
}

/// Where the message [`Reader::read_message`] found lies.
enum Found {
    /// In the read buffer: opcode and payload range.
    InPlace(u8, std::ops::Range<usize>),
    /// Reassembled from fragments: the first fragment's opcode.
    Assembled(u8),
    Pong,
    Close(Option<u16>),
}

/// A frame's head, parsed.
struct Head {
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    /// Bytes of head.
    len: usize,
    /// Bytes of payload.
    payload: usize,
}

/// Parses the head at the start of `buf`, or None while it is incomplete.
fn parse_head(buf: &[u8], masked: bool) -> Result<Option<Head>, Violation> {
    let [first, second, ..] = *buf else {
        return Ok(None);
    };
    if first & RESERVED != 0 || (second & MASKED != 0) != masked {
        return Err(Violation::Protocol);
    }
    let (mut len, payload) = match second & 0x7F {
        126 => {
            let Some(bytes) = buf.get(2..4) else {
                return Ok(None);
            };
            (4, usize::from(u16::from_be_bytes([bytes[0], bytes[1]])))
        }
        127 => {
            let Some(bytes) = buf.get(2..10) else {
                return Ok(None);
            };
            let long = u64::from_be_bytes(bytes.try_into().expect("8 bytes"));
            if long >> 63 != 0 {
                return Err(Violation::Protocol);
            }
            (10, usize::try_from(long).unwrap_or(usize::MAX))
        }
        short => (2, usize::from(short)),
    };
    let mask = if masked {
        let Some(key) = buf.get(len..len + 4) else {
            return Ok(None);
        };
        len += 4;
        Some(key.try_into().expect("4 bytes"))
    } else {
        None
    };
    let head = Head {
        fin: first & FIN != 0,
        opcode: first & 0x0F,
        mask,
        len,
        payload,
    };
    match head.opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
        OP_CLOSE | OP_PING | OP_PONG if head.fin && head.payload <= MAX_CONTROL_PAYLOAD => {}
        _ => return Err(Violation::Protocol),
    }
    Ok(Some(head))
}

/// XORs `payload` with the frame's masking key, in place.
fn unmask(payload: &mut [u8], key: [u8; 4]) {
    let word = u32::from_ne_bytes(key);
    let mut chunks = payload.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let value = u32::from_ne_bytes((&*chunk).try_into().expect("4 bytes")) ^ word;
        chunk.copy_from_slice(&value.to_ne_bytes());
    }
    for (byte, k) in chunks.into_remainder().iter_mut().zip(key) {
        *byte ^= k;
    }
}

/// A connection's incoming frames: bytes read go into [`Reader::buffer`], messages come out
/// of [`Reader::read_message`].
pub struct Reader {
    /// Bytes read and not yet consumed; a message read in one frame is handed out from here.
    buf: BytesMut,
    /// Bytes of `buf` the last message handed out still occupies.
    consumed: usize,
    /// The message being reassembled from fragments (and, once `assembled`, handed out).
    fragments: Vec<u8>,
    /// The opcode of the first fragment while a fragmented message is being read.
    fragmented: Option<u8>,
    /// `fragments` holds the message last handed out.
    assembled: bool,
    /// The longest message, after reassembly.
    max_message: usize,
    /// Whether frames must be masked (true on the server: frames from a client).
    masked: bool,
}

impl Reader {
    /// A reader of client frames (masked) with a buffer of `capacity` bytes to begin with, and
    /// bytes already read past the handshake (`read`).
    pub fn new(capacity: usize, max_message: usize, read: &[u8]) -> Reader {
        let mut buf = BytesMut::with_capacity(capacity.max(read.len()));
        buf.extend_from_slice(read);
        Reader {
            buf,
            consumed: 0,
            fragments: Vec::new(),
            fragmented: None,
            assembled: false,
            max_message,
            masked: true,
        }
    }

    /// A reader of server frames (unmasked), for tests that read what the server writes.
    #[cfg(test)]
    pub(crate) fn of_server(max_message: usize) -> Reader {
        Reader {
            masked: false,
            ..Reader::new(0, max_message, &[])
        }
    }

    /// Lets go of the message last handed out.
    fn release(&mut self) {
        self.buf.advance(std::mem::take(&mut self.consumed));
        if std::mem::take(&mut self.assembled) {
            self.fragments.clear();
        }
    }

    /// The buffer to read into, with at least `spare` bytes free.
    pub fn buffer(&mut self, spare: usize) -> &mut BytesMut {
        self.release();
        self.buf.reserve(spare);
        &mut self.buf
    }

    /// The next complete message in what was read, or None until more is read. After an
    /// error the connection must be closed (with [`Violation::close_reason`]).
    pub fn read_message(&mut self) -> Result<Option<Message<'_>>, Violation> {
        self.release();
        let found = loop {
            let Some(head) = parse_head(&self.buf, self.masked)? else {
                return Ok(None);
            };
            let data = matches!(head.opcode, OP_CONTINUATION | OP_TEXT | OP_BINARY);
            if data && self.fragments.len().saturating_add(head.payload) > self.max_message {
                return Err(Violation::TooLarge);
            }
            let total = head.len + head.payload;
            if self.buf.len() < total {
                self.buf.reserve(total - self.buf.len());
                return Ok(None);
            }
            let payload = head.len..total;
            if let Some(key) = head.mask {
                unmask(&mut self.buf[payload.clone()], key);
            }
            match (head.opcode, self.fragmented) {
                (OP_TEXT | OP_BINARY, Some(_)) | (OP_CONTINUATION, None) => {
                    return Err(Violation::Protocol);
                }
                (OP_TEXT | OP_BINARY, None) if head.fin => {
                    self.consumed = total;
                    break Found::InPlace(head.opcode, payload);
                }
                (OP_TEXT | OP_BINARY, None) => {
                    self.fragmented = Some(head.opcode);
                    self.fragments.extend_from_slice(&self.buf[payload]);
                    self.buf.advance(total);
                }
                (OP_CONTINUATION, Some(opcode)) => {
                    self.fragments.extend_from_slice(&self.buf[payload]);
                    self.buf.advance(total);
                    if head.fin {
                        self.fragmented = None;
                        self.assembled = true;
                        break Found::Assembled(opcode);
                    }
                }
                (OP_PING, _) => {
                    self.consumed = total;
                    break Found::InPlace(OP_PING, payload);
                }
                (OP_PONG, _) => {
                    self.buf.advance(total);
                    break Found::Pong;
                }
                _ => {
                    let code = match self.buf[payload] {
                        [] => None,
                        [high, low, ref reason @ ..] => {
                            if std::str::from_utf8(reason).is_err() {
                                return Err(Violation::InvalidUtf8);
                            }
                            Some(u16::from_be_bytes([high, low]))
                        }
                        [_] => return Err(Violation::Protocol),
                    };
                    self.consumed = total;
                    break Found::Close(code);
                }
            }
        };
        let (opcode, bytes) = match found {
            Found::InPlace(opcode, range) => (opcode, &self.buf[range]),
            Found::Assembled(opcode) => (opcode, &self.fragments[..]),
            Found::Pong => return Ok(Some(Message::Pong)),
            Found::Close(code) => return Ok(Some(Message::Close(code))),
        };
        Ok(Some(match opcode {
            OP_TEXT => {
                Message::Text(std::str::from_utf8(bytes).map_err(|_| Violation::InvalidUtf8)?)
            }
            OP_BINARY => Message::Binary(bytes),
            _ => Message::Ping(bytes),
        }))
    }
}

/// The close frame answering a client's close frame: its code echoed when a client may send
/// it (RFC 6455 section 7.4), 1000 when it had none, else 1002.
pub fn close_reply(code: Option<u16>) -> CloseReason {
    match code {
        None => CloseReason {
            code: 1000,
            reason: "",
        },
        Some(code @ (1000..=1003 | 1007..=1011 | 3000..=4999)) => CloseReason { code, reason: "" },
        Some(_) => CLOSE_PROTOCOL,
    }
}

/// A frame for the server to write.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    /// A data frame or the heartbeat's ping, as pushed to the outbox.
    Frame(Frame),
    /// The answer to a client's ping.
    Pong(Bytes),
    /// A close frame.
    Close(CloseReason),
}

/// A server frame's head (FIN set, unmasked), with a close frame's code after it.
#[derive(Clone, Copy)]
struct WireHead {
    bytes: [u8; MAX_HEAD],
    len: u8,
}

impl WireHead {
    fn new(opcode: u8, payload: usize, code: Option<u16>) -> WireHead {
        let mut bytes = [0; MAX_HEAD];
        bytes[0] = FIN | opcode;
        let code_len = if code.is_some() { 2 } else { 0 };
        let length = payload + code_len;
        let mut len = if length < 126 {
            bytes[1] = length as u8;
            2
        } else if let Ok(short) = u16::try_from(length) {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&short.to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(length as u64).to_be_bytes());
            10
        };
        if let Some(code) = code {
            bytes[len..len + 2].copy_from_slice(&code.to_be_bytes());
            len += 2;
        }
        WireHead {
            bytes,
            len: len as u8,
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Out {
    /// The payload written after the head.
    fn payload(&self) -> &[u8] {
        match self {
            Out::Frame(frame) => frame_payload(frame),
            Out::Pong(bytes) => bytes,
            Out::Close(reason) => reason.reason.as_bytes(),
        }
    }

    fn head(&self) -> WireHead {
        let (opcode, code) = match self {
            Out::Frame(frame) => (frame_opcode(frame), None),
            Out::Pong(_) => (OP_PONG, None),
            Out::Close(reason) => (OP_CLOSE, Some(reason.code)),
        };
        WireHead::new(opcode, self.payload().len(), code)
    }
}

fn frame_payload(frame: &Frame) -> &[u8] {
    match frame {
        Frame::Text(text) => text.as_bytes(),
        Frame::Binary(bytes) => bytes,
        Frame::Ping => &[],
    }
}

fn frame_opcode(frame: &Frame) -> u8 {
    match frame {
        Frame::Text(_) => OP_TEXT,
        Frame::Binary(_) => OP_BINARY,
        Frame::Ping => OP_PING,
    }
}

/// Appends `frame` as it goes on the wire (its head, then its payload) to `buffer`: for a
/// frame written whole with one `send` from a reused buffer.
pub fn write_whole(frame: &Frame, buffer: &mut Vec<u8>) {
    let payload = frame_payload(frame);
    let head = WireHead::new(frame_opcode(frame), payload.len(), None);
    buffer.extend_from_slice(head.as_slice());
    buffer.extend_from_slice(payload);
}

/// Frames handed to a socket and not yet (completely) written, in order.
#[derive(Default)]
pub struct Unsent {
    frames: VecDeque<Out>,
    /// Bytes of the first frame (head and payload) already written.
    written: usize,
}

impl Unsent {
    pub fn push(&mut self, out: Out) {
        self.frames.push_back(out);
    }

    /// Queues a frame whose first `written` bytes (head included) the socket already took,
    /// when nothing else is unsent (a frame written whole that the socket took only in part).
    pub fn push_begun(&mut self, out: Out, written: usize) {
        debug_assert!(self.frames.is_empty(), "a begun frame goes first");
        self.frames.push_back(out);
        self.written = written;
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The frames not yet completely written (the first may be partly written).
    pub fn frames(&self) -> impl Iterator<Item = &Out> {
        self.frames.iter()
    }

    /// After a stall: forgets every frame not begun (a frame partly written must be finished
    /// before any other can follow it, a close frame for instance).
    pub fn keep_begun(&mut self) {
        let begun = usize::from(self.written > 0);
        self.frames.truncate(begun);
    }

    /// Writes with `write` (a vectored write that does not wait) until everything is written
    /// (true) or the socket takes no more (false: it would block).
    pub fn write_with(
        &mut self,
        mut write: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<bool> {
        while !self.frames.is_empty() {
            // A lone frame (a tick's `state`, the usual case) without laying out room for 32.
            let wrote = if self.frames.len() == 1 {
                self.write_some::<1>(&mut write)?
            } else {
                self.write_some::<FRAMES_PER_WRITE>(&mut write)?
            };
            if !wrote {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One vectored write of up to `N` frames from the front: false when it would block.
    fn write_some<const N: usize>(
        &mut self,
        write: &mut impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<bool> {
        let mut heads = [WireHead::new(0, 0, None); N];
        for (head, out) in heads.iter_mut().zip(&self.frames) {
            *head = out.head();
        }
        let mut slices = [[IoSlice::new(&[]); 2]; N];
        let mut used = 0;
        let mut skip = self.written;
        for (head, out) in heads.iter().zip(&self.frames) {
            for part in [head.as_slice(), out.payload()] {
                if skip >= part.len() {
                    skip -= part.len();
                    continue;
                }
                slices.as_flattened_mut()[used] = IoSlice::new(&part[skip..]);
                skip = 0;
                used += 1;
            }
        }
        let wrote = match write(&slices.as_flattened()[..used]) {
            Ok(0) if used > 0 => return Err(io::ErrorKind::WriteZero.into()),
            Ok(wrote) => wrote,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(error) => return Err(error),
        };
        self.advance(wrote, &heads);
        Ok(true)
    }

    /// Drops the `wrote` bytes the socket took from the front.
    fn advance(&mut self, wrote: usize, heads: &[WireHead]) {
        let mut left = self.written + wrote;
        for head in heads {
            let Some(out) = self.frames.front() else {
                break;
            };
            let len = head.as_slice().len() + out.payload().len();
            if left < len {
                break;
            }
            left -= len;
            self.frames.pop_front();
        }
        self.written = left;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::CLOSE_TOO_SLOW;
    use proptest::prelude::*;

    /// A client frame: masked with `key`.
    fn client_frame(opcode: u8, fin: bool, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut frame = vec![if fin { FIN } else { 0 } | opcode];
        match payload.len() {
            len @ 0..126 => frame.push(MASKED | len as u8),
            len @ 126..=0xFFFF => {
                frame.push(MASKED | 126);
                frame.extend((len as u16).to_be_bytes());
            }
            len => {
                frame.push(MASKED | 127);
                frame.extend((len as u64).to_be_bytes());
            }
        }
        frame.extend(key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        frame
    }

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// Every message in `bytes`, read whole.
    fn read_all(reader: &mut Reader, bytes: &[u8]) -> Result<Vec<Owned>, Violation> {
        reader.buffer(bytes.len()).extend_from_slice(bytes);
        let mut messages = Vec::new();
        while let Some(message) = reader.read_message()? {
            messages.push(Owned::from(message));
        }
        Ok(messages)
    }

    /// A [`Message`] that owns its bytes.
    #[derive(Clone, Debug, PartialEq)]
    enum Owned {
        Text(Vec<u8>),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong,
        Close(Option<u16>),
    }

    impl From<Message<'_>> for Owned {
        fn from(message: Message<'_>) -> Owned {
            match message {
                Message::Text(text) => Owned::Text(text.as_bytes().to_vec()),
                Message::Binary(bytes) => Owned::Binary(bytes.to_vec()),
                Message::Ping(bytes) => Owned::Ping(bytes.to_vec()),
                Message::Pong => Owned::Pong,
                Message::Close(code) => Owned::Close(code),
            }
        }
    }

    #[test]
    fn every_length_encoding_is_read_and_written() {
        for len in [0, 1, 125, 126, 127, 0xFFFF, 0x1_0000, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut reader = Reader::new(16, 100_000, &[]);
            let frame = client_frame(OP_BINARY, true, &payload, KEY);
            let head = frame.len() - len;
            assert_eq!(
                head,
                4 + [2, 4, 10][usize::from(len >= 126) + usize::from(len > 0xFFFF)]
            );
            assert_eq!(
                read_all(&mut reader, &frame),
                Ok(vec![Owned::Binary(payload.clone())])
            );

            // The server's frame of it, read as a client reads it.
            let mut unsent = Unsent::default();
            unsent.push(Out::Frame(Frame::Binary(Bytes::from(payload.clone()))));
            let mut wire = Vec::new();
            assert!(
                unsent
                    .write_with(|slices| collect(&mut wire, slices, usize::MAX))
                    .unwrap()
            );
            assert_eq!(wire.len(), head - 4 + len, "unmasked, no key");
            let mut client = Reader::of_server(100_000);
            assert_eq!(
                read_all(&mut client, &wire),
                Ok(vec![Owned::Binary(payload)])
            );
        }
    }

    /// Appends at most `room` bytes of `slices` to `wire`, as a socket takes them.
    fn collect(wire: &mut Vec<u8>, slices: &[IoSlice<'_>], room: usize) -> io::Result<usize> {
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut took = 0;
        for slice in slices {
            let take = slice.len().min(room - took);
            wire.extend_from_slice(&slice[..take]);
            took += take;
            if took == room {
                break;
            }
        }
        Ok(took)
    }

    #[test]
    fn frames_are_unmasked_and_an_unmasked_client_frame_is_refused() {
        let mut reader = Reader::new(64, 1024, &[]);
        let frame = client_frame(OP_TEXT, true, b"{\"type\":\"ws.ping\"}", [1, 2, 3, 4]);
        assert_eq!(
            read_all(&mut reader, &frame),
            Ok(vec![Owned::Text(b"{\"type\":\"ws.ping\"}".to_vec())])
        );
        let mut unmasked = client_frame(OP_TEXT, true, b"hi", [0; 4]);
        unmasked[1] &= !MASKED;
        unmasked.drain(2..6);
        assert_eq!(read_all(&mut reader, &unmasked), Err(Violation::Protocol));
        assert_eq!(Violation::Protocol.close_reason().code, 1002);
    }

    #[test]
    fn fragments_are_reassembled_around_control_frames() {
        let mut reader = Reader::new(64, 1024, &[]);
        let mut bytes = client_frame(OP_TEXT, false, b"hel", KEY);
        bytes.extend(client_frame(OP_PING, true, b"p", KEY));
        bytes.extend(client_frame(OP_CONTINUATION, false, b"lo ", KEY));
        bytes.extend(client_frame(OP_PONG, true, b"", KEY));
        bytes.extend(client_frame(OP_CONTINUATION, true, "wörld".as_bytes(), KEY));
        bytes.extend(client_frame(OP_BINARY, true, b"\x81\xa1", KEY));
        bytes.extend(client_frame(OP_CLOSE, true, &1001u16.to_be_bytes(), KEY));
        assert_eq!(
            read_all(&mut reader, &bytes),
            Ok(vec![
                Owned::Ping(b"p".to_vec()),
                Owned::Pong,
                Owned::Text("hello wörld".as_bytes().to_vec()),
                Owned::Binary(b"\x81\xa1".to_vec()),
                Owned::Close(Some(1001)),
            ])
        );
    }

    #[test]
    fn a_message_over_the_limit_is_too_large_whole_or_in_fragments() {
        let mut reader = Reader::new(64, 100, &[]);
        let whole = client_frame(OP_BINARY, true, &[7; 101], KEY);
        // Refused from its head, before the payload arrives.
        assert_eq!(read_all(&mut reader, &whole[..8]), Err(Violation::TooLarge));
        let mut reader = Reader::new(64, 100, &[]);
        assert_eq!(
            read_all(&mut reader, &client_frame(OP_BINARY, true, &[7; 100], KEY)),
            Ok(vec![Owned::Binary(vec![7; 100])])
        );
        let mut bytes = client_frame(OP_BINARY, false, &[1; 60], KEY);
        bytes.extend(client_frame(OP_CONTINUATION, true, &[2; 41], KEY));
        assert_eq!(read_all(&mut reader, &bytes), Err(Violation::TooLarge));
        assert_eq!(Violation::TooLarge.close_reason().code, 1009);
    }

    #[test]
    fn protocol_violations_are_refused() {
        let cases: [(&str, Vec<u8>); 7] = [
            ("reserved opcode", client_frame(0x3, true, b"", KEY)),
            ("reserved control opcode", client_frame(0xB, true, b"", KEY)),
            ("reserved bit", {
                let mut frame = client_frame(OP_TEXT, true, b"x", KEY);
                frame[0] |= 0x40;
                frame
            }),
            ("fragmented ping", client_frame(OP_PING, false, b"", KEY)),
            ("long ping", client_frame(OP_PING, true, &[0; 126], KEY)),
            (
                "continuation first",
                client_frame(OP_CONTINUATION, true, b"x", KEY),
            ),
            ("new message inside another", {
                let mut bytes = client_frame(OP_TEXT, false, b"x", KEY);
                bytes.extend(client_frame(OP_BINARY, true, b"y", KEY));
                bytes
            }),
        ];
        for (what, bytes) in cases {
            let mut reader = Reader::new(64, 1024, &[]);
            assert_eq!(
                read_all(&mut reader, &bytes),
                Err(Violation::Protocol),
                "{what}"
            );
        }
        let mut reader = Reader::new(64, 1024, &[]);
        let bad = client_frame(OP_TEXT, true, &[0xff, 0xfe], KEY);
        assert_eq!(read_all(&mut reader, &bad), Err(Violation::InvalidUtf8));
        assert_eq!(Violation::InvalidUtf8.close_reason().code, 1007);
    }

    #[test]
    fn a_close_is_answered_with_its_code_when_a_client_may_send_it() {
        assert_eq!(close_reply(Some(1001)).code, 1001);
        assert_eq!(close_reply(Some(4000)).code, 4000);
        assert_eq!(close_reply(None).code, 1000);
        assert_eq!(close_reply(Some(1005)).code, 1002);
        assert_eq!(close_reply(Some(999)).code, 1002);
    }

    #[test]
    fn a_partial_write_leaves_the_rest_first_in_line() {
        let frames = [
            Out::Frame(Frame::Text("one".into())),
            Out::Frame(Frame::Binary(Bytes::from(vec![2; 300]))),
            Out::Frame(Frame::Ping),
            Out::Pong(Bytes::from_static(b"p")),
            Out::Frame(Frame::Text("five".into())),
            Out::Close(CLOSE_TOO_SLOW),
        ];
        let mut unsent = Unsent::default();
        frames.iter().cloned().for_each(|out| unsent.push(out));
        let mut wire = Vec::new();
        // A socket that takes 7 bytes a call, 3 calls at a time.
        loop {
            let mut calls = 0;
            let done = unsent
                .write_with(|slices| {
                    calls += 1;
                    collect(&mut wire, slices, if calls > 3 { 0 } else { 7 })
                })
                .unwrap();
            if done {
                break;
            }
            assert!(!unsent.is_empty());
        }
        let mut client = Reader::of_server(1024);
        let read = read_all(&mut client, &wire).unwrap();
        let mut close = 1008u16.to_be_bytes().to_vec();
        close.extend(b"too slow to read");
        assert_eq!(
            read,
            [
                Owned::Text(b"one".to_vec()),
                Owned::Binary(vec![2; 300]),
                Owned::Ping(vec![]),
                Owned::Pong,
                Owned::Text(b"five".to_vec()),
                Owned::Close(Some(1008)),
            ]
        );
        assert!(wire.ends_with(&close));

        // After a stall, only a frame already begun is finished.
        let mut unsent = Unsent::default();
        frames.iter().cloned().for_each(|out| unsent.push(out));
        let (mut wire, mut calls) = (Vec::new(), 0);
        let done = unsent.write_with(|slices| {
            calls += 1;
            collect(&mut wire, slices, if calls > 1 { 0 } else { 4 })
        });
        assert!(!done.unwrap(), "4 bytes, then it would block");
        unsent.keep_begun();
        assert_eq!(unsent.frames().count(), 1);
    }

    /// A message a client may send, and its frames.
    fn message_frames() -> impl Strategy<Value = (Vec<Owned>, Vec<u8>)> {
        let message = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Owned::Binary),
            "[a-zé]{0,200}".prop_map(|text| Owned::Text(text.into_bytes())),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Owned::Ping),
            Just(Owned::Pong),
        ];
        proptest::collection::vec((message, 1..4usize, any::<[u8; 4]>()), 0..12).prop_map(
            |messages| {
                let mut bytes = Vec::new();
                for (message, pieces, key) in &messages {
                    let (opcode, payload) = match message {
                        Owned::Binary(payload) => (OP_BINARY, payload.clone()),
                        Owned::Text(payload) => (OP_TEXT, payload.clone()),
                        Owned::Ping(payload) => (OP_PING, payload.clone()),
                        _ => (OP_PONG, Vec::new()),
                    };
                    if opcode & 0x8 != 0 {
                        bytes.extend(client_frame(opcode, true, &payload, *key));
                        continue;
                    }
                    // Fragments (a text message may split inside a character).
                    let size = payload.len().div_ceil(*pieces).max(1);
                    let mut chunks: Vec<&[u8]> = payload.chunks(size).collect();
                    if chunks.is_empty() {
                        chunks.push(&[]);
                    }
                    let last = chunks.len() - 1;
                    for (i, chunk) in chunks.into_iter().enumerate() {
                        let op = if i == 0 { opcode } else { OP_CONTINUATION };
                        bytes.extend(client_frame(op, i == last, chunk, *key));
                    }
                }
                (
                    messages.into_iter().map(|(message, ..)| message).collect(),
                    bytes,
                )
            },
        )
    }

    proptest! {
        #[test]
        fn any_split_of_the_stream_reads_the_same_messages(
            (messages, bytes) in message_frames(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let mut reader = Reader::new(16, 16 * 1024, &[]);
            let mut read = Vec::new();
            let mut from = 0;
            for cut in cuts {
                reader.buffer(1).extend_from_slice(&bytes[from..cut]);
                from = cut;
                while let Some(message) = reader.read_message().unwrap() {
                    read.push(Owned::from(message));
                }
            }
            prop_assert_eq!(read, messages);
        }
    }
}
