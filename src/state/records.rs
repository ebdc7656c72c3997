//! The records of a folder's state, in order, with an index from each
//! side's id to its record, so that a change to one pair costs the same in
//! a folder of ten messages as in one of a million.
//!
//! Removing a record empties its slot instead of shifting the ones after
//! it; the slots are compacted (in order) once they are mostly empty, so
//! a removal is O(1) amortised and iteration stays linear in the records.
//! The index holds slot numbers, hashed by the id they stand for, rather
//! than a second copy of every id: the ids of a big folder are most of
//! its state's memory.

use super::Record;
use crate::mail::{Pair, Side};
use hashbrown::HashTable;
use serde::ser::{Serialize, SerializeSeq, Serializer};
use std::hash::BuildHasher;

/// Compaction waits for at least this many empty slots, so that a small
/// state is not compacted at every other removal (in tests it is, so that
/// they go through compaction).
const MIN_EMPTY_TO_COMPACT: usize = if cfg!(test) { 2 } else { 64 };

/// The records of a folder, in the order they were first paired; an id
/// of a side is held by at most one record, and every record holds at
/// least one id.
#[derive(Clone, Default)]
pub struct Records {
    /// The records in order; `None` where one was removed.
    slots: Vec<Option<Record>>,
    /// How many slots hold a record.
    live: usize,
    /// Per side, the slot of the record holding each id of that side.
    holders: Pair<HashTable<usize>>,
    hasher: foldhash::fast::RandomState,
}

/// Why [`Records::add`] refused a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyPaired {
    /// The side whose id is held already.
    pub side: Side,
    /// Where the record holding it is, counted from 0 in order.
    pub position: usize,
}

