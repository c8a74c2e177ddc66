//! Parse, check, plan and render any text: nothing may panic, and every diagnostic must render.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The CLI refuses non-UTF-8 files (E0006) before parsing; everything else reaches the parser.
    if let Ok(text) = std::str::from_utf8(data) {
        let files = vec![("fuzz.pipe".to_string(), text.to_string())];
        let _ = pipec_golden::compile(&files);
    }
});
