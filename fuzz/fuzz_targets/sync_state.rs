//! The SDK's `SyncState` (per-conversation cursor, duplicate and gap
//! detection) against a plain model: the set of seqs a device holds.
//!
//! After every step: the cursor is the highest `n` with every seq `1..=n`
//! held; `accept` says `New` for the next contiguous seq, `Gap` (with the
//! first missing seq) for a later one, `Duplicate` for one already held or
//! below 1; `has_gaps`, `gaps` and `cursors` agree with the model. Seqs come
//! from the server, so extreme values (up to `i64::MAX`) must not panic.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use banter_protocol::{frames::SyncCursor, Seq};
use banter_sdk::{Accepted, SyncState};
use libfuzzer_sys::fuzz_target;

/// A seq near the interesting places: small, around `i64::MAX`, or any.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum AnySeq {
    Small(u8),
    NearMax(u8),
    Any(i64),
}

impl AnySeq {
    fn value(self) -> Seq {
        match self {
            AnySeq::Small(n) => Seq::from(n) - 2,
            AnySeq::NearMax(n) => Seq::MAX - Seq::from(n),
            AnySeq::Any(n) => n,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Step {
    Accept { conversation: u8, seq: AnySeq },
    SetCursor { conversation: u8, seq: AnySeq },
    Forget { conversation: u8 },
}

/// What a device holds in one conversation: everything up to `floor`, plus
/// the seqs in `held` above it.
#[derive(Debug, Default)]
struct Model {
    floor: Seq,
    held: BTreeSet<Seq>,
}

impl Model {
    fn holds(&self, seq: Seq) -> bool {
        seq <= self.floor || self.held.contains(&seq)
    }

    fn cursor(&self) -> Seq {
        let mut cursor = self.floor;
        while let Some(next) = cursor.checked_add(1) {
            if !self.held.contains(&next) {
                break;
            }
            cursor = next;
        }
        cursor
    }

    fn has_gap(&self) -> bool {
        let cursor = self.cursor();
        self.held.iter().any(|&s| s > cursor)
    }
}

fuzz_target!(|steps: Vec<Step>| {
    let mut state = SyncState::new();
    let mut model: BTreeMap<i64, Model> = BTreeMap::new();
    for step in steps.into_iter().take(256) {
        match step {
            Step::Accept { conversation, seq } => {
                let (id, seq) = (i64::from(conversation % 4), seq.value());
                let got = state.accept_seq(id, seq);
                if seq < 1 {
                    assert_eq!(got, Accepted::Duplicate, "seq {seq} is never valid");
                    continue;
                }
                let m = model.entry(id).or_default();
                let expected = if m.holds(seq) {
                    Accepted::Duplicate
                } else {
                    let next = m.cursor() + 1;
                    m.held.insert(seq);
                    if seq == next { Accepted::New } else { Accepted::Gap { expected: next, got: seq } }
                };
                assert_eq!(got, expected, "accept {seq} in {id}");
            }
            Step::SetCursor { conversation, seq } => {
                let (id, seq) = (i64::from(conversation % 4), seq.value());
                state.set_cursor(id, seq);
                let m = model.entry(id).or_default();
                if seq > m.floor {
                    m.floor = seq;
                    m.held.retain(|&s| s > seq);
                }
            }
            Step::Forget { conversation } => {
                let id = i64::from(conversation % 4);
                state.forget(id);
                model.remove(&id);
            }
        }
        for (&id, m) in &model {
            assert_eq!(state.cursor(id), m.cursor(), "cursor of {id}");
        }
        let cursors: Vec<SyncCursor> =
            model.iter().map(|(&conversation_id, m)| SyncCursor { conversation_id, seq: m.cursor() }).collect();
        assert_eq!(state.cursors(), cursors);
        let gaps: Vec<(i64, Seq)> = model.iter().filter(|(_, m)| m.has_gap()).map(|(&id, m)| (id, m.cursor() + 1)).collect();
        assert_eq!(state.gaps(), gaps);
        assert_eq!(state.has_gaps(), !gaps.is_empty());
        // Resuming from the cursors keeps them (what was above a hole is
        // fetched again by sync).
        assert_eq!(SyncState::from_cursors(&cursors).cursors(), cursors);
    }
});
