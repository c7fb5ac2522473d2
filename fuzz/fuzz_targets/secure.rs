#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| secretagent::secure::fuzz::secure(data));
