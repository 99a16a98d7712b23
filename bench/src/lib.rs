//! # arcade-bench: the library side of the benchmarks
//!
//! What the `arcade-bench` binary, the criterion benches (`benches/`) and the tests share:
//!
//! - [`ecs`]: the server's `Simulation` filled with matches through its public operations.
//! - [`soa_pong`]: the hand-written struct-of-arrays Pong 1v1, the baseline of the ECS.
//! - [`stats`]: percentiles and a concurrent log-bucketed histogram.
//!
//! Beside it: the binary's modules (`main.rs`; `sim.rs`, `load/` the load generator, `plot.rs`),
//! `bin/history.rs`, and the benches (`benches/hot_systems.rs` with criterion,
//! `benches/bricks.rs` a plain timing of bricks as bits or entities).

pub mod ecs;
pub mod soa_pong;
pub mod stats;

/// The address in the server's "listening on ADDR" log line, if `line` is that line: up to the
/// first character that is not part of an address (a space in text logs, a quote in JSON).
pub fn listen_addr(line: &str) -> Option<String> {
    let rest = line.split("listening on ").nth(1)?;
    Some(
        rest.chars()
            .take_while(|c| c.is_ascii_hexdigit() || ".:[]".contains(*c))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::listen_addr;

    #[test]
    fn listen_addr_reads_text_and_json_logs() {
        assert_eq!(
            listen_addr("INFO arcade: listening on 127.0.0.1:4321 (ws at /ws)").as_deref(),
            Some("127.0.0.1:4321")
        );
        assert_eq!(
            listen_addr(r#"{"msg":"listening on [::1]:80"}"#).as_deref(),
            Some("[::1]:80")
        );
        assert_eq!(listen_addr("INFO arcade: ready"), None);
    }
}
