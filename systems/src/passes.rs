//! How a per-tick pass walks its rows (tick thread, inside the schedule).
//!
//! A system that visits every match or seat on every tick walks its query with `for_each`
//! (bevy's fold: one loop per table) rather than `for` (the iterator's `next`, which re-checks
//! its cursor on every row), and keeps what happens on few rows or few ticks (a bot's look, a
//! launch, an announced event, a ball beside the paddles) in a function of its own, out of
//! line: with a large body inlined, fold's loop came out slower than `for`. The passes where
//! `for_each` measured no better (`mark_seats_in_play`, `move_field_balls`, `advance_levels`)
//! keep `for`. A pass that writes few rows reads first ([`read_first`]) and fetches for
//! writing only those. The figures: BENCHMARKS.md, sessions 12 and 20.

/// Read first, written after: the rows that `pick` selects, into `out` (cleared first, its
/// memory kept), for the pass to fetch for writing afterwards. A row fetched for writing
/// costs its change ticks whether or not it is written; the passes that use this write few
/// of their rows on a tick.
// Always inlined: without the attribute, the five passes took 0.5M more instructions over
// 300 ticks at 1,000 matches.
#[inline(always)]
pub(crate) fn read_first<I: Iterator, T>(
    rows: I,
    out: &mut Vec<T>,
    pick: impl FnMut(I::Item) -> Option<T>,
) {
    out.clear();
    rows.filter_map(pick).for_each(|picked| out.push(picked));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_picked_rows_in_order_and_nothing_of_the_last_call() {
        let mut out = vec![99];
        read_first(1..=6, &mut out, |n| (n % 2 == 0).then_some(n * 10));
        assert_eq!(out, [20, 40, 60]);
        read_first(1..=3, &mut out, |_| None::<i32>);
        assert!(out.is_empty());
    }
}
