//! The duplicate index: the identities read so far, as 64-bit fingerprints, each with the bits
//! of its value.
//!
//! A file of a million records holds a million identities, and each new record looks its own
//! up at a random place of a table of some 20 MB: on its own, every lookup waits for memory.
//! So the reader looks up a batch of rows at once: [`Seen::touch`] first reads the slot each
//! fingerprint starts at — the loads are independent, so the processor has them in flight
//! together — and the lookups that follow find their slots in cache. That is why this is an
//! open-addressing table of its own and not a `HashMap`: a map does not say where a key lives.
//!
//! Linear probing, at most three quarters full; a shard grows by half again (not double, so
//! that a file is not held in a table twice its need), its slot picked by the fingerprint's
//! bits below the shard's scaled to its length. Fingerprint 0 marks an empty slot (a record
//! whose fingerprint is 0 is filed as 1). A removed identity keeps its slot with a NaN as its
//! value (values are finite, so no record has it): the probe chains of other fingerprints stay
//! whole, and the identity, read again, takes its slot back.
//!
//! A table given room for a large input at once ([`Seen::reserve`]) is one table, not sixteen
//! shards, in memory of its own asked to be backed by huge pages (on Linux, where transparent
//! huge pages are enabled for memory that asks): with 4 KB pages each random lookup also
//! misses the processor's page cache, and each first write to a page stops for the kernel to
//! zero it — together about a tenth of reading a file of a million rows.

use std::hash::{BuildHasher, Hash, Hasher};

use kudos_core::MetricRecord;
use zerocopy::FromBytes;

/// Sharded so that growing the table reallocates one shard at a time: a single table would, at
/// each doubling, briefly hold the old and the new arrays — 1.5 times its size.
const SHARDS: usize = 16;
/// Slots a shard starts with.
const FIRST: usize = 1 << 10;
/// The value bits of a removed identity: a NaN, which no record's value is.
const REMOVED: u64 = u64::MAX;
/// Room for at least this many slots (4 MiB of them) is made as one table in memory of its
/// own, backed by huge pages where the system allows.
const MAPPED: usize = (4 << 20) / 16;

/// A 64-bit fingerprint of a record's identity (agent, day, metric, dims), never 0. Collisions
/// among a file's records are astronomically unlikely (about n²/2⁶⁵), and would surface as a
/// reported conflict unless the two values were also equal.
pub(crate) fn fingerprint(state: &foldhash::quality::RandomState, r: &MetricRecord) -> u64 {
    let mut h = state.build_hasher();
    r.agent.as_str().hash(&mut h);
    r.day.hash(&mut h);
    r.metric.as_str().hash(&mut h);
    r.dims.hash(&mut h);
    h.finish().max(1)
}

/// What a fingerprint was found with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// It was new, and is now remembered with the value given.
    Inserted,
    /// It was already there, with these value bits.
    Present(u64),
}

/// The identities read so far.
pub(crate) struct Seen {
    /// Sixteen shards, or one table (see the module's documentation).
    shards: Vec<Shard>,
}

struct Shard {
    slots: Slots,
    /// Slots taken, removed identities included.
    taken: usize,
}

/// A shard's slots, each [fingerprint, value bits]; fingerprint 0 is an empty slot.
enum Slots {
    /// On the heap, as any vector.
    Heap(Vec<[u64; 2]>),
    /// In memory mapped for the table alone, asked to be backed by huge pages. Its length is a
    /// whole number of slots and its start is page-aligned, so it is always a slice of slots.
    Mapped(memmap2::MmapMut),
}

impl Slots {
    /// `len` empty slots: mapped when there are many, on the heap otherwise (or when mapping
    /// fails).
    fn empty(len: usize) -> Self {
        if len >= MAPPED
            && let Some(mapped) = Self::mapped(len)
        {
            return mapped;
        }
        Self::Heap(vec![[0, 0]; len])
    }

    fn mapped(len: usize) -> Option<Self> {
        let mut map = memmap2::MmapOptions::new()
            .len(len.checked_mul(16)?)
            .map_anon()
            .ok()?;
        #[cfg(target_os = "linux")]
        {
            // Advice, not a requirement: without huge pages the table works as well, slower.
            let _ = map.advise(memmap2::Advice::HugePage);
        }
        // Anonymous memory is zeroed (every slot empty) and page-aligned: the view holds.
        let fits = <[[u64; 2]]>::mut_from_bytes(&mut map[..]).is_ok_and(|s| s.len() == len);
        fits.then_some(Self::Mapped(map))
    }

