//! Populate-on-demand, modelled on Xen 4.17's `arch/x86/mm/p2m-pod.c` for what a ballooning
//! guest meets: a domain built with `memory` below `maxmem` sees all of `maxmem` as RAM, but Xen
//! backs only `memory` of it.
//!
//! - Build: the pages Xen populated for real (the image, its page tables, and a few special pages
//!   outside the RAM map: xenstore and console rings, ...) are real; every other RAM gfn is a PoD
//!   entry. The cache is sized so that `tot_pages` (real pages plus cache) equals the target, and
//!   never above the entry count.
//! - Touching a PoD entry (the guest reads or writes it) takes a zeroed page from the cache:
//!   `tot_pages` does not change. With the cache empty Xen crashes the domain ("out of PoD
//!   memory"). Xen first sweeps the domain's zero pages back into the cache; the sweep is not
//!   modelled: the simulator cannot tell a page the guest zeroed from a page it uses (boot
//!   memory it never wrote reads as zero here), so a touch with an empty cache crashes at once.
//! - `decrease_reservation`, while entries remain: a PoD entry is removed (the extent counts as
//!   done, no page is freed); a real page is moved into the cache while entries exceed it ("steal
//!   for cache") and freed otherwise; at the end of each extent, if entries fell below the cache,
//!   the cache shrinks to the entry count, the excess pages going back to the host. Extents are
//!   processed in gfn order and stop at the first gfn that is neither real nor a PoD entry (Xen's
//!   superpage zero-check, which may turn a whole zero 2 MiB page back into entries, is not
//!   modelled).
//! - `populate_physmap` over a PoD entry maps a real page there and drops the entry (no leak).
//! - The toolstack's PoD target (`xl mem-set`, `p2m_pod_set_mem_target`): below `tot_pages` it
//!   changes nothing (the balloon driver is to act); above, the cache grows from the host toward
//!   the target, but never beyond the entries while real pages exist: so a guest that ballooned
//!   out (entries no more than the cache) sees nothing, and one that did not sees `tot_pages`
//!   rise without having asked.

use core::fmt;
use std::ops::Range;

use crate::bitmap::CHUNK_FRAMES;
use crate::config::DomainConfig;
use crate::domain::Domain;
use crate::error::SimError;
use crate::frames::MfnRun;
use crate::host_pool::HostPool;
use crate::p2m::{P2m, GFN_LIMIT};

/// Why a domain crashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DomainCrash {
    /// A PoD entry was touched with the cache empty (Xen: "out of PoD memory").
    PodOutOfMemory = 1,
}

impl fmt::Display for DomainCrash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DomainCrash::PodOutOfMemory => "domain crashed: PoD out of memory",
        })
    }
}

/// How a domain is built on populate-on-demand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodBoot {
    /// `tot_pages` after the build (the toolstack's `memory`, in pages).
    pub target_pages: u64,
    /// Gfn ranges of RAM Xen populated for real at build time (the image, its page tables).
    pub real_ram: Vec<Range<u64>>,
    /// Gfn ranges outside RAM Xen populated for real at build time (xenstore and console rings,
    /// ...): they count in `tot_pages` but are no PoD entries.
    pub special: Vec<Range<u64>>,
}

/// What `xl debug-keys q` shows of a domain's PoD state, and whether it crashed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodStatus {
    /// Outstanding PoD entries.
    pub entries: u64,
    /// Pages in the PoD cache.
    pub cache: u64,
    /// Why the domain crashed, if it did.
    pub crashed: Option<DomainCrash>,
    /// What happened to PoD entries and the cache so far.
    pub counters: PodCounters,
}

impl fmt::Display for PodStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PoD entries={} cachesize={}", self.entries, self.cache)
    }
}

/// PoD events of one domain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodCounters {
    /// Entries touched and backed from the cache.
    pub demand_populated: u64,
    /// Entries removed by decrease_reservation.
    pub entries_decreased: u64,
    /// Entries replaced by populate_physmap.
    pub entries_repopulated: u64,
    /// Real pages a decrease moved into the cache.
    pub pages_stolen: u64,
    /// Cache pages given back to the host when the cache shrank to the entry count.
    pub cache_released: u64,
    /// Pages the cache took from the host when the toolstack raised the PoD target.
    pub cache_grown: u64,
}