impl Records {
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The records in order.
    pub fn iter(&self) -> std::iter::Flatten<std::slice::Iter<'_, Option<Record>>> {
        self.slots.iter().flatten()
    }

    /// The record holding `id` on `side`, tombstones included.
    pub fn by_id(&self, side: Side, id: &str) -> Option<&Record> {
        self.holder(side, id)
            .and_then(|slot| self.slots[slot].as_ref())
    }

    /// The records in order, each with its place: a number below
    /// [`Records::places`] that [`Records::place_of`] gives for its ids,
    /// the same until a record is removed.
    pub fn iter_placed(&self) -> impl Iterator<Item = (usize, &Record)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(place, record)| Some((place, record.as_ref()?)))
    }

    /// The place of the record holding `id` on `side` (see
    /// [`Records::iter_placed`]).
    pub fn place_of(&self, side: Side, id: &str) -> Option<usize> {
        self.holder(side, id)
    }

    /// The record at `place` (see [`Records::iter_placed`]), if one is.
    pub fn at(&self, place: usize) -> Option<&Record> {
        self.slots.get(place)?.as_ref()
    }

    /// One more than the highest place.
    pub fn places(&self) -> usize {
        self.slots.len()
    }

    /// Makes room for `additional` more records, so that loading a big
    /// state does not grow its index step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional);
        let Self {
            slots,
            holders,
            hasher,
            ..
        } = self;
        for side in Side::BOTH {
            holders[side].reserve(additional, |&slot| {
                id_in(slots, slot, side).map_or(0, |id| hasher.hash_one(id))
            });
        }
    }

    /// How many records hold an id of `side` (tombstones included).
    pub fn count_on(&self, side: Side) -> usize {
        self.holders[side].len()
    }

    /// Whether a record holds `id` on `side`.
    pub fn holds(&self, side: Side, id: &str) -> bool {
        self.holder(side, id).is_some()
    }

    /// The record with exactly these ids.
    pub fn with_ids(&self, ids: &Pair<Option<String>>) -> Option<&Record> {
        self.slot_with_ids(ids)
            .and_then(|slot| self.slots[slot].as_ref())
    }

    /// Adds a record that shares no id with any other, at the end; one
    /// that does is refused, naming the record that holds the id. A record
    /// without ids is not added (it could never be found again).
    pub fn add(&mut self, record: Record) -> Result<(), AlreadyPaired> {
        for side in Side::BOTH {
            if let Some(slot) = record.ids[side]
                .as_deref()
                .and_then(|id| self.holder(side, id))
            {
                let position = self.slots[..slot].iter().flatten().count();
                return Err(AlreadyPaired { side, position });
            }
        }
        self.push(record);
        Ok(())
    }

    /// Adds `record`, replacing every record that shares an id with it:
    /// it takes the place of the first of them (so the order stays as the
    /// messages were first paired) and the others are removed. A record
    /// without ids is not added.
    pub fn pair(&mut self, record: Record) {
        let holders = Side::BOTH.map(|side| {
            record.ids[side]
                .as_deref()
                .and_then(|id| self.holder(side, id))
        });
        let first = match holders {
            [None, None] => {
                self.push(record);
                return;
            }
            [Some(far), Some(near)] => {
                let (first, other) = (far.min(near), far.max(near));
                if other != first {
                    self.take(other);
                }
                first
            }
            [Some(slot), None] | [None, Some(slot)] => slot,
        };
        self.unindex(first);
        self.slots[first] = Some(record);
        self.index(first);
        // Only now: compaction renumbers the slots.
        self.compact_if_sparse();
    }

    /// Sets the flags of the record with exactly these ids; returns
    /// whether there was one.
    pub fn set_flags(&mut self, ids: &Pair<Option<String>>, flags: crate::mail::Flags) -> bool {
        match self.slot_with_ids(ids) {
            Some(slot) => {
                if let Some(record) = &mut self.slots[slot] {
                    record.flags = flags;
                }
                true
            }
            None => false,
        }
    }

    /// Removes the record with exactly these ids, if there is one.
    pub fn unpair(&mut self, ids: &Pair<Option<String>>) {
        if let Some(slot) = self.slot_with_ids(ids) {
            self.remove(slot);
        }
    }

    /// The record holding `kept_id` on the other side forgets its id on
    /// side `gone`: it becomes a tombstone.
    pub fn tombstone(&mut self, gone: Side, kept_id: &str) {
        let Some(slot) = self.holder(gone.other(), kept_id) else {
            return;
        };
        self.unindex_side(slot, gone);
        if let Some(record) = &mut self.slots[slot] {
            record.ids[gone] = None;
        }
    }

    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    /// The slot of the record holding `id` on `side`.
    fn holder(&self, side: Side, id: &str) -> Option<usize> {
        let slots = &self.slots;
        self.holders[side]
            .find(self.hash(id), |&slot| {
                visits::visit();
                id_in(slots, slot, side) == Some(id)
            })
            .copied()
    }

    fn slot_with_ids(&self, ids: &Pair<Option<String>>) -> Option<usize> {
        let side = Side::BOTH.into_iter().find(|&side| ids[side].is_some())?;
        let slot = self.holder(side, ids[side].as_deref()?)?;
        let record = self.slots[slot].as_ref()?;
        (record.ids == *ids).then_some(slot)
    }

    /// Appends a record that shares no id with another.
    fn push(&mut self, record: Record) {
        if record.ids.0.iter().all(Option::is_none) {
            return;
        }
        self.slots.push(Some(record));
        self.live += 1;
        self.index(self.slots.len() - 1);
    }

    fn remove(&mut self, slot: usize) {
        self.take(slot);
        self.compact_if_sparse();
    }

    /// Empties `slot`, leaving the other slots where they are.
    fn take(&mut self, slot: usize) {
        self.unindex(slot);
        if self.slots[slot].take().is_some() {
            self.live -= 1;
        }
    }

    /// Compacts once most slots are empty: after at least as many
    /// removals as there are records left, so it costs O(1) a removal.
    fn compact_if_sparse(&mut self) {
        let empty = self.slots.len() - self.live;
        if empty >= MIN_EMPTY_TO_COMPACT && empty > self.live {
            self.compact();
        }
    }

    /// Drops the empty slots, keeping the records' order, and renumbers
    /// the index.
    fn compact(&mut self) {
        self.slots.retain(Option::is_some);
        for side in Side::BOTH {
            self.holders[side].clear();
        }
        for slot in 0..self.slots.len() {
            visits::visit();
            self.index(slot);
        }
    }

    /// Enters the ids of the record in `slot` into the index.
    fn index(&mut self, slot: usize) {
        let Self {
            slots,
            holders,
            hasher,
            ..
        } = self;
        for side in Side::BOTH {
            if let Some(id) = id_in(slots, slot, side) {
                holders[side].insert_unique(hasher.hash_one(id), slot, |&other| {
                    id_in(slots, other, side).map_or(0, |id| hasher.hash_one(id))
                });
            }
        }
    }

    /// Takes the ids of the record in `slot` out of the index.
    fn unindex(&mut self, slot: usize) {
        for side in Side::BOTH {
            self.unindex_side(slot, side);
        }
    }

    fn unindex_side(&mut self, slot: usize, side: Side) {
        let Some(id) = id_in(&self.slots, slot, side) else {
            return;
        };
        let hash = self.hash(id);
        if let Ok(entry) = self.holders[side].find_entry(hash, |&held| held == slot) {
            entry.remove();
        }
    }
}

