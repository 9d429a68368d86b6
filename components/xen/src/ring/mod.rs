//! The shared rings a guest uses to talk to dom0's daemons without hypercalls: the xenstore ring
//! (`xs_wire.h`) and the PV console ring (`console.h`). Each is a page shared with another domain,
//! holding byte rings whose free-running indexes both sides read. The indexes the other side
//! writes are untrusted: every access checks them first, and inconsistent indexes are a
//! [`RingError`] that changes nothing.
//!
//! The page itself is behind [`SharedPage`]: the images implement it over the real page, the
//! host tests over [`AtomicPage`].
#![forbid(unsafe_code)]

mod atomic_page;
mod byte_ring;
pub mod console;
pub mod xenstore;

pub use atomic_page::AtomicPage;
pub use byte_ring::ByteRing;
pub use console::ConsoleRing;
pub use xenstore::XenstoreRing;

/// A page shared with another domain, which may write any byte of it at any time.
///
/// Offsets are byte offsets into the page; the rings only pass offsets that lie inside a 4 KiB
/// page, and 4-byte aligned ones to the `u32` accessors. The memory-ordering contract, which
/// the rings rely on:
///
/// - [`load_u32`](SharedPage::load_u32) is an **acquire** load: the bytes the other side wrote
///   before it published the index read are visible to the [`read`](SharedPage::read)s that
///   follow, and no [`write`](SharedPage::write) that follows is performed before it;
/// - [`store_u32`](SharedPage::store_u32) is a **release** store: every `read` and `write`
///   before it is complete before the other side can see the new index (data is written before
///   the producer index is published; data is read before the consumer index frees its space);
/// - `read` and `write` need no ordering of their own, but must tolerate the other side writing
///   the same bytes concurrently (volatile or atomic access, never a plain Rust reference that
///   assumes nobody else writes).
pub trait SharedPage {
    /// The little-endian `u32` at `offset`, loaded with acquire ordering.
    fn load_u32(&self, offset: usize) -> u32;
    /// Store `value` as the little-endian `u32` at `offset`, with release ordering.
    fn store_u32(&mut self, offset: usize, value: u32);
    /// Copy `out.len()` bytes starting at `offset` into `out`.
    fn read(&self, offset: usize, out: &mut [u8]);
    /// Copy `bytes` into the page starting at `offset`.
    fn write(&mut self, offset: usize, bytes: &[u8]);
}

/// Why a ring access was refused: the indexes in the page are inconsistent, so nothing was read
/// or written and no index moved. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RingError {
    /// The producer index is more than the ring's size ahead of the consumer index.
    ProducerTooFarAhead = 1,
    /// The consumer index is ahead of the producer index.
    ConsumerAheadOfProducer = 2,
}
