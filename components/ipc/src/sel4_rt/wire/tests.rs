//! The register layout round-trips every message and lease, refuses malformed heads, and badges
//! read as calls, client deaths and notifications.

use super::*;

const ABI: Sel4Abi = Sel4Abi {
    endpoint_badge_bit: 1 << 27,
    root_task_badge: (1 << 27) | 0x7ff_ffff,
    client_died_label: 1,
};

fn lease() -> LeaseDescriptor {
    LeaseDescriptor {
        region: 3,
        writable: 1,
        offset: 0x1234_5678,
        len: 0x9abc,
        reserved: 0,
    }
}

#[test]
fn messages_of_every_length_and_their_leases_round_trip() {
    let mut registers = [0u64; MESSAGE_REGISTERS];
    for len in 0..=MESSAGE_BYTES {
        let message: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
        for lease in [None, Some(lease())] {
            let info = put(&mut registers, LABEL_CALL, &message, lease.as_ref()).expect("fits");
            assert_eq!(info.length, HEAD_REGISTERS + len.div_ceil(8));
            let mut into = [0u8; MESSAGE_BYTES];
            let (taken, taken_lease) = take(&registers, info, &mut into).expect("well formed");
            assert_eq!(&into[..taken], message.as_slice());
            assert_eq!(taken_lease, lease);
        }
    }
}

#[test]
fn a_message_longer_than_the_limit_is_not_put() {
    let mut registers = [0u64; MESSAGE_REGISTERS];
    let message = [0u8; MESSAGE_BYTES + 1];
    assert_eq!(
        put(&mut registers, LABEL_CALL, &message, None),
        Err(IpcError::MessageTooLong)
    );
}

#[test]
fn malformed_heads_are_refused() {
    let mut registers = [0u64; MESSAGE_REGISTERS];
    let info = put(
        &mut registers,
        LABEL_CALL,
        &[1, 2, 3, 4, 5, 6, 7, 8, 9],
        None,
    )
    .expect("fits");
    let mut into = [0u8; MESSAGE_BYTES];
    let short = MessageInfo {
        length: info.length - 1,
        ..info
    };
    assert_eq!(
        take(&registers, short, &mut into),
        Err(IpcError::MessageTooLong),
        "fewer registers than the length names"
    );
    let headless = MessageInfo { length: 2, ..info };
    assert_eq!(
        take(&registers, headless, &mut into),
        Err(IpcError::MessageTooLong)
    );
    let mut stray = registers;
    stray[0] |= 1 << 40;
    assert_eq!(take(&stray, info, &mut into), Err(IpcError::MessageTooLong));
    let mut long = registers;
    long[0] = (MESSAGE_BYTES + 8) as u64;
    let all = MessageInfo {
        length: MESSAGE_REGISTERS,
        ..info
    };
    assert_eq!(take(&long, all, &mut into), Err(IpcError::MessageTooLong));
}

#[test]
fn a_reply_reads_as_its_bytes_or_the_error_its_label_names() {
    let mut registers = [0u64; MESSAGE_REGISTERS];
    let info = put(&mut registers, LABEL_OK, b"answer", None).expect("fits");
    let mut reply = [0u8; 16];
    assert_eq!(take_reply(&registers, info, &mut reply), Ok(6));
    assert_eq!(&reply[..6], b"answer");
    let mut small = [0u8; 3];
    assert_eq!(
        take_reply(&registers, info, &mut small),
        Err(IpcError::ReplyTooLong)
    );
    for error in [
        IpcError::NoSuchEndpoint,
        IpcError::MessageTooLong,
        IpcError::ReplyTooLong,
        IpcError::BadLease,
        IpcError::WouldBlock,
        IpcError::ServerDied,
    ] {
        assert_eq!(
            take_reply(&registers, error_reply(error), &mut reply),
            Err(error)
        );
    }
    let unknown = MessageInfo {
        label: 77,
        length: 0,
    };
    assert_eq!(
        take_reply(&registers, unknown, &mut reply),
        Err(IpcError::ServerDied)
    );
}

#[test]
fn badges_read_as_calls_deaths_and_notifications() {
    let mut registers = [0u64; MESSAGE_REGISTERS];
    let call = |badge| Received {
        badge,
        info: MessageInfo::default(),
    };
    assert_eq!(arrival(&ABI, call(0), &registers), Arrival::Nothing);
    assert_eq!(
        arrival(&ABI, call(ABI.endpoint_badge(Badge(5))), &registers),
        Arrival::Call(Badge(5))
    );
    assert_eq!(
        arrival(&ABI, call(0b101), &registers),
        Arrival::Notified(NotificationBits(0b101))
    );
    let info = put_client_died(&ABI, Badge(9), &mut registers);
    let died = Received {
        badge: ABI.root_task_badge,
        info,
    };
    assert_eq!(
        arrival(&ABI, died, &registers),
        Arrival::ClientDied(Badge(9))
    );
    let other = Received {
        badge: ABI.root_task_badge,
        info: MessageInfo {
            label: 7,
            length: 1,
        },
    };
    assert_eq!(arrival(&ABI, other, &registers), Arrival::RootMessage);
}

#[test]
fn a_signal_never_raises_the_timer_bit() {
    let registers = [0u64; MESSAGE_REGISTERS];
    let timer_only = Received {
        badge: u64::from(NotificationBits::TIMER.0),
        info: MessageInfo::default(),
    };
    assert_eq!(arrival(&ABI, timer_only, &registers), Arrival::Nothing);
    let mixed = Received {
        badge: u64::from(NotificationBits::TIMER.0 | 2),
        info: MessageInfo::default(),
    };
    assert_eq!(
        arrival(&ABI, mixed, &registers),
        Arrival::Notified(NotificationBits(2))
    );
}
