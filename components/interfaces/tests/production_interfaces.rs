//! The generated Balloon, BalloonControl and Hypercall modules: ids, capabilities, error values
//! and wire layouts are what the IDL says, and every reply body encodes and decodes losslessly.

use ballast_interfaces::support::{InterfaceError, MAX_BODY_BYTES};
use ballast_interfaces::{balloon, balloon_control, hypercall};
use zerocopy::IntoBytes;

#[test]
fn ids_and_capabilities_follow_the_idl() {
    assert_eq!((balloon::INTERFACE_ID, balloon::VERSION), (1, 1));
    assert_eq!(
        (balloon_control::INTERFACE_ID, hypercall::INTERFACE_ID),
        (2, 3)
    );
    assert_eq!(balloon::BalloonOp::AllocUnpopulated as u16, 1);
    assert_eq!(
        balloon::BalloonOp::FreeUnpopulated.capability(),
        "balloon.free"
    );
    assert_eq!(balloon_control::BalloonControlOp::Configure as u16, 3);
    assert_eq!(hypercall::VERSION, 2);
    for op in hypercall::HypercallOp::ALL {
        assert_eq!(op.capability(), format!("xen.{}", op.name()), "{op:?}");
        assert_eq!(hypercall::HypercallOp::ALL[op.index()], op);
    }
    assert_eq!(hypercall::HypercallOp::PopulatePhysmap as u16, 6);
    assert_eq!(hypercall::HypercallOp::EventSend as u16, 7);
    assert_eq!(hypercall::HypercallOp::Shutdown as u16, 8);
    assert_eq!(hypercall::HypercallOp::GrantMap as u16, 9);
    assert_eq!(hypercall::HypercallOp::GrantUnmap as u16, 10);
    assert_eq!(hypercall::HypercallOp::LendNotice as u16, 11);
    assert_eq!(hypercall::HypercallOp::ReturnNotice as u16, 12);
    assert_eq!(hypercall::HypercallOp::try_from(1), Err(1), "retired");
}

#[test]
fn error_enums_are_c_like_from_one_with_a_server_died_variant() {
    for status in 0..=u16::MAX {
        if let Ok(error) = balloon::BalloonError::try_from(status) {
            assert_ne!(status, 0);
            assert_eq!(error.status(), status);
        }
    }
    assert_eq!(
        balloon::BalloonError::SERVER_DIED,
        balloon::BalloonError::ServerRestarted
    );
    assert_eq!(
        balloon_control::BalloonControlError::SERVER_DIED,
        balloon_control::BalloonControlError::ServerRestarted
    );
    assert_eq!(
        hypercall::HypercallError::SERVER_DIED,
        hypercall::HypercallError::ServerRestarted
    );
    assert_eq!(hypercall::HypercallError::try_from(0), Err(0));
    assert_eq!(hypercall::HypercallError::DuplicateFrame as u16, 11, "kept");
    assert_eq!(hypercall::HypercallError::PortNotAllowed as u16, 12);
    assert_eq!(hypercall::HypercallError::BadShutdownReason as u16, 13);
    assert_eq!(hypercall::HypercallError::FrameNotLent as u16, 14);
    assert_eq!(hypercall::HypercallError::BadBorrower as u16, 20);
}

#[test]
fn stats_reply_round_trips_every_field() {
    let stats = balloon_control::StatsReply {
        current: 1,
        target: 2,
        total: 3,
        ballooned_low: 4,
        ballooned_high: 5,
        lent: 6,
        hypercalls: 7,
        schedule_delay_ms: 8,
        retry_count: 9,
        state: balloon_control::BpState::Cancelled,
        policy: balloon_control::Policy::Seed,
        max_target: 12,
        requests_taken: 13,
        requests_answered: 14,
        requests_voided: 15,
        scrubbed: 16,
        scrub_skipped: 17,
    };
    let body = balloon_control::StatsReplyBody::new(&stats);
    assert_eq!(body.as_bytes().len(), MAX_BODY_BYTES, "the reply is full");
    assert_eq!(body.decode(), Some(stats));
    assert_eq!(
        balloon_control::VERSION,
        2,
        "version 2 added the scrub counters"
    );
    let bytes = body.as_bytes();
    // The enums, then padding to 8 bytes, then the request and scrub counters.
    let enums = bytes.len() - 8 - 5 * 8;
    assert_eq!(&bytes[enums..enums + 2], &[4, 2], "enums as their values");
}

#[test]
fn reservation_messages_keep_their_layout() {
    let request = hypercall::DecreaseReservationRequest::new(0x20, 0x7ff0, 9);
    let bytes = request.as_bytes();
    assert_eq!(bytes.len(), 8, "widest first: no padding but the tail");
    assert_eq!(&bytes[..4], &0x20u32.to_ne_bytes());
    assert_eq!(&bytes[4..6], &0x7ff0u16.to_ne_bytes());
    assert_eq!(&bytes[6..], &[9, 0]);
    let reply = hypercall::PopulatePhysmapReply {
        completed: 3,
        anomaly: u64::MAX,
        has_anomaly: true,
    };
    let body = hypercall::PopulatePhysmapReplyBody::new(&reply);
    assert_eq!(body.as_bytes().len(), 24);
    assert_eq!(body.decode(), Some(reply));
}

#[test]
fn the_agents_requests_carry_one_u32_and_reply_with_the_status_alone() {
    let send = hypercall::encode_event_send(0x0102_0304);
    assert_eq!(send.bytes().len(), 12, "the header and the port");
    assert_eq!(&send.bytes()[8..], &0x0102_0304u32.to_ne_bytes());
    let shutdown = hypercall::encode_shutdown(3);
    assert_eq!(&shutdown.bytes()[8..], &3u32.to_ne_bytes());
    assert_eq!(
        hypercall::EventSendRequest::new(7).as_bytes(),
        &7u32.to_ne_bytes()
    );
}

#[test]
fn the_grant_ops_carry_their_arguments_and_a_lease() {
    let map = hypercall::encode_grant_map(0x7ff0);
    assert_eq!(&map.bytes()[8..10], &0x7ff0u16.to_ne_bytes());
    let notice = hypercall::encode_lend_notice(4, 0x10_0000, 256);
    let body = hypercall::LendNoticeRequest::new(4, 0x10_0000, 256);
    assert_eq!(&notice.bytes()[8..], body.as_bytes());
}

#[test]
fn balloon_bodies() {
    let request = balloon::AllocUnpopulatedRequest::new(512, u64::MAX);
    assert_eq!(request.as_bytes().len(), 16);
    let reply = balloon::AllocUnpopulatedReply { runs: 2 };
    assert_eq!(
        balloon::AllocUnpopulatedReplyBody::new(&reply).decode(),
        Some(reply)
    );
    let reconcile = balloon_control::ReconcileReply {
        xen_current: 10,
        drift: 2,
        books_were_high: false,
    };
    let body = balloon_control::ReconcileReplyBody::new(&reconcile);
    assert_eq!(body.decode(), Some(reconcile));
}
