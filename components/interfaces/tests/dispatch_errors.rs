//! Every protocol error path of the generated dispatch (server side) and of the generated
//! client's reply checks: each refused call is answered with its typed protocol error, the
//! server's code never runs, and nothing changes.

mod harness;

use ballast_interfaces::echo::{self, EchoClient, EchoError, EchoOp, EchoRequest, FillRequest};
use ballast_interfaces::support::{CallError, ProtocolError, PROTOCOL_STATUS_BASE};
use ballast_ipc::{
    Badge, EndpointId, IpcError, LeaseAccess, LeaseDescriptor, LeaseId, NotificationBits,
    ReplyToken, Sys, MESSAGE_BYTES,
};
use harness::echo_demo::EchoDemo;
use harness::{body_len_of, lease, message, status_of, Grants, Loopback};
use zerocopy::IntoBytes;

const CLIENT: Badge = Badge(7);
const REGION: u16 = 1;
const READ_ONLY_REGION: u16 = 2;

fn system() -> Loopback<EchoDemo> {
    let grants = EchoOp::ALL
        .iter()
        .map(|op| (CLIENT, echo::INTERFACE_ID, *op as u16))
        .collect();
    let mut lb = Loopback::new(
        EchoDemo::default(),
        echo::dispatch::<EchoDemo>,
        Grants(grants),
        CLIENT,
    );
    lb.kernel.share(REGION, CLIENT, 32, true);
    lb.kernel.share(READ_ONLY_REGION, CLIENT, 32, false);
    lb
}

fn echo_body(flag: u8) -> Vec<u8> {
    let mut body = EchoRequest::new(5, true).as_bytes().to_vec();
    body[4] = flag;
    body
}

/// Delivers one raw call and checks that it was refused with `expected`, answered exactly once
/// with that status and an empty body, without running the server or touching the regions.
fn assert_refused(
    lb: &mut Loopback<EchoDemo>,
    badge: Badge,
    bytes: &[u8],
    lease: Option<LeaseDescriptor>,
    expected: ProtocolError,
) {
    let regions_before: Vec<Vec<u8>> = [REGION, READ_ONLY_REGION]
        .iter()
        .map(|r| lb.kernel.regions[r].bytes.clone())
        .collect();
    let (token, outcome) = lb.deliver(badge, bytes, lease);
    assert_eq!(outcome, Err(expected));
    let reply = &lb.kernel.replies[&token];
    assert_eq!(reply.len(), 8, "header only");
    assert_eq!(status_of(reply), expected.status());
    assert!(status_of(reply) >= PROTOCOL_STATUS_BASE);
    assert_eq!(body_len_of(reply), 0);
    assert_eq!(u16::from_ne_bytes([reply[0], reply[1]]), echo::INTERFACE_ID);
    assert_eq!(u16::from_ne_bytes([reply[4], reply[5]]), echo::VERSION);
    assert_eq!(lb.server.handled, 0, "the server's code must not run");
    assert!(lb.server.waiting.is_empty());
    let regions_after: Vec<Vec<u8>> = [REGION, READ_ONLY_REGION]
        .iter()
        .map(|r| lb.kernel.regions[r].bytes.clone())
        .collect();
    assert_eq!(regions_before, regions_after, "nothing changes");
}

fn echo_message(body: &[u8]) -> Vec<u8> {
    message(echo::INTERFACE_ID, EchoOp::Echo as u16, echo::VERSION, body)
}

#[test]
fn short_message() {
    let mut lb = system();
    for len in 0..8 {
        assert_refused(
            &mut lb,
            CLIENT,
            &echo_message(&[])[..len],
            None,
            ProtocolError::ShortMessage,
        );
    }
}

#[test]
fn oversize_message() {
    let mut lb = system();
    let body = vec![0; MESSAGE_BYTES - 8 + 1];
    assert_refused(
        &mut lb,
        CLIENT,
        &echo_message(&body),
        None,
        ProtocolError::OversizeMessage,
    );
}

