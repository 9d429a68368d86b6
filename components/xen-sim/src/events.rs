//! Event channels and shutdown, as a simulated domain sees them: a small per-domain table of ports
//! bound to a peer domain, `EVTCHNOP_send` answered as `evtchn_send` in Xen's
//! `common/event_channel.c` answers it (0 for a bound port, the send counted on that port;
//! `-EINVAL` for a port that is not bound), and `SCHEDOP_shutdown` recorded with its reason.
//!
//! Not modelled: pending bits, masks and upcalls (nothing in the simulator waits for an event), the
//! peer's side of a channel, and a shut-down domain's vCPUs stopping (real Xen never runs the
//! caller again; the simulator returns 0 and keeps the first reason, as Xen keeps the first).

use std::collections::BTreeMap;

use ballast_xen::abi::EventPort;
use ballast_xen::XenErrno;

use crate::config::DomId;
use crate::error::SimError;
use crate::state::State;
use crate::XenSim;

/// Ports one simulated domain may bind: Xen's 2-level event-channel ABI for a 64-bit guest
/// (64 x 64). Port 0 is never bound.
pub const EVENT_PORTS: EventPort = 4096;

/// One bound port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BoundPort {
    /// The domain at the other end.
    peer: DomId,
    /// `EVTCHNOP_send` calls on it that Xen delivered.
    sends: u64,
}

/// A domain's event channels and its shutdown, if it asked for one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DomainEvents {
    ports: BTreeMap<EventPort, BoundPort>,
    shutdown: Option<u32>,
}

impl DomainEvents {
    /// The lowest free port, bound to `peer`; as Xen's `get_free_port`, ports start at 1.
    fn bind(&mut self, peer: DomId) -> Option<EventPort> {
        let port = (1..EVENT_PORTS).find(|port| !self.ports.contains_key(port))?;
        self.ports.insert(port, BoundPort { peer, sends: 0 });
        Some(port)
    }

    /// `evtchn_send`: the raw return.
    fn send(&mut self, port: EventPort) -> i64 {
        match self.ports.get_mut(&port) {
            Some(bound) => {
                bound.sends = bound.sends.saturating_add(1);
                0
            }
            None => RAW_EINVAL,
        }
    }
}

impl State {
    /// The event state of domain `dom`, if it exists.
    fn events_of(&mut self, dom: DomId) -> Option<&mut DomainEvents> {
        if !self.domains.contains_key(&dom.0) {
            return None;
        }
        Some(self.events.entry(dom.0).or_default())
    }
}

/// What a caller that does not exist gets.
const NO_SUCH_DOMAIN: i64 = -(XenErrno::ESRCH.0 as i64);

/// Xen's raw answer for a port not bound.
const RAW_EINVAL: i64 = -(XenErrno::EINVAL.0 as i64);

impl XenSim {
    /// Bind the lowest free event channel of `dom` to `peer` (what the toolstack's
    /// `EVTCHNOP_alloc_unbound` and the peer's bind do together, e.g. the xenstore channel that
    /// `HVM_PARAM_STORE_EVTCHN` names) and return its port.
    pub fn bind_event_channel(&self, dom: DomId, peer: DomId) -> Result<EventPort, SimError> {
        let mut state = self.lock();
        let events = state.events_of(dom).ok_or(SimError::NoSuchDomain)?;
        events.bind(peer).ok_or(SimError::PortsExhausted)
    }

    /// `HYPERVISOR_event_channel_op(EVTCHNOP_send, { port })` issued by domain `caller`: 0 when
    /// `port` is bound (the send is counted on it), `-EINVAL` when it is not, `-ESRCH` for a
    /// caller that does not exist.
    pub fn evtchn_send(&self, caller: DomId, port: EventPort) -> i64 {
        match self.lock().events_of(caller) {
            Some(events) => events.send(port),
            None => NO_SUCH_DOMAIN,
        }
    }

    /// `HYPERVISOR_sched_op(SCHEDOP_shutdown, { reason })` issued by domain `caller`: the
    /// shutdown is recorded with its reason (a second one keeps the first) and answered 0;
    /// `-ESRCH` for a caller that does not exist.
    pub fn sched_shutdown(&self, caller: DomId, reason: u32) -> i64 {
        match self.lock().events_of(caller) {
            Some(events) => {
                events.shutdown.get_or_insert(reason);
                0
            }
            None => NO_SUCH_DOMAIN,
        }
    }

