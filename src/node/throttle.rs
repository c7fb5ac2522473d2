//! A hold-down throttle: when a recurring piece of work may run again, in the manner of OSPF's
//! SPF throttling.
//!
//! Changes come in bursts (links coming up together, a flood of descriptions), and the work
//! they call for (making a new version of this agent's own description, recomputing shortest
//! paths) costs the same for one change as for the whole burst. So a change first waits a
//! gathering time for the rest of its burst, and after each run the next waits out a
//! hold-down that starts short, so that an isolated change is acted on quickly, and doubles
//! while runs keep following each other closely, up to a ceiling; after a calm it starts short
//! again. An urgent change skips the gathering time, and, by policy, the hold-down too.
//!
//! This module owns the timing rule only. It is pure: it never reads a clock (every call takes
//! the current tick) and never arms a timer itself; it says when one is wanted ([`Due::Arm`])
//! and the caller arms it and reports it with [`Throttle::fired`]. It does not know what the
//! work is, nor whether there is any: the caller asks only while something waits.

/// What an urgent change skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Urgency {
    /// The gathering time and the hold-down: an urgent change is acted on at once.
    SkipsAll,
    /// The gathering time only: an urgent change still waits out the hold-down.
    SkipsGathering,
}

/// When a throttle asks for another timer while one is armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arming {
    /// Never: the timer armed stays the one until it fires, and the next check after it asks
    /// again if the wait is longer.
    Once,
    /// When the wait now ends before the armed timer (an urgent change shortened it).
    Earlier,
}

/// The constants of a throttle, in ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Policy {
    /// How long a change waits for the rest of its burst.
    pub(super) gather: u64,
    /// The hold-down at first and after a calm.
    pub(super) min_hold: u64,
    /// The most the hold-down grows to.
    pub(super) max_hold: u64,
    /// Ticks beyond twice the hold-down within which a run still counts as following the
    /// previous one closely, so that the hold-down grows.
    pub(super) grace: u64,
    /// What an urgent change skips.
    pub(super) urgency: Urgency,
    /// When another timer is asked for while one is armed.
    pub(super) arming: Arming,
}

/// The answer of [`Throttle::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    /// Run now (then call [`Throttle::settle`], and [`Throttle::ran`] if the work was done).
    Now,
    /// Not yet; a timer armed earlier will wake the caller.
    Wait,
    /// Not yet: arm a timer for this tick, and report it with [`Throttle::fired`].
    Arm(u64),
}

/// One throttle's state. See the [module documentation](self).
#[derive(Debug)]
pub(super) struct Throttle {
    policy: Policy,
    /// When the work last ran.
    last: Option<u64>,
    /// The current hold-down after `last`.
    hold: u64,
    /// Since when a change waits.
    waiting_since: Option<u64>,
    /// The waiting change is urgent.
    urgent: bool,
    /// The tick of the timer armed, if one is.
    armed: Option<u64>,
}

impl Throttle {
    /// A throttle that has never run.
    pub(super) fn new(policy: Policy) -> Throttle {
        Throttle {
            policy,
            last: None,
            hold: policy.min_hold,
            waiting_since: None,
            urgent: false,
            armed: None,
        }
    }

    /// Marks the waiting change (or the next one) urgent.
    pub(super) fn urge(&mut self) {
        self.urgent = true;
    }

    /// Whether the work may run at `now`, with a change waiting. The first check after a run
    /// starts the change's wait.
    pub(super) fn check(&mut self, now: u64) -> Due {
        if self.urgent && self.policy.urgency == Urgency::SkipsAll {
            return Due::Now;
        }
        let since = *self.waiting_since.get_or_insert(now);
        let gather = if self.urgent { 0 } else { self.policy.gather };
        // Saturating: the gathering time is `Options::route_delay`, which may be any duration.
        let held = self.last.map_or(0, |last| last.saturating_add(self.hold));
        let at = since.saturating_add(gather).max(held);
        if now >= at {
            return Due::Now;
        }
        let arm = match (self.armed, self.policy.arming) {
            (None, _) => true,
            (Some(armed), Arming::Earlier) => at < armed,
            (Some(_), Arming::Once) => false,
        };
        if arm {
            self.armed = Some(at);
            Due::Arm(at)
        } else {
            Due::Wait
        }
    }

    /// The timer armed for tick `at` fired. A timer since replaced by an earlier one is stale
    /// and changes nothing.
    pub(super) fn fired(&mut self, at: u64) {
        if self.armed == Some(at) {
            self.armed = None;
        }
    }

    /// The waiting change is dealt with (whether or not the work found anything to do): the
    /// next change starts a wait of its own.
    pub(super) fn settle(&mut self) {
        self.urgent = false;
        self.waiting_since = None;
    }

    /// The work ran at `now`: the hold-down doubles (to at least one tick, at most its
    /// ceiling) if this run closely followed the last one, else it starts again at its least.
    pub(super) fn ran(&mut self, now: u64) {
        self.hold = match self.last {
            Some(last)
                if now
                    < last
                        .saturating_add(self.hold.saturating_mul(2))
                        .saturating_add(self.policy.grace) =>
            {
                self.hold.saturating_mul(2).max(1).min(self.policy.max_hold)
            }
            _ => self.policy.min_hold,
        };
        self.last = Some(now);
    }

