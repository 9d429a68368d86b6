//! The chunk summary: the populated bitmap held as a 2-bit state per 2 MiB chunk (512 bits: all
//! clear, all set, or mixed) and, only for a mixed chunk, a 512-bit block from a pool in the
//! caller's storage, sized from the configuration. The blocks are kept sorted by chunk, each
//! tagged with its chunk, and found by halving: no per-chunk index. A block comes back to the
//! pool as soon as its chunk turns uniform again, except a pinned one, which stays for good (the
//! page map pins the chunks that hold bits of no frame or of a reserved frame: they may turn
//! mixed at any time, so their block must never be missing). A change that would need a block
//! the pool does not have changes nothing and is reported; the batches never ask for one
//! (`scan` charges a block for each uniform chunk a batch may leave mixed).

use crate::bitmap::{self, WORD_BITS};
use crate::storage::Storage;
use ballast_xen::FRAMES_PER_SUPERPAGE;

/// Bits in a chunk.
const CHUNK_BITS: u64 = FRAMES_PER_SUPERPAGE;

/// Words of a block's bits.
const BITS_WORDS: usize = (CHUNK_BITS / WORD_BITS) as usize;

/// Storage words of one block: its tag (the chunk, and whether it is pinned), then its bits.
pub const BLOCK_WORDS: usize = 1 + BITS_WORDS;

/// Chunk states in one storage word.
const STATES_PER_WORD: u64 = WORD_BITS / 2;

/// The tag bit of a pinned block.
const PINNED: u64 = 1 << 63;

/// A chunk's state, as stored (two bits).
const CLEAR: u64 = 0b00;
const MIXED: u64 = 0b01;
const SET: u64 = 0b11;

/// The state of a chunk whose bits all equal `value`.
const fn uniform(value: bool) -> u64 {
    if value {
        SET
    } else {
        CLEAR
    }
}

/// A state word of 32 chunks all in the uniform state of `value`.
const fn uniform_word(value: bool) -> u64 {
    if value {
        u64::MAX
    } else {
        0
    }
}

/// Words of storage the states of `chunks` chunks take.
fn state_words(chunks: u64) -> usize {
    usize::try_from(chunks.div_ceil(STATES_PER_WORD)).unwrap_or(usize::MAX)
}

/// A change needed a block and the pool had none left: nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolFull;

/// The part `[lo, hi)` of chunk `chunk` (bits inside it) that the bit range `[start, end)`
/// covers, and the chunk's first bit. The chunk lies inside the range's chunks.
fn span(chunk: u64, start: u64, end: u64) -> (u64, u64, u64) {
    // Chunks of a bitmap in memory: the product is below 2^64.
    let base = chunk.saturating_mul(CHUNK_BITS);
    let lo = start.saturating_sub(base);
    let hi = end.saturating_sub(base).min(CHUNK_BITS);
    (base, lo, hi)
}

/// The populated bitmap as chunk states and a pool of blocks for mixed chunks.
#[derive(Debug)]
pub struct ChunkMap<W> {
    /// Two bits per chunk.
    states: W,
    /// The blocks (its whole blocks: [`blocks`]); the first `used` are in use, sorted by chunk.
    pool: W,
    used: usize,
    chunks: u64,
    /// A change was refused for want of a block: the bits no longer say what the caller meant.
    overflowed: bool,
}

/// Words of storage for `chunks` chunks and a pool of `blocks` blocks.
pub fn words(chunks: u64, blocks: usize) -> usize {
    // Words of storage in memory: a sum past `usize::MAX` saturates and no storage fits it.
    state_words(chunks).saturating_add(blocks.saturating_mul(BLOCK_WORDS))
}

/// The whole blocks of `words`.
fn blocks(words: &[u64]) -> &[[u64; BLOCK_WORDS]] {
    words.as_chunks::<BLOCK_WORDS>().0
}