    fn get(&self) -> &[[u64; 2]] {
        match self {
            Self::Heap(v) => v,
            Self::Mapped(m) => <[[u64; 2]]>::ref_from_bytes(&m[..]).unwrap_or_default(),
        }
    }

    fn get_mut(&mut self) -> &mut [[u64; 2]] {
        match self {
            Self::Heap(v) => v,
            Self::Mapped(m) => <[[u64; 2]]>::mut_from_bytes(&mut m[..]).unwrap_or_default(),
        }
    }
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    slots: Slots::empty(FIRST),
                    taken: 0,
                })
                .collect(),
        }
    }
}

impl Seen {
    /// The top four bits pick the shard (of sixteen, or the one); the low bits, the slot
    /// within it.
    fn shard_of(&self, fp: u64) -> usize {
        #[allow(clippy::cast_possible_truncation, reason = "shifted to 4 bits")]
        let i = (fp >> 60) as usize & (self.shards.len() - 1);
        i
    }

    /// Reads the slot `fp` starts at, so that a lookup soon after finds it in cache. Returns
    /// what it read, for the caller to pass to [`std::hint::black_box`].
    pub(crate) fn touch(&self, fp: u64) -> u64 {
        let slots = self.shards[self.shard_of(fp)].slots.get();
        slots.get(start(fp, slots.len())).map_or(0, |s| s[0])
    }

    /// Looks `fp` up; when it is new (or was removed), remembers it with `bits`.
    pub(crate) fn insert(&mut self, fp: u64, bits: u64) -> Found {
        let i = self.shard_of(fp);
        let shard = &mut self.shards[i];
        if (shard.taken + 1) * 4 > shard.slots.get().len() * 3 {
            shard.grow();
        }
        let slots = shard.slots.get_mut();
        let len = slots.len();
        let mut i = start(fp, len);
        loop {
            let slot = &mut slots[i];
            if slot[0] == 0 {
                *slot = [fp, bits];
                shard.taken += 1;
                return Found::Inserted;
            }
            if slot[0] == fp {
                if slot[1] == REMOVED {
                    slot[1] = bits;
                    return Found::Inserted;
                }
                return Found::Present(slot[1]);
            }
            i = next(i, len);
        }
    }

    /// Makes room for `n` identities in all at once, so that the table need not grow (and
    /// move every identity it holds, each a random write) on the way there: each shard is
    /// given room for its share and a little more, at most three quarters full. A table
    /// already that large is left as it is. Room for many identities is made as one table
    /// (see the module's documentation).
    pub(crate) fn reserve(&mut self, n: usize) {
        let room = n.saturating_add(n / 64).saturating_add(16 * SHARDS);
        let whole = room.saturating_mul(4).div_ceil(3);
        if self.shards.len() > 1 && whole >= MAPPED {
            let mut one = Shard {
                slots: Slots::empty(whole),
                taken: 0,
            };
            for shard in &self.shards {
                one.take_from(shard.slots.get());
            }
            self.shards = vec![one];
            return;
        }
        let len = whole / self.shards.len() + 2;
        for shard in &mut self.shards {
            if len > shard.slots.get().len() {
                shard.grow_to(len);
            }
        }
    }

    /// Forgets `fp` (inserted by a row that was then rejected).
    pub(crate) fn remove(&mut self, fp: u64) {
        let i = self.shard_of(fp);
        let slots = self.shards[i].slots.get_mut();
        let len = slots.len();
        let mut i = start(fp, len);
        loop {
            let slot = &mut slots[i];
            if slot[0] == 0 {
                return;
            }
            if slot[0] == fp {
                slot[1] = REMOVED;
                return;
            }
            i = next(i, len);
        }
    }
}

/// The slot a fingerprint's probe starts at, in a table of `len` slots: the fingerprint's
/// bits below the four that pick the shard, as a fraction of `len`.
fn start(fp: u64, len: usize) -> usize {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "below len: the high half of a 64-bit fraction times len"
    )]
    let i = ((u128::from(fp << 4) * len as u128) >> 64) as usize;
    i
}

/// The slot after `i`, wrapping at `len`.
fn next(i: usize, len: usize) -> usize {
    if i + 1 == len { 0 } else { i + 1 }
}

impl Shard {
    fn grow(&mut self) {
        let len = self.slots.get().len();
        self.grow_to(len + len / 2);
    }

    /// Moves the slots into a table of `len` slots (more than are taken).
    fn grow_to(&mut self, len: usize) {
        let old = std::mem::replace(&mut self.slots, Slots::empty(len));
        self.taken = 0;
        self.take_from(old.get());
    }