/// The id on `side` of the record in `slot`.
fn id_in(slots: &[Option<Record>], slot: usize, side: Side) -> Option<&str> {
    slots.get(slot)?.as_ref()?.ids[side].as_deref()
}

/// Collecting records pairs each in turn, as the journal's pair entries
/// do: a record replaces any earlier one that shares an id with it.
impl FromIterator<Record> for Records {
    fn from_iter<I: IntoIterator<Item = Record>>(records: I) -> Records {
        let mut collected = Records::default();
        collected.extend(records);
        collected
    }
}

impl Extend<Record> for Records {
    fn extend<I: IntoIterator<Item = Record>>(&mut self, records: I) {
        for record in records {
            self.pair(record);
        }
    }
}

impl From<Vec<Record>> for Records {
    fn from(records: Vec<Record>) -> Records {
        records.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Records {
    type Item = &'a Record;
    type IntoIter = std::iter::Flatten<std::slice::Iter<'a, Option<Record>>>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Two states are equal when they hold the same records in the same
/// order, wherever the empty slots fall.
impl PartialEq for Records {
    fn eq(&self, other: &Records) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Records {}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Records {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for record in self {
            seq.serialize_element(record)?;
        }
        seq.end()
    }
}

/// Test-only count of the records looked at by the state's per-pair
/// operations, so tests can tell linear from quadratic work by counting
/// instead of timing. Per thread: tests run side by side.
#[cfg(test)]
pub(crate) mod visits {
    use std::cell::Cell;

    thread_local! {
        static VISITS: Cell<u64> = const { Cell::new(0) };
    }

    /// One record was looked at.
    pub fn visit() {
        VISITS.with(|count| count.set(count.get() + 1));
    }

    /// The visits counted on this thread while `work` ran.
    pub fn during(work: impl FnOnce()) -> u64 {
        let before = VISITS.with(Cell::get);
        work();
        VISITS.with(Cell::get) - before
    }
}

#[cfg(not(test))]
pub(crate) mod visits {
    /// Counted in tests only.
    #[inline(always)]
    pub fn visit() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Flags;
    use proptest::prelude::*;

    fn record(far: Option<&str>, near: Option<&str>, flags: Flags) -> Record {
        Record {
            ids: Pair::new(far.map(String::from), near.map(String::from)),
            flags,
        }
    }

    fn ids_in_order(records: &Records) -> Vec<(Option<&str>, Option<&str>)> {
        records
            .iter()
            .map(|r| (r.ids[Side::Far].as_deref(), r.ids[Side::Near].as_deref()))
            .collect()
    }

    #[test]
    fn a_record_sharing_ids_takes_the_place_of_the_first_and_the_others_go() {
        let mut records: Records = vec![
            record(Some("1"), Some("a"), Flags::EMPTY),
            record(Some("2"), Some("b"), Flags::EMPTY),
            record(Some("3"), Some("c"), Flags::EMPTY),
        ]
        .into();
        records.pair(record(Some("3"), Some("a"), Flags::SEEN));
        assert_eq!(
            ids_in_order(&records),
            [(Some("3"), Some("a")), (Some("2"), Some("b"))]
        );
        assert_eq!(records.by_id(Side::Far, "3").unwrap().flags, Flags::SEEN);
        assert!(records.by_id(Side::Far, "1").is_none());
        assert!(records.by_id(Side::Near, "c").is_none());
    }

    #[test]
    fn add_refuses_an_id_paired_already_and_says_which_record_holds_it() {
        let mut records = Records::default();
        records
            .add(record(Some("1"), Some("a"), Flags::EMPTY))
            .unwrap();
        records.add(record(Some("2"), None, Flags::EMPTY)).unwrap();
        records.unpair(&Pair::new(Some("1".to_string()), Some("a".to_string())));
        records
            .add(record(Some("3"), Some("c"), Flags::EMPTY))
            .unwrap();
        assert_eq!(
            records.add(record(Some("4"), Some("c"), Flags::EMPTY)),
            Err(AlreadyPaired {
                side: Side::Near,
                position: 1
            })
        );
        assert_eq!(records.len(), 2);
    }

    #[test]
    fn removals_keep_the_order_and_every_id_found_through_compaction() {
        let far = |i: usize| Some(i.to_string());
        let near = |i: usize| Some(format!("n{i}"));
        let mut records: Records = (0..1_000)
            .map(|i| Record {
                ids: Pair::new(far(i), near(i)),
                flags: Flags::EMPTY,
            })
            .collect();
        for i in (0..1_000).filter(|i| i % 10 != 0) {
            records.unpair(&Pair::new(far(i), near(i)));
        }
        assert!(records.slots.len() < 1_000, "compacted");
        let left: Vec<usize> = records
            .iter()
            .map(|r| r.ids[Side::Far].as_deref().unwrap().parse().unwrap())
            .collect();
        assert_eq!(left, (0..1_000).step_by(10).collect::<Vec<_>>());
        for i in (0..1_000).step_by(10) {
            assert!(records.holds(Side::Near, &format!("n{i}")));
            assert!(!records.holds(Side::Near, &format!("n{}", i + 1)));
        }
    }

    /// The records as a plain list, changed by scanning it: what the state
    /// did before it had an index, kept as the model the index must match.
    #[derive(Default)]
    struct Scanned(Vec<Record>);

    impl Scanned {
        fn pair(&mut self, record: Record) {
            if record.ids.0.iter().all(Option::is_none) {
                return;
            }
            let shares_an_id = |old: &Record| {
                Side::BOTH
                    .iter()
                    .any(|&side| record.ids[side].is_some() && old.ids[side] == record.ids[side])
            };
            match self.0.iter().position(shares_an_id) {
                Some(first) => {
                    let mut index = 0;
                    self.0.retain(|old| {
                        let keep = index == first || !shares_an_id(old);
                        index += 1;
                        keep
                    });
                    self.0[first] = record;
                }
                None => self.0.push(record),
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Change {
        Pair(Record),
        Flags(Pair<Option<String>>, Flags),
        Unpair(Pair<Option<String>>),
        Tombstone(Side, String),
    }

    fn id() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["1", "2", "3", "4", "5", "6"]).prop_map(String::from)
    }

    fn ids() -> impl Strategy<Value = Pair<Option<String>>> {
        (prop::option::of(id()), prop::option::of(id())).prop_map(|(f, n)| Pair::new(f, n))
    }

    fn side() -> impl Strategy<Value = Side> {
        prop_oneof![Just(Side::Far), Just(Side::Near)]
    }

    fn change() -> impl Strategy<Value = Change> {
        let flags = prop_oneof![Just(Flags::EMPTY), Just(Flags::SEEN)];
        prop_oneof![
            4 => (ids(), flags.clone()).prop_map(|(ids, flags)| Change::Pair(Record { ids, flags })),
            2 => (ids(), flags).prop_map(|(ids, flags)| Change::Flags(ids, flags)),
            2 => ids().prop_map(Change::Unpair),
            2 => (side(), id()).prop_map(|(gone, kept)| Change::Tombstone(gone, kept)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the changes, the records hold what a plain list
        /// changed by scanning would, in the same order, and find each
        /// id where the list has it.
        #[test]
        fn the_index_agrees_with_a_scanned_list(changes in prop::collection::vec(change(), 0..200)) {
            let mut records = Records::default();
            let mut model = Scanned::default();
            for change in changes {
                match change {
                    Change::Pair(record) => {
                        records.pair(record.clone());
                        model.pair(record);
                    }
                    Change::Flags(ids, flags) => {
                        records.set_flags(&ids, flags);
                        if let Some(r) = model.0.iter_mut().find(|r| r.ids == ids) {
                            r.flags = flags;
                        }
                    }
                    Change::Unpair(ids) => {
                        records.unpair(&ids);
                        model.0.retain(|r| r.ids != ids);
                    }
                    Change::Tombstone(gone, kept) => {
                        records.tombstone(gone, &kept);
                        let kept_side = gone.other();
                        if let Some(r) = model
                            .0
                            .iter_mut()
                            .find(|r| r.ids[kept_side].as_deref() == Some(kept.as_str()))
                        {
                            r.ids[gone] = None;
                        }
                    }
                }
                prop_assert_eq!(records.iter().cloned().collect::<Vec<_>>(), model.0.clone());
                for side in Side::BOTH {
                    for id in ["1", "2", "3", "4", "5", "6"] {
                        let expected = model.0.iter().find(|r| r.ids[side].as_deref() == Some(id));
                        prop_assert_eq!(records.by_id(side, id), expected);
                    }
                }
            }
        }
    }
}
