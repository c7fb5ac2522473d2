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