    /// The domain at the other end of `port` of `dom`, if the port is bound.
    pub fn event_peer(&self, dom: DomId, port: EventPort) -> Option<DomId> {
        let state = self.lock();
        let bound = state.events.get(&dom.0)?.ports.get(&port)?;
        Some(bound.peer)
    }

    /// Sends Xen delivered on `port` of `dom`, if the port is bound.
    pub fn event_sends(&self, dom: DomId, port: EventPort) -> Option<u64> {
        let state = self.lock();
        let bound = state.events.get(&dom.0)?.ports.get(&port)?;
        Some(bound.sends)
    }

    /// The reason `dom` shut down with, if it did.
    pub fn shutdown_reason(&self, dom: DomId) -> Option<u32> {
        self.lock().events.get(&dom.0)?.shutdown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DomainConfig, HostConfig};
    use ballast_xen::abi::{SHUTDOWN_CRASH, SHUTDOWN_POWEROFF};

    fn host() -> (XenSim, DomId, DomId) {
        let sim = XenSim::new(HostConfig::default());
        let dom0 = sim.create_domain(DomainConfig::domu(0..4, 4));
        let domu = sim.create_domain(DomainConfig::domu(0..4, 4));
        (sim, dom0, domu)
    }

    #[test]
    fn ports_start_at_one_and_sends_are_counted_per_port() {
        let (sim, dom0, domu) = host();
        let store = sim.bind_event_channel(domu, dom0).expect("a port");
        let console = sim.bind_event_channel(domu, dom0).expect("a port");
        assert_eq!((store, console), (1, 2));
        assert_eq!(sim.evtchn_send(domu, store), 0);
        assert_eq!(sim.evtchn_send(domu, store), 0);
        assert_eq!(sim.evtchn_send(domu, console), 0);
        assert_eq!(sim.event_sends(domu, store), Some(2));
        assert_eq!(sim.event_sends(domu, console), Some(1));
        assert_eq!(sim.event_peer(domu, store), Some(dom0));
        assert_eq!(sim.event_sends(dom0, store), None, "ports are per domain");
    }

    #[test]
    fn a_port_not_bound_is_einval_and_counts_nothing() {
        let (sim, dom0, domu) = host();
        let store = sim.bind_event_channel(domu, dom0).expect("a port");
        for port in [0, store + 1, EVENT_PORTS, u32::MAX] {
            assert_eq!(sim.evtchn_send(domu, port), -22, "port {port}");
        }
        assert_eq!(
            sim.evtchn_send(dom0, store),
            -22,
            "bound in the other domain"
        );
        assert_eq!(sim.event_sends(domu, store), Some(0));
        assert_eq!(sim.event_sends(domu, 0), None);
    }

    #[test]
    fn shutdown_is_recorded_with_its_first_reason() {
        let (sim, dom0, domu) = host();
        assert_eq!(sim.shutdown_reason(domu), None);
        assert_eq!(sim.sched_shutdown(domu, SHUTDOWN_CRASH), 0);
        assert_eq!(sim.sched_shutdown(domu, SHUTDOWN_POWEROFF), 0);
        assert_eq!(sim.shutdown_reason(domu), Some(SHUTDOWN_CRASH));
        assert_eq!(sim.shutdown_reason(dom0), None);
    }

    #[test]
    fn a_missing_domain_gets_esrch_and_its_events_go_with_it() {
        let (sim, dom0, domu) = host();
        let port = sim.bind_event_channel(domu, dom0).expect("a port");
        sim.destroy_domain(domu).expect("destroyed");
        assert_eq!(sim.evtchn_send(domu, port), -3);
        assert_eq!(sim.sched_shutdown(domu, SHUTDOWN_POWEROFF), -3);
        assert_eq!(sim.event_sends(domu, port), None);
        assert_eq!(
            sim.bind_event_channel(domu, dom0),
            Err(SimError::NoSuchDomain)
        );
    }

    #[test]
    fn the_table_fills_up_without_a_panic() {
        let mut events = DomainEvents::default();
        for expected in 1..EVENT_PORTS {
            assert_eq!(events.bind(DomId(0)), Some(expected));
        }
        assert_eq!(events.bind(DomId(0)), None);
    }
}