/// One domain's PoD state: the entries (a gfn set, kept like a P2M) and the cache.
#[derive(Debug, Default)]
pub struct Pod {
    entries: P2m,
    cache: u64,
    /// The machine frames of the cache's pages, the last taken first.
    cache_frames: Vec<MfnRun>,
    crashed: Option<DomainCrash>,
    counters: PodCounters,
}

/// Why a PoD domain cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PodBuildError {
    /// The target is below the pages Xen populated for real.
    TargetBelowReal,
}

impl Pod {
    /// The PoD state of a domain whose RAM is `ram` and whose real pages are `real` (`real_pages`
    /// of them): the rest of RAM becomes entries, the cache what `target_pages` leaves, at most
    /// one page per entry.
    pub(crate) fn build(
        ram: &[Range<u64>],
        real: &[Range<u64>],
        real_pages: u64,
        target_pages: u64,
    ) -> Result<Pod, PodBuildError> {
        let mut entries = P2m::default();
        for range in ram {
            entries.insert(range.clone(), false);
        }
        for range in real {
            entries.remove(range.clone());
        }
        let backed = target_pages
            .checked_sub(real_pages)
            .ok_or(PodBuildError::TargetBelowReal)?;
        Ok(Pod {
            cache: backed.min(entries.populated()),
            cache_frames: Vec::new(),
            entries,
            crashed: None,
            counters: PodCounters::default(),
        })
    }

    /// Whether `gfn` is a PoD entry.
    pub fn is_entry(&self, gfn: u64) -> bool {
        self.entries.is_populated(gfn)
    }

    /// PoD entries in `range`.
    pub fn count(&self, range: Range<u64>) -> u64 {
        self.entries.count(range)
    }

    /// The machine frames of the cache, given up (the domain is destroyed).
    pub(crate) fn into_cache_frames(self) -> Vec<MfnRun> {
        self.cache_frames
    }

    /// Take `count` pages' machine frames from the cache's frames (the cache's count is the
    /// caller's to change), the last added first.
    fn take_cache_frames(&mut self, count: u64) -> Vec<MfnRun> {
        let mut taken = Vec::new();
        let mut wanted = count;
        while wanted > 0 {
            let Some(last) = self.cache_frames.last_mut() else {
                break;
            };
            let (low, high) = last.mfns();
            let take = wanted.min(last.len);
            // The top `take` MFNs of the run: `take <= len`, inside `[low, high)`.
            taken.push(MfnRun {
                gfn: 0,
                mfn: high.saturating_sub(take),
                len: take,
                descending: false,
            });
            if take == last.len {
                self.cache_frames.pop();
            } else {
                *last = MfnRun {
                    gfn: 0,
                    mfn: low,
                    len: last.len.saturating_sub(take),
                    descending: false,
                };
            }
            wanted = wanted.saturating_sub(take);
        }
        taken
    }

    /// Why the domain crashed, if it did.
    pub fn crashed(&self) -> Option<DomainCrash> {
        self.crashed
    }

    /// The status `xl debug-keys q` would show.
    pub fn status(&self) -> PodStatus {
        PodStatus {
            entries: self.entries.populated(),
            cache: self.cache,
            crashed: self.crashed,
            counters: self.counters,
        }
    }

    /// Approximate heap bytes held.
    pub fn footprint_bytes(&self) -> usize {
        self.entries.footprint_bytes()
    }
}

