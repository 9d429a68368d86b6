//! The page-model invariant, checked by tests after every step: the states partition the
//! frames, the counters match the bitmap and the tables, each lent frame has exactly one owner,
//! and the populated count matches Xen's (relative to the baseline taken at start).

use crate::balloon::{signed, BalloonCore};
use crate::pending::PendingState;
use crate::regions::{is_lending, is_ram};

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
}

impl<const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<'_, LENT, CLIENTS, PENDING>
{
    /// Check the invariant; `xen_current` is Xen's `current_reservation` if the caller has it.
    /// While a batch is in flight, Xen's count may lie anywhere within its frames.
    pub fn check_invariant(&self, xen_current: Option<u64>) -> Result<(), InvariantViolation> {
        let mut populated = 0;
        for region in self.regions.iter() {
            if let Some(bit) = region.bit(region.run.start()) {
                populated += self.bitmap.count_ones(bit, region.run.frames);
            }
        }
        if populated != self.populated_ram {
            return Err(InvariantViolation::PopulatedCount);
        }
        self.check_lent()?;
        self.check_waiting()?;
        let in_flight = self.check_in_flight()?;
        let unpopulated_unlent = self.scan().count_ballooned(0, u64::MAX);
        let partitioned =
            self.populated_ram + unpopulated_unlent + self.lent_ram == self.ram_frames;
        if !partitioned || unpopulated_unlent < in_flight {
            return Err(InvariantViolation::Partition);
        }
        if let Some(xen) = xen_current {
            let low = self.expected_xen();
            let xen = signed(xen);
            if xen < low || xen > low.saturating_add(signed(in_flight)) {
                return Err(InvariantViolation::XenCount);
            }
        }
        Ok(())
    }

    fn check_lent(&self) -> Result<(), InvariantViolation> {
        let mut lent_ram = 0;
        let mut lent_lending = 0;
        let mut per_client = [0u64; CLIENTS];
        let mut previous_end = 0;
        for lent in self.lent.iter() {
            if !lent.run.is_valid() || lent.run.start() < previous_end {
                return Err(InvariantViolation::LentRunsOverlap);
            }
            previous_end = lent.run.end();
            let owner = per_client
                .get_mut(usize::from(lent.client.0))
                .ok_or(InvariantViolation::UnknownOwner)?;
            *owner += lent.run.frames;
            if lent.ticket.is_some_and(|t| {
                !self
                    .pending
                    .iter()
                    .any(|p| p.ticket == t && p.state == PendingState::Granted)
            }) {
                return Err(InvariantViolation::GrantTags);
            }
            let region = self
                .regions
                .find(lent.run.start())
                .filter(|r| r.run.contains_run(&lent.run));
            let region = region.ok_or(InvariantViolation::LentOutsideManaged)?;
            if is_lending(&region.kind) {
                lent_lending += lent.run.frames;
            } else if let Some(bit) = region.bit(lent.run.start()) {
                if !self.bitmap.all(bit, lent.run.frames, false) {
                    return Err(InvariantViolation::LentFramePopulated);
                }
                lent_ram += lent.run.frames;
            } else {
                return Err(InvariantViolation::LentOutsideManaged);
            }
        }
        let clients_agree = self
            .clients
            .iter()
            .zip(per_client)
            .all(|(c, lent)| c.lent == lent);
        if lent_ram != self.lent_ram || lent_lending != self.lent_lending || !clients_agree {
            return Err(InvariantViolation::LentCount);
        }
        if lent_lending > self.lending_frames {
            return Err(InvariantViolation::Partition);
        }
        Ok(())
    }

    fn check_waiting(&self) -> Result<(), InvariantViolation> {
        let mut per_client = [0u64; CLIENTS];
        for entry in self.pending.iter() {
            let slot = per_client
                .get_mut(usize::from(entry.client.0))
                .ok_or(InvariantViolation::UnknownOwner)?;
            match entry.state {
                PendingState::Waiting => *slot += entry.request.frames,
                PendingState::Granted => {
                    let granted: u64 = self
                        .lent
                        .iter()
                        .filter(|r| r.ticket == Some(entry.ticket))
                        .map(|r| r.run.frames)
                        .sum();
                    if granted != entry.request.frames {
                        return Err(InvariantViolation::GrantTags);
                    }
                }
                PendingState::TimedOut => {}
            }
        }
        if self
            .clients
            .iter()
            .zip(per_client)
            .any(|(c, waiting)| c.waiting != waiting)
        {
            return Err(InvariantViolation::WaitingCount);
        }
        Ok(())
    }

    /// Check the in-flight batch and return its frames.
    fn check_in_flight(&self) -> Result<u64, InvariantViolation> {
        let Some(flight) = self.in_flight else {
            return Ok(0);
        };
        let frames = flight.order.frames();
        for entry in self
            .list
            .get(flight.from..flight.from + flight.count)
            .ok_or(InvariantViolation::InFlight)?
        {
            let run = crate::run::FrameRun::new(*entry, frames);
            let region = self
                .regions
                .find(entry.0)
                .filter(|r| is_ram(&r.kind) && r.run.contains_run(&run));
            let bit = region
                .and_then(|r| r.bit(entry.0))
                .ok_or(InvariantViolation::InFlight)?;
            if !self.bitmap.all(bit, frames, false) || self.lent.any_in(run) {
                return Err(InvariantViolation::InFlight);
            }
        }
        Ok(flight.frames())
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
        let core = Core::new(&config, &mut words).unwrap();
        assert_eq!(core.check_invariant(Some(1700)), Ok(()));
        assert_eq!(
            core.check_invariant(Some(1699)),
            Err(InvariantViolation::XenCount)
        );
        let stats = core.stats();
        assert_eq!((stats.current_pages, stats.total_pages), (1700, 1800));
        assert_eq!((stats.balloon_low, stats.balloon_high), (100, 0));
    }
}
