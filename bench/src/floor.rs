//! `arcade-bench floor`: the raw-socket floor of the machine, what serving P players costs with
//! no server around it. Its main thread plays the server; a child process (this binary again,
//! `floor --client ADDR`) plays the clients.
//!
//! The server side is the least work a server of Pong 1v1 at 60 Hz must do: non-blocking TCP
//! sockets on loopback, one level-triggered epoll set, and each tick one `send` of a prebuilt
//! WebSocket binary frame (the size of a `state`, `--state-bytes`) per player; each readable
//! socket gets one `recv`, and the masked input frames that came in are counted. No WebSocket
//! library, no tasks, no HTTP upgrade (the handshake is not steady-state work). The clients
//! answer every state frame with one input frame (`--input-bytes`), as `load` and the peers'
//! load generator do with an input per state.
//!
//! After `--settle` seconds it measures for `--duration` seconds: frames out and in per player
//! a second, and the server side's CPU (`getrusage` of its own process: the clients are another
//! process) in ms per player-second, the figure `load` compares the real server against.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The most players one run serves.
const MAX_PLAYERS: usize = 20_000;
/// The longest measuring window, in seconds.
const MAX_SECONDS: u64 = 600;
/// The largest frame payload (a state or an input).
const MAX_PAYLOAD: usize = 64 * 1024 - 1;
/// How long the clients may take to connect.
const CONNECT_WAIT: Duration = Duration::from_secs(30);
/// Events taken from epoll at once.
const EVENTS: usize = 1024;
/// The most client threads.
const MAX_CLIENT_THREADS: usize = 64;
/// Bytes one `recv` reads at most.
const READ_BUFFER: usize = 64 * 1024;

#[derive(clap::Args, Clone)]
pub struct FloorArgs {
    /// Players (connections) served.
    #[arg(long, default_value_t = 400)]
    players: usize,
    /// State frames a second per player (the server's tick rate).
    #[arg(long, default_value_t = 60)]
    tick_rate: u32,
    /// Payload bytes of a state frame (232: a MessagePack Pong 1v1 state; 11: a compact delta).
    #[arg(long, default_value_t = 232)]
    state_bytes: usize,
    /// Payload bytes of an input frame (a MessagePack `input` envelope).
    #[arg(long, default_value_t = 64)]
    input_bytes: usize,
    /// Seconds between the last connection and the start of the measure.
    #[arg(long, default_value_t = 3)]
    settle: u64,
    /// Seconds measured.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Threads of the clients' process, each with its own epoll set and share of the sockets
    /// (`load`'s generator runs 2 by default: the kernel's work of waking a client is charged
    /// to the sender, so the floor's clients sleep and wake as `load`'s do).
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Print the results as one line of JSON.
    #[arg(long)]
    json: bool,
    /// Internal: run as the clients of the server at this address.
    #[arg(long, hide = true)]
    client: Option<SocketAddr>,
}

/// A WebSocket binary frame (FIN, opcode 2) around `payload` zero bytes; masked (with a fixed
/// key) as a client sends it, or not as a server does.
fn ws_frame(payload: usize, masked: bool) -> Vec<u8> {
    let mut frame = vec![0x82];
    let mask_bit = if masked { 0x80 } else { 0 };
    if payload <= 125 {
        frame.push(mask_bit | payload as u8);
    } else {
        frame.push(mask_bit | 126);
        frame.extend_from_slice(&(payload as u16).to_be_bytes());
    }
    if masked {
        frame.extend_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    }
    frame.resize(frame.len() + payload, 0);
    frame
}

