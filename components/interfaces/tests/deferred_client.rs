//! The generated non-blocking half: per op an encoder and a decoder that neither send nor block,
//! and the deferred client that submits a request and decodes its reply when it has come.

mod harness;

use ballast_interfaces::echo::{
    self, EchoDeferredClient, EchoError, EchoOp, EchoReply, ReleaseReply, WaitReply,
};
use ballast_interfaces::support::{CallError, ProtocolError};
use ballast_ipc::{Badge, EndpointId, IpcError};
use harness::echo_demo::EchoDemo;
use harness::{lease, message, Grants, Loopback};

const CLIENT: Badge = Badge(7);
const OTHER: Badge = Badge(8);
const REGION: u16 = 1;

fn system() -> (Loopback<EchoDemo>, EchoDeferredClient) {
    let grants = [CLIENT, OTHER]
        .iter()
        .flat_map(|badge| {
            EchoOp::ALL
                .iter()
                .map(|op| (*badge, echo::INTERFACE_ID, *op as u16))
        })
        .collect();
    let mut lb = Loopback::new(
        EchoDemo::default(),
        echo::dispatch::<EchoDemo>,
        Grants(grants),
        CLIENT,
    );
    lb.kernel.share(REGION, CLIENT, 16, true);
    (lb, EchoDeferredClient::new(EndpointId(3)))
}

#[test]
fn an_encoded_request_is_the_header_and_the_body() {
    let request = echo::encode_echo(0x0102_0304, true);
    let expected = message(
        echo::INTERFACE_ID,
        EchoOp::Echo as u16,
        echo::VERSION,
        &[4, 3, 2, 1, 1, 0, 0, 0],
    );
    if cfg!(target_endian = "little") {
        assert_eq!(request.bytes(), &expected[..]);
    }
    assert_eq!(request.bytes().len(), 16);
    assert_eq!(
        echo::encode_release().bytes().len(),
        8,
        "no body, header only"
    );
}

#[test]
fn decoders_read_replies_and_refuse_what_is_not_one() {
    let (mut lb, _) = system();
    let request = echo::encode_echo(9, false);
    let (token, _) = lb.deliver(CLIENT, request.bytes(), None);
    let reply = lb.kernel.replies[&token].clone();
    assert_eq!(
        echo::decode_echo(&reply),
        Ok(EchoReply {
            value: 9,
            flag: false
        })
    );
    // A reply body of another size than the op's is malformed (a reply names no op: the caller
    // decodes with the decoder of the op it sent).
    let malformed = CallError::Protocol(ProtocolError::MalformedReply);
    assert_eq!(echo::decode_fill(&reply), Err(malformed));
    assert_eq!(echo::decode_echo(&reply[..7]), Err(malformed));
    let (token, _) = lb.deliver(CLIENT, echo::encode_echo(0xdead, true).bytes(), None);
    assert_eq!(
        echo::decode_echo(&lb.kernel.replies[&token]),
        Err(CallError::Interface(EchoError::Refused))
    );
}

#[test]
fn a_deferred_call_is_decoded_once_its_reply_has_come() {
    let (mut lb, client) = system();
    let pending = client
        .wait(&mut lb, lease(REGION, 0, 2, true))
        .expect("submitted");
    assert!(
        !lb.kernel.replies.contains_key(pending.call()),
        "kept by the server"
    );
    lb.caller = OTHER;
    let release = client.release(&mut lb).expect("submitted");
    let released = &lb.kernel.replies[release.call()];
    assert_eq!(
        release.decode(Ok(released)),
        Ok(ReleaseReply { released: 1 })
    );
    let answer = &lb.kernel.replies[pending.call()];
    assert_eq!(pending.decode(Ok(answer)), Ok(WaitReply { ticket: 1 }));
}

#[test]
fn transport_failures_are_typed() {
    let (mut lb, client) = system();
    let pending = client.echo(&mut lb, 1, true).expect("submitted");
    assert_eq!(
        pending.decode(Err(IpcError::ServerDied)),
        Err(CallError::Interface(EchoError::ServerRestarted))
    );
    assert_eq!(
        pending.decode(Err(IpcError::ReplyTooLong)),
        Err(CallError::Transport(IpcError::ReplyTooLong))
    );
    lb.server_dead = true;
    assert_eq!(
        client.echo(&mut lb, 1, true).map(|_| ()),
        Err(CallError::Interface(EchoError::ServerRestarted))
    );
}
