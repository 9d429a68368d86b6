//! The gateway as an IPC server under the deterministic runtime: a memory server (an external
//! component here) lends its frame list and calls, a toolstack agent sends events and shuts the
//! domain down through the generated encoders and decoders; the reply carries Xen's answer or the
//! typed error, and dispatch refuses what is not a well-formed call from a permitted caller.

#[allow(
    dead_code,
    reason = "this test crate uses the rig's setup, not its direct-call checks"
)]
mod support;

use ballast_hypercall::GatewayError;
use ballast_interfaces::hypercall::{
    self, CurrentReservationReplyBody, DecreaseReservationReply, DecreaseReservationReplyBody,
    HypercallError, HypercallOp, INTERFACE_ID, VERSION,
};
use ballast_interfaces::support::{CallError, Message, ProtocolError, STATUS_OK};
use ballast_ipc::deterministic::DeterministicRuntime;
use ballast_ipc::{
    ComponentId, ComponentKind, EndpointId, LeaseDescriptor, LeaseId, MessageHeader, TablesBuilder,
};
use ballast_xen::mem_flags::XENMEMF_POPULATE_ON_DEMAND;
use ballast_xen::{ReservationOp, DOMID_SELF};
use ballast_xen_sim::{DomId, XenSim};
use support::*;
use zerocopy::{FromBytes, IntoBytes};

/// The reservation op's request: one `Hypercall` op per Xen operation.
fn request(op: ReservationOp, order: u8, flags: u32, domid: u16) -> Message {
    match op {
        ReservationOp::Increase => hypercall::encode_increase_reservation(flags, domid, order),
        ReservationOp::Decrease => hypercall::encode_decrease_reservation(flags, domid, order),
        ReservationOp::Populate => hypercall::encode_populate_physmap(flags, domid, order),
    }
}

const LIST: LeaseId = LeaseId(1);
const LIST_BYTES: u32 = 8192;

struct System {
    runtime: DeterministicRuntime,
    sim: XenSim,
    dom: DomId,
    gateway: ComponentId,
    server: (ComponentId, EndpointId),
    driver: (ComponentId, EndpointId),
    agent: (ComponentId, EndpointId),
    store: u32,
    console: u32,
}

fn system() -> System {
    let Rig {
        sim,
        dom,
        store,
        console,
        gateway: handler,
        ..
    } = Rig::new();
    let mut builder = TablesBuilder::new();
    let server = builder.component("memory-server", ComponentKind::External);
    let driver = builder.component("driver", ComponentKind::External);
    let agent = builder.component("toolstack-agent", ComponentKind::External);
    let gateway = builder.component("hypercall-gateway", ComponentKind::Handler);
    let server_endpoint = builder.endpoint(server, gateway, SERVER);
    let driver_endpoint = builder.endpoint(driver, gateway, DRIVER);
    let agent_endpoint = builder.endpoint(agent, gateway, AGENT);
    builder
        .region(LIST, LIST_BYTES, server)
        .share(LIST, gateway, true);
    let composition = builder.build().expect("a valid composition");
    let runtime = DeterministicRuntime::new(composition, vec![(gateway, Box::new(handler))], 7)
        .expect("handlers placed");
    System {
        runtime,
        sim,
        dom,
        gateway,
        server: (server, server_endpoint),
        driver: (driver, driver_endpoint),
        agent: (agent, agent_endpoint),
        store,
        console,
    }
}

fn lease(len: u32) -> LeaseDescriptor {
    LeaseDescriptor {
        region: LIST.0,
        writable: 1,
        offset: 0,
        len,
        reserved: 0,
    }
}

