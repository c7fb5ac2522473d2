//! The keepalive: `{"c":"ping"}` asks a peer for a sign of life and `{"a":"ping"}` answers it.
//! Neither carries a field, so the dispatch in the module root reads them from the command
//! alone ([`Wire::Ping`](super::Wire::Ping), [`Wire::Pong`](super::Wire::Pong)); this file
//! holds their emitters.

use crate::frame;

/// Appends `{"c":"ping"}`.
pub(crate) fn emit_ping(out: &mut Vec<u8>) {
    frame::encode(out, b"{\"c\":\"ping\"}");
}

/// Appends `{"a":"ping"}`.
pub(crate) fn emit_pong(out: &mut Vec<u8>) {
    frame::encode(out, b"{\"a\":\"ping\"}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Wire, parse};

    #[test]
    fn emits_the_originals_bytes() {
        let mut out = Vec::new();
        emit_ping(&mut out);
        emit_pong(&mut out);
        assert_eq!(&out[4..16], br#"{"c":"ping"}"#);
        assert_eq!(&out[20..], br#"{"a":"ping"}"#);
    }

    #[test]
    fn parses_every_v1_frame() {
        assert_eq!(parse(br#"{"c":"ping"}"#, 10).unwrap(), Wire::Ping);
        assert_eq!(parse(br#"{"a":"ping"}"#, 10).unwrap(), Wire::Pong);
    }
}
