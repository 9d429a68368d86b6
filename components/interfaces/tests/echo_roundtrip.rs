//! The demo `Echo` interface end to end: typed client stub -> in-test kernel -> generated
//! dispatch -> demo server -> typed reply, including leases, interface errors, deferred
//! replies and a server that died.

mod harness;

use ballast_interfaces::echo::{self, EchoClient, EchoError, EchoOp, EchoReply, SumReply};
use ballast_interfaces::support::{CallError, ProtocolError};
use ballast_ipc::{Badge, EndpointId, IpcError};
use harness::echo_demo::{EchoDemo, REFUSED_VALUE};
use harness::{lease, message, status_of, Grants, Interleaved, Loopback};

const CLIENT: Badge = Badge(7);
const OTHER: Badge = Badge(8);
const CLIENT_REGION: u16 = 1;

fn all_ops(badge: Badge) -> Vec<(Badge, u16, u16)> {
    EchoOp::ALL
        .iter()
        .map(|op| (badge, echo::INTERFACE_ID, *op as u16))
        .collect()
}

fn system() -> (Loopback<EchoDemo>, EchoClient) {
    let mut grants = all_ops(CLIENT);
    grants.extend(all_ops(OTHER));
    let mut lb = Loopback::new(
        EchoDemo::default(),
        echo::dispatch::<EchoDemo>,
        Grants(grants),
        CLIENT,
    );
    lb.kernel.share(CLIENT_REGION, CLIENT, 64, true);
    (lb, EchoClient::new(EndpointId(3)))
}

#[test]
fn echo_returns_the_arguments() {
    let (mut lb, client) = system();
    assert_eq!(
        client.echo(&mut lb, 42, true),
        Ok(EchoReply {
            value: 42,
            flag: true
        })
    );
    assert_eq!(
        client.echo(&mut lb, u32::MAX, false),
        Ok(EchoReply {
            value: u32::MAX,
            flag: false
        })
    );
    assert_eq!(lb.server.handled, 2);
}

#[test]
fn interface_errors_reach_the_client_typed() {
    let (mut lb, client) = system();
    assert_eq!(
        client.echo(&mut lb, REFUSED_VALUE, true),
        Err(CallError::Interface(EchoError::Refused))
    );
}

#[test]
fn read_lease_bytes_reach_the_server() {
    let (mut lb, client) = system();
    let region = lb.kernel.regions.get_mut(&CLIENT_REGION).unwrap();
    region.bytes[10..14].copy_from_slice(&[1, 2, 3, 250]);
    let total = client.sum(&mut lb, lease(CLIENT_REGION, 8, 8, false));
    assert_eq!(total, Ok(SumReply { total: 256 }));
}

#[test]
fn read_write_lease_is_written_in_place() {
    let (mut lb, client) = system();
    assert_eq!(
        client.fill(&mut lb, 0xab, lease(CLIENT_REGION, 4, 3, true)),
        Ok(())
    );
    let bytes = &lb.kernel.regions[&CLIENT_REGION].bytes;
    assert_eq!(&bytes[3..8], &[0, 0xab, 0xab, 0xab, 0]);
}

#[test]
fn missing_capability_is_a_protocol_error_for_the_client() {
    let (mut lb, client) = system();
    lb.caller = Badge(99);
    assert_eq!(
        client.echo(&mut lb, 1, true),
        Err(CallError::Protocol(ProtocolError::PermissionDenied))
    );
    assert_eq!(lb.server.handled, 0);
}

#[test]
fn a_dead_server_shows_as_the_server_died_variant() {
    let (mut lb, client) = system();
    lb.server_dead = true;
    assert_eq!(
        client.echo(&mut lb, 1, true),
        Err(CallError::Interface(EchoError::ServerRestarted))
    );
}

#[test]
fn deferred_reply_arrives_when_another_client_releases_it() {
    let (mut lb, client) = system();
    // While CLIENT waits, OTHER calls `release`, which answers CLIENT's kept responder.
    lb.interleaved.push_back(Interleaved {
        badge: OTHER,
        message: message(
            echo::INTERFACE_ID,
            EchoOp::Release as u16,
            echo::VERSION,
            &[],
        ),
        lease: None,
    });
    let ticket = client
        .wait(&mut lb, lease(CLIENT_REGION, 6, 2, true))
        .expect("released");
    assert_eq!(ticket.ticket, 1);
    assert!(lb.server.waiting.is_empty());
    // The server reached the waiter's lease again when it answered.
    assert_eq!(
        &lb.kernel.regions[&CLIENT_REGION].bytes[6..8],
        &1u16.to_ne_bytes()
    );
    // OTHER's own reply says one waiter was released.
    let (_, other_reply) = lb.kernel.reply_log.last().unwrap();
    assert_eq!(status_of(other_reply), 0);
    assert_eq!(&other_reply[8..10], &1u16.to_ne_bytes());
}

#[test]
fn a_deferred_call_stays_pending_until_answered() {
    let (mut lb, client) = system();
    assert_eq!(
        client.wait(&mut lb, lease(CLIENT_REGION, 6, 2, true)),
        Err(CallError::Transport(IpcError::WouldBlock))
    );
    assert_eq!(lb.server.waiting.len(), 1);
    assert!(lb.kernel.reply_log.is_empty(), "nothing answered yet");
    lb.caller = OTHER;
    assert_eq!(client.release(&mut lb).map(|r| r.released), Ok(1));
    // The first reply sent is the deferred one, to the first token.
    let (token, deferred) = &lb.kernel.reply_log[0];
    assert_eq!(*token, 1);
    assert_eq!(status_of(deferred), 0);
    assert_eq!(&deferred[8..10], &1u16.to_ne_bytes());
}

#[test]
fn a_kept_responder_can_answer_with_an_error() {
    let (mut lb, client) = system();
    assert_eq!(
        client.wait(&mut lb, lease(CLIENT_REGION, 6, 2, true)),
        Err(CallError::Transport(IpcError::WouldBlock))
    );
    let (badge, responder) = lb.server.waiting.pop().unwrap();
    assert_eq!(badge, CLIENT);
    let reply = responder.err(EchoError::Refused);
    assert_eq!(reply.status(), EchoError::Refused as u16);
    reply.send(&mut lb.kernel);
    assert_eq!(status_of(&lb.kernel.replies[&1]), 1);
}

#[test]
fn a_lease_withdrawn_while_waiting_is_not_reachable_later() {
    let (mut lb, client) = system();
    assert_eq!(
        client.wait(&mut lb, lease(CLIENT_REGION, 0, 2, true)),
        Err(CallError::Transport(IpcError::WouldBlock))
    );
    let (_, responder) = &lb.server.waiting[0];
    assert_eq!(
        responder.lease().descriptor(),
        lease(CLIENT_REGION, 0, 2, true)
    );
    assert_eq!(responder.lease().len(), 2);
    // The region is no longer shared (say its owner was torn down).
    lb.kernel.regions.remove(&CLIENT_REGION);
    lb.caller = OTHER;
    assert_eq!(client.release(&mut lb).map(|r| r.released), Ok(1));
    let (token, deferred) = &lb.kernel.reply_log[0];
    assert_eq!(
        (*token, status_of(deferred)),
        (1, EchoError::Refused as u16)
    );
}
