//! One simulated domain: its page accounting (`tot_pages`, `max_pages`), extent-order limit, P2M,
//! the machine frames behind it, page contents and counters, and the two moves every reservation
//! op is made of: mapping pages taken from the host pool, and unmapping pages back into it.

use std::ops::Range;

use crate::config::{extent_order_limit, DomainConfig};
use crate::contents::PageContents;
use crate::counters::Counters;
use crate::error::SimError;
use crate::frames::{MachineFrames, MfnRun};
use crate::host_pool::{HostPool, Stale};
use crate::p2m::{P2m, GFN_LIMIT};
use crate::pod::Pod;

/// Console bytes kept per domain (the oldest are dropped beyond this).
const CONSOLE_KEPT: usize = 64 * 1024;

/// A simulated domain.
#[derive(Debug)]
pub struct Domain {
    /// Pages the domain owns (`tot_pages`): mapped, leaked and gfn-less pages alike.
    pub tot_pages: u64,
    /// `max_pages`.
    pub max_pages: u64,
    /// Its domU extent-order limit (`memop-max-order`), before Xen raises it for the roles below.
    pub max_order: u8,
    /// A control domain: may act on other domains and name NUMA nodes.
    pub privileged: bool,
    /// The hardware domain (dom0 here).
    pub hardware: bool,
    /// Which gfns are populated.
    pub p2m: P2m,
    /// The machine frame behind each populated gfn.
    pub frames: MachineFrames,
    /// Machine frames it owns that no gfn maps: populated over (leaked) or given by
    /// increase_reservation without a gfn.
    pub unmapped: Vec<MfnRun>,
    /// What its populated pages hold.
    pub contents: PageContents,
    /// Its counters.
    pub counters: Counters,
    /// Pages it owns that no gfn maps any more (populated over).
    pub leaked: u64,
    /// Pages increase_reservation gave it without a gfn.
    pub gfnless: u64,
    /// What it wrote to the console (the most recent [`CONSOLE_KEPT`] bytes).
    pub console: Vec<u8>,
    /// Its populate-on-demand entries and cache (none unless built on PoD).
    pub pod: Pod,
}

