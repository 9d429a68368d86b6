//! The bounded queue of deferred allocations: requests that can be met only after the worker
//! has ballooned frames out. Each waits until granted, timed out or its client dies.

use heapless::Vec;

use ballast_xen::Gfn;

use crate::lent_table::{ClientId, Ticket};

/// What a client asks for when it borrows unpopulated frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocRequest {
    /// Frames wanted.
    pub frames: u64,
    /// Every frame must lie below this one (the seed's lowmem requirement, generalised).
    pub below: Option<Gfn>,
    /// Most runs the answer may have (the room in the client's reply lease).
    pub max_runs: usize,
}

/// Where a deferred request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingState {
    /// Not met yet.
    Waiting,
    /// Met: its runs are lent and tagged with the ticket, the reply is due.
    Granted,
    /// Its deadline passed first; the reply is due.
    TimedOut,
}

/// One deferred request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Its ticket.
    pub ticket: Ticket,
    /// Who asked.
    pub client: ClientId,
    /// What was asked.
    pub request: AllocRequest,
    /// When it times out (ns, the caller's clock).
    pub deadline_ns: u64,
    /// Where it stands.
    pub state: PendingState,
}

/// The queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueFull;

/// Deferred requests, oldest first, at most `N`.
#[derive(Debug)]
pub struct PendingQueue<const N: usize> {
    entries: Vec<Pending, N>,
    next_ticket: u32,
}

impl<const N: usize> Default for PendingQueue<N> {
    fn default() -> Self {
        PendingQueue {
            entries: Vec::new(),
            next_ticket: 1,
        }
    }
}

impl<const N: usize> PendingQueue<N> {
    /// Queue a request and hand out its ticket.
    pub fn push(
        &mut self,
        client: ClientId,
        request: AllocRequest,
        deadline_ns: u64,
    ) -> Result<Ticket, QueueFull> {
        if self.entries.is_full() {
            return Err(QueueFull);
        }
        let ticket = Ticket(self.next_ticket);
        self.next_ticket = self.next_ticket.checked_add(1).unwrap_or(1);
        let entry = Pending {
            ticket,
            client,
            request,
            deadline_ns,
            state: PendingState::Waiting,
        };
        self.entries.push(entry).map_err(|_| QueueFull)?;
        Ok(ticket)
    }

    /// The entries, oldest first.
    pub fn iter(&self) -> core::slice::Iter<'_, Pending> {
        self.entries.iter()
    }

    /// The entries, oldest first, for updating their state.
    pub fn iter_mut(&mut self) -> core::slice::IterMut<'_, Pending> {
        self.entries.iter_mut()
    }

    /// Waiting entries.
    pub fn waiting(&self) -> impl Iterator<Item = &Pending> {
        self.entries
            .iter()
            .filter(|p| p.state == PendingState::Waiting)
    }

    /// The earliest deadline of a waiting entry.
    pub fn next_deadline(&self) -> Option<u64> {
        self.waiting().map(|p| p.deadline_ns).min()
    }

    /// The oldest entry whose reply is due, removed from the queue.
    pub fn take_settled(&mut self) -> Option<Pending> {
        let index = self
            .entries
            .iter()
            .position(|p| p.state != PendingState::Waiting)?;
        Some(self.entries.remove(index))
    }

    /// Remove every entry of `client`, calling `removed` for each.
    pub fn remove_client(&mut self, client: ClientId, mut removed: impl FnMut(&Pending)) {
        self.entries.retain(|p| {
            let gone = p.client == client;
            if gone {
                removed(p);
            }
            !gone
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: AllocRequest = AllocRequest {
        frames: 4,
        below: None,
        max_runs: 1,
    };

    #[test]
    fn bounded_fifo_with_fresh_tickets() {
        let mut queue = PendingQueue::<2>::default();
        let a = queue.push(ClientId(0), REQUEST, 10).unwrap();
        let b = queue.push(ClientId(1), REQUEST, 5).unwrap();
        assert_ne!(a, b);
        assert_eq!(queue.push(ClientId(0), REQUEST, 1), Err(QueueFull));
        assert_eq!(queue.next_deadline(), Some(5));
        assert_eq!(queue.take_settled(), None);
        queue
            .iter_mut()
            .for_each(|p| p.state = PendingState::TimedOut);
        assert_eq!(queue.take_settled().map(|p| p.ticket), Some(a));
        let mut gone = 0;
        queue.remove_client(ClientId(1), |_| gone += 1);
        assert_eq!(gone, 1);
        assert_eq!(queue.iter().count(), 0);
    }
}
