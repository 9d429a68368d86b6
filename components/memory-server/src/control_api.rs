//! The `BalloonControl` interface: the toolstack agent sets the target, reads the seed's
//! statistics, tunes the worker and asks for a reconciliation with Xen.

use ballast_interfaces::balloon_control::{
    self as wire, BalloonControlError, BalloonControlServer, ConfigureResponder, ReconcileReply,
    ReconcileResponder, SetTargetResponder, StatsReply, StatsResponder,
};
use ballast_interfaces::support::{Answer, Permissions};
use ballast_ipc::{Badge, Sys};

use crate::MemoryServer;
use ballast_memory_server_core::{BpState, FrameScrubber, Policy, Storage, Tunables};

/// The policy as `stats` reports it.
const fn wire_policy(policy: Policy) -> wire::Policy {
    match policy {
        Policy::Ballast => wire::Policy::Ballast,
        Policy::Seed => wire::Policy::Seed,
    }
}

/// The policy `configure` asks for.
const fn core_policy(policy: wire::Policy) -> Policy {
    match policy {
        wire::Policy::Ballast => Policy::Ballast,
        wire::Policy::Seed => Policy::Seed,
    }
}

/// The last batch's outcome as `stats` reports it.
const fn wire_state(state: BpState) -> wire::BpState {
    match state {
        BpState::Done => wire::BpState::Done,
        BpState::Wait => wire::BpState::Wait,
        BpState::EAgain => wire::BpState::EAgain,
        BpState::Cancelled => wire::BpState::Cancelled,
    }
}

impl<W, S, P, const LENT: usize, const CLIENTS: usize, const PENDING: usize> BalloonControlServer
    for MemoryServer<W, S, P, LENT, CLIENTS, PENDING>
where
    W: Storage,
    S: FrameScrubber,
    P: Permissions + Copy,
{
    fn set_target(
        &mut self,
        sys: &mut dyn Sys,
        _badge: Badge,
        pages: u64,
        reply: SetTargetResponder,
    ) -> Answer {
        // The interface speaks of the domain's pages; the core counts the pages it manages.
        let managed = i64::try_from(pages)
            .unwrap_or(i64::MAX)
            .saturating_sub(self.core.domain_offset());
        let Ok(managed @ 1..) = u64::try_from(managed) else {
            return reply.err(BalloonControlError::TargetTooLow).into();
        };
        // Above RAM, boot extra and growth all populated, no frame could ever meet it: refused,
        // and `stats` tells the caller how far the domain can go.
        if managed > self.core.max_target_pages() {
            return reply.err(BalloonControlError::TargetTooHigh).into();
        }
        self.core.set_target(managed);
        self.answer_then_step(sys, reply.ok())
    }

    fn stats(&mut self, _sys: &mut dyn Sys, _badge: Badge, reply: StatsResponder) -> Answer {
        let stats = self.core.stats();
        let domain = |pages: u64| pages.saturating_add_signed(self.core.domain_offset());
        reply
            .ok(StatsReply {
                current: domain(stats.current_pages),
                target: domain(stats.target_pages),
                total: stats.total_pages,
                ballooned_low: stats.balloon_low,
                ballooned_high: stats.balloon_high,
                lent: stats.lent_pages,
                hypercalls: stats.counters.hypercalls(),
                schedule_delay_ms: stats.schedule_delay_s.saturating_mul(1000),
                retry_count: stats.retry_count,
                state: wire_state(self.last_state),
                policy: wire_policy(self.core.policy()),
                max_target: domain(self.core.max_target_pages()),
                requests_taken: self.requests.taken,
                requests_answered: self.requests.answered,
                requests_voided: self.requests.voided,
                scrubbed: stats.counters.scrubbed_frames,
                scrub_skipped: stats.counters.scrub_skipped_frames,
            })
            .into()
    }

    fn configure(
        &mut self,
        sys: &mut dyn Sys,
        _badge: Badge,
        schedule_delay_ms: u32,
        max_schedule_delay_ms: u32,
        max_retry_count: u32,
        policy: wire::Policy,
        reply: ConfigureResponder,
    ) -> Answer {
        // The seed's first delay is fixed at 1 s; the cap is whole seconds, at least that.
        if schedule_delay_ms != 1000
            || max_schedule_delay_ms < 1000
            || !max_schedule_delay_ms.is_multiple_of(1000)
        {
            return reply.err(BalloonControlError::BadTunables).into();
        }
        let tunables = Tunables {
            max_schedule_delay_s: max_schedule_delay_ms / 1000,
            max_retry_count,
        };
        match self.core.configure(core_policy(policy), tunables) {
            Ok(()) => self.answer_then_step(sys, reply.ok()),
            Err(_) => reply.err(BalloonControlError::Busy).into(),
        }
    }

    fn reconcile(&mut self, sys: &mut dyn Sys, _badge: Badge, reply: ReconcileResponder) -> Answer {
        let mut port = self.port(sys);
        match self.core.reconcile(&mut port) {
            Ok(drift) => {
                let stats = self.core.stats();
                let answer = reply.ok(ReconcileReply {
                    xen_current: stats
                        .current_pages
                        .saturating_add_signed(self.core.domain_offset()),
                    drift: drift.unsigned_abs(),
                    books_were_high: drift < 0,
                });
                self.answer_then_step(sys, answer)
            }
            Err(_) => reply.err(BalloonControlError::XenUnavailable).into(),
        }
    }
}