impl Domain {
    /// A domain with its boot memory populated (whole 2 MiB chunks of the union of the ranges as
    /// intact superpages) on machine frames `pool` places for it (not taken from its free
    /// memory); refused if a range reaches past the guest-physical limit, as Xen's toolstack
    /// cannot build such a guest.
    pub fn boot(config: &DomainConfig, pool: &mut HostPool) -> Result<Domain, SimError> {
        if config.ram.iter().any(|r| r.end > GFN_LIMIT) {
            return Err(SimError::RamPastLimit);
        }
        let mut ranges: Vec<Range<u64>> = config
            .ram
            .iter()
            .filter(|r| r.start < r.end)
            .cloned()
            .collect();
        ranges.sort_by_key(|r| r.start);
        let mut union: Vec<Range<u64>> = Vec::new();
        for r in ranges {
            match union.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => union.push(r),
            }
        }
        let mut p2m = P2m::default();
        let mut frames = MachineFrames::default();
        for range in union {
            let len = range.end.saturating_sub(range.start);
            frames.insert(MfnRun {
                gfn: range.start,
                mfn: pool.boot_frames(range.start, len),
                len,
                descending: false,
            });
            p2m.insert(range, true);
        }
        Ok(Domain {
            tot_pages: p2m.populated(),
            max_pages: config.max_pages,
            max_order: config.max_order,
            privileged: false,
            hardware: false,
            p2m,
            frames,
            unmapped: Vec::new(),
            contents: PageContents::default(),
            counters: Counters::default(),
            leaked: 0,
            gfnless: 0,
            console: Vec::new(),
            pod: Pod::default(),
        })
    }

    /// The largest extent order this domain may use as the caller of a reservation op: Xen's
    /// `max_order(d)` for its roles.
    pub fn extent_order_limit(&self) -> u8 {
        extent_order_limit(self.max_order, self.privileged, self.hardware)
    }

    /// Whether `count` more pages fit under `max_pages` (Xen's over-allocation check).
    pub fn has_room_for(&self, count: u64) -> bool {
        self.tot_pages.saturating_add(count) <= self.max_pages
    }

    /// Map a freshly allocated extent, machine frames from `mfn` on (with their stale
    /// `contents`), at `range`. A gfn that was already populated loses its old page, which stays
    /// counted in `tot_pages`: it leaks.
    ///
    /// The pages were allocated under [`Domain::has_room_for`], so `tot_pages` stays at or below
    /// `max_pages`, and every other count here is at most it: no sum saturates.
    pub fn map(&mut self, range: Range<u64>, superpages: bool, mfn: u64, contents: Stale) {
        let count = range.end.saturating_sub(range.start);
        let leaked = self.frames.remove(range.clone());
        self.unmapped.extend(leaked);
        self.frames.insert(MfnRun {
            gfn: range.start,
            mfn,
            len: count,
            descending: false,
        });
        let done = self.p2m.insert(range.clone(), superpages);
        self.contents.take(range.clone());
        self.contents.place(range.start, contents);
        self.tot_pages = self.tot_pages.saturating_add(count);
        self.leaked = self.leaked.saturating_add(done.already_populated);
        let counters = &mut self.counters;
        counters.pages_populated = counters.pages_populated.saturating_add(count);
        counters.superpages_formed = counters.superpages_formed.saturating_add(done.formed);
        counters.superpages_shattered =
            counters.superpages_shattered.saturating_add(done.shattered);
    }

    /// Unmap the populated pages `range` and return them, contents and all, to `pool`, page by
    /// page in gfn order as Xen frees them.
    pub fn release(&mut self, range: Range<u64>, pool: &mut HostPool) {
        let contents = self.contents.take(range.clone());
        let mut words = contents.into_iter().peekable();
        for run in self.frames.remove(range.clone()) {
            let mut stale = Vec::new();
            // The offsets are from `range.start`, and every run lies in `range`.
            while let Some((offset, word)) = words.next_if(|(offset, _)| {
                range.start.saturating_add(*offset) < run.gfn.saturating_add(run.len)
            }) {
                let gfn = range.start.saturating_add(offset);
                if gfn >= run.gfn {
                    stale.push((run.mfn_of(gfn), word));
                }
            }
            pool.free_run(run, stale);
        }
        let done = self.p2m.remove(range);
        self.tot_pages = self.tot_pages.saturating_sub(done.frames);
        // Counters of pages and chunks: a u64 does not fill in any run.
        let counters = &mut self.counters;
        counters.pages_released = counters.pages_released.saturating_add(done.frames);
        counters.superpages_shattered =
            counters.superpages_shattered.saturating_add(done.shattered);
    }

    /// The domain is destroyed: every page it owns (mapped, unmapped and in its PoD cache) goes
    /// back to `pool` scrubbed, as Xen scrubs a dying domain's pages.
    pub fn release_all(self, pool: &mut HostPool) {
        let owned = self.frames.runs().copied().collect::<Vec<_>>();
        for run in owned
            .into_iter()
            .chain(self.unmapped)
            .chain(self.pod.into_cache_frames())
        {
            pool.free_run(run, Vec::new());
        }
    }

    /// Record console output, keeping the most recent bytes.
    pub fn console_write(&mut self, bytes: &[u8]) {
        self.console.extend_from_slice(bytes);
        let excess = self.console.len().saturating_sub(CONSOLE_KEPT);
        if excess > 0 {
            self.console.drain(..excess);
        }
    }

    /// Its counters, with the superpage gauge read now.
    pub fn counters(&self) -> Counters {
        Counters {
            superpages_intact: self.p2m.intact(),
            ..self.counters
        }
    }

    /// Approximate heap bytes held.
    pub fn footprint_bytes(&self) -> usize {
        [
            self.p2m.footprint_bytes(),
            self.frames.footprint_bytes(),
            self.unmapped.capacity().saturating_mul(32),
            self.contents.footprint_bytes(),
            self.console.capacity(),
            self.pod.footprint_bytes(),
        ]
        .into_iter()
        .fold(core::mem::size_of::<Domain>(), usize::saturating_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_memory_counts_once_and_aligned_chunks_start_intact() {
        let d = Domain::boot(
            &DomainConfig {
                ram: vec![0..1000, 500..1100],
                max_pages: 2000,
                max_order: 30,
            },
            &mut HostPool::new(0, 24, 17),
        )
        .unwrap();
        assert_eq!(d.tot_pages, 1100);
        assert!(d.p2m.is_intact(0) && d.p2m.is_intact(1) && !d.p2m.is_intact(2));
        assert_eq!(d.extent_order_limit(), crate::config::XEN_MAX_ORDER);
    }

    #[test]
    fn boot_ram_past_the_guest_physical_limit_is_refused_not_cut() {
        let past = DomainConfig {
            ram: vec![0..1000, GFN_LIMIT - 512..GFN_LIMIT + 512],
            max_pages: 4000,
            max_order: 9,
        };
        assert_eq!(
            Domain::boot(&past, &mut HostPool::new(0, 24, 17)).err(),
            Some(SimError::RamPastLimit)
        );
        let up_to = DomainConfig {
            ram: vec![0..1000, GFN_LIMIT - 512..GFN_LIMIT],
            ..past
        };
        assert_eq!(
            Domain::boot(&up_to, &mut HostPool::new(0, 24, 17)).map(|d| d.tot_pages),
            Ok(1512)
        );
    }

    #[test]
    fn mapping_over_a_populated_gfn_leaks_the_old_page_and_drops_its_contents() {
        let mut pool = HostPool::new(10, 24, 20);
        let config = DomainConfig {
            ram: core::iter::once(0..4).collect(),
            max_pages: 10,
            max_order: 9,
        };
        let mut d = Domain::boot(&config, &mut pool).unwrap();
        let old = d.frames.mfn(2);
        d.contents.write(2, 0xdead);
        let (mfn, stale) = pool.alloc(0, None).unwrap();
        d.map(2..3, false, mfn, stale);
        assert_eq!((d.tot_pages, d.leaked, d.contents.read(2)), (5, 1, 0));
        assert_eq!(
            d.unmapped.first().map(|run| run.mfn),
            old,
            "the old page is owned"
        );
        d.contents.write(3, 0xbeef);
        let freed = d.frames.mfn(3).unwrap();
        d.release(3..4, &mut pool);
        assert_eq!((d.tot_pages, pool.free_pages()), (4, 10));
        // The boot memory lies above the pool: its freed page is the next one handed out.
        assert_eq!(pool.alloc(0, None), Some((freed, vec![(0, 0xbeef)])));
        d.release_all(&mut pool);
        assert_eq!(
            pool.free_pages(),
            9 + 4,
            "every page it owned, the leaked one too"
        );
    }
}