    /// The current hold-down.
    #[cfg(test)]
    fn hold(&self) -> u64 {
        self.hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPF: Policy = Policy {
        gather: 3,
        min_hold: 5,
        max_hold: 40,
        grace: 0,
        urgency: Urgency::SkipsAll,
        arming: Arming::Once,
    };

    const OWN: Policy = Policy {
        gather: 20,
        min_hold: 0,
        max_hold: 10,
        grace: 2,
        urgency: Urgency::SkipsGathering,
        arming: Arming::Earlier,
    };

    /// Checks at `now` and, when due, runs.
    fn run_if_due(t: &mut Throttle, now: u64) -> Due {
        let due = t.check(now);
        if due == Due::Now {
            t.settle();
            t.ran(now);
        }
        due
    }

    #[test]
    fn a_change_waits_its_gathering_time_once() {
        let mut t = Throttle::new(OWN);
        assert_eq!(t.check(100), Due::Arm(120));
        assert_eq!(t.check(110), Due::Wait, "its wait started at 100");
        assert_eq!(t.check(119), Due::Wait);
        t.fired(120);
        assert_eq!(t.check(120), Due::Now);
    }

    #[test]
    fn an_urgent_change_skips_everything_or_only_the_gathering_by_policy() {
        let mut spf = Throttle::new(SPF);
        spf.ran(0);
        spf.urge();
        assert_eq!(spf.check(1), Due::Now, "hold-down skipped too");

        let mut own = Throttle::new(OWN);
        own.urge();
        assert_eq!(run_if_due(&mut own, 0), Due::Now);
        own.urge();
        assert_eq!(run_if_due(&mut own, 0), Due::Now, "a hold-down of none");
        own.urge();
        assert_eq!(own.check(0), Due::Arm(1), "the hold-down grew to one tick");
    }

    #[test]
    fn the_hold_down_doubles_while_runs_follow_closely_up_to_its_ceiling() {
        let mut t = Throttle::new(SPF);
        let mut now = 0;
        let mut holds = Vec::new();
        for _ in 0..6 {
            t.urge();
            assert_eq!(run_if_due(&mut t, now), Due::Now);
            holds.push(t.hold());
            now += t.hold();
        }
        // The first run has nothing before it; each later one came right after its hold-down.
        assert_eq!(holds, [5, 10, 20, 40, 40, 40]);
    }

    #[test]
    fn the_closeness_window_is_twice_the_hold_down_plus_the_grace() {
        // Runs at 0 then 10 with a hold-down of 5: 10 is not before 0 + 2 * 5.
        let mut spf = Throttle::new(SPF);
        spf.ran(0);
        spf.ran(9);
        assert_eq!(spf.hold(), 10, "9 is close");
        let mut spf = Throttle::new(SPF);
        spf.ran(0);
        spf.ran(10);
        assert_eq!(spf.hold(), 5, "10 is not");

        // A last run at 2, a hold-down of 2 and a grace of 2: close up to 2 + 4 + 1.
        let mut own = Throttle::new(OWN);
        own.ran(0);
        own.ran(1);
        own.ran(2);
        assert_eq!(own.hold(), 2);
        own.ran(7);
        assert_eq!(own.hold(), 4, "7 is close");
        let mut own = Throttle::new(OWN);
        own.ran(0);
        own.ran(1);
        own.ran(2);
        own.ran(8);
        assert_eq!(own.hold(), 0, "8 is not: back to none");
    }

    #[test]
    fn the_own_policy_grows_from_none_one_tick_at_a_time_then_doubles() {
        let mut t = Throttle::new(OWN);
        let mut holds = Vec::new();
        for now in 0..6 {
            t.ran(now);
            holds.push(t.hold());
        }
        assert_eq!(holds, [0, 1, 2, 4, 8, 10]);
    }

    #[test]
    fn a_calm_resets_the_hold_down() {
        let mut t = Throttle::new(SPF);
        t.ran(0);
        t.ran(1);
        t.ran(2);
        assert_eq!(t.hold(), 20);
        t.ran(100);
        assert_eq!(t.hold(), 5);
    }

    #[test]
    fn a_change_after_a_run_waits_for_the_later_of_its_gathering_and_the_hold_down() {
        let mut t = Throttle::new(SPF);
        t.ran(0);
        t.ran(1); // hold-down 10 after 1
        assert_eq!(
            t.check(2),
            Due::Arm(11),
            "the hold-down ends after the gathering"
        );
        t.fired(11);
        assert_eq!(run_if_due(&mut t, 11), Due::Now);
        // Hold-down 20 after 11; a change at 40 waits only its gathering.
        assert_eq!(t.check(40), Due::Arm(43));
    }

    #[test]
    fn arming_once_keeps_the_timer_armed_even_when_the_wait_shortens() {
        let mut t = Throttle::new(Policy {
            gather: 30,
            urgency: Urgency::SkipsGathering,
            ..SPF
        });
        t.ran(0); // hold-down 5 after 0
        assert_eq!(t.check(1), Due::Arm(31), "gathering");
        t.urge();
        assert_eq!(
            t.check(1),
            Due::Wait,
            "the wait ends at 5, but a timer is armed"
        );
        t.fired(31);
        assert_eq!(t.check(31), Due::Now);
    }

    #[test]
    fn arming_earlier_replaces_a_later_timer_and_ignores_the_stale_one() {
        let mut t = Throttle::new(OWN);
        t.ran(0);
        t.ran(1); // hold-down 1 after 1
        assert_eq!(t.check(1), Due::Arm(21), "gathering");
        t.urge();
        assert_eq!(t.check(1), Due::Arm(2), "urgent: the hold-down only");
        assert_eq!(t.check(1), Due::Wait);
        t.fired(21);
        assert_eq!(t.check(1), Due::Wait, "the stale timer changed nothing");
        t.fired(2);
        assert_eq!(t.check(2), Due::Now);
    }
}
