//! What a late joiner of a feed needs besides the live messages: every
//! dictionary as it stands ([`Dictionaries`]), shared by the hub (its join
//! snapshot) and the NATS publisher (its restate points).
//!
//! What it is not: a decoder. Record batches are never looked at; dictionary
//! batches are merged by the core only when it can (else sent in order).

use std::collections::BTreeMap;

use lightstream_core::ipc::merge_dictionaries;
use lightstream_core::{DecodeLimits, IpcMessage, MessageKind};

/// Every dictionary's messages since its last non-delta batch.
#[derive(Default, Clone)]
pub(crate) struct Dictionaries(BTreeMap<i64, Dictionary>);

#[derive(Default, Clone)]
struct Dictionary {
    batches: Vec<IpcMessage>,
    /// `batches` as one non-delta batch, once asked for.
    merged: Option<IpcMessage>,
}

impl Dictionaries {
    pub(crate) fn apply(&mut self, m: &IpcMessage) {
        if let MessageKind::DictionaryBatch { id, delta } = m.kind() {
            let d = self.0.entry(id).or_default();
            if !delta {
                d.batches.clear();
            }
            d.batches.push(m.clone());
            d.merged = None;
        }
    }

    /// The messages that give a new reader dictionary `id` (all of them
    /// when `ids` is `None`), each merged into one batch where the core can.
    pub(crate) fn snapshot(
        &mut self,
        schema: &IpcMessage,
        ids: Option<&[i64]>,
        limits: &DecodeLimits,
        out: &mut Vec<IpcMessage>,
    ) {
        for (id, d) in self.0.iter_mut() {
            if ids.is_some_and(|ids| !ids.contains(id)) {
                continue;
            }
            if d.batches.len() > 1 && d.merged.is_none() {
                d.merged = merge(schema, &d.batches, limits);
            }
            match &d.merged {
                Some(m) => out.push(m.clone()),
                None => out.extend(d.batches.iter().cloned()),
            }
        }
    }
}

/// One non-delta dictionary batch holding `batches`' values, or `None`
/// when the core cannot merge them (a value type it does not decode, or
/// batches it refuses): the batches are then sent in order, which is as
/// valid, only longer.
fn merge(schema: &IpcMessage, batches: &[IpcMessage], limits: &DecodeLimits) -> Option<IpcMessage> {
    merge_dictionaries(schema, batches, limits).ok().flatten()
}
