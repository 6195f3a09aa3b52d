//! Any bytes as the input of `vastar merge`: a stream of JSON documents,
//! read, merged with themselves and each other, and reported. Nothing may
//! panic or overflow; a bad document is refused with a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vastar::result::{ResultDoc, merge};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut docs = Vec::new();
    for value in serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>() {
        let Ok(value) = value else { return };
        match ResultDoc::from_value(value) {
            Ok(doc) => docs.push(doc),
            Err(_) => return,
        }
    }
    if docs.is_empty() {
        return;
    }
    // Each document alone, then all of them twice over (so sums grow).
    let mut all = docs.clone();
    all.extend(docs.iter().cloned());
    for set in docs.iter().map(std::slice::from_ref).chain(std::iter::once(&all[..])) {
        let Ok(merged) = merge::merge(set, true, vec!["fuzz".into()]) else { continue };
        let Ok(stats) = merged.stats() else { continue };
        let style = vastar::term::Style::plain();
        let _ = vastar::report::render(&mut std::io::sink(), &stats, &merged.run_info(), &style);
        let _ = serde_json::to_string(&merged);
        let _ = merged.csv();
    }
});