impl Domain {
    /// A domain built on PoD: `config.ram` is its RAM (the memory map), `pod` says what Xen
    /// populated for real and the target. Refused like [`Domain::boot`], and when the target is
    /// below the real pages.
    pub fn boot_pod(
        config: &DomainConfig,
        pod: &PodBoot,
        pool: &mut HostPool,
    ) -> Result<Domain, SimError> {
        if config.ram.iter().any(|r| r.end > GFN_LIMIT) {
            return Err(SimError::RamPastLimit);
        }
        let real: Vec<Range<u64>> = pod.real_ram.iter().chain(&pod.special).cloned().collect();
        let mut domain = Domain::boot(
            &DomainConfig {
                ram: real.clone(),
                ..config.clone()
            },
            pool,
        )?;
        domain.pod = Pod::build(&config.ram, &real, domain.tot_pages, pod.target_pages)
            .map_err(|PodBuildError::TargetBelowReal| SimError::PodTargetBelowReal)?;
        // The cache is the target less the real pages: the sum is the target.
        domain.tot_pages = domain.tot_pages.saturating_add(domain.pod.cache);
        let cache = domain.pod.cache;
        domain.pod.cache_frames.push(MfnRun {
            gfn: 0,
            mfn: pool.boot_frames(0, cache),
            len: cache,
            descending: false,
        });
        Ok(domain)
    }

    /// The guest touches `range` (reads or writes it): every PoD entry in it is backed by a page
    /// from the cache, in gfn order. `Err` (and the domain crashed) when the cache runs out.
    pub(crate) fn touch(&mut self, range: Range<u64>) -> Result<(), DomainCrash> {
        if let Some(crash) = self.pod.crashed {
            return Err(crash);
        }
        if self.pod.entries.count(range.clone()) == 0 {
            return Ok(());
        }
        let mut at = range.start;
        while at < range.end {
            if !self.pod.entries.is_populated(at) {
                at = next_entry(&self.pod.entries, at, range.end);
                continue;
            }
            let end = self
                .pod
                .entries
                .first_hole(at..range.end)
                .unwrap_or(range.end);
            // `at < end <= range.end`, and `backed` is at most the cache and the run.
            let run = end.saturating_sub(at);
            let backed = run.min(self.pod.cache);
            let backed_end = at.saturating_add(backed);
            self.pod.entries.remove(at..backed_end);
            let mut gfn = at;
            for run in self.pod.take_cache_frames(backed) {
                self.frames.insert(MfnRun { gfn, ..run });
                gfn = gfn.saturating_add(run.len);
            }
            self.p2m.insert(at..backed_end, false);
            self.pod.cache = self.pod.cache.saturating_sub(backed);
            let counters = &mut self.pod.counters;
            counters.demand_populated = counters.demand_populated.saturating_add(backed);
            if backed < run {
                self.pod.crashed = Some(DomainCrash::PodOutOfMemory);
                return Err(DomainCrash::PodOutOfMemory);
            }
            at = end;
        }
        Ok(())
    }

    /// `populate_physmap` is about to map `range`: its PoD entries go (Xen drops them from the
    /// entry count; their gfns get real pages, nothing leaks).
    pub(crate) fn drop_pod_entries(&mut self, range: Range<u64>) {
        let dropped = self.pod.entries.remove(range).frames;
        let counters = &mut self.pod.counters;
        // A count of entries, each below `GFN_LIMIT`: far from u64's end.
        counters.entries_repopulated = counters.entries_repopulated.saturating_add(dropped);
    }

    /// One extent of `decrease_reservation` while PoD entries remain (see the module
    /// documentation); `limit` stops it after that many pages (an injected fault). Returns
    /// whether the whole extent was done.
    pub(crate) fn pod_decrease_extent(
        &mut self,
        pool: &mut HostPool,
        gfn: u64,
        count: u64,
        limit: Option<u64>,
    ) -> bool {
        let mut end = gfn.saturating_add(count).min(GFN_LIMIT).max(gfn);
        if let Some(limit) = limit {
            end = end.min(gfn.saturating_add(limit));
        }
        // Every run lies in `[at, end)` with `gfn <= at <= end`: no difference or sum below
        // saturates.
        let mut at = gfn;
        while at < end {
            if self.p2m.is_populated(at) {
                let run_end = self.p2m.first_hole(at..end).unwrap_or(end);
                let stolen = run_end.saturating_sub(at).min(self.pod_debt());
                let stolen_end = at.saturating_add(stolen);
                self.steal_for_cache(at..stolen_end);
                self.release(stolen_end..run_end, pool);
                at = run_end;
            } else if self.pod.entries.is_populated(at) {
                let run_end = self.pod.entries.first_hole(at..end).unwrap_or(end);
                self.pod.entries.remove(at..run_end);
                let counters = &mut self.pod.counters;
                counters.entries_decreased = counters
                    .entries_decreased
                    .saturating_add(run_end.saturating_sub(at));
                at = run_end;
            } else {
                break;
            }
        }
        self.shrink_cache(pool);
        let completed = at.saturating_sub(gfn) == count;
        if completed {
            self.counters.extents_decreased = self.counters.extents_decreased.saturating_add(1);
        }
        completed
    }

