//! Replays every committed fuzz corpus file through the fuzz targets' bodies, on stable, so a
//! crash the fuzzer once found stays fixed.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| run(&data));
        assert!(result.is_ok(), "corpus file {} fails", path.display());
        n += 1;
    }
    assert!(n >= 5, "only {n} corpus files for {target}");
}

#[test]
fn frame_corpus() {
    replay("frame", super::frame);
}

#[test]
fn wire_corpus() {
    replay("wire", super::wire);
}

#[test]
fn core_corpus() {
    replay("core", super::core);
}

/// The boundary frames of every kind, with every value, through both bodies: on stable, the
/// paths the fuzzer takes with them.
#[test]
fn numbers_at_the_edges_of_the_number_space() {
    for kind in 0..6u64 {
        for b in 0..16u8 {
            let bytes = [b, b.wrapping_add(3), b.wrapping_add(7), b.wrapping_add(11)];
            let frame = super::boundary::frame("A", kind, &mut &bytes[..]);
            super::wire(frame.as_bytes());
            // Linked to A over v2, then the frame from A and the frame naming this agent,
            // then time passes beyond the lifetime.
            let mut ops = vec![0, 1, 0, 0, 3, 1, 1, 20, 5, 1, 0, 30];
            for name in [1, 0] {
                ops.extend([240, 1, name, kind as u8]);
                ops.extend(bytes);
            }
            ops.extend([5, 1, 0, 255].repeat(3));
            super::core(&ops);
        }
    }
}
