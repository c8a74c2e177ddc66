//! Parse, check, plan and render any text (`pipec_fuzz::parse_check`): nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The CLI refuses non-UTF-8 files (E0006) before parsing; everything else reaches the parser.
    if let Ok(text) = std::str::from_utf8(data) {
        pipec_fuzz::parse_check(text);
    }
});
