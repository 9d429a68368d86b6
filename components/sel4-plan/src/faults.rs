//! Faults and client death: how the root task learns which PD faulted, and how it tells the
//! servers that PD called.
//!
//! Every PD's fault endpoint capability is badged with its [`fault_badge`]; the kernel sends a
//! fault message through it and the root task, receiving on the unbadged original, reads the
//! badge to name the PD. It then calls the endpoint of every server the dead PD held a call
//! capability to, through a capability badged [`ROOT_TASK_BADGE`], with a [`ClientDied`] message
//! naming the badge the dead PD's calls carried there; the server's runtime turns it into
//! `Handler::client_died` and answers with an empty message, label 0.
//!
//! Every endpoint capability's badge carries [`ENDPOINT_BADGE_BIT`], and no notification badge
//! does: a server waits on its endpoint with its notification bound to its thread, and a receive
//! hands over either a caller's badge or the notification word in the same register, so the bit
//! tells a message from a signal. A client's capability carries [`endpoint_badge`] of its
//! composition badge.
//!
//! A server that dies holding calls leaves its callers blocked (seL4 5.0 without MCS cannot abort
//! a call); the root task restarts its thread with [`LAST_RITES`] so that it answers them, and
//! every later call, [`SERVER_DIED_LABEL`].
//!
//! seL4 5.0 fact: an endpoint capability's badge has 28 bits (a wider one cannot be minted), so
//! every endpoint badge of the plan, the root task's included, lies below [`BADGE_LIMIT`].

use ballast_ipc::sel4_rt::Sel4Abi;
use ballast_ipc::{Badge, IpcError, NotificationBits};

/// Endpoint badges are below this (28 bits in seL4 5.0).
pub const BADGE_LIMIT: u64 = 1 << 28;

/// The bit every endpoint capability's badge carries (the top one of 28).
pub const ENDPOINT_BADGE_BIT: u64 = BADGE_LIMIT >> 1;

/// The badge of the root task's capability to every server's endpoint: the endpoint bit over
/// every lower bit set, above every client's (the plan refuses a composition that reaches it).
pub const ROOT_TASK_BADGE: u64 = BADGE_LIMIT - 1;

/// The largest composition badge a client's capability can carry beside the root task's.
pub const MAX_CLIENT_BADGE: u32 = (ROOT_TASK_BADGE & !ENDPOINT_BADGE_BIT) as u32 - 1;

const _: () = assert!(ROOT_TASK_BADGE < BADGE_LIMIT && ROOT_TASK_BADGE & ENDPOINT_BADGE_BIT != 0);
// The bits a composition may give a notification (ipc's one rule) lie wholly below the endpoint
// bit, so a server tells a signal from a call by that bit alone.
const _: () = assert!(ENDPOINT_BADGE_BIT == NotificationBits::ASSIGNABLE.0 as u64 + 1);

/// The badge the root task mints on a client's capability to a server whose calls carry the
/// composition badge `badge` (at most [`MAX_CLIENT_BADGE`]).
pub const fn endpoint_badge(badge: Badge) -> u64 {
    ENDPOINT_BADGE_BIT | badge.0 as u64
}

/// The message label of a [`ClientDied`] message.
pub const CLIENT_DIED_LABEL: u64 = 0xdead;

/// What the root task puts in x0 when it restarts a dead server's thread at its entry: not a
/// boot-info address (those are page aligned), so the PD does not start again but answers every
/// call it held, in hand or saved, with [`SERVER_DIED_LABEL`], and every later call the same way. seL4 5.0
/// without MCS gives the root task no other way to fail a call whose callee is gone: the reply
/// capabilities sit in the dead thread's caller slot and CNode, and only that thread can use the
/// first.
pub const LAST_RITES: u64 = 0x1a57_0001;

/// The label of the answer a dead server's last rites give each call it held: the code of
/// `IpcError::ServerDied`, which the caller's runtime returns and generated clients turn into
/// their interface's `ServerRestarted`.
pub const SERVER_DIED_LABEL: u64 = IpcError::ServerDied as u64;

