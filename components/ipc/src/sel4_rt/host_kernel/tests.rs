//! The model behaves as seL4 5.0 does where the runtime relies on it: a receive deletes a reply
//! capability left in the caller slot, a reply slot holds one capability and a send on it
//! answers once, a caller's death deletes its saved reply capability, a signal wakes a server
//! waiting on its endpoint with the notification word as the badge.

use std::thread;

use super::*;
use crate::kernel::{Badge, NotificationBits};
use crate::tables::ComponentKind;
use crate::TablesBuilder;

const ABI: Sel4Abi = Sel4Abi {
    endpoint_badge_bit: 1 << 27,
    root_task_badge: (1 << 27) | 0x7ff_ffff,
    client_died_label: 1,
};
const CALL: EndpointId = EndpointId(0);
const SIGNAL: EndpointId = EndpointId(1);
const BITS: NotificationBits = NotificationBits(0b10);

/// A server and two clients, each with a call capability to the server (badges 1 and 2) and the
/// first with a notification capability to it; the server has one reply slot.
fn system<T>(body: impl FnOnce(&HostKernel, Composed) -> T) -> T {
    let mut builder = TablesBuilder::new();
    let server = builder.component("server", ComponentKind::Handler);
    for badge in 1..=2 {
        let client = builder.component("client", ComponentKind::External);
        builder.endpoint(client, server, Badge(badge));
        if badge == 1 {
            builder.notification(client, server, BITS);
        }
    }
    builder.with_tables(|tables| {
        let kernel = HostKernel::new();
        let composed = kernel.compose(tables, ABI, |_| 1);
        body(&kernel, composed)
    })
}

fn request(pd: &mut HostPd, word: u64) -> MessageInfo {
    pd.message_registers()[0] = word;
    MessageInfo {
        label: 0,
        length: 1,
    }
}

#[test]
fn a_receive_deletes_a_reply_capability_that_was_not_saved() {
    system(|kernel, mut composed| {
        let mut server = composed.pds[0].take().expect("the server");
        let mut client = composed.pds[1].take().expect("a client");
        thread::scope(|scope| {
            let caller = scope.spawn(move || {
                let info = request(&mut client, 7);
                client.call(CALL, info)
            });
            let received = server.recv();
            assert_eq!(received.badge, ABI.endpoint_badge(Badge(1)));
            assert_eq!(server.message_registers()[0], 7);
            assert_eq!(server.nb_recv(), Received::default(), "nothing else waits");
            server.reply(MessageInfo::default());
            kernel.stop();
            assert_eq!(
                caller.join().expect("the caller returns"),
                Err(IpcError::ServerDied),
                "never answered: the receive deleted its reply capability"
            );
        });
    });
}

#[test]
fn a_reply_slot_holds_one_capability_and_a_send_on_it_answers_once() {
    system(|_kernel, mut composed| {
        let mut server = composed.pds[0].take().expect("the server");
        let mut first = composed.pds[1].take().expect("a client");
        let mut second = composed.pds[2].take().expect("a client");
        thread::scope(|scope| {
            let first = scope.spawn(move || {
                let info = request(&mut first, 1);
                first.call(CALL, info).map(|info| info.label)
            });
            server.recv();
            assert_eq!(server.save_caller(0), Ok(()));
            let second = scope.spawn(move || {
                let info = request(&mut second, 2);
                second.call(CALL, info).map(|info| info.label)
            });
            server.recv();
            assert_eq!(server.save_caller(0), Err(KernelError::DeleteFirst));
            assert_eq!(server.save_caller(1), Err(KernelError::RangeError));
            let answer = |label| MessageInfo { label, length: 0 };
            server.send_saved(0, answer(10));
            server.send_saved(0, answer(11));
            assert_eq!(
                first.join().expect("answered"),
                Ok(10),
                "once, by the first send"
            );
            server.reply(answer(20));
            assert_eq!(
                second.join().expect("answered"),
                Ok(20),
                "a refused save left the capability in the caller slot"
            );
        });
    });
}

#[test]
fn a_callers_death_deletes_its_saved_reply_capability() {
    system(|_kernel, mut composed| {
        let mut server = composed.pds[0].take().expect("the server");
        let mut doomed = composed.pds[1].take().expect("a client");
        let mut root = composed.root;
        thread::scope(|scope| {
            let dying = scope.spawn(move || {
                let info = request(&mut doomed, 1);
                doomed.call(CALL, info)
            });
            server.recv();
            assert_eq!(server.save_caller(0), Ok(()));
            let reporter = scope.spawn(move || root.kill(ComponentId(1)));
            let report = server.recv();
            assert_eq!(report.badge, ABI.root_task_badge);
            assert_eq!(report.info.label, ABI.client_died_label);
            assert_eq!(server.message_registers()[0], 1, "the dead client's badge");
            server.reply(MessageInfo::default());
            assert_eq!(reporter.join().expect("the root task returns"), 1);
            assert!(dying.join().is_err(), "the dead client never runs again");
            assert_eq!(server.save_caller(0), Ok(()), "the kill emptied the slot");
        });
    });
}

#[test]
fn a_signal_wakes_a_server_waiting_on_its_endpoint_with_the_word_as_badge() {
    system(|_kernel, mut composed| {
        let mut server = composed.pds[0].take().expect("the server");
        let mut client = composed.pds[1].take().expect("a client");
        thread::scope(|scope| {
            let waiting = scope.spawn(move || server.recv());
            client.signal(SIGNAL).expect("may signal");
            assert_eq!(
                waiting.join().expect("woken").badge,
                u64::from(BITS.0),
                "no endpoint bit: a signal"
            );
        });
        assert_eq!(client.signal(CALL), Err(IpcError::NoSuchEndpoint));
    });
}
