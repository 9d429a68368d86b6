//! The gateway as an IPC server under the deterministic runtime: a memory server (an external
//! component here) lends its frame list and calls, a toolstack agent sends events and shuts the
//! domain down, a driver maps grants into frames the memory server's notice lent it and unmaps
//! them (or dies with them mapped), all through the generated encoders and decoders; the reply
//! carries Xen's answer or the typed error, and dispatch refuses what is not a well-formed call
//! from a permitted caller.

#[allow(
    dead_code,
    reason = "this test crate uses the rig's setup, not its direct-call checks"
)]
mod support;

use ballast_hypercall::{GatewayError, GrantMapEntry, GrantUnmapEntry, GRANT_READONLY};
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
/// The driver's grant entries, shared with the gateway.
const GRANTS: LeaseId = LeaseId(2);
const GRANTS_BYTES: u32 = 4096;

struct System {
    runtime: DeterministicRuntime,
    sim: XenSim,
    dom: DomId,
    /// dom0's side, the one granting domain the drivers may map from.
    other: DomId,
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
        other,
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
    builder
        .region(GRANTS, GRANTS_BYTES, driver)
        .share(GRANTS, gateway, true);
    let composition = builder.build().expect("a valid composition");
    let runtime = DeterministicRuntime::new(composition, vec![(gateway, Box::new(handler))], 7)
        .expect("handlers placed");
    System {
        runtime,
        sim,
        dom,
        other,
        gateway,
        server: (server, server_endpoint),
        driver: (driver, driver_endpoint),
        agent: (agent, agent_endpoint),
        store,
        console,
    }
}

fn lease(len: u32) -> LeaseDescriptor {
    region_lease(LIST, len)
}