/// The conventions above as the seL4 runtime takes them (it cannot depend on the plan, which is
/// built over its crate).
pub const SEL4_ABI: Sel4Abi = Sel4Abi {
    endpoint_badge_bit: ENDPOINT_BADGE_BIT,
    root_task_badge: ROOT_TASK_BADGE,
    client_died_label: CLIENT_DIED_LABEL,
};

/// The badge of component `component`'s fault endpoint capability: its id plus one (a badge of 0
/// would leave the capability unbadged).
pub const fn fault_badge(component: u16) -> u64 {
    component as u64 + 1
}

/// The component whose fault arrived with `badge`, if it names one (not 0, and below
/// `components`).
pub const fn faulted_component(badge: u64, components: usize) -> Option<u16> {
    if badge == 0 || badge > components as u64 {
        None
    } else {
        Some((badge - 1) as u16)
    }
}

/// "The client whose calls carried `badge` has died": the root task's message to a server,
/// one message register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientDied {
    /// The badge the dead client's calls carried at this server.
    pub badge: Badge,
}

impl ClientDied {
    /// Message registers the message fills.
    pub const WORDS: usize = 1;

    /// Its label and message registers.
    pub const fn encode(&self) -> (u64, [u64; ClientDied::WORDS]) {
        (CLIENT_DIED_LABEL, [self.badge.0 as u64])
    }

    /// The message with `label` and message register `word`, if it is one (a badge wider than a
    /// ballast badge is not).
    pub const fn decode(label: u64, word: u64) -> Option<ClientDied> {
        if label != CLIENT_DIED_LABEL || word > u32::MAX as u64 {
            return None;
        }
        Some(ClientDied {
            badge: Badge(word as u32),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_badges_name_components_and_zero_names_none() {
        assert_eq!(fault_badge(0), 1);
        assert_eq!(faulted_component(fault_badge(0), 4), Some(0));
        assert_eq!(faulted_component(fault_badge(3), 4), Some(3));
        assert_eq!(faulted_component(fault_badge(4), 4), None);
        assert_eq!(faulted_component(0, 4), None);
    }

    #[test]
    fn endpoint_badges_carry_the_endpoint_bit_and_stay_apart_from_the_root_task() {
        let highest = endpoint_badge(Badge(MAX_CLIENT_BADGE));
        assert!(highest < ROOT_TASK_BADGE);
        assert_eq!(highest & ENDPOINT_BADGE_BIT, ENDPOINT_BADGE_BIT);
        assert_eq!(endpoint_badge(Badge(1)), ENDPOINT_BADGE_BIT | 1);
    }

    #[test]
    fn the_runtime_reads_the_plans_badges_and_client_died_message_as_the_root_task_sends_them() {
        use ballast_ipc::sel4_rt::wire::{arrival, Arrival};
        use ballast_ipc::sel4_rt::{MessageInfo, Received};
        let call = Received {
            badge: endpoint_badge(Badge(2)),
            info: MessageInfo {
                label: 0,
                length: 0,
            },
        };
        assert_eq!(arrival(&SEL4_ABI, call, &[]), Arrival::Call(Badge(2)));
        let (label, words) = ClientDied { badge: Badge(3) }.encode();
        let died = Received {
            badge: ROOT_TASK_BADGE,
            info: MessageInfo {
                label,
                length: ClientDied::WORDS,
            },
        };
        assert_eq!(
            arrival(&SEL4_ABI, died, &words),
            Arrival::ClientDied(Badge(3))
        );
    }

    #[test]
    fn client_died_round_trips_and_refuses_other_messages() {
        let died = ClientDied { badge: Badge(3) };
        let (label, [word]) = died.encode();
        assert_eq!(ClientDied::decode(label, word), Some(died));
        assert_eq!(ClientDied::decode(0, word), None);
        assert_eq!(ClientDied::decode(label, u64::from(u32::MAX) + 1), None);
    }
}