impl System {
    /// Lend `frames` from the list region and call `reservation`; the reply's status and body.
    fn reservation(
        &mut self,
        caller: (ComponentId, EndpointId),
        args: Args,
        frames: &[u64],
    ) -> (u16, Vec<u8>) {
        let region = self.runtime.region(LIST).expect("the list region");
        region[..frames.len() * 8].copy_from_slice(frames.as_bytes());
        let (op, order, flags, domid) = args;
        let message = request(op, order, flags, domid);
        self.call(caller, &message, Some(lease(frames.len() as u32 * 8)))
    }

    /// Submit `message` from `caller`, run the gateway, and return the whole reply message.
    fn reply(
        &mut self,
        (client, endpoint): (ComponentId, EndpointId),
        message: &[u8],
        lease: Option<LeaseDescriptor>,
    ) -> Vec<u8> {
        let call = self
            .runtime
            .submit_call(client, endpoint, message, lease)
            .expect("submitted");
        self.runtime
            .run_until_idle(100)
            .expect("no invariant to break");
        self.runtime
            .take_reply(call)
            .expect("answered")
            .expect("delivered")
    }

    /// `event_send { port }` from `caller`, as the generated client encodes and decodes it.
    fn event_send(
        &mut self,
        caller: (ComponentId, EndpointId),
        port: u32,
    ) -> Result<(), CallError<HypercallError>> {
        let reply = self.reply(caller, &hypercall::encode_event_send(port), None);
        hypercall::decode_event_send(&reply)
    }

    /// `shutdown { reason }` from `caller`, as the generated client encodes and decodes it.
    fn shutdown(
        &mut self,
        caller: (ComponentId, EndpointId),
        reason: u32,
    ) -> Result<(), CallError<HypercallError>> {
        let reply = self.reply(caller, &hypercall::encode_shutdown(reason), None);
        hypercall::decode_shutdown(&reply)
    }

    fn call(
        &mut self,
        caller: (ComponentId, EndpointId),
        message: &[u8],
        lease: Option<LeaseDescriptor>,
    ) -> (u16, Vec<u8>) {
        let reply = self.reply(caller, message, lease);
        let (header, body) = MessageHeader::read_from_prefix(&reply).expect("a header");
        assert_eq!((header.interface, header.version), (INTERFACE_ID, VERSION));
        assert_eq!(usize::from(header.body_len), body.len());
        (header.op_or_status, body.to_vec())
    }

    fn counters(&self) -> &ballast_hypercall::GatewayCounters<4> {
        self.runtime
            .handler::<SimGateway>(self.gateway)
            .expect("the gateway")
            .counters()
    }
}

/// The three reservation ops share one reply layout.
fn completed(status: u16, body: &[u8]) -> DecreaseReservationReply {
    assert_eq!(status, STATUS_OK);
    DecreaseReservationReplyBody::read_from_bytes(body)
        .expect("a reply body")
        .decode()
        .expect("valid")
}

#[test]
fn a_decrease_over_ipc_moves_the_lent_frames() {
    let mut system = system();
    let start = system.sim.tot_pages(system.dom).expect("exists");
    let (status, body) = system.reservation(
        system.server,
        (DECREASE, 0, 0, DOMID_SELF),
        &[0x1000, 0x1001, 0x1002],
    );
    let reply = completed(status, &body);
    assert_eq!((reply.completed, reply.has_anomaly), (3, false));
    assert_eq!(system.sim.tot_pages(system.dom), Some(start - 3));
    assert_eq!(system.sim.is_populated(system.dom, 0x1001), Some(false));
}

