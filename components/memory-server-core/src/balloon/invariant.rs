//! The page-model invariant, checked by tests after every step: the states partition the
//! frames, the counters match the bitmap and the tables, each lent frame has exactly one owner,
//! and the populated count matches Xen's (relative to the baseline taken at start).

use super::BalloonCore;
use crate::page_map::signed;
use crate::Storage;

/// Which part of the invariant failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum InvariantViolation {
    /// The populated counter differs from the bitmap.
    PopulatedCount = 1,
    /// Lent runs are unsorted, empty or overlap (a frame with two owners).
    LentRunsOverlap = 2,
    /// A lent run leaves the RAM and lending regions or straddles two regions.
    LentOutsideManaged = 3,
    /// A lent RAM frame is populated.
    LentFramePopulated = 4,
    /// A lent run belongs to no configured client.
    UnknownOwner = 5,
    /// The per-region or per-client lent counters differ from the table.
    LentCount = 6,
    /// The waiting counters differ from the deferred queue.
    WaitingCount = 7,
    /// A granted request's runs are missing, or untagged runs carry a ticket no request has.
    GrantTags = 8,
    /// The in-flight batch lists a frame outside RAM, populated or lent.
    InFlight = 9,
    /// The states do not add up to the managed frames.
    Partition = 10,
    /// Xen's page count differs from the model's.
    XenCount = 11,
    /// A client holds more lent runs than it may.
    RunLimit = 12,
    /// An unpopulated RAM frame lies below the search floor, or a populated one at or above the
    /// search ceiling: a search would skip it.
    SearchBounds = 13,
    /// The chunk summary disagrees with itself: a chunk's state with its block, blocks unsorted
    /// or shared, a chunk holding a region's end or a reserved frame without its pinned block,
    /// or a change was refused for want of a block.
    ChunkSummary = 14,
}

impl<W: Storage, const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<W, LENT, CLIENTS, PENDING>
{
    /// Check the invariant; `xen_current` is Xen's `current_reservation` if the caller has it.
    /// While a batch is in flight, Xen's count may lie anywhere within its frames. Before the
    /// start has taken the baseline there are no books to hold Xen's count against (on
    /// populate-on-demand it reads below the model until the start has released the
    /// difference), so it is not compared.
    pub fn check_invariant(&self, xen_current: Option<u64>) -> Result<(), InvariantViolation> {
        self.pages.check()?;
        self.book.check(&self.pages)?;
        let in_flight = self.list.check(&self.pages, self.book.lent())?;
        let unpopulated_unlent = self
            .pages
            .scan(self.book.lent())
            .count_ballooned(0, u64::MAX);
        // Sums of managed frames, below 2^40 each; a saturated sum cannot match and is reported.
        let partitioned = (self.pages.populated_ram())
            .saturating_add(unpopulated_unlent)
            .saturating_add(self.book.lent_ram())
            == self.pages.ram_frames();
        if !partitioned || unpopulated_unlent < in_flight {
            return Err(InvariantViolation::Partition);
        }
        if let Some(xen) = xen_current.filter(|_| self.pages.has_baseline()) {
            let low = self.pages.expected_xen();
            let xen = signed(xen);
            if xen < low || xen > low.saturating_add(signed(in_flight)) {
                return Err(InvariantViolation::XenCount);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use ballast_xen::{ExtentOrder, Gfn, Hypervisor, MemFlags, ReservationOp};

    use super::InvariantViolation;
    use crate::test_support::{domain, run_until_idle, Core, SimScrubber};
    use crate::{Config, FrameRun, HypervisorPort, Policy};

    const RAM: [FrameRun; 1] = [FrameRun::span(0, 2048)];

    #[test]
    fn a_page_freed_behind_the_servers_back_is_caught_and_reported_as_drift() {
        let (sim, dom, mut hv) = domain(0..2048, 4096, 1 << 12);
        let config = Config::new(&RAM, Policy::Ballast);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = SimScrubber {
            sim: sim.clone(),
            dom,
        };
        core.set_target(1500);
        run_until_idle(&mut core, &mut hv, &mut scrub, 0, 10);
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        let mut frame = [Gfn(3)];
        let done = hv.reservation(
            ReservationOp::Decrease,
            ExtentOrder::PAGE,
            MemFlags::NONE,
            &mut frame,
        );
        assert_eq!(done.extents, 1);
        assert_eq!(
            core.check_invariant(sim.tot_pages(dom)),
            Err(InvariantViolation::XenCount)
        );
        assert_eq!(core.reconcile(&mut HypervisorPort::new(&mut hv)), Ok(-1));
        assert_eq!(core.stats().counters.drift, -1);
    }

    #[test]
    fn a_fresh_core_is_consistent_with_its_configuration() {
        let ram = [FrameRun::span(0, 1000), FrameRun::span(4096, 4096 + 700)];
        let reserved = [FrameRun::span(10, 20)];
        let extra = [FrameRun::span(2000, 2100)];
        let mut config = Config::new(&ram, Policy::Seed);
        config.reserved = &reserved;
        config.extra = &extra;
        config.lending = Some(FrameRun::span(1 << 30, (1 << 30) + 8));
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        assert_eq!(
            core.check_invariant(Some(1699)),
            Ok(()),
            "no books before the start"
        );
        let (sim, dom, mut hv) = domain(0..1800, 1800, 0);
        core.start(&mut HypervisorPort::new(&mut hv)).unwrap();
        assert_eq!(core.check_invariant(sim.tot_pages(dom)), Ok(()));
        assert_eq!(
            core.check_invariant(Some(1799)),
            Err(InvariantViolation::XenCount)
        );
        let stats = core.stats();
        assert_eq!((stats.current_pages, stats.total_pages), (1700, 1800));
        assert_eq!((stats.balloon_low, stats.balloon_high), (100, 0));
    }
}
