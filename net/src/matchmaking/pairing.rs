//! Pairing, a pure function (called on the tick thread): ratings and waiting times in, groups
//! out. No World, no outbox.

use arcade_systems::model::Mode;

/// One waiting player as pairing sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seeker {
    /// The rating the player queued with.
    pub rating: f64,
    /// The matchmaker tick the player joined at.
    pub since: u64,
}

/// Rating points apart that two players may be paired at once.
pub const INITIAL_WINDOW: f64 = 100.0;

/// How many rating points the window widens per second a player has waited.
pub const WIDEN_PER_SECOND: f64 = 50.0;

/// The rating window of a player who has waited `waited` ticks.
fn window(waited: u64, tick_rate: u32) -> f64 {
    INITIAL_WINDOW + WIDEN_PER_SECOND * waited as f64 / f64::from(tick_rate.max(1))
}

/// The groups of `size` that can play now, as indexes into `queue` (oldest first). Each
/// group is the oldest player not yet grouped plus the nearest ratings within its window.
pub fn form_groups(queue: &[Seeker], size: usize, now: u64, tick_rate: u32) -> Vec<Vec<usize>> {
    let mut groups = Vec::new();
    if size == 0 || queue.len() < size {
        return groups;
    }
    let mut by_rating: Vec<usize> = (0..queue.len()).collect();
    by_rating.sort_by(|&a, &b| queue[a].rating.total_cmp(&queue[b].rating).then(a.cmp(&b)));
    let mut rank = vec![0; queue.len()];
    for (position, &index) in by_rating.iter().enumerate() {
        rank[index] = position;
    }
    let mut taken = vec![false; queue.len()];
    let mut free = queue.len();
    for anchor in 0..queue.len() {
        if free < size {
            break;
        }
        if taken[anchor] {
            continue;
        }
        let reach = window(now.saturating_sub(queue[anchor].since), tick_rate);
        let rating = queue[anchor].rating;
        let mut group = vec![anchor];
        // Walk outwards from the anchor in rating order, always to the nearer side.
        let (mut below, mut above) = (rank[anchor], rank[anchor] + 1);
        while group.len() < size {
            while below > 0 && taken[by_rating[below - 1]] {
                below -= 1;
            }
            while above < by_rating.len() && taken[by_rating[above]] {
                above += 1;
            }
            let lower = (below > 0).then(|| by_rating[below - 1]);
            let upper = (above < by_rating.len()).then(|| by_rating[above]);
            let distance = |index: usize| (queue[index].rating - rating).abs();
            let next = match (lower, upper) {
                (Some(l), Some(u)) if distance(u) < distance(l) => u,
                (Some(l), _) => l,
                (None, Some(u)) => u,
                (None, None) => break,
            };
            if distance(next) > reach {
                break;
            }
            if Some(next) == lower {
                below -= 1;
            } else {
                above += 1;
            }
            group.push(next);
        }
        if group.len() == size {
            for &index in &group {
                taken[index] = true;
            }
            free -= size;
            groups.push(group);
        }
    }
    groups
}

/// The order a group takes the seats of `mode` in ([`Mode::player_seats`] order), as indexes
/// into `ratings`. For 2v2, by rating the first and fourth play `left_back`/`left_front`
/// against the second and third, so the two teams' ratings are as even as four players allow.
pub fn seating_order(ratings: &[f64], mode: Mode) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ratings.len()).collect();
    if mode == Mode::TwoVsTwo && ratings.len() == 4 {
        order.sort_by(|&a, &b| ratings[b].total_cmp(&ratings[a]));
        order.swap(2, 3);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(rating: f64, since: u64) -> Seeker {
        Seeker { rating, since }
    }

    #[test]
    fn close_ratings_pair_at_once_and_far_ones_wait_for_the_window() {
        let queue = vec![waiting(1500.0, 0), waiting(1900.0, 0), waiting(1550.0, 0)];
        assert_eq!(form_groups(&queue, 2, 0, 60), [vec![0, 2]]);
        let queue = vec![waiting(1500.0, 0), waiting(1900.0, 0)];
        assert!(
            form_groups(&queue, 2, 60, 60).is_empty(),
            "150 wide after 1 s"
        );
        // 400 apart: the window reaches it after (400 - 100) / 50 = 6 s.
        assert!(form_groups(&queue, 2, 6 * 60 - 1, 60).is_empty());
        assert_eq!(form_groups(&queue, 2, 6 * 60, 60), [vec![0, 1]]);
    }

    #[test]
    fn the_oldest_player_anchors_and_takes_the_nearest() {
        let queue = vec![
            waiting(1600.0, 0),
            waiting(1450.0, 50),
            waiting(1620.0, 50),
            waiting(1480.0, 50),
        ];
        assert_eq!(form_groups(&queue, 2, 60, 60), [vec![0, 2], vec![1, 3]]);
        assert_eq!(form_groups(&queue, 4, 60 * 3, 60), [vec![0, 2, 3, 1]]);
        assert!(form_groups(&queue[..3], 4, 600, 60).is_empty());
    }

    #[test]
    fn two_vs_two_balances_the_teams() {
        let order = seating_order(&[1500.0, 1800.0, 1600.0, 1700.0], Mode::TwoVsTwo);
        // left_back 1800 + left_front 1500 against right_back 1700 + right_front 1600.
        assert_eq!(order, [1, 3, 0, 2]);
        assert_eq!(seating_order(&[1500.0, 1800.0], Mode::OneVsOne), [0, 1]);
    }
}