#[test]
fn wrong_interface() {
    let mut lb = system();
    let bytes = message(
        echo::INTERFACE_ID + 1,
        EchoOp::Echo as u16,
        echo::VERSION,
        &echo_body(1),
    );
    assert_refused(&mut lb, CLIENT, &bytes, None, ProtocolError::WrongInterface);
}

#[test]
fn wrong_version() {
    let mut lb = system();
    for version in [0, echo::VERSION + 1, u16::MAX] {
        let bytes = message(
            echo::INTERFACE_ID,
            EchoOp::Echo as u16,
            version,
            &echo_body(1),
        );
        assert_refused(&mut lb, CLIENT, &bytes, None, ProtocolError::WrongVersion);
    }
}

#[test]
fn unknown_op() {
    let mut lb = system();
    for op in [0, 6, 0x8001, u16::MAX] {
        let bytes = message(echo::INTERFACE_ID, op, echo::VERSION, &[]);
        assert_refused(&mut lb, CLIENT, &bytes, None, ProtocolError::UnknownOp);
    }
}

#[test]
fn body_length_disagrees_with_the_header() {
    let mut lb = system();
    let mut bytes = echo_message(&echo_body(1));
    bytes[6] += 1;
    assert_refused(&mut lb, CLIENT, &bytes, None, ProtocolError::BodyLength);
}

#[test]
fn body_length_disagrees_with_the_op() {
    let mut lb = system();
    for len in [0, 7, 9, 16] {
        assert_refused(
            &mut lb,
            CLIENT,
            &echo_message(&vec![0; len]),
            None,
            ProtocolError::BodyLength,
        );
    }
    let release_with_body = message(
        echo::INTERFACE_ID,
        EchoOp::Release as u16,
        echo::VERSION,
        &[0],
    );
    assert_refused(
        &mut lb,
        CLIENT,
        &release_with_body,
        None,
        ProtocolError::BodyLength,
    );
}

#[test]
fn missing_capability() {
    let mut lb = system();
    assert_refused(
        &mut lb,
        Badge(8),
        &echo_message(&echo_body(1)),
        None,
        ProtocolError::PermissionDenied,
    );
    // A grant for another op of the same interface is not enough.
    lb.grants.0.retain(|grant| grant.2 != EchoOp::Echo as u16);
    assert_refused(
        &mut lb,
        CLIENT,
        &echo_message(&echo_body(1)),
        None,
        ProtocolError::PermissionDenied,
    );
}

#[test]
fn missing_lease() {
    let mut lb = system();
    let bytes = message(echo::INTERFACE_ID, EchoOp::Sum as u16, echo::VERSION, &[]);
    assert_refused(&mut lb, CLIENT, &bytes, None, ProtocolError::MissingLease);
}

#[test]
fn unexpected_lease() {
    let mut lb = system();
    let desc = Some(lease(REGION, 0, 4, false));
    assert_refused(
        &mut lb,
        CLIENT,
        &echo_message(&echo_body(1)),
        desc,
        ProtocolError::UnexpectedLease,
    );
}

fn fill_message() -> Vec<u8> {
    message(
        echo::INTERFACE_ID,
        EchoOp::Fill as u16,
        echo::VERSION,
        FillRequest::new(9).as_bytes(),
    )
}

#[test]
fn read_only_descriptor_for_a_read_write_lease() {
    let mut lb = system();
    let desc = Some(lease(REGION, 0, 4, false));
    assert_refused(
        &mut lb,
        CLIENT,
        &fill_message(),
        desc,
        ProtocolError::LeaseNotWritable,
    );
}

