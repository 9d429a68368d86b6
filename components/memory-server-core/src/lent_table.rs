//! The lent-run table: which unpopulated frames are lent to which client, as sorted,
//! non-overlapping runs in a bounded table, one entry per run granted (runs of separate loans are
//! never joined; giving back part of a run splits it). Runs granted to a deferred request carry
//! its ticket until the reply is delivered. Each entry takes 16 bytes (see [`Packed`]): the table
//! is most of the memory server's fixed state.

use heapless::Vec;

use ballast_xen::{FrameRun, Gfn, GFN_LIMIT};

/// A client of the memory server, as the glue numbers them from badges (`0..CLIENTS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u16);

/// A deferred allocation, answered later by the worker. Tickets start at 1 and skip 0 when they
/// wrap, so 0 is never one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(pub u32);

/// One lent run, as the table hands it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LentRun {
    /// The frames.
    pub run: FrameRun,
    /// Their owner.
    pub client: ClientId,
    /// The deferred request they were granted to, until its reply is delivered.
    pub ticket: Option<Ticket>,
}

/// Why a run was not recorded; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unrecorded {
    /// Every entry is taken.
    TableFull,
    /// The run reaches past [`GFN_LIMIT`], where no managed frame lies, or is all 2^40 frames
    /// below it: its first frame or its count would not fit the entry's 40 bits.
    BeyondGfnLimit,
}

/// Bits of a frame number or a frame count below [`GFN_LIMIT`].
const GFN_BITS: u32 = GFN_LIMIT.trailing_zeros();
const GFN_MASK: u64 = GFN_LIMIT - 1;
/// Where the client, then the ticket's low byte, start in `low`.
const CLIENT_SHIFT: u32 = GFN_BITS;
const TICKET_LOW_SHIFT: u32 = CLIENT_SHIFT + u16::BITS;
/// Bits of the ticket in `low`; the rest go above the count in `high`.
const TICKET_LOW_BITS: u32 = u64::BITS - TICKET_LOW_SHIFT;

/// A [`LentRun`] in 16 bytes where the plain struct takes 32. Managed frames lie below
/// [`GFN_LIMIT`] (2^40), so a run's first frame and its count take 40 bits each; with the client's
/// 16 bits and the ticket's 32 (0 for none) that is 128 bits:
/// `low` = first frame | client << 40 | ticket's low 8 bits << 56,
/// `high` = frame count | ticket's high 24 bits << 40.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Packed {
    low: u64,
    high: u64,
}

impl Packed {
    /// `lent` packed, or `None` when its first frame or its count needs more than 40 bits, or
    /// the run reaches past [`GFN_LIMIT`].
    fn new(lent: LentRun) -> Option<Self> {
        let first = lent.run.start();
        let frames = lent.run.frames;
        let end = first.checked_add(frames);
        if first > GFN_MASK || frames > GFN_MASK || end.is_none_or(|end| end > GFN_LIMIT) {
            return None;
        }
        let ticket = u64::from(lent.ticket.map_or(0, |t| t.0));
        Some(Packed {
            low: first | u64::from(lent.client.0) << CLIENT_SHIFT | ticket << TICKET_LOW_SHIFT,
            high: frames | (ticket >> TICKET_LOW_BITS) << GFN_BITS,
        })
    }

    fn run(self) -> FrameRun {
        FrameRun {
            first: Gfn(self.low & GFN_MASK),
            frames: self.high & GFN_MASK,
        }
    }

    fn unpack(self) -> LentRun {
        // Each shift leaves only the field's own bits, so the casts keep every bit.
        let client = ClientId((self.low >> CLIENT_SHIFT) as u16);
        let ticket = (self.low >> TICKET_LOW_SHIFT) | (self.high >> GFN_BITS) << TICKET_LOW_BITS;
        LentRun {
            run: self.run(),
            client,
            ticket: (ticket != 0).then_some(Ticket(ticket as u32)),
        }
    }

    /// The same entry over `run`, a part of its run (so below the limit too).
    fn with_run(self, run: FrameRun) -> Self {
        Packed {
            low: (self.low & !GFN_MASK) | (run.start() & GFN_MASK),
            high: (self.high & !GFN_MASK) | (run.frames & GFN_MASK),
        }
    }

    /// The same entry with its ticket's bits cleared (no ticket).
    fn without_ticket(self) -> Self {
        Packed {
            low: self.low & !(u64::MAX << TICKET_LOW_SHIFT),
            high: self.high & GFN_MASK,
        }
    }
}

/// Sorted, non-overlapping lent runs, at most `N`.
#[derive(Debug)]
pub struct LentTable<const N: usize> {
    runs: Vec<Packed, N>,
}

impl<const N: usize> Default for LentTable<N> {
    fn default() -> Self {
        LentTable { runs: Vec::new() }
    }
}

