//! Property tests: whatever bytes, lease descriptor and badge a caller sends, the generated
//! dispatch never panics, and every call ends in exactly one of: a reply sent now (success, an
//! interface error, or the typed protocol error dispatch returns), or a responder the server
//! kept (deferred).

mod harness;

use ballast_interfaces::echo::{self, EchoOp};
use ballast_interfaces::support::{ProtocolError, PROTOCOL_STATUS_BASE};
use ballast_ipc::{Badge, LeaseDescriptor};
use harness::echo_demo::EchoDemo;
use harness::{message, status_of, Grants, Loopback};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

const CLIENT: Badge = Badge(7);

fn system() -> Loopback<EchoDemo> {
    let grants = EchoOp::ALL
        .iter()
        .filter(|op| **op != EchoOp::Release)
        .map(|op| (CLIENT, echo::INTERFACE_ID, *op as u16))
        .collect();
    let mut lb = Loopback::new(
        EchoDemo::default(),
        echo::dispatch::<EchoDemo>,
        Grants(grants),
        CLIENT,
    );
    lb.kernel.share(1, CLIENT, 64, true);
    lb.kernel.share(2, CLIENT, 64, false);
    lb
}

fn descriptor() -> impl Strategy<Value = Option<LeaseDescriptor>> {
    proptest::option::of(
        (
            0u16..4,
            0u16..3,
            0u32..80,
            0u32..80,
            prop_oneof![Just(0u32), any::<u32>()],
        )
            .prop_map(
                |(region, writable, offset, len, reserved)| LeaseDescriptor {
                    region,
                    writable,
                    offset,
                    len,
                    reserved,
                },
            ),
    )
}

/// Requests that get past the header checks often: a known interface and version most of the
/// time, small op ids, and a body_len that usually tells the truth.
fn plausible_message() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![4 => Just(echo::INTERFACE_ID), 1 => any::<u16>()],
        prop_oneof![4 => Just(echo::VERSION), 1 => any::<u16>()],
        0u16..8,
        prop_oneof![
            1 => proptest::collection::vec(any::<u8>(), 0..24),
            // The exact sizes of Echo's request bodies.
            2 => prop::sample::select(vec![0usize, 1, 8])
                .prop_flat_map(|len| proptest::collection::vec(0u8..3, len)),
        ],
        prop_oneof![4 => Just(None), 1 => any::<u16>().prop_map(Some)],
    )
        .prop_map(|(interface, version, op, body, lie)| {
            let mut bytes = message(interface, op, version, &body);
            if let Some(len) = lie {
                bytes[6..8].copy_from_slice(&len.to_ne_bytes());
            }
            bytes
        })
}

fn check_one_call(bytes: &[u8], lease: Option<LeaseDescriptor>, badge: Badge) {
    let mut lb = system();
    let waiting_before = lb.server.waiting.len();
    let (token, outcome) = lb.deliver(badge, bytes, lease);
    let reply = lb.kernel.replies.get(&token);
    match outcome {
        Err(error) => {
            let reply = reply.expect("a refused call is answered");
            assert_eq!(status_of(reply), error.status());
            assert_eq!(reply.len(), 8);
            assert_eq!(lb.server.handled, 0);
        }
        Ok(()) => {
            assert_eq!(
                lb.server.handled, 1,
                "an accepted call runs exactly one method"
            );
            match reply {
                Some(reply) => assert!(status_of(reply) < PROTOCOL_STATUS_BASE),
                None => assert_eq!(lb.server.waiting.len(), waiting_before + 1, "deferred"),
            }
        }
    }
    assert!(lb.kernel.reply_log.len() <= 1, "at most one reply per call");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..160),
        lease in descriptor(),
        badge in prop_oneof![Just(CLIENT), any::<u32>().prop_map(Badge)],
    ) {
        check_one_call(&bytes, lease, badge);
    }

    #[test]
    fn plausible_requests_never_panic(
        bytes in plausible_message(),
        lease in descriptor(),
        badge in prop_oneof![4 => Just(CLIENT), 1 => any::<u32>().prop_map(Badge)],
    ) {
        check_one_call(&bytes, lease, badge);
    }
}

#[test]
fn plausible_requests_reach_every_outcome() {
    // The strategy above is only useful if it gets past the checks: make sure a fixed sample of
    // it reaches the server and several distinct protocol errors.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (plausible_message(), descriptor());
    let mut accepted = 0;
    let mut errors = std::collections::HashSet::new();
    for _ in 0..3000 {
        let (bytes, lease) = strategy.new_tree(&mut runner).unwrap().current();
        let mut lb = system();
        match lb.deliver(CLIENT, &bytes, lease).1 {
            Ok(()) => accepted += 1,
            Err(error) => {
                errors.insert(error);
            }
        }
    }
    assert!(accepted > 0);
    for expected in [
        ProtocolError::WrongInterface,
        ProtocolError::WrongVersion,
        ProtocolError::UnknownOp,
        ProtocolError::BodyLength,
        ProtocolError::PermissionDenied,
        ProtocolError::MissingLease,
        ProtocolError::UnexpectedLease,
        ProtocolError::LeaseNotWritable,
        ProtocolError::BadLease,
        ProtocolError::BadArgument,
    ] {
        assert!(errors.contains(&expected), "{expected:?} never reached");
    }
}
