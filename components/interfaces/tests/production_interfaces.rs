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
    assert_eq!(
        hypercall::HypercallOp::Reservation.capability(),
        "xen.reservation"
    );
    assert_eq!(
        hypercall::HypercallOp::MaximumReservation.name(),
        "maximum_reservation"
    );
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
        state: 10,
        policy: 11,
    };
    let body = balloon_control::StatsReplyBody::new(&stats);
    assert!(body.as_bytes().len() <= MAX_BODY_BYTES);
    assert_eq!(body.decode(), Some(stats));
}

#[test]
fn reservation_messages_keep_their_layout() {
    let request = hypercall::ReservationRequest::new(1, 9, 0x20, 0x7ff0);
    let bytes = request.as_bytes();
    assert_eq!(bytes.len(), 12);
    assert_eq!(&bytes[..2], &[1, 9]);
    assert_eq!(&bytes[2..4], &[0, 0], "explicit padding");
    assert_eq!(&bytes[4..8], &0x20u32.to_ne_bytes());
    assert_eq!(&bytes[8..10], &0x7ff0u16.to_ne_bytes());
    let reply = hypercall::ReservationReply {
        completed: 3,
        anomaly: u64::MAX,
        has_anomaly: true,
    };
    let body = hypercall::ReservationReplyBody::new(&reply);
    assert_eq!(body.as_bytes().len(), 24);
    assert_eq!(body.decode(), Some(reply));
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