impl<const N: usize> LentTable<N> {
    /// The runs, sorted by frame.
    pub fn iter(&self) -> impl Iterator<Item = LentRun> + '_ {
        self.runs.iter().map(|r| r.unpack())
    }

    /// Free entries left.
    pub fn free_slots(&self) -> usize {
        // The table holds at most N runs.
        N.saturating_sub(self.runs.len())
    }

    /// Index of the first run that ends after frame `gfn`.
    pub fn first_ending_after(&self, gfn: u64) -> usize {
        self.runs.partition_point(|r| r.run().end() <= gfn)
    }

    /// The lent frame runs that end after frame `gfn`, in order.
    pub fn runs_ending_after(&self, gfn: u64) -> impl Iterator<Item = FrameRun> + '_ {
        self.runs[self.first_ending_after(gfn)..]
            .iter()
            .map(|r| r.run())
    }

    /// The runs that overlap `span`, in order.
    pub fn overlapping(&self, span: FrameRun) -> impl Iterator<Item = LentRun> + '_ {
        self.runs[self.first_ending_after(span.start())..]
            .iter()
            .take_while(move |r| r.run().start() < span.end())
            .map(|r| r.unpack())
    }

    /// Whether any frame of `span` is lent.
    pub fn any_in(&self, span: FrameRun) -> bool {
        self.overlapping(span).next().is_some()
    }

    /// Record `run` (which must not overlap a lent run) as lent to `client`: an entry of its
    /// own, never joined to the run of another loan beside it, so that giving back a whole loan
    /// frees its entries and never needs a new one.
    pub fn insert(
        &mut self,
        run: FrameRun,
        client: ClientId,
        ticket: Option<Ticket>,
    ) -> Result<(), Unrecorded> {
        let entry = Packed::new(LentRun {
            run,
            client,
            ticket,
        })
        .ok_or(Unrecorded::BeyondGfnLimit)?;
        let at = self.first_ending_after(run.start());
        self.runs
            .insert(at, entry)
            .map_err(|_| Unrecorded::TableFull)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Entries `remove_span` of `span` would add (1 if it falls strictly inside one run).
    pub fn split_cost(&self, span: FrameRun) -> usize {
        self.overlapping(span)
            .any(|r| r.run.start() < span.start() && span.end() < r.run.end()) as usize
    }

    /// Remove every lent frame of `span`, splitting a run it falls inside (the only case that
    /// needs an entry: refused when none is free).
    pub fn remove_span(&mut self, span: FrameRun) -> Result<(), Unrecorded> {
        let mut at = self.first_ending_after(span.start());
        while at < self.runs.len() && self.runs[at].run().start() < span.end() {
            let entry = self.runs[at];
            let run = entry.run();
            let head = FrameRun::span(run.start(), span.start().max(run.start()));
            let tail = FrameRun::span(span.end().min(run.end()), run.end());
            match (head.frames > 0, tail.frames > 0) {
                (true, true) => {
                    if self.runs.is_full() {
                        return Err(Unrecorded::TableFull);
                    }
                    self.runs[at] = entry.with_run(head);
                    self.runs
                        // `at` indexes a run of the table, so one past it is at most its length.
                        .insert(at.saturating_add(1), entry.with_run(tail))
                        .map_err(|_| Unrecorded::TableFull)?;
                    return Ok(());
                }
                (true, false) => {
                    self.runs[at] = entry.with_run(head);
                    // Below the table's length (checked by the loop).
                    at = at.saturating_add(1);
                }
                (false, true) => {
                    self.runs[at] = entry.with_run(tail);
                    return Ok(());
                }
                (false, false) => {
                    self.runs.remove(at);
                }
            }
        }
        Ok(())
    }

    /// Remove every run `drop` selects, calling `removed` for each.
    pub fn remove_where(
        &mut self,
        drop: impl Fn(&LentRun) -> bool,
        mut removed: impl FnMut(&LentRun),
    ) {
        self.runs.retain(|r| {
            let lent = r.unpack();
            let gone = drop(&lent);
            if gone {
                removed(&lent);
            }
            !gone
        });
    }

    /// Clear the ticket of every run granted to `ticket` (its reply was delivered).
    pub fn deliver(&mut self, ticket: Ticket) {
        for entry in self.runs.iter_mut() {
            if entry.unpack().ticket == Some(ticket) {
                *entry = entry.without_ticket();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_grant_keeps_its_own_entry_beside_the_others() {
        let mut table = LentTable::<4>::default();
        table
            .insert(FrameRun::span(10, 20), ClientId(1), None)
            .unwrap();
        table
            .insert(FrameRun::span(30, 40), ClientId(1), None)
            .unwrap();
        table
            .insert(FrameRun::span(20, 30), ClientId(1), None)
            .unwrap();
        let runs: heapless::Vec<_, 4> = table.iter().map(|r| r.run).collect();
        assert_eq!(
            &runs[..],
            &[
                FrameRun::span(10, 20),
                FrameRun::span(20, 30),
                FrameRun::span(30, 40)
            ]
        );
        table
            .insert(FrameRun::span(5, 10), ClientId(2), Some(Ticket(3)))
            .unwrap();
        assert_eq!(
            table.insert(FrameRun::span(40, 50), ClientId(2), None),
            Err(Unrecorded::TableFull)
        );
        assert_eq!(table.len(), 4);
        assert!(table.any_in(FrameRun::span(39, 60)));
        assert!(!table.any_in(FrameRun::span(40, 60)));
        table.remove_span(FrameRun::span(10, 40)).unwrap();
        assert_eq!(table.len(), 1);
        table.deliver(Ticket(3));
        assert!(table.iter().all(|r| r.ticket.is_none()));
    }

    #[test]
    fn removing_the_middle_of_a_run_splits_it() {
        let mut table = LentTable::<2>::default();
        table
            .insert(FrameRun::span(0, 100), ClientId(0), None)
            .unwrap();
        assert_eq!(table.split_cost(FrameRun::span(10, 20)), 1);
        assert_eq!(table.split_cost(FrameRun::span(0, 20)), 0);
        table.remove_span(FrameRun::span(10, 20)).unwrap();
        let runs: heapless::Vec<_, 2> = table.iter().map(|r| r.run).collect();
        assert_eq!(&runs[..], &[FrameRun::span(0, 10), FrameRun::span(20, 100)]);
        assert_eq!(
            table.remove_span(FrameRun::span(30, 40)),
            Err(Unrecorded::TableFull)
        );
        assert_eq!(table.iter().map(|r| r.run.frames).sum::<u64>(), 90);
        table.remove_span(FrameRun::span(5, 25)).unwrap();
        let runs: heapless::Vec<_, 2> = table.iter().map(|r| r.run).collect();
        assert_eq!(&runs[..], &[FrameRun::span(0, 5), FrameRun::span(25, 100)]);
        let mut frames = 0;
        table.remove_where(|r| r.client == ClientId(0), |r| frames += r.run.frames);
        assert_eq!(frames, 80);
        assert_eq!(table.free_slots(), 2);
    }

    #[test]
    fn an_entry_takes_16_bytes_and_gives_back_every_field_at_its_extremes() {
        assert_eq!(core::mem::size_of::<Packed>(), 16);
        let last = GFN_LIMIT - 1;
        for (run, client, ticket) in [
            (
                FrameRun::span(last, GFN_LIMIT),
                u16::MAX,
                Some(Ticket(u32::MAX)),
            ),
            (FrameRun::span(0, last), 0, Some(Ticket(1))),
            (
                FrameRun::span(0x12_3456_789a, 0x12_3456_789b),
                0x8001,
                Some(Ticket(0x0100_0000)),
            ),
            (FrameRun::span(7, 9), 3, Some(Ticket(0xff))),
            (FrameRun::span(7, 9), 3, None),
        ] {
            let lent = LentRun {
                run,
                client: ClientId(client),
                ticket,
            };
            let packed = Packed::new(lent).expect("below the limit");
            assert_eq!(packed.unpack(), lent);
            assert_eq!(packed.without_ticket().unpack().ticket, None);
            let part = FrameRun::span(run.start(), run.start() + 1);
            assert_eq!(
                packed.with_run(part).unpack(),
                LentRun { run: part, ..lent }
            );
        }
    }

    #[test]
    fn a_run_past_the_frame_limit_is_refused_and_changes_nothing() {
        let mut table = LentTable::<2>::default();
        for run in [
            FrameRun::span(GFN_LIMIT, GFN_LIMIT + 1),
            FrameRun::span(GFN_LIMIT - 1, GFN_LIMIT + 1),
            FrameRun::span(0, GFN_LIMIT),
            FrameRun::span(GFN_LIMIT, GFN_LIMIT),
            FrameRun::span(0, u64::MAX),
        ] {
            assert_eq!(
                table.insert(run, ClientId(0), None),
                Err(Unrecorded::BeyondGfnLimit)
            );
        }
        assert_eq!(table.len(), 0);
        table
            .insert(FrameRun::span(0, 4), ClientId(0), None)
            .unwrap();
        table
            .insert(FrameRun::span(4, 8), ClientId(0), None)
            .unwrap();
        assert_eq!(
            table.insert(FrameRun::span(8, 9), ClientId(0), None),
            Err(Unrecorded::TableFull)
        );
        assert_eq!(
            table.remove_span(FrameRun::span(1, 2)),
            Err(Unrecorded::TableFull)
        );
        assert_eq!(table.iter().map(|r| r.run.frames).sum::<u64>(), 8);
    }
}