/// The whole blocks of `words`, to change.
fn blocks_mut(words: &mut [u64]) -> &mut [[u64; BLOCK_WORDS]] {
    words.as_chunks_mut::<BLOCK_WORDS>().0
}

impl<W: Storage> ChunkMap<W> {
    /// A summary of `chunks` chunks, all clear, over `storage` (its states first, then as many
    /// whole blocks as fit).
    pub fn new(mut storage: W, chunks: u64) -> ChunkMap<W> {
        storage.borrow_mut().fill(0);
        let (states, pool) = storage.split_words(state_words(chunks));
        ChunkMap {
            states,
            pool,
            used: 0,
            chunks,
            overflowed: false,
        }
    }

    /// The states, two bits per chunk.
    fn states(&self) -> &[u64] {
        self.states.borrow()
    }

    /// The blocks.
    fn pool(&self) -> &[[u64; BLOCK_WORDS]] {
        blocks(self.pool.borrow())
    }

    /// The blocks, to change.
    fn pool_mut(&mut self) -> &mut [[u64; BLOCK_WORDS]] {
        blocks_mut(self.pool.borrow_mut())
    }

    /// Bits it holds: 512 per chunk.
    pub fn bits(&self) -> u64 {
        // Chunks of a bitmap in memory.
        self.chunks.saturating_mul(CHUNK_BITS)
    }

    /// Bytes of storage: the states and the whole pool.
    pub fn bytes(&self) -> usize {
        core::mem::size_of_val(self.states()).saturating_add(core::mem::size_of_val(self.pool()))
    }

    /// Bytes of the pool: sized by the configuration, not by memory.
    pub fn pool_bytes(&self) -> usize {
        core::mem::size_of_val(self.pool())
    }

    /// Blocks not in use.
    pub fn free_blocks(&self) -> usize {
        self.pool().len().saturating_sub(self.used)
    }

    /// The stored state of `chunk`.
    fn state(&self, chunk: u64) -> u64 {
        let word = (chunk / STATES_PER_WORD) as usize;
        let shift = (chunk % STATES_PER_WORD).saturating_mul(2);
        (self.states()[word] >> shift) & 0b11
    }

    fn set_state(&mut self, chunk: u64, state: u64) {
        let word = (chunk / STATES_PER_WORD) as usize;
        let shift = (chunk % STATES_PER_WORD).saturating_mul(2);
        let states = self.states.borrow_mut();
        states[word] = (states[word] & !(0b11 << shift)) | (state << shift);
    }

    /// Whether `chunk` is mixed (holds a block).
    pub fn is_mixed(&self, chunk: u64) -> bool {
        self.state(chunk) == MIXED
    }

    /// The chunk of a block's tag.
    fn chunk_of(tag: u64) -> u64 {
        tag & !PINNED
    }

    /// The index of `chunk`'s block, or where it would go.
    fn find(&self, chunk: u64) -> Result<usize, usize> {
        self.pool()[..self.used].binary_search_by_key(&chunk, |block| Self::chunk_of(block[0]))
    }

    /// The bits of the block of mixed chunk `chunk`.
    fn block(&self, chunk: u64) -> &[u64] {
        match self.find(chunk) {
            Ok(index) => &self.pool()[index][1..],
            // A mixed chunk has its block (the invariant checks it); were it missing, it reads
            // as clear.
            Err(_) => &[0; BITS_WORDS],
        }
    }

    /// Give `chunk` (uniform, all bits `value`) a block holding its bits: it turns mixed.
    fn insert(&mut self, chunk: u64, value: bool) -> Result<usize, PoolFull> {
        let at = match self.find(chunk) {
            Ok(index) => return Ok(index),
            Err(at) => at,
        };
        if self.used >= self.pool().len() {
            return Err(PoolFull);
        }
        // `used` is below the pool's length: both fit.
        let used = self.used;
        let next = used.saturating_add(1);
        let pool = self.pool_mut();
        pool.copy_within(at..used, at.saturating_add(1));
        pool[at] = [uniform_word(value); BLOCK_WORDS];
        pool[at][0] = chunk;
        self.used = next;
        self.set_state(chunk, MIXED);
        Ok(at)
    }