#[test]
fn malformed_descriptors() {
    let mut lb = system();
    let mut reserved = lease(REGION, 0, 4, true);
    reserved.reserved = 1;
    assert_refused(
        &mut lb,
        CLIENT,
        &fill_message(),
        Some(reserved),
        ProtocolError::BadLease,
    );
    let mut writable_two = lease(REGION, 0, 4, true);
    writable_two.writable = 2;
    assert_refused(
        &mut lb,
        CLIENT,
        &fill_message(),
        Some(writable_two),
        ProtocolError::BadLease,
    );
}

#[test]
fn leases_the_runtime_refuses() {
    let mut lb = system();
    // Not shared with this server at all.
    assert_refused(
        &mut lb,
        CLIENT,
        &fill_message(),
        Some(lease(9, 0, 4, true)),
        ProtocolError::BadLease,
    );
    // Window outside the region, and an offset that overflows.
    assert_refused(
        &mut lb,
        CLIENT,
        &fill_message(),
        Some(lease(REGION, 30, 4, true)),
        ProtocolError::BadLease,
    );
    assert_refused(
        &mut lb,
        CLIENT,
        &fill_message(),
        Some(lease(REGION, u32::MAX, u32::MAX, true)),
        ProtocolError::BadLease,
    );
    // Write access to a region shared read-only.
    assert_refused(
        &mut lb,
        CLIENT,
        &fill_message(),
        Some(lease(READ_ONLY_REGION, 0, 4, true)),
        ProtocolError::BadLease,
    );
    // Another client's region.
    lb.kernel.share(3, Badge(8), 8, true);
    assert_refused(
        &mut lb,
        CLIENT,
        &fill_message(),
        Some(lease(3, 0, 4, true)),
        ProtocolError::BadLease,
    );
}

#[test]
fn bool_argument_other_than_zero_or_one() {
    let mut lb = system();
    for flag in [2, 0x80, 0xff] {
        assert_refused(
            &mut lb,
            CLIENT,
            &echo_message(&echo_body(flag)),
            None,
            ProtocolError::BadArgument,
        );
    }
}

#[test]
fn checks_run_in_the_documented_order() {
    let mut lb = system();
    // Wrong version and unknown op: the version is checked first.
    let bytes = message(echo::INTERFACE_ID, 77, echo::VERSION + 1, &[]);
    assert_refused(&mut lb, CLIENT, &bytes, None, ProtocolError::WrongVersion);
    // Bad body length and no permission: the length is checked first.
    assert_refused(
        &mut lb,
        Badge(8),
        &echo_message(&[0; 3]),
        None,
        ProtocolError::BodyLength,
    );
    // No permission and a missing lease: the permission is checked first.
    let sum = message(echo::INTERFACE_ID, EchoOp::Sum as u16, echo::VERSION, &[]);
    assert_refused(
        &mut lb,
        Badge(8),
        &sum,
        None,
        ProtocolError::PermissionDenied,
    );
    // A bad lease and a bad bool would both fail; the lease is checked first.
    assert_refused(
        &mut lb,
        CLIENT,
        &echo_message(&echo_body(5)),
        Some(lease(REGION, 0, 1, false)),
        ProtocolError::UnexpectedLease,
    );
}

#[test]
fn protocol_statuses_round_trip() {
    for value in 1..=13 {
        let error = ProtocolError::try_from(value).unwrap();
        assert_eq!(ProtocolError::from_status(error.status()), Some(error));
    }
    assert_eq!(ProtocolError::try_from(0), Err(0));
    assert_eq!(ProtocolError::try_from(14), Err(14));
    assert_eq!(ProtocolError::from_status(5), None);
}

/// A kernel that answers every call with fixed bytes, to exercise the client's reply checks.
struct FixedReply(Vec<u8>);

impl LeaseAccess for FixedReply {
    fn lease_bytes(&mut self, _: Badge, _: &LeaseDescriptor) -> Result<&mut [u8], IpcError> {
        Err(IpcError::BadLease)
    }
}

impl Sys for FixedReply {
    fn reply(&mut self, _: ReplyToken, _: &[u8]) {}

