//! Any bytes as a chunked body, decoded whole and in pieces: no panic, no
//! overflow, the same bytes consumed and counted either way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vastar::http::ChunkedDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, input)) = data.split_first() else { return };
    let piece = usize::from(choice).max(1);
    let whole = ChunkedDecoder::new().decode(input).map(|d| (d.consumed, d.data, d.done));
    let mut decoder = ChunkedDecoder::new();
    let (mut consumed, mut payload) = (0, 0);
    let mut split = Ok((0, 0, false));
    for chunk in input.chunks(piece) {
        match decoder.decode(chunk) {
            Ok(d) => {
                consumed += d.consumed;
                payload += d.data;
                split = Ok((consumed, payload, d.done));
                if d.done {
                    break;
                }
            }
            Err(e) => {
                split = Err(e);
                break;
            }
        }
    }
    if input.is_empty() {
        split = whole;
    }
    assert_eq!(whole, split);
});