    /// Pin `chunk`: give it a block (holding its bits) that stays for good.
    pub fn pin(&mut self, chunk: u64) -> Result<(), PoolFull> {
        let state = self.state(chunk);
        let index = self.insert(chunk, state == SET)?;
        self.pool_mut()[index][0] |= PINNED;
        Ok(())
    }

    /// Whether `chunk` has a pinned block.
    pub fn is_pinned(&self, chunk: u64) -> bool {
        self.find(chunk)
            .is_ok_and(|index| self.pool()[index][0] & PINNED != 0)
    }

    /// If the block at `index` is not pinned and its bits are all equal, give it back and make
    /// its chunk uniform.
    fn settle(&mut self, index: usize) {
        let block = self.pool()[index];
        if block[0] & PINNED != 0 {
            return;
        }
        let bits = &block[1..];
        let value = match bits[0] {
            0 => false,
            u64::MAX => true,
            _ => return,
        };
        if bits.iter().any(|&word| word != bits[0]) {
            return;
        }
        // `index` is in use: below `used`, which is at least 1.
        let used = self.used;
        self.pool_mut()
            .copy_within(index.saturating_add(1)..used, index);
        self.used = self.used.saturating_sub(1);
        self.set_state(block[0], uniform(value));
    }

    /// Set bits `[lo, hi)` of chunk `chunk` to `value`; a uniform chunk in the other state
    /// takes a block unless the range covers it whole.
    fn set_in_chunk(&mut self, chunk: u64, lo: u64, hi: u64, value: bool) -> Result<(), PoolFull> {
        let state = self.state(chunk);
        if state == uniform(value) {
            return Ok(());
        }
        if state != MIXED && lo == 0 && hi == CHUNK_BITS {
            self.set_state(chunk, uniform(value));
            return Ok(());
        }
        let index = self.insert(chunk, !value)?;
        bitmap::set_range(
            &mut self.pool_mut()[index][1..],
            lo,
            hi.saturating_sub(lo),
            value,
        );
        self.settle(index);
        Ok(())
    }

    /// Whether setting `[start, end)` to `value` would take a block for chunk `chunk`: a part
    /// of it in the uniform state of the other value.
    fn takes_block(&self, chunk: u64, start: u64, end: u64, value: bool) -> bool {
        let (_, lo, hi) = span(chunk, start, end);
        (lo > 0 || hi < CHUNK_BITS) && self.state(chunk) == uniform(!value)
    }

    /// Set every bit of `[start, start + len)` to `value`. Only the first and the last chunk of
    /// the range can take a block (every chunk between is covered whole); when the pool lacks
    /// them, nothing changes, the map remembers the refusal (its check fails from then on), and
    /// `PoolFull` is returned.
    pub fn set_range(&mut self, start: u64, len: u64, value: bool) -> Result<(), PoolFull> {
        let Some(last_bit) = len.checked_sub(1) else {
            return Ok(());
        };
        // A range inside the bits: its end is below 2^64.
        let end = start.saturating_add(len);
        let first = start / CHUNK_BITS;
        let last = start.saturating_add(last_bit) / CHUNK_BITS;
        let needed = usize::from(self.takes_block(first, start, end, value)).saturating_add(
            usize::from(last != first && self.takes_block(last, start, end, value)),
        );
        if needed > self.free_blocks() {
            self.overflowed = true;
            return Err(PoolFull);
        }
        for chunk in first..=last {
            let (_, lo, hi) = span(chunk, start, end);
            self.set_in_chunk(chunk, lo, hi, value)?;
        }
        Ok(())
    }