fn region_lease(region: LeaseId, len: u32) -> LeaseDescriptor {
    LeaseDescriptor {
        region: region.0,
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

    /// `lend_notice` (or `return_notice`) of `count` frames at `first` for `borrower`, from the
    /// memory server.
    fn notice(
        &mut self,
        lend: bool,
        borrower: ballast_ipc::Badge,
        first: u64,
        count: u64,
    ) -> Result<(), CallError<HypercallError>> {
        if lend {
            let message = hypercall::encode_lend_notice(borrower.0, first, count);
            hypercall::decode_lend_notice(&self.reply(self.server, &message, None))
        } else {
            let message = hypercall::encode_return_notice(borrower.0, first, count);
            hypercall::decode_return_notice(&self.reply(self.server, &message, None))
        }
    }

    /// `grant_map` from `caller` of `entries` (written into the driver's grant region) from
    /// domain `domid`: the answer and the entries as the gateway left them.
    fn grant_map(
        &mut self,
        caller: (ComponentId, EndpointId),
        domid: u16,
        entries: &[GrantMapEntry],
    ) -> (Result<u32, CallError<HypercallError>>, Vec<GrantMapEntry>) {
        let bytes = entries.as_bytes();
        let region = self.runtime.region(GRANTS).expect("the grant region");
        region[..bytes.len()].copy_from_slice(bytes);
        let lease = region_lease(GRANTS, bytes.len() as u32);
        let reply = self.reply(caller, &hypercall::encode_grant_map(domid), Some(lease));
        let answer = hypercall::decode_grant_map(&reply).map(|reply| reply.mapped);
        let region = self.runtime.region(GRANTS).expect("the grant region");
        let back = <[GrantMapEntry]>::ref_from_bytes(&region[..bytes.len()]).expect("entries");
        (answer, back.to_vec())
    }

    /// `grant_unmap` from `caller` of `handles`: the answer and the statuses written back.
    fn grant_unmap(
        &mut self,
        caller: (ComponentId, EndpointId),
        handles: &[u32],
    ) -> (Result<u32, CallError<HypercallError>>, Vec<i32>) {
        let entries: Vec<GrantUnmapEntry> = handles
            .iter()
            .map(|&handle| GrantUnmapEntry { handle, status: 1 })
            .collect();
        let bytes = entries.as_bytes();
        let region = self.runtime.region(GRANTS).expect("the grant region");
        region[..bytes.len()].copy_from_slice(bytes);
        let lease = region_lease(GRANTS, bytes.len() as u32);
        let reply = self.reply(caller, &hypercall::encode_grant_unmap(), Some(lease));
        let answer = hypercall::decode_grant_unmap(&reply).map(|reply| reply.unmapped);
        let region = self.runtime.region(GRANTS).expect("the grant region");
        let back = <[GrantUnmapEntry]>::ref_from_bytes(&region[..bytes.len()]).expect("entries");
        (answer, back.iter().map(|entry| entry.status).collect())
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
    let (status, _) = system.reservation(
        system.server,
        (POPULATE, 0, 0, DOMID_SELF),
        &[0x2000, 0x2001, 0x2002],
    );
    assert_eq!(
        status,
        HypercallError::FramePopulated as u16,
        "0x2001 is populated: Xen would map it afresh and leak the old page"
    );
    assert_eq!(system.sim.leaked_pages(system.dom), Some(0));
    let (status, body) = system.reservation(
        system.server,
        (POPULATE, 0, 0, DOMID_SELF),
        &[0x2000, 0x2002],
    );
    assert_eq!(completed(status, &body).completed, 2);
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

fn interface_error<T>(error: HypercallError) -> Result<T, CallError<HypercallError>> {
    Err(CallError::Interface(error))
}

fn denied<T>() -> Result<T, CallError<HypercallError>> {
    Err(CallError::Protocol(ProtocolError::PermissionDenied))
}

/// dom0's side grants its pages `pages` to the guest, each filled with a word of its own.
fn granted(system: &System, pages: std::ops::Range<u64>, readonly: bool) -> Vec<u32> {
    let other = system.other;
    pages
        .map(|page| {
            system
                .sim
                .write_page(other, page, 0xf00d + page)
                .expect("populated");
            system
                .sim
                .grant_access(other, page, system.dom, readonly)
                .expect("a reference")
        })
        .collect()
}

fn map_entries(refs: &[u32], first_gfn: u64, readonly: bool) -> Vec<GrantMapEntry> {
    (0..)
        .zip(refs)
        .map(|(index, &grant_ref)| GrantMapEntry {
            gfn: first_gfn + index,
            grant_ref,
            flags: if readonly { GRANT_READONLY } else { 0 },
            handle: 0,
            status: 1,
        })
        .collect()
}

#[test]
fn a_driver_maps_and_unmaps_grants_in_borrowed_frames_over_ipc() {
    let mut system = system();
    let dom = system.dom;
    let refs = granted(&system, 0..4, true);
    let granter = system
        .sim
        .grant_mapped_at(dom, 0)
        .map(|(granter, _)| granter);
    assert_eq!(granter, None);
    let first = LENDING.start + 8;
    assert_eq!(system.notice(true, DRIVER, first, 4), Ok(()));
    let other = system.other.0;
    let (answer, entries) =
        system.grant_map(system.driver, other, &map_entries(&refs, first, true));
    assert_eq!(answer, Ok(4));
    assert!(entries.iter().all(|entry| entry.status == 0), "{entries:?}");
    assert_eq!(system.sim.read_granted(dom, first + 2), Some(0xf00d + 2));
    let handles: Vec<u32> = entries.iter().map(|entry| entry.handle).collect();
    let (answer, statuses) = system.grant_unmap(system.driver, &handles);
    assert_eq!((answer, statuses), (Ok(4), vec![0; 4]));
    assert_eq!(system.sim.grant_mappings(dom), 0);
    assert_eq!(system.notice(false, DRIVER, first, 4), Ok(()));
    let driver = system.counters().caller(DRIVER).expect("in the table");
    assert_eq!(
        (driver.calls, driver.hypercalls, driver.grant_entries_done),
        (2, 2, 8)
    );
}

#[test]
fn a_drivers_death_unmaps_its_grants_and_the_frames_go_back() {
    let mut system = system();
    let dom = system.dom;
    let refs = granted(&system, 0..3, false);
    let first = LENDING.start;
    assert_eq!(system.notice(true, DRIVER, first, 3), Ok(()));
    let (answer, _) = system.grant_map(
        system.driver,
        system.other.0,
        &map_entries(&refs, first, false),
    );
    assert_eq!(answer, Ok(3));
    let refused = Err(CallError::Interface(HypercallError::FrameMapped));
    assert_eq!(
        system.notice(false, DRIVER, first, 3),
        refused,
        "still mapped"
    );
    system.runtime.kill(system.driver.0).expect("killed");
    system
        .runtime
        .run_until_idle(100)
        .expect("no invariant to break");
    assert_eq!(
        system.sim.grant_mappings(dom),
        0,
        "unmapped on the driver's death"
    );
    assert_eq!(system.notice(false, DRIVER, first, 3), Ok(()));
}

#[test]
fn grant_refusals_travel_as_interface_errors_and_dispatch_keeps_grants_to_drivers() {
    let mut system = system();
    let dom = system.dom;
    let refs = granted(&system, 0..2, false);
    let entries = map_entries(&refs, LENDING.start, false);
    let (answer, back) = system.grant_map(system.driver, system.other.0 + 1, &entries);
    assert_eq!(
        answer,
        interface_error(HypercallError::DomainNotAllowed),
        "a granter the manifest does not list"
    );
    assert_eq!(back, entries, "the lease is untouched");
    let (answer, back) = system.grant_map(system.driver, system.other.0, &entries);
    assert_eq!(
        answer,
        interface_error(HypercallError::FrameNotLent),
        "nothing lent yet"
    );
    assert_eq!(back, entries, "the lease is untouched");
    assert_eq!(system.notice(true, DRIVER, LENDING.start, 1), Ok(()));
    let (answer, _) = system.grant_map(system.driver, system.other.0, &entries);
    assert_eq!(
        answer,
        interface_error(HypercallError::FrameNotLent),
        "the second frame is not lent"
    );
    let (answer, _) = system.grant_unmap(system.driver, &[5]);
    assert_eq!(answer, interface_error(HypercallError::UnknownHandle));
    assert_eq!(
        system.notice(true, AGENT, LENDING.start + 1, 1),
        interface_error(HypercallError::BadBorrower)
    );
    assert_eq!(
        system.notice(true, DRIVER, LENDING.start, 1),
        interface_error(HypercallError::AlreadyLent)
    );
    for len in [0, 23, 25] {
        let lease = region_lease(GRANTS, len);
        let reply = system.reply(system.driver, &hypercall::encode_grant_map(3), Some(lease));
        let answer = hypercall::decode_grant_map(&reply);
        assert_eq!(
            answer,
            interface_error(HypercallError::BadGrantList),
            "{len} bytes"
        );
    }
    let as_map = |system: &mut System, caller, lease| {
        let reply = system.reply(caller, &hypercall::encode_grant_map(3), lease);
        hypercall::decode_grant_map(&reply).map(|reply| reply.mapped)
    };
    let (server, agent) = (system.server, system.agent);
    assert_eq!(as_map(&mut system, server, Some(lease(24))), denied());
    assert_eq!(as_map(&mut system, agent, None), denied());
    let reply = system.reply(
        system.server,
        &hypercall::encode_grant_unmap(),
        Some(lease(8)),
    );
    assert_eq!(
        hypercall::decode_grant_unmap(&reply).map(|r| r.unmapped),
        denied()
    );
    let message = hypercall::encode_lend_notice(DRIVER.0, LENDING.start + 4, 1);
    let reply = system.reply(system.driver, &message, None);
    assert_eq!(
        hypercall::decode_lend_notice(&reply),
        denied(),
        "a driver lends nothing"
    );
    assert_eq!(system.sim.grant_mappings(dom), 0, "Xen mapped nothing");
    assert_eq!(system.counters().op(HypercallOp::GrantMap).hypercalls, 0);
}