#[test]
fn a_short_populate_over_ipc_reports_xens_count() {
    let mut system = system();
    let (status, body) = system.reservation(
        system.server,
        (DECREASE, 0, 0, DOMID_SELF),
        &[0x2000, 0x2002],
    );
    assert_eq!(completed(status, &body).completed, 2);
    let (status, body) = system.reservation(
        system.server,
        (POPULATE, 0, 0, DOMID_SELF),
        &[0x2000, 0x2001, 0x2002],
    );
    assert_eq!(
        completed(status, &body).completed,
        3,
        "0x2001 was populated: Xen maps it afresh"
    );
    let leaked = system.sim.leaked_pages(system.dom).expect("exists");
    assert_eq!(
        leaked, 1,
        "what the memory server must never do, and the gateway cannot know"
    );
    system
        .sim
        .set_max_pages(
            system.dom,
            system.sim.tot_pages(system.dom).expect("exists") + 1,
        )
        .expect("exists");
    let list: Vec<u64> = (LENDING.start..LENDING.start + 4).collect();
    let (status, body) = system.reservation(system.server, (POPULATE, 0, 0, DOMID_SELF), &list);
    assert_eq!(completed(status, &body).completed, 1);
}

#[test]
fn a_refusal_travels_as_the_interface_error_and_xen_sees_nothing() {
    let mut system = system();
    let before = system.sim.counters(system.dom);
    let cases: [(Args, &[u64], HypercallError); 6] = [
        (
            (DECREASE, 0, 0, DOMID_SELF),
            &[IMAGE.start + 2],
            HypercallError::FrameNotOwned,
        ),
        (
            (DECREASE, 0, 0, 0),
            &[0x1000],
            HypercallError::ForeignDomain,
        ),
        (
            (DECREASE, 10, 0, DOMID_SELF),
            &[0x1000],
            HypercallError::OrderTooLarge,
        ),
        (
            (DECREASE, 9, 0, DOMID_SELF),
            &[0x1100],
            HypercallError::Misaligned,
        ),
        (
            (DECREASE, 0, XENMEMF_POPULATE_ON_DEMAND, DOMID_SELF),
            &[0x1000],
            HypercallError::BadOp,
        ),
        (
            (POPULATE, 0, 0, DOMID_SELF),
            &[LENDING.start, LENDING.start],
            HypercallError::DuplicateFrame,
        ),
    ];
    for (args, frames, expected) in cases {
        let (status, body) = system.reservation(system.server, args, frames);
        assert_eq!(
            (status, body.len()),
            (expected as u16, 0),
            "{args:?} {frames:x?}"
        );
    }
    let too_many: Vec<u64> = (0x1000..0x1000 + MAX_FRAMES as u64 + 1).collect();
    let (status, _) = system.reservation(system.server, (DECREASE, 0, 0, DOMID_SELF), &too_many);
    assert_eq!(status, HypercallError::TooManyFrames as u16);
    assert_eq!(system.sim.counters(system.dom), before);
    let total = *system.counters().total();
    assert_eq!(
        (total.calls, total.hypercalls, total.rejections.total()),
        (7, 0, 7)
    );
    assert_eq!(total.rejections.get(GatewayError::NotOwned), 1);
}

#[test]
fn a_lease_that_is_not_a_frame_list_is_refused() {
    let mut system = system();
    let before = system.sim.counters(system.dom);
    let message = request(DECREASE, 0, 0, DOMID_SELF);
    for len in [0, 12, 7] {
        let (status, _) = system.call(system.server, &message, Some(lease(len)));
        assert_eq!(status, HypercallError::BadFrameList as u16, "{len} bytes");
    }
    assert_eq!(system.sim.counters(system.dom), before);
    assert_eq!(system.counters().bad_frame_lists(), 3);
    assert_eq!(system.counters().total().calls, 0);
}

#[test]
fn dispatch_refuses_callers_without_the_interface_capability_and_malformed_calls() {
    let mut system = system();
    let before = system.sim.counters(system.dom);
    for op in [INCREASE, DECREASE, POPULATE] {
        let (status, _) = system.call(system.driver, &request(op, 0, 0, DOMID_SELF), None);
        assert_eq!(status, ProtocolError::PermissionDenied.status(), "{op:?}");
    }
    let maximum = hypercall::encode_maximum_reservation();
    let (status, _) = system.call(system.driver, &maximum, None);
    assert_eq!(status, ProtocolError::PermissionDenied.status());
    let decrease = request(DECREASE, 0, 0, DOMID_SELF);
    let (status, _) = system.call(system.server, &decrease, None);
    assert_eq!(status, ProtocolError::MissingLease.status());
    let mut retired = decrease.to_vec();
    retired[2..4].copy_from_slice(&1u16.to_ne_bytes());
    let (status, _) = system.call(system.server, &retired, Some(lease(8)));
    assert_eq!(status, ProtocolError::UnknownOp.status(), "op 1 is retired");
    assert_eq!(system.sim.counters(system.dom), before);
    assert_eq!(system.counters().protocol_rejections(), 6);
}

