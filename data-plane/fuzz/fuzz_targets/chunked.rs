//! Fuzzes the codec's `chunked` invariants (see `data-plane/src/http1/fuzz.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    openclaw_http1_fuzz::http1::fuzz::chunked(data);
});