    /// Entries not covered by the cache.
    fn pod_debt(&self) -> u64 {
        self.pod.entries.populated().saturating_sub(self.pod.cache)
    }

    /// Move the real pages of `range` into the cache (their contents are gone: Xen zeroes cache
    /// pages before it hands them out).
    fn steal_for_cache(&mut self, range: Range<u64>) {
        let stolen = range.end.saturating_sub(range.start);
        if stolen == 0 {
            return;
        }
        self.contents.take(range.clone());
        let frames = self.frames.remove(range.clone());
        self.pod
            .cache_frames
            .extend(frames.into_iter().map(|run| MfnRun { gfn: 0, ..run }));
        let done = self.p2m.remove(range);
        // The stolen pages were counted in `tot_pages` and stay so, now in the cache: every sum
        // here is at most `tot_pages`.
        let counters = &mut self.counters;
        counters.superpages_shattered =
            counters.superpages_shattered.saturating_add(done.shattered);
        self.pod.cache = self.pod.cache.saturating_add(stolen);
        let pod_counters = &mut self.pod.counters;
        pod_counters.pages_stolen = pod_counters.pages_stolen.saturating_add(stolen);
    }

    /// If the entries fell below the cache, give the excess back to the host.
    fn shrink_cache(&mut self, pool: &mut HostPool) {
        let excess = self.pod.cache.saturating_sub(self.pod.entries.populated());
        if excess == 0 {
            return;
        }
        self.pod.cache = self.pod.cache.saturating_sub(excess);
        for run in self.pod.take_cache_frames(excess) {
            pool.free_run(run, Vec::new());
        }
        self.tot_pages = self.tot_pages.saturating_sub(excess);
        let counters = &mut self.pod.counters;
        counters.cache_released = counters.cache_released.saturating_add(excess);
    }

    /// `p2m_pod_set_mem_target(target)`: grow the cache toward the target (see the module
    /// documentation), as far as the host pool and `max_pages` allow.
    pub(crate) fn set_pod_target(&mut self, pool: &mut HostPool, target: u64) {
        if target < self.tot_pages {
            return;
        }
        // The cache is part of `tot_pages`, and the target is at or above `tot_pages`.
        let populated = self.tot_pages.saturating_sub(self.pod.cache);
        let entries = self.pod.entries.populated();
        let mut cache_target = target.saturating_sub(populated);
        if populated > 0 {
            cache_target = cache_target.min(entries);
        }
        let wanted = cache_target.saturating_sub(self.pod.cache);
        let room = self.max_pages.saturating_sub(self.tot_pages);
        let grown = wanted.min(room).min(pool.free_pages());
        // As Xen fills the cache: 2 MiB pages while they fit, then 4 KiB ones (which cannot
        // fail while `grown` pages are free). Their contents go: cache pages are zeroed.
        let mut taken: u64 = 0;
        while taken < grown {
            let order: u32 = if grown.saturating_sub(taken) >= CHUNK_FRAMES {
                9
            } else {
                0
            };
            let got = pool
                .alloc(order, None)
                .map(|(mfn, _)| (mfn, order))
                .or_else(|| pool.alloc(0, None).map(|(mfn, _)| (mfn, 0)));
            let Some((mfn, order)) = got else {
                break;
            };
            let len = 1u64 << order;
            self.pod.cache_frames.push(MfnRun {
                gfn: 0,
                mfn,
                len,
                descending: false,
            });
            taken = taken.saturating_add(len);
        }
        if taken > 0 {
            // Grown within `max_pages`: nothing saturates.
            self.pod.cache = self.pod.cache.saturating_add(taken);
            self.tot_pages = self.tot_pages.saturating_add(taken);
            let counters = &mut self.pod.counters;
            counters.cache_grown = counters.cache_grown.saturating_add(taken);
        }
    }

