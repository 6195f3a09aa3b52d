//! Any bytes, fed whole and in pieces: the reader must not panic, must hold
//! at most 64 KiB for a split head, and must answer the same either way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vastar::http::{Feed, MAX_HEAD_BYTES, ResponseReader};

fuzz_target!(|data: &[u8]| {
    // The first byte chooses a HEAD request and the size of the pieces.
    let Some((&choice, input)) = data.split_first() else { return };
    let head_request = choice & 1 == 1;
    let piece = usize::from(choice >> 1).max(1);
    let mut whole = ResponseReader::new();
    whole.start(head_request);
    let whole_result = whole.feed(input);
    let mut split = ResponseReader::new();
    split.start(head_request);
    let mut split_result = Ok(Feed::NeedMore);
    for chunk in input.chunks(piece) {
        split_result = split.feed(chunk);
        assert!(split.carried() <= MAX_HEAD_BYTES + 1);
        if split_result.is_err() {
            break;
        }
    }
    assert_eq!(whole_result, split_result);
    // After an error the connection is closed; only a response still being
    // read is ended by the peer's close.
    if whole_result == Ok(Feed::NeedMore) {
        assert_eq!(whole.eof(), split.eof());
    }
});