    /// Files the identities of `from` (removed ones too) in this shard's slots, which have room.
    fn take_from(&mut self, from: &[[u64; 2]]) {
        let slots = self.slots.get_mut();
        let len = slots.len();
        for &[fp, bits] in from {
            if fp == 0 {
                continue;
            }
            let mut i = start(fp, len);
            while slots[i][0] != 0 {
                i = next(i, len);
            }
            slots[i] = [fp, bits];
            self.taken += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::{Found, Seen};

    proptest! {
        /// The table answers as a map from fingerprint to value bits would, through growth and
        /// removals — fingerprints drawn from a small range so that they collide, share probe
        /// chains and come back after being removed.
        #[test]
        fn answers_as_a_map(ops in prop::collection::vec((any::<bool>(), 1u64..3000, 0u64..4, any::<u64>()), 0..6000)) {
            let mut seen = Seen::default();
            let mut model: HashMap<u64, u64> = HashMap::new();
            for (remove, low, high, bits) in ops {
                // Spread over the shards and cluster within them.
                let fp = low | (high << 60);
                let bits = bits >> 1; // never REMOVED
                if remove {
                    seen.remove(fp);
                    model.remove(&fp);
                } else {
                    let want = match model.get(&fp) {
                        Some(b) => Found::Present(*b),
                        None => {
                            model.insert(fp, bits);
                            Found::Inserted
                        }
                    };
                    prop_assert_eq!(seen.insert(fp, bits), want);
                }
            }
            for (fp, bits) in &model {
                prop_assert_eq!(seen.insert(*fp, 0), Found::Present(*bits));
            }
        }

        /// Room made in the middle (more or less than is needed) keeps every identity, and
        /// room for all of them means no shard grows again.
        #[test]
        fn reserving_keeps_what_was_read(
            fps in prop::collection::hash_set(1u64.., 0..3000),
            reserve_at in 0usize..3000,
            room in 0usize..6000,
        ) {
            let fps: Vec<u64> = fps.into_iter().collect();
            let mut seen = Seen::default();
            for (i, fp) in fps.iter().enumerate() {
                if i == reserve_at {
                    seen.reserve(room);
                }
                prop_assert_eq!(seen.insert(*fp, *fp >> 1), Found::Inserted);
            }
            for fp in &fps {
                prop_assert_eq!(seen.insert(*fp, 0), Found::Present(*fp >> 1));
            }
        }
    }

    /// Room for many identities is one table, in memory of its own: what was read before is
    /// kept, what follows fits without growing, and removal works there as in a shard.
    #[test]
    fn room_for_many_is_one_mapped_table_that_keeps_what_was_read() {
        let fp = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut seen = Seen::default();
        for i in 1..=20_000u64 {
            assert_eq!(seen.insert(fp(i), i), Found::Inserted);
        }
        seen.reserve(400_000);
        assert_eq!(seen.shards.len(), 1);
        let shard = &seen.shards[0];
        assert!(matches!(shard.slots, super::Slots::Mapped(_)));
        let len = shard.slots.get().len();
        assert!(
            len * 3 >= 400_000 * 4,
            "room for 400,000 at most three quarters full"
        );
        for i in 1..=400_000u64 {
            let want = if i <= 20_000 {
                Found::Present(i)
            } else {
                Found::Inserted
            };
            assert_eq!(seen.insert(fp(i), i), want);
        }
        assert_eq!(seen.shards[0].slots.get().len(), len);
        seen.remove(fp(7));
        assert_eq!(seen.insert(fp(7), 70), Found::Inserted);
        assert_eq!(seen.insert(fp(7), 0), Found::Present(70));
        // Growing past the room keeps every identity too.
        for i in 400_001..=700_000u64 {
            assert_eq!(seen.insert(fp(i), i), Found::Inserted);
        }
        assert!(seen.shards[0].slots.get().len() > len);
        assert_eq!(seen.insert(fp(123_456), 0), Found::Present(123_456));
        assert_eq!(seen.insert(fp(7), 0), Found::Present(70));
    }

    /// Room for all the identities means no shard grows on the way.
    #[test]
    fn reserved_room_is_enough() {
        let mut seen = Seen::default();
        seen.reserve(50_000);
        let lens: Vec<usize> = seen.shards.iter().map(|s| s.slots.get().len()).collect();
        for i in 1..=50_000u64 {
            // Spread evenly over the shards, as a good hash's fingerprints are.
            assert_eq!(
                seen.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), 0),
                Found::Inserted
            );
        }
        let after: Vec<usize> = seen.shards.iter().map(|s| s.slots.get().len()).collect();
        assert_eq!(lens, after);
    }
}
