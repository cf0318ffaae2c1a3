//! Feeds arbitrary text to the parser. It must never panic; whatever parses must format, the
//! formatted text must parse again, and formatting it again must change nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncmap::source::FileId;
use syncmap::syntax::{format::format, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(file) = parse(FileId(0), text) else { return };
    let once = format(text, &file);
    let reparsed = match parse(FileId(0), &once) {
        Ok(f) => f,
        Err(e) => panic!("formatted text does not parse: {e:?}\n--- input ---\n{text}\n--- formatted ---\n{once}"),
    };
    let twice = format(&once, &reparsed);
    assert_eq!(once, twice, "formatting is not idempotent for input:\n{text}");
});
