//! The `server-death` scenario (feature `hil-test`, `scenario=server-death`): the memory server
//! dies holding a call. [`DiesMidRequest`] hands every event to the server but the control
//! agent's first call after the server starts serving: with that call in hand, the PD dies (an
//! undefined instruction). The root task restarts it for its last rites, which answer that call
//! `ServerRestarted` and every later one the same way (`ballast_sel4_pd_rt::entry`).

use ballast_ipc::{Badge, Handler, IncomingCall, NotificationBits, Sys};
use ballast_sel4_pd_rt::entry::{die, SERVER_DEATH};
use ballast_sel4_pd_rt::system::COMPOSITION;
use ballast_sel4_pd_rt::Pd;
use ballast_system::Kind;

/// Whether `pd` plays the `server-death` scenario.
pub fn chosen(pd: &Pd) -> bool {
    pd.scenario_is(SERVER_DEATH)
}

/// The memory server, dying at the control agent's first call.
pub struct DiesMidRequest<'s> {
    server: &'s mut dyn Handler,
    control: Option<Badge>,
    books: (u64, u64),
}

impl<'s> DiesMidRequest<'s> {
    /// `server`, of the memory server's PD `pd`, whose books say it holds `current` pages of its
    /// `total`.
    pub fn new(pd: &Pd, server: &'s mut dyn Handler, (current, total): (u64, u64)) -> Self {
        let control = COMPOSITION.first_of(Kind::ControlAgent);
        DiesMidRequest {
            server,
            control: control
                .and_then(|control| COMPOSITION.capability(control.id, pd.component))
                .map(|(_, badge)| badge),
            books: (current, total),
        }
    }
}

impl Handler for DiesMidRequest<'_> {
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        if Some(call.badge) == self.control {
            let (current, total) = self.books;
            defmt::info!(
                "memory_server dies mid_request caller_badge={=u32} message_bytes={=usize} books_when_serving: current={=u64} total={=u64} ballooned={=u64}",
                call.badge.0,
                call.message.len(),
                current,
                total,
                total.saturating_sub(current)
            );
            die()
        }
        self.server.protected(sys, call);
    }

    fn notified(&mut self, sys: &mut dyn Sys, bits: NotificationBits) {
        self.server.notified(sys, bits);
    }

    fn client_died(&mut self, sys: &mut dyn Sys, badge: Badge) {
        self.server.client_died(sys, badge);
    }
}