/// A level-triggered epoll set.
struct Epoll(RawFd);

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointer.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll(fd))
    }

    /// Watches `fd` for reading; events carry `token`.
    fn add(&self, fd: RawFd, token: usize) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token as u64,
        };
        // SAFETY: `event` is a valid epoll_event for the duration of the call.
        if unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` for events; returns how many of `events` were filled.
    fn wait(&self, events: &mut [libc::epoll_event], timeout: Duration) -> usize {
        let millis = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: `events` is writable for `events.len()` entries.
        let n =
            unsafe { libc::epoll_wait(self.0, events.as_mut_ptr(), events.len() as i32, millis) };
        n.max(0) as usize
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: the fd is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

/// One non-blocking `send` of the whole `frame`; false when the socket could not take it all.
fn send_frame(fd: RawFd, frame: &[u8]) -> bool {
    // SAFETY: `frame` is readable for its length.
    let sent = unsafe {
        libc::send(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    sent == frame.len() as isize
}

/// One non-blocking `recv` into `buffer`: the bytes read (0 when none or closed).
fn recv_some(fd: RawFd, buffer: &mut [u8]) -> usize {
    // SAFETY: `buffer` is writable for its length.
    let n = unsafe {
        libc::recv(
            fd,
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            libc::MSG_DONTWAIT,
        )
    };
    n.max(0) as usize
}

/// CPU time (user, system) of this process so far.
fn own_cpu() -> (Duration, Duration) {
    // SAFETY: getrusage writes the struct given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (time(usage.ru_utime), time(usage.ru_stime))
}

/// Raises the soft limit of open files to the hard limit (P sockets per process).
fn raise_open_files() {
    // SAFETY: getrlimit/setrlimit read and write the struct given.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Counts whole frames of one fixed length in a byte stream.
#[derive(Clone, Copy, Default)]
struct FrameCounter {
    /// Bytes of the frame under way.
    partial: usize,
}

impl FrameCounter {
    /// Takes `bytes` more bytes of frames `frame_len` long; returns the frames completed.
    fn take(&mut self, bytes: usize, frame_len: usize) -> u64 {
        let total = self.partial + bytes;
        self.partial = total % frame_len;
        (total / frame_len) as u64
    }
}

pub fn run(args: &FloorArgs) -> Result<(), String> {
    if args.players == 0 || args.players > MAX_PLAYERS {
        return Err(format!("--players must be 1..={MAX_PLAYERS}"));
    }
    if args.duration == 0 || args.duration > MAX_SECONDS {
        return Err(format!("--duration must be 1..={MAX_SECONDS}"));
    }
    if args.state_bytes > MAX_PAYLOAD || args.input_bytes > 125 || args.tick_rate == 0 {
        return Err(format!(
            "--state-bytes up to {MAX_PAYLOAD}, --input-bytes up to 125, --tick-rate above 0"
        ));
    }
    if args.client_threads == 0 || args.client_threads > MAX_CLIENT_THREADS {
        return Err(format!("--client-threads must be 1..={MAX_CLIENT_THREADS}"));
    }
    raise_open_files();
    match args.client {
        Some(addr) => run_clients(args, addr),
        None => run_server(args),
    }
}

/// The clients: connect, then answer every state frame with one input frame, until killed;
/// `--client-threads` threads, each serving its share of the sockets.
fn run_clients(args: &FloorArgs, addr: SocketAddr) -> Result<(), String> {
    if !addr.ip().is_loopback() {
        return Err("the floor runs on loopback only".into());
    }
    let mut shares: Vec<Vec<TcpStream>> = (0..args.client_threads).map(|_| Vec::new()).collect();
    for index in 0..args.players {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream.set_nonblocking(true).map_err(|e| e.to_string())?;
        shares[index % args.client_threads].push(stream);
    }
    let input = ws_frame(args.input_bytes, true);
    let state_len = ws_frame(args.state_bytes, false).len();
    let handles: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let input = input.clone();
            std::thread::spawn(move || answer_states(share, &input, state_len))
        })
        .collect();
    for handle in handles {
        handle
            .join()
            .map_err(|_| "a client thread panicked".to_string())??;
    }
    Ok(())
}

/// One client thread: answers every state frame on its sockets with one input frame, until a
/// socket closes.
fn answer_states(sockets: Vec<TcpStream>, input: &[u8], state_len: usize) -> Result<(), String> {
    let epoll = Epoll::new().map_err(|e| e.to_string())?;
    for (token, stream) in sockets.iter().enumerate() {
        epoll
            .add(stream.as_raw_fd(), token)
            .map_err(|e| e.to_string())?;
    }
    let mut sockets: Vec<(TcpStream, FrameCounter)> = sockets
        .into_iter()
        .map(|stream| (stream, FrameCounter::default()))
        .collect();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
    let mut buffer = vec![0u8; READ_BUFFER];
    loop {
        let n = epoll.wait(&mut events, Duration::from_secs(1));
        for event in &events[..n] {
            let (stream, counter) = &mut sockets[event.u64 as usize];
            let read = match stream.read(&mut buffer) {
                Ok(0) => return Ok(()),
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e.to_string()),
            };
            for _ in 0..counter.take(read, state_len) {
                // A full socket buffer drops the input, as a real client would not: rare.
                let _ = stream.write(input);
            }
        }
    }
}

/// Server-side counts over the measuring window.
#[derive(Default)]
struct Counts {
    states_sent: u64,
    states_dropped: u64,
    inputs_received: u64,
    ticks: u64,
    late_ticks: u64,
}

fn run_server(args: &FloorArgs) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["floor", "--client", &addr.to_string()])
        .args(["--players", &args.players.to_string()])
        .args(["--state-bytes", &args.state_bytes.to_string()])
        .args(["--input-bytes", &args.input_bytes.to_string()])
        .args(["--tick-rate", &args.tick_rate.to_string()])
        .args(["--client-threads", &args.client_threads.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the clients: {e}"))?;
    let result = serve(args, &listener, &mut child);
    // The clients are our child: stopped by their pid, and reaped.
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn serve(args: &FloorArgs, listener: &TcpListener, child: &mut Child) -> Result<(), String> {
    let state = ws_frame(args.state_bytes, false);
    let input_len = ws_frame(args.input_bytes, true).len();
    let epoll = Epoll::new().map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut sockets: Vec<(TcpStream, FrameCounter)> = Vec::with_capacity(args.players);
    let deadline = Instant::now() + CONNECT_WAIT;
    while sockets.len() < args.players {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                stream.set_nonblocking(true).map_err(|e| e.to_string())?;
                epoll
                    .add(stream.as_raw_fd(), sockets.len())
                    .map_err(|e| e.to_string())?;
                sockets.push((stream, FrameCounter::default()));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(format!("only {} clients connected", sockets.len()));
                }
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("the clients stopped: {status}"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    }

    let tick = Duration::from_secs(1) / args.tick_rate;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.settle);
    let measure_to = measure_from + Duration::from_secs(args.duration);
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
    let mut buffer = vec![0u8; READ_BUFFER];
    let mut counts = Counts::default();
    let mut cpu_from = None;
    let mut next_tick = start;
    loop {
        let now = Instant::now();
        let measuring = now >= measure_from;
        if measuring && cpu_from.is_none() {
            cpu_from = Some((own_cpu(), now));
            counts = Counts::default();
        }
        if now >= measure_to {
            break;
        }
        if now >= next_tick {
            for (stream, _) in &sockets {
                if send_frame(stream.as_raw_fd(), &state) {
                    counts.states_sent += 1;
                } else {
                    counts.states_dropped += 1;
                }
            }
            counts.ticks += 1;
            // Late ticks keep the cadence (the next one follows at once), as a fixed-tick
            // server catches up; a whole second behind, the schedule starts over.
            next_tick += tick;
            let after = Instant::now();
            if after > next_tick {
                counts.late_ticks += 1;
                if after - next_tick > Duration::from_secs(1) {
                    next_tick = after;
                }
            }
            continue;
        }
        let n = epoll.wait(&mut events, next_tick - now);
        for event in &events[..n] {
            let (stream, counter) = &mut sockets[event.u64 as usize];
            let read = recv_some(stream.as_raw_fd(), &mut buffer);
            counts.inputs_received += counter.take(read, input_len);
        }
    }
    let ((user0, sys0), from) = cpu_from.ok_or("no measure")?;
    let (user1, sys1) = own_cpu();
    let seconds = from.elapsed().as_secs_f64();
    let player_seconds = args.players as f64 * seconds;
    let ms_per = |d: Duration| d.as_secs_f64() * 1000.0 / player_seconds;
    let (user, sys) = (user1 - user0, sys1 - sys0);
    let per_player = |n: u64| n as f64 / player_seconds;
    if args.json {
        println!(
            "{{\"bench\":\"floor\",\"players\":{},\"tickRate\":{},\"stateFrameBytes\":{},\"inputFrameBytes\":{},\"clientThreads\":{},\"seconds\":{:.2},\"statesPerPlayerSecond\":{:.2},\"inputsPerPlayerSecond\":{:.2},\"statesDropped\":{},\"lateTicks\":{},\"cpuMsPerPlayerSecond\":{:.4},\"userMsPerPlayerSecond\":{:.4},\"sysMsPerPlayerSecond\":{:.4}}}",
            args.players,
            args.tick_rate,
            state.len(),
            input_len,
            args.client_threads,
            seconds,
            per_player(counts.states_sent),
            per_player(counts.inputs_received),
            counts.states_dropped,
            counts.late_ticks,
            ms_per(user + sys),
            ms_per(user),
            ms_per(sys),
        );
    } else {
        println!(
            "floor: {} players, {} Hz, state frame {} B, input frame {} B, {} client threads, {:.1} s measured",
            args.players,
            args.tick_rate,
            state.len(),
            input_len,
            args.client_threads,
            seconds
        );
        println!(
            "  per player a second: {:.1} states out ({} dropped), {:.1} inputs in; {} late ticks of {}",
            per_player(counts.states_sent),
            counts.states_dropped,
            per_player(counts.inputs_received),
            counts.late_ticks,
            counts.ticks
        );
        println!(
            "  server-side CPU: {:.3} ms per player-second (user {:.3}, system {:.3})",
            ms_per(user + sys),
            ms_per(user),
            ms_per(sys)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_websocket_header_of_their_size() {
        assert_eq!(ws_frame(11, false)[..2], [0x82, 11]);
        assert_eq!(ws_frame(11, false).len(), 13);
        assert_eq!(ws_frame(232, false)[..4], [0x82, 126, 0, 232]);
        assert_eq!(ws_frame(64, true)[..2], [0x82, 0x80 | 64]);
        assert_eq!(ws_frame(64, true).len(), 70);
    }

    /// Five players' clients of the server at `addr`, in `client_threads` threads.
    fn client_args(addr: SocketAddr, client_threads: usize) -> FloorArgs {
        FloorArgs {
            players: 5,
            tick_rate: 60,
            state_bytes: 11,
            input_bytes: 64,
            settle: 0,
            duration: 1,
            client_threads,
            json: false,
            client: Some(addr),
        }
    }

    #[test]
    fn client_threads_outside_their_range_are_refused() {
        let addr = "127.0.0.1:9".parse().unwrap();
        for threads in [0, MAX_CLIENT_THREADS + 1] {
            let refused = run(&client_args(addr, threads)).unwrap_err();
            assert!(refused.contains("--client-threads"), "{refused}");
        }
    }

    #[test]
    fn every_client_thread_answers_the_states_of_its_sockets() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let args = client_args(addr, 2);
        let clients = std::thread::spawn(move || run_clients(&args, addr));
        let mut accepted: Vec<TcpStream> = (0..5).map(|_| listener.accept().unwrap().0).collect();
        for stream in &mut accepted {
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            // Two states: two inputs back, on every socket whichever thread serves it.
            stream.write_all(&ws_frame(11, false).repeat(2)).unwrap();
        }
        let input = ws_frame(64, true);
        for stream in &mut accepted {
            let mut got = vec![0u8; input.len() * 2];
            stream.read_exact(&mut got).unwrap();
            assert_eq!(got, input.repeat(2));
        }
        // Closed sockets end the threads, and with them the clients.
        drop(accepted);
        assert_eq!(clients.join().unwrap(), Ok(()));
    }

    #[test]
    fn frames_are_counted_across_reads() {
        let mut counter = FrameCounter::default();
        assert_eq!(counter.take(10, 13), 0);
        assert_eq!(counter.take(3, 13), 1);
        assert_eq!(counter.take(39, 13), 3);
    }
}
