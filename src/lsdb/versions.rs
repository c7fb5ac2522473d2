//! The number space of description versions, and the rules an agent follows to stay on top of
//! descriptions of itself that it did not make.
//!
//! A version is `(incarnation, sequence)`, compared in that order. Both numbers come from the
//! wire, where nothing above [`MAX_NUMBER`] (2^53) is accepted. An agent's incarnation is its
//! start time in ms (about 2^41 today) and its sequence counts the changes of its links, so
//! honest versions stay far below the top.
//!
//! A description of this agent that it did not make and that is at or above its own version
//! (an earlier run of it that got further, or a forgery) would make every other agent ignore
//! this agent's own descriptions as older. So the agent re-announces above it at once, as
//! OSPF does with a self-originated LSA newer than its own ([`above`]): within its own
//! incarnation while the sequence number has room, else in the incarnation after the one
//! received. Never in the received incarnation itself: a forger that can also put numbered
//! messages in that incarnation on some destination's path must not find this agent's stream
//! there afterwards.
//!
//! Any ordered space has a top, and a forger can claim it: no agent takes an incarnation of
//! [`TOP_INCARNATION`] or above, so a description there can never be answered from above
//! ([`above`] returns `None`: the agent is *outranked*). What bounds that case is time, not
//! numbers: see the `flooding` module of the core.
//!
//! This module owns these rules only. It is pure: it knows no names, no lists, no clock.

use super::descriptions::Version;
use crate::wire::MAX_NUMBER;

/// The lowest incarnation at the top of the number space. No agent takes it or anything above
/// (an agent started with a larger one starts just below it), so a description whose
/// incarnation is here cannot be answered from above.
pub(crate) const TOP_INCARNATION: u64 = MAX_NUMBER - 1;

/// Within its own incarnation, an agent re-announces only to a sequence number below this:
/// above it, it moves to a new incarnation instead, so that the changes still to come always
/// have room (2^52 of them) in the one it is in.
const RENUMBER_LIMIT: u64 = 1 << 52;

/// The incarnation an agent started with `inc` uses: `inc`, or the highest below the top.
pub(super) fn first_incarnation(inc: u64) -> u64 {
    inc.min(TOP_INCARNATION - 1)
}

/// The version after `own` for a change of this agent's own links: the next sequence number,
/// or, at the end of the sequence space, the first of the next incarnation. `None` when there
/// is no room at all; that takes 2^52 changes after a forgery pushed this agent to the last
/// incarnation below the top.
pub(super) fn next(own: Version) -> Option<Version> {
    let (inc, seq) = own;
    if seq < MAX_NUMBER {
        Some((inc, seq + 1))
    } else {
        let fresh = inc.checked_add(1)?;
        (fresh < TOP_INCARNATION).then_some((fresh, 1))
    }
}

/// The version this agent, at `own`, re-announces its description at when it receives a
/// description of itself at `got`, which it did not make and which is not older than `own`:
/// the next sequence number in its own incarnation while that has room, else the first of the
/// incarnation after `got`'s. `None` when `got` is at the top: nothing can be put above it.
pub(super) fn above(own: Version, got: Version) -> Option<Version> {
    let (inc, _) = own;
    let (got_inc, got_seq) = got;
    if got_inc == inc && got_seq < RENUMBER_LIMIT {
        return Some((inc, got_seq + 1));
    }
    let fresh = got_inc.max(inc).checked_add(1)?;
    (fresh < TOP_INCARNATION).then_some((fresh, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn above_keeps_the_incarnation_while_the_sequence_has_room() {
        assert_eq!(
            above((7, 3), (7, 3)),
            Some((7, 4)),
            "same version, other lists"
        );
        assert_eq!(above((7, 3), (7, 900)), Some((7, 901)));
        assert_eq!(
            above((7, 3), (7, RENUMBER_LIMIT - 1)),
            Some((7, RENUMBER_LIMIT))
        );
        assert_eq!(above((7, 3), (7, RENUMBER_LIMIT)), Some((8, 1)));
        assert_eq!(above((7, 3), (7, MAX_NUMBER)), Some((8, 1)));
    }

    #[test]
    fn above_a_later_incarnation_is_the_one_after_it() {
        assert_eq!(above((7, 3), (9, 1)), Some((10, 1)));
        assert_eq!(above((7, 3), (9, MAX_NUMBER)), Some((10, 1)));
        assert_eq!(
            above((7, 3), (TOP_INCARNATION - 2, MAX_NUMBER)),
            Some((TOP_INCARNATION - 1, 1))
        );
    }

    #[test]
    fn nothing_is_above_the_top() {
        for got in [
            (TOP_INCARNATION - 1, RENUMBER_LIMIT),
            (TOP_INCARNATION, 0),
            (TOP_INCARNATION, MAX_NUMBER),
            (MAX_NUMBER, 0),
            (MAX_NUMBER, MAX_NUMBER),
            (u64::MAX, u64::MAX),
        ] {
            assert_eq!(above((7, 3), got), None, "{got:?}");
        }
        // An agent pushed to the last incarnation below the top still has room for 2^52
        // re-announcements within it, and none above.
        let last = TOP_INCARNATION - 1;
        assert_eq!(above((last, 1), (last, 5)), Some((last, 6)));
        assert_eq!(above((last, 1), (last, RENUMBER_LIMIT)), None);
    }

    #[test]
    fn the_next_version_never_overflows() {
        assert_eq!(next((7, 3)), Some((7, 4)));
        assert_eq!(next((7, MAX_NUMBER - 1)), Some((7, MAX_NUMBER)));
        assert_eq!(next((7, MAX_NUMBER)), Some((8, 1)));
        assert_eq!(next((TOP_INCARNATION - 1, MAX_NUMBER)), None);
        assert_eq!(next((u64::MAX, u64::MAX)), None);
        assert_eq!(first_incarnation(u64::MAX), TOP_INCARNATION - 1);
        assert_eq!(first_incarnation(1_700_000_000_000), 1_700_000_000_000);
    }
}