    /// Whether any PoD entry remains.
    pub(crate) fn has_pod_entries(&self) -> bool {
        self.pod.entries.populated() > 0
    }
}

/// The first PoD entry at or after `from` (below `end`), or `end`.
fn next_entry(entries: &P2m, from: u64, end: u64) -> u64 {
    let mut at = from;
    while at < end && !entries.is_populated(at) {
        // A stretch without entries is skipped a chunk at a time.
        // `at < end`: the next chunk's start and `at + 1` are at most `end` or its chunk's end.
        let stop = (at / CHUNK_FRAMES)
            .saturating_add(1)
            .saturating_mul(CHUNK_FRAMES)
            .min(end);
        if entries.count(at..stop) == 0 {
            at = stop;
        } else {
            at = at.saturating_add(1);
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RAM 0..4096, real 0..100, special 8192..8195 outside RAM, target 2048; `free` pages on
    /// the host.
    fn pod_domain_on(free: u64) -> (Domain, HostPool) {
        let config = DomainConfig::domu(0..4096, 4096 + 3);
        let boot = PodBoot {
            target_pages: 2048,
            real_ram: core::iter::once(0..100).collect(),
            special: core::iter::once(8192..8195).collect(),
        };
        let mut pool = HostPool::new(free, 24, 20);
        (Domain::boot_pod(&config, &boot, &mut pool).unwrap(), pool)
    }

    /// The PoD domain on a host with nothing free.
    fn pod_domain() -> (Domain, HostPool) {
        pod_domain_on(0)
    }

    #[test]
    fn a_pod_build_backs_the_target_with_real_pages_and_the_cache() {
        let (d, _) = pod_domain();
        let status = d.pod.status();
        assert_eq!(d.tot_pages, 2048);
        assert_eq!((status.entries, status.cache), (3996, 2048 - 103));
        assert_eq!(status.to_string(), "PoD entries=3996 cachesize=1945");
        assert!(d.pod.is_entry(100) && !d.pod.is_entry(99) && !d.pod.is_entry(8192));
        assert!(d.p2m.is_populated(8194) && !d.p2m.is_populated(100));
    }

    #[test]
    fn a_target_below_the_real_pages_is_refused() {
        let config = DomainConfig::domu(0..4096, 4096);
        let boot = PodBoot {
            target_pages: 99,
            real_ram: core::iter::once(0..100).collect(),
            special: vec![],
        };
        assert_eq!(
            Domain::boot_pod(&config, &boot, &mut HostPool::new(0, 24, 20)).err(),
            Some(crate::SimError::PodTargetBelowReal)
        );
    }

    #[test]
    fn decreasing_entries_beyond_the_debt_shrinks_the_cache_at_the_end_of_the_extent() {
        let (mut d, mut pool) = pod_domain();
        // Debt: 3996 - 1945 = 2051 = (4096 - 2048) + 3 special pages.
        assert!(d.pod_decrease_extent(&mut pool, 2048, 2048, None));
        assert_eq!((d.tot_pages, d.pod.status().entries), (2048, 1948));
        assert!(d.pod_decrease_extent(&mut pool, 2045, 3, None));
        assert_eq!(d.tot_pages, 2048);
        assert_eq!((d.pod.status().entries, d.pod.cache), (1945, 1945));
        assert!(d.pod_decrease_extent(&mut pool, 2043, 2, None));
        assert_eq!(
            (d.tot_pages, d.pod.cache, pool.free_pages()),
            (2046, 1943, 2)
        );
        assert_eq!(d.pod.status().counters.cache_released, 2);
    }

    #[test]
    fn a_real_page_is_stolen_for_the_cache_while_entries_exceed_it_and_freed_after() {
        let (mut d, mut pool) = pod_domain();
        d.contents.write(50, 7);
        assert!(d.pod_decrease_extent(&mut pool, 50, 1, None));
        assert_eq!(
            (d.tot_pages, d.pod.cache, pool.free_pages()),
            (2048, 1946, 0)
        );
        assert!(!d.p2m.is_populated(50) && d.contents.read(50) == 0);
        assert!(d.pod_decrease_extent(&mut pool, 100, 2050, None));
        assert_eq!(d.pod_debt(), 0);
        assert!(d.pod_decrease_extent(&mut pool, 60, 1, None));
        assert_eq!((d.tot_pages, pool.free_pages()), (2047, 1));
        assert_eq!(d.pod.status().counters.pages_stolen, 1);
    }

    #[test]
    fn an_extent_stops_at_a_gfn_that_is_neither_real_nor_an_entry() {
        let (mut d, mut pool) = pod_domain();
        assert!(!d.pod_decrease_extent(&mut pool, 4090, 8, None));
        assert_eq!(d.pod.count(4090..4096), 0);
        assert!(!d.pod_decrease_extent(&mut pool, 4000, 8, Some(3)));
        assert_eq!(d.pod.count(4000..4008), 5);
    }

    #[test]
    fn touching_entries_takes_cache_pages_until_the_cache_is_empty_then_crashes() {
        let (mut d, _) = pod_domain();
        assert_eq!(d.touch(100..200), Ok(()));
        assert_eq!((d.tot_pages, d.pod.cache), (2048, 1845));
        assert!(d.p2m.is_populated(150) && !d.pod.is_entry(150));
        assert_eq!(d.touch(0..100), Ok(()));
        assert_eq!(d.touch(200..4096), Err(DomainCrash::PodOutOfMemory));
        assert_eq!(d.pod.cache, 0);
        assert_eq!(d.p2m.count(0..4096), 100 + 100 + 1845);
        assert_eq!(d.pod.crashed(), Some(DomainCrash::PodOutOfMemory));
        assert_eq!(d.touch(0..1), Err(DomainCrash::PodOutOfMemory));
        assert_eq!(
            DomainCrash::PodOutOfMemory.to_string(),
            "domain crashed: PoD out of memory"
        );
    }

    #[test]
    fn a_higher_pod_target_grows_the_cache_only_while_entries_exceed_it() {
        let (mut d, mut pool) = pod_domain_on(10_000);
        d.max_pages = 10_000;
        d.set_pod_target(&mut pool, 1000);
        assert_eq!(d.tot_pages, 2048, "below tot_pages: the balloon's business");
        d.set_pod_target(&mut pool, 3000);
        assert_eq!((d.tot_pages, d.pod.cache), (3000, 1945 + 952));
        d.set_pod_target(&mut pool, 9000);
        assert_eq!(
            (d.tot_pages, d.pod.cache),
            (4099, 3996),
            "capped at the entries"
        );
        assert_eq!(d.pod.status().counters.cache_grown, 3996 - 1945);
        d.max_pages = 4099;
        assert!(d.pod_decrease_extent(&mut pool, 3000, 1096, None));
        d.set_pod_target(&mut pool, 9000);
        assert_eq!(d.pod.status().entries, d.pod.cache);
    }

    #[test]
    fn populating_over_an_entry_drops_it_without_a_leak() {
        let (mut d, mut pool) = pod_domain_on(4);
        d.drop_pod_entries(100..104);
        let (mfn, stale) = pool.alloc(2, None).expect("4 pages free");
        d.map(100..104, false, mfn, stale);
        assert_eq!(
            (d.tot_pages, d.leaked, d.pod.count(0..4096)),
            (2052, 0, 3992)
        );
    }
}
