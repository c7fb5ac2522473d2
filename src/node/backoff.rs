//! Reconnection back-off: how long a dial waits before its next attempt, after a run of
//! failures.
//!
//! The first retry waits exactly the interval (`Options::auto_reconnect_interval`), as the
//! original agent always did; each further failure in a row doubles the wait, up to the cap
//! (`Options::auto_reconnect_max_interval`). From the second retry on, the wait is drawn from
//! the upper half of the doubled one, never below the interval: agents that lost the same
//! peer at the same moment (it restarted, a switch rebooted) spread out instead of knocking
//! on its door in step. A dead address thus costs one attempt per cap instead of one per
//! interval, and an agent that comes back after a long outage is reached again within one
//! cap.
//!
//! This module owns the rule only. It is pure: no clock, no timers, no generator of its own;
//! the caller passes the number of failures and a random draw (from the core's generator,
//! seeded by its incarnation, so that a simulated run replays), and counts the failures.

/// The back-off rule, in ticks (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Backoff {
    /// The first wait, and the least.
    interval: u64,
    /// The most.
    cap: u64,
}

impl Backoff {
    /// Waits from `interval` up to `cap` (a cap below the interval is the interval: no
    /// back-off).
    pub(super) fn new(interval: u64, cap: u64) -> Backoff {
        Backoff {
            interval,
            cap: cap.max(interval),
        }
    }

    /// The wait before the attempt that follows `failures` failures in a row (at least 1),
    /// with `random` drawn from a uniform generator.
    pub(super) fn wait(&self, failures: u32, random: u64) -> u64 {
        if failures <= 1 {
            return self.interval;
        }
        // Doubling from at least a tick, so that even a zero interval backs off.
        let doubled = self
            .interval
            .max(1)
            .checked_shl(failures - 1)
            .filter(|&d| d >> (failures - 1) == self.interval.max(1))
            .unwrap_or(u64::MAX)
            .min(self.cap);
        let low = (doubled / 2).max(self.interval).min(doubled);
        low + random % (doubled - low + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;

    /// The least and the most wait the attempt after `failures` failures can draw (every
    /// range here is under 2^16 waits wide).
    fn bounds(b: Backoff, failures: u32) -> (u64, u64) {
        let waits = (0..1 << 16).map(|r| b.wait(failures, r));
        (waits.clone().min().unwrap(), waits.max().unwrap())
    }

    #[test]
    fn the_first_retry_waits_the_interval_then_the_wait_doubles_up_to_the_cap() {
        let b = Backoff::new(1000, 30_000);
        assert_eq!(
            b.wait(1, 12345),
            1000,
            "exactly the interval, as the original"
        );
        assert_eq!(bounds(b, 2), (1000, 2000));
        assert_eq!(bounds(b, 3), (2000, 4000));
        assert_eq!(bounds(b, 4), (4000, 8000));
        assert_eq!(bounds(b, 5), (8000, 16_000));
        assert_eq!(bounds(b, 6), (15_000, 30_000), "capped");
        assert_eq!(bounds(b, 60), (15_000, 30_000));
        assert_eq!(bounds(b, u32::MAX), (15_000, 30_000), "no overflow");
    }

    #[test]
    fn draws_spread_over_the_upper_half() {
        let b = Backoff::new(1000, 30_000);
        let waits: std::collections::BTreeSet<u64> = (0..1000).map(|r| b.wait(4, r)).collect();
        assert_eq!(waits.len(), 1000, "every draw a different wait");
        assert!(waits.iter().all(|w| (4000..=8000).contains(w)));
    }

    #[test]
    fn a_cap_below_the_interval_means_no_back_off_and_a_zero_interval_still_backs_off() {
        let b = Backoff::new(1000, 10);
        assert_eq!(bounds(b, 1), (1000, 1000));
        assert_eq!(bounds(b, 9), (1000, 1000));
        let z = Backoff::new(0, 30_000);
        assert_eq!(z.wait(1, 7), 0);
        assert_eq!(bounds(z, 3), (2, 4));
        assert_eq!(bounds(z, 40), (15_000, 30_000));
    }
}
