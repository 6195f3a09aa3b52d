//! The result's named counts (see [`crate::stats::counters`]): under
//! `counters`, each by its name, the ones that counted something; in each
//! interval of the timeline the same. Written and read back by name, so a
//! new counter needs nothing here; names this vastar does not know are
//! left out when a document is read, as unknown fields are.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::stats::CounterSums;
use crate::stats::counters;

/// Reads a map of counts by name, leaving out the names this vastar does
/// not know (a newer vastar's counters do not make the file unreadable).
pub fn known<'de, D: Deserializer<'de>>(input: D) -> Result<BTreeMap<String, u64>, D::Error> {
    let all = BTreeMap::<String, serde_json::Value>::deserialize(input)?;
    let known = all.into_iter().filter(|(id, _)| counters::find(id).is_some());
    let read = known.map(|(id, value)| serde_json::from_value(value).map(|n| (id, n)));
    read.collect::<Result<_, _>>().map_err(serde::de::Error::custom)
}

/// The counts that counted something, by name.
pub fn docs_of(sums: &CounterSums) -> BTreeMap<String, u64> {
    sums.iter().filter(|&(_, n)| n > 0).map(|(counter, n)| (counter.id.to_string(), n)).collect()
}

/// The counts `docs` hold.
pub fn read(docs: &BTreeMap<String, u64>) -> Result<CounterSums, String> {
    let mut sums = CounterSums::default();
    for (id, &n) in docs {
        let i = counters::find(id).ok_or_else(|| format!("unknown counter {id:?}"))?;
        sums.0[i] = n;
    }
    Ok(sums)
}
