//! The demonstration `Echo` server the tests drive through the generated dispatch.

use ballast_interfaces::echo::{
    EchoError, EchoReply, EchoResponder, EchoServer, FillResponder, ReleaseReply, ReleaseResponder,
    SumReply, SumResponder, WaitReply, WaitResponder,
};
use ballast_interfaces::support::{Answer, ReadLease, ReadWriteLease};
use ballast_ipc::{Badge, Sys};

/// `echo` refuses this value with `EchoError::Refused`.
pub const REFUSED_VALUE: u32 = 0xdead;

/// Echoes, sums, fills, and keeps `wait` callers until `release`.
#[derive(Debug, Default)]
pub struct EchoDemo {
    /// Server methods run so far (dispatch must not run one for a refused call).
    pub handled: usize,
    /// Responders of `wait` calls not answered yet, with the caller's badge.
    pub waiting: Vec<(Badge, WaitResponder)>,
    next_ticket: u16,
}

impl EchoServer for EchoDemo {
    fn echo(
        &mut self,
        _sys: &mut dyn Sys,
        _badge: Badge,
        value: u32,
        flag: bool,
        reply: EchoResponder,
    ) -> Answer {
        self.handled += 1;
        if value == REFUSED_VALUE {
            return reply.err(EchoError::Refused).into();
        }
        reply.ok(EchoReply { value, flag }).into()
    }

    fn sum(
        &mut self,
        sys: &mut dyn Sys,
        _badge: Badge,
        bytes: ReadLease,
        reply: SumResponder,
    ) -> Answer {
        self.handled += 1;
        let Ok(bytes) = bytes.bytes(sys) else {
            return reply.err(EchoError::Refused).into();
        };
        let total = bytes.iter().map(|b| u64::from(*b)).sum();
        reply.ok(SumReply { total }).into()
    }

    fn fill(
        &mut self,
        sys: &mut dyn Sys,
        _badge: Badge,
        byte: u8,
        target: ReadWriteLease,
        reply: FillResponder,
    ) -> Answer {
        self.handled += 1;
        let Ok(target) = target.bytes(sys) else {
            return reply.err(EchoError::Refused).into();
        };
        target.fill(byte);
        reply.ok().into()
    }

    fn wait(
        &mut self,
        _sys: &mut dyn Sys,
        badge: Badge,
        _note: ReadWriteLease,
        reply: WaitResponder,
    ) -> Answer {
        self.handled += 1;
        self.waiting.push((badge, reply));
        Answer::Deferred
    }

    fn release(&mut self, sys: &mut dyn Sys, _badge: Badge, reply: ReleaseResponder) -> Answer {
        self.handled += 1;
        let released = self.waiting.len() as u16;
        for (_, waiter) in self.waiting.drain(..) {
            self.next_ticket += 1;
            let ticket = self.next_ticket;
            // The lease stays lent while its caller waits: write the ticket there too. A lease
            // the runtime no longer honours is answered with an error instead.
            let reply = match waiter.lease().bytes(sys) {
                Ok(note) if note.len() >= 2 => {
                    note[..2].copy_from_slice(&ticket.to_ne_bytes());
                    waiter.ok(WaitReply { ticket })
                }
                _ => waiter.err(EchoError::Refused),
            };
            reply.send(sys);
        }
        reply.ok(ReleaseReply { released }).into()
    }
}
