//! What the deterministic runtime records: every delivery, reply, signal, death and clock jump,
//! in order, so two runs can be compared byte for byte.

use std::fmt::Write as _;

use crate::kernel::{Badge, IpcError};
use crate::tables::ComponentId;

/// An external call, numbered in submission order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u64);

/// One thing that happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEntry {
    /// A driver submitted an external call.
    Submitted {
        call: CallId,
        client: ComponentId,
        server: ComponentId,
        badge: Badge,
    },
    /// A queued call reached its server's handler.
    Delivered {
        step: u64,
        server: ComponentId,
        token: u64,
        badge: Badge,
        message: Vec<u8>,
    },
    /// A handler called another component, which ran inline.
    InlineCall {
        caller: ComponentId,
        server: ComponentId,
        token: u64,
        badge: Badge,
        message: Vec<u8>,
    },
    /// The callee of an inline call kept the token: the caller got `WouldBlock`.
    WouldBlock { server: ComponentId, token: u64 },
    /// A server answered.
    Replied {
        server: ComponentId,
        token: u64,
        outcome: Result<Vec<u8>, IpcError>,
    },
    /// A server answered a token that was void (its caller died, or it was a would-block).
    ReplyDropped { server: ComponentId, token: u64 },
    /// Bits were raised on a component.
    Signalled {
        from: ComponentId,
        to: ComponentId,
        bits: u32,
    },
    /// A handler was given its notification bits.
    Notified {
        step: u64,
        component: ComponentId,
        bits: u32,
    },
    /// A server learned that a client died.
    ClientDied {
        step: u64,
        server: ComponentId,
        badge: Badge,
    },
    /// The simulated clock moved.
    TimeAdvanced { to_ns: u64 },
    /// A component was killed.
    Killed { component: ComponentId },
}

/// The trace as text, one entry a line.
pub(crate) fn render(trace: &[TraceEntry]) -> String {
    let mut text = String::new();
    for entry in trace {
        // Writing to a String cannot fail.
        let _ = writeln!(text, "{entry:?}");
    }
    text
}