#[test]
fn queries_over_ipc_answer_xens_count_or_its_errno() {
    let mut system = system();
    let tot = system.sim.tot_pages(system.dom).expect("exists");
    let query = hypercall::encode_current_reservation();
    let (status, body) = system.call(system.driver, &query, None);
    assert_eq!(status, STATUS_OK);
    assert_eq!(
        CurrentReservationReplyBody::read_from_bytes(&body).map(|b| b.pages),
        Ok(tot)
    );
    system.sim.destroy_domain(system.dom).expect("exists");
    let (status, body) = system.call(system.driver, &query, None);
    assert_eq!((status, body.len()), (HypercallError::XenErrno as u16, 0));
    assert_eq!(
        system.counters().caller(DRIVER).map(|c| c.xen_errors),
        Some(1)
    );
}

#[test]
fn the_agent_kicks_its_port_and_shuts_the_domain_down_over_ipc() {
    let mut system = system();
    let (dom, store) = (system.dom, system.store);
    assert_eq!(system.event_send(system.agent, store), Ok(()));
    assert_eq!(system.event_send(system.agent, store), Ok(()));
    assert_eq!(system.sim.event_sends(dom, store), Some(2));
    assert_eq!(system.shutdown(system.agent, 1), Ok(()));
    assert_eq!(system.sim.shutdown_reason(dom), Some(1), "reboot");
    let agent = system.counters().caller(AGENT).expect("in the table");
    assert_eq!((agent.calls, agent.hypercalls), (3, 3));
}

#[test]
fn the_agents_refusals_and_xens_errno_travel_as_interface_errors() {
    let mut system = system();
    let (dom, console) = (system.dom, system.console);
    let refused = |error| Err(CallError::Interface(error));
    assert_eq!(
        system.event_send(system.agent, console),
        refused(HypercallError::PortNotAllowed),
        "bound in Xen, but not given to the agent"
    );
    assert_eq!(system.sim.event_sends(dom, console), Some(0));
    for reason in [2, 4, 5, u32::MAX] {
        assert_eq!(
            system.shutdown(system.agent, reason),
            refused(HypercallError::BadShutdownReason),
            "reason {reason}"
        );
    }
    assert_eq!(system.sim.shutdown_reason(dom), None);
    assert_eq!(
        system.event_send(system.agent, UNBOUND_PORT),
        refused(HypercallError::XenErrno),
        "Xen's EINVAL for a port it has not bound"
    );
    let send = system.counters().op(HypercallOp::EventSend);
    assert_eq!((send.calls, send.hypercalls, send.xen_errors), (2, 1, 1));
}

#[test]
fn dispatch_refuses_the_agents_ops_to_callers_not_granted_them() {
    let mut system = system();
    let (dom, store) = (system.dom, system.store);
    let denied = Err(CallError::Protocol(ProtocolError::PermissionDenied));
    for caller in [system.server, system.driver] {
        assert_eq!(system.event_send(caller, store), denied);
        assert_eq!(system.shutdown(caller, 0), denied);
    }
    assert_eq!(system.sim.event_sends(dom, store), Some(0));
    assert_eq!(system.sim.shutdown_reason(dom), None);
    assert_eq!(system.counters().protocol_rejections(), 4);
    assert_eq!(system.counters().total().calls, 0, "none became a request");
}