    fn call(
        &mut self,
        _: EndpointId,
        _: &[u8],
        _: Option<LeaseDescriptor>,
        reply: &mut [u8],
    ) -> Result<usize, IpcError> {
        let target = reply
            .get_mut(..self.0.len())
            .ok_or(IpcError::ReplyTooLong)?;
        target.copy_from_slice(&self.0);
        Ok(self.0.len())
    }

    fn own_region(&mut self, _: LeaseId) -> Option<&mut [u8]> {
        None
    }

    fn notify(&mut self, _: EndpointId, _: NotificationBits) -> Result<(), IpcError> {
        Ok(())
    }

    fn now_ns(&self) -> u64 {
        0
    }

    fn set_timer(&mut self, _: u64) {}
}

fn reply_bytes(interface: u16, status: u16, version: u16, body: &[u8]) -> Vec<u8> {
    message(interface, status, version, body)
}

fn echo_call(reply: Vec<u8>) -> Result<echo::EchoReply, CallError<EchoError>> {
    EchoClient::new(EndpointId(1)).echo(&mut FixedReply(reply), 5, true)
}

#[test]
fn client_rejects_malformed_replies() {
    let malformed = Err(CallError::Protocol(ProtocolError::MalformedReply));
    let good_body = echo::EchoReplyBody::new(&echo::EchoReply {
        value: 5,
        flag: true,
    });
    let id = echo::INTERFACE_ID;
    let v = echo::VERSION;
    // Shorter than a header.
    assert_eq!(echo_call(vec![0; 5]), malformed);
    // Header body_len disagrees with the bytes.
    let mut lying = reply_bytes(id, 0, v, good_body.as_bytes());
    lying[6] = 3;
    assert_eq!(echo_call(lying), malformed);
    // Success from another interface or version.
    assert_eq!(
        echo_call(reply_bytes(id + 1, 0, v, good_body.as_bytes())),
        malformed
    );
    assert_eq!(
        echo_call(reply_bytes(id, 0, v + 1, good_body.as_bytes())),
        malformed
    );
    // Success with a body of the wrong size.
    assert_eq!(echo_call(reply_bytes(id, 0, v, &[0; 4])), malformed);
    // Success with a bool that is neither 0 nor 1.
    let mut bad_bool = good_body.as_bytes().to_vec();
    bad_bool[4] = 3;
    assert_eq!(echo_call(reply_bytes(id, 0, v, &bad_bool)), malformed);
    // An interface error the enum does not know, or one with a body.
    assert_eq!(echo_call(reply_bytes(id, 77, v, &[])), malformed);
    assert_eq!(echo_call(reply_bytes(id, 1, v, &[0; 8])), malformed);
    // An unknown protocol error.
    assert_eq!(
        echo_call(reply_bytes(id, PROTOCOL_STATUS_BASE | 0x7ff, v, &[])),
        malformed
    );
    // The well-formed ones decode.
    assert_eq!(
        echo_call(reply_bytes(id, 0, v, good_body.as_bytes())),
        Ok(echo::EchoReply {
            value: 5,
            flag: true
        })
    );
    assert_eq!(
        echo_call(reply_bytes(id, 1, v, &[])),
        Err(CallError::Interface(EchoError::Refused))
    );
    assert_eq!(
        echo_call(reply_bytes(
            0,
            ProtocolError::WrongInterface.status(),
            0,
            &[]
        )),
        Err(CallError::Protocol(ProtocolError::WrongInterface))
    );
}

#[test]
fn client_reports_transport_errors() {
    let mut lb = system();
    lb.server_dead = false;
    let client = EchoClient::new(EndpointId(1));
    // The in-test kernel has no endpoint behind its own `call`.
    assert_eq!(
        client.echo(&mut lb.kernel, 1, true),
        Err(CallError::Transport(IpcError::NoSuchEndpoint))
    );
}