    /// Calls `f(state, block, lo, hi)` for each chunk the bit range `[start, end)` touches,
    /// with the part `[lo, hi)` of it covered and its block's bits if mixed, until `f` returns
    /// false; returns false if stopped.
    fn for_chunks(
        &self,
        start: u64,
        end: u64,
        mut f: impl FnMut(u64, &[u64], u64, u64) -> bool,
    ) -> bool {
        let mut at = start;
        while at < end {
            let chunk = at / CHUNK_BITS;
            let (base, lo, hi) = span(chunk, at, end);
            let state = self.state(chunk);
            let block: &[u64] = if state == MIXED {
                self.block(chunk)
            } else {
                &[]
            };
            if !f(state, block, lo, hi) {
                return false;
            }
            at = base.saturating_add(CHUNK_BITS);
        }
        true
    }

    /// Number of set bits in `[start, start + len)`.
    pub fn count_ones(&self, start: u64, len: u64) -> u64 {
        let mut total: u64 = 0;
        self.for_chunks(start, start.saturating_add(len), |state, block, lo, hi| {
            let ones = match state {
                SET => hi.saturating_sub(lo),
                MIXED => bitmap::count_ones(block, lo, hi.saturating_sub(lo)),
                _ => 0,
            };
            // At most `len` in all.
            total = total.saturating_add(ones);
            true
        });
        total
    }

    /// Whether every bit of `[start, start + len)` equals `value`.
    pub fn all(&self, start: u64, len: u64, value: bool) -> bool {
        self.for_chunks(
            start,
            start.saturating_add(len),
            |state, block, lo, hi| match state {
                MIXED => bitmap::all(block, lo, hi.saturating_sub(lo), value),
                _ => state == uniform(value),
            },
        )
    }

    /// The lowest bit in `[start, end)` equal to `value`. Whole state words of chunks in the
    /// other uniform state are passed over 32 chunks at a time.
    pub fn find_first(&self, start: u64, end: u64, value: bool) -> Option<u64> {
        let mut at = start;
        while at < end {
            let chunk = at / CHUNK_BITS;
            let (base, lo, hi) = span(chunk, at, end);
            match self.state(chunk) {
                state if state == uniform(value) => return Some(at),
                MIXED => {
                    if let Some(bit) = bitmap::find_first(self.block(chunk), lo, hi, value) {
                        // Inside the chunk: below the bitmap's size.
                        return Some(base.saturating_add(bit));
                    }
                }
                _ if chunk.is_multiple_of(STATES_PER_WORD)
                    && self.states()[(chunk / STATES_PER_WORD) as usize]
                        == uniform_word(!value) =>
                {
                    at = base.saturating_add(CHUNK_BITS.saturating_mul(STATES_PER_WORD));
                    continue;
                }
                _ => {}
            }
            at = base.saturating_add(CHUNK_BITS);
        }
        None
    }

    /// The highest bit in `[start, end)` equal to `value`, passing over whole state words of
    /// chunks in the other uniform state as [`ChunkMap::find_first`] does.
    pub fn find_last(&self, start: u64, end: u64, value: bool) -> Option<u64> {
        let mut top = end;
        // `top` is above `start`, so at least 1.
        while let Some(last) = top.checked_sub(1).filter(|_| top > start) {
            let chunk = last / CHUNK_BITS;
            let (base, lo, hi) = span(chunk, start, top);
            match self.state(chunk) {
                state if state == uniform(value) => return Some(last),
                MIXED => {
                    if let Some(bit) = bitmap::find_last(self.block(chunk), lo, hi, value) {
                        // Inside the chunk: below the bitmap's size.
                        return Some(base.saturating_add(bit));
                    }
                }
                _ if chunk % STATES_PER_WORD == STATES_PER_WORD - 1
                    && self.states()[(chunk / STATES_PER_WORD) as usize]
                        == uniform_word(!value) =>
                {
                    // The word's first chunk is at most this one.
                    let first = chunk.saturating_sub(STATES_PER_WORD - 1);
                    top = first.saturating_mul(CHUNK_BITS);
                    continue;
                }
                _ => {}
            }
            top = base;
        }
        None
    }

