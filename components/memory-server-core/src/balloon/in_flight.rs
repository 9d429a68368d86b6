//! The in-flight batch: a call whose outcome is unknown (lost in transport, answered out of
//! convention, or a failed superpage extent not yet probed) stays in flight until a probe of
//! `current_reservation` says how much of it Xen did. Xen works through a list in order, so the
//! difference between its page count and the model's locates the changed frames exactly.

use ballast_xen::{ExtentOrder, ReservationOp};

use super::BalloonCore;
use crate::page_map::signed;
use crate::ports::{PortError, ReservationPort};
use crate::schedule::BpState;
use crate::Storage;

impl<W: Storage, const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<W, LENT, CLIENTS, PENDING>
{
    /// The call's outcome is unknown (transport failure or an answer out of convention): the
    /// whole batch is in flight until a probe says how much of it Xen did.
    pub(super) fn unknown_outcome<P: ReservationPort>(
        &mut self,
        port: &mut P,
        op: ReservationOp,
        order: ExtentOrder,
        count: usize,
    ) -> (BpState, u64) {
        self.list.set_in_flight(op, order, 0, count);
        match self.resolve_in_flight(port) {
            Ok(moved) if moved > 0 => (BpState::Done, moved),
            _ => (BpState::EAgain, 0),
        }
    }

    /// Probe Xen and settle the in-flight batch from the difference between its page count and
    /// the model's. Returns the frames the batch moved.
    pub(super) fn resolve_in_flight<P: ReservationPort>(
        &mut self,
        port: &mut P,
    ) -> Result<u64, PortError> {
        let xen = self.probe(port)?;
        let populated = signed(xen).saturating_sub(self.pages.expected_xen());
        Ok(self.settle_in_flight(populated.max(0) as u64))
    }

    /// Settle the in-flight batch knowing that `populated` of its frames are populated now:
    /// Xen works through the list in order, so after a release the populated frames are the
    /// tail, after a populate the head (whole extents). Returns the frames the batch moved.
    pub(super) fn settle_in_flight(&mut self, populated: u64) -> u64 {
        let Some(flight) = self.list.take_in_flight() else {
            return 0;
        };
        let frames = flight.order.frames();
        let total = flight.frames();
        if let Some(excess) = populated.checked_sub(total).filter(|excess| *excess > 0) {
            self.counters.drift = signed(excess);
        }
        let populated = populated.min(total);
        match flight.op {
            ReservationOp::Decrease => {
                // `populated` was clamped to `total` above.
                let freed = total.saturating_sub(populated);
                let mut at: u64 = 0;
                for entry in self.list.extents(flight.from, flight.count) {
                    let keep_from = freed.saturating_sub(at).min(frames);
                    // `keep_from` is at most an extent's frames, and extents lie below 2^40.
                    let kept = frames.saturating_sub(keep_from);
                    self.pages
                        .mark(entry.0.saturating_add(keep_from), kept, true);
                    at = at.saturating_add(frames);
                }
                self.counters.count_extents(
                    flight.op,
                    flight.order,
                    freed.checked_div(frames).unwrap_or(0) as usize,
                );
                freed
            }
            _ => {
                // An extent has at least one frame: the divisions always answer.
                let extents = populated.checked_div(frames).unwrap_or(0) as usize;
                let partial = populated.checked_rem(frames).unwrap_or(0);
                if partial != 0 {
                    self.counters.drift = signed(partial);
                }
                self.mark(flight.from, extents, flight.order, true);
                self.counters
                    .count_extents(flight.op, flight.order, extents);
                (extents as u64).saturating_mul(frames)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use ballast_xen::{Completed, ExtentOrder, Gfn, MemFlags, ReservationOp};
    use ballast_xen_sim::SimHypervisor;

    use crate::test_support::{agrees_with_xen, domain, scrubber, Core};
    use crate::{BpState, Config, FrameRun, HypervisorPort, Policy, PortError, ReservationPort};

    const RAM: [FrameRun; 1] = [FrameRun::span(0, 4096)];
    const EXTRA: [FrameRun; 1] = [FrameRun::span(4096, 5120)];

    /// Forwards to the simulated Xen, then reports the gateway dead for chosen calls, and fails
    /// the next probes: the transport failure after Xen acted.
    struct DyingGateway<'h> {
        hv: &'h mut SimHypervisor,
        die_on_call: u64,
        calls: u64,
        failing_probes: u32,
    }

    impl ReservationPort for DyingGateway<'_> {
        fn reservation(
            &mut self,
            op: ReservationOp,
            order: ExtentOrder,
            flags: MemFlags,
            frames: &mut [Gfn],
        ) -> Result<Completed, PortError> {
            let answer = HypervisorPort::new(self.hv).reservation(op, order, flags, frames);
            self.calls += 1;
            if self.calls - 1 == self.die_on_call {
                Err(PortError::GatewayDied)
            } else {
                answer
            }
        }

        fn current_reservation(&mut self) -> Result<u64, PortError> {
            if self.failing_probes > 0 && self.calls > self.die_on_call {
                self.failing_probes -= 1;
                return Err(PortError::GatewayDied);
            }
            HypervisorPort::new(self.hv).current_reservation()
        }
    }

    #[test]
    fn a_batch_lost_in_transport_stays_in_flight_until_a_probe_settles_it() {
        let (sim, dom, mut hv) = domain(0..4096, 8192, 1 << 16);
        let mut config = Config::new(&RAM, Policy::Seed);
        config.extra = &EXTRA;
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        core.start(&mut HypervisorPort::new(&mut hv)).unwrap();
        core.set_target(4096 + 100);
        let mut gateway = DyingGateway {
            hv: &mut hv,
            die_on_call: 0,
            calls: 0,
            failing_probes: 1,
        };
        let lost = core.balloon_step(&mut gateway, &mut scrub, 0);
        assert_eq!(lost.state, BpState::EAgain);
        assert_eq!(core.stats().in_flight_pages, 100);
        assert_eq!(
            core.frame_state(Gfn(4096)),
            Some(crate::FrameState::InFlight)
        );
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        let settled = core.balloon_step(&mut gateway, &mut scrub, lost.next_run_ns.unwrap());
        assert_eq!((settled.state, settled.frames_moved), (BpState::Done, 100));
        assert_eq!(core.stats().in_flight_pages, 0);
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        agrees_with_xen(&core, &sim, dom, 0..5120);
        assert_eq!(core.reconcile(&mut gateway), Ok(0));
    }
}