    /// Whether the summary is consistent: no change was refused; every state is one of the
    /// three; the blocks in use are sorted by chunk, distinct, inside the map, and exactly the
    /// mixed chunks have one; an unpinned block's bits are not all equal (its chunk would be
    /// uniform).
    pub fn is_consistent(&self) -> bool {
        if self.overflowed || self.used > self.pool().len() {
            return false;
        }
        let mut mixed: usize = 0;
        for chunk in 0..self.chunks {
            match self.state(chunk) {
                // At most one per chunk of a bitmap in memory.
                MIXED => mixed = mixed.saturating_add(1),
                CLEAR | SET => {}
                _ => return false,
            }
        }
        let blocks = &self.pool()[..self.used];
        let sorted = blocks
            .windows(2)
            .all(|pair| Self::chunk_of(pair[0][0]) < Self::chunk_of(pair[1][0]));
        let each_mixed = blocks.iter().all(|block| {
            let chunk = Self::chunk_of(block[0]);
            let bits = &block[1..];
            let varied =
                bits.iter().any(|&word| word != bits[0]) || (bits[0] != 0 && bits[0] != u64::MAX);
            chunk < self.chunks && self.state(chunk) == MIXED && (block[0] & PINNED != 0 || varied)
        });
        sorted && each_mixed && mixed == self.used
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::bitmap::Bitmap;
    use proptest::prelude::*;

    #[test]
    fn a_chunk_takes_a_block_only_while_mixed() {
        let mut words = std::vec![0u64; words(4, 2)];
        let mut map = ChunkMap::new(&mut words[..], 4);
        assert_eq!((map.bits(), map.free_blocks()), (2048, 2));
        map.set_range(0, 2048, true).unwrap();
        assert_eq!(map.free_blocks(), 2, "whole chunks need no block");
        map.set_range(100, 10, false).unwrap();
        assert!(map.is_mixed(0) && map.free_blocks() == 1);
        assert_eq!(map.count_ones(0, 2048), 2038);
        assert_eq!(map.find_first(0, 2048, false), Some(100));
        assert_eq!(map.find_last(0, 2048, false), Some(109));
        map.set_range(100, 10, true).unwrap();
        assert!(
            !map.is_mixed(0) && map.free_blocks() == 2,
            "uniform again: the block is back"
        );
        map.set_range(500, 600, false).unwrap();
        assert!(map.is_mixed(0) && !map.is_mixed(1) && map.is_mixed(2));
        assert_eq!(map.free_blocks(), 0);
        assert!(map.is_consistent());
        assert_eq!(map.find_first(0, 2048, false), Some(500));
        assert_eq!(map.find_last(0, 2048, false), Some(1099));
        assert_eq!(map.find_first(512, 1024, true), None);
        assert!(map.all(512, 512, false) && !map.all(499, 2, false));
    }

    #[test]
    fn a_change_the_pool_cannot_hold_changes_nothing() {
        let mut words = std::vec![0u64; words(4, 1)];
        let mut map = ChunkMap::new(&mut words[..], 4);
        map.set_range(10, 1, true).unwrap();
        assert_eq!(map.set_range(600, 1, true), Err(PoolFull));
        assert_eq!(
            map.set_range(1000, 100, true),
            Err(PoolFull),
            "two chunks, no block"
        );
        assert_eq!(map.count_ones(0, 2048), 1, "nothing changed");
        assert!(!map.is_consistent(), "the refusal is remembered");
        map.set_range(0, 512, true).unwrap();
        assert_eq!(
            map.set_range(1024, 1024, true),
            Ok(()),
            "whole chunks need no block"
        );
        assert_eq!(map.free_blocks(), 1);
    }

    #[test]
    fn a_pinned_block_stays_when_its_chunk_turns_uniform() {
        let mut words = std::vec![0u64; words(2, 2)];
        let mut map = ChunkMap::new(&mut words[..], 2);
        map.set_range(512, 512, true).unwrap();
        map.pin(1).unwrap();
        map.pin(0).unwrap();
        assert!(map.is_pinned(1) && map.is_pinned(0) && map.is_consistent());
        map.set_range(512, 10, false).unwrap();
        map.set_range(512, 10, true).unwrap();
        assert!(map.is_mixed(1) && map.free_blocks() == 0);
        assert_eq!(map.count_ones(0, 1024), 512);
        assert_eq!(map.find_first(0, 1024, true), Some(512));
        assert!(map.is_consistent());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Set { start: u64, len: u64, value: bool },
        Pin(u64),
    }

    const CHUNKS: u64 = 70;

    fn op() -> impl Strategy<Value = Op> {
        let bits = CHUNKS * CHUNK_BITS;
        prop_oneof![
            8 => (0..bits, prop_oneof![1u64..4, 1u64..600, 1u64..3000], any::<bool>())
                .prop_map(move |(start, len, value)| Op::Set { start, len: len.min(bits - start), value }),
            1 => (0..CHUNKS).prop_map(Op::Pin),
        ]
    }

    proptest! {
        /// The summary answers every query as the direct bitmap does, after any sequence of
        /// changes; a change refused for want of a block leaves it as it was.
        #[test]
        fn the_summary_answers_as_the_direct_bitmap(
            blocks in 0usize..12,
            ops in prop::collection::vec(op(), 1..60),
            queries in prop::collection::vec((0..CHUNKS * CHUNK_BITS, 0..CHUNKS * CHUNK_BITS, any::<bool>()), 20),
        ) {
            let mut direct_words = std::vec![0u64; (CHUNKS * CHUNK_BITS / WORD_BITS) as usize];
            let mut direct = Bitmap::new(&mut direct_words[..]);
            let mut words = std::vec![0u64; words(CHUNKS, blocks)];
            let mut map = ChunkMap::new(&mut words[..], CHUNKS);
            for op in &ops {
                match *op {
                    Op::Set { start, len, value } => {
                        let before = map.count_ones(0, map.bits());
                        let free = map.free_blocks();
                        match map.set_range(start, len, value) {
                            Ok(()) => direct.set_range(start, len, value),
                            Err(PoolFull) => {
                                prop_assert_eq!(map.count_ones(0, map.bits()), before);
                                prop_assert_eq!(map.free_blocks(), free);
                                prop_assert!(!map.is_consistent());
                                return Ok(());
                            }
                        }
                    }
                    Op::Pin(chunk) => {
                        if map.pin(chunk).is_ok() {
                            prop_assert!(map.is_pinned(chunk));
                        }
                    }
                }
                prop_assert!(map.is_consistent());
            }
            let bits = map.bits();
            prop_assert_eq!(bits, direct.bits());
            for &(a, b, value) in &queries {
                let (lo, hi) = (a.min(b), a.max(b));
                prop_assert_eq!(map.count_ones(lo, hi - lo), direct.count_ones(lo, hi - lo));
                prop_assert_eq!(map.all(lo, hi - lo, value), direct.all(lo, hi - lo, value));
                prop_assert_eq!(map.find_first(lo, hi, value), direct.find_first(lo, hi, value));
                prop_assert_eq!(map.find_last(lo, hi, value), direct.find_last(lo, hi, value));
            }
            for chunk in 0..CHUNKS {
                let start = chunk * CHUNK_BITS;
                let uniform = direct.all(start, CHUNK_BITS, true) || direct.all(start, CHUNK_BITS, false);
                prop_assert!(map.is_mixed(chunk) != uniform || map.is_pinned(chunk));
            }
        }
    }
}
