//! The lent-run table: which unpopulated frames are lent to which client, as sorted,
//! non-overlapping runs in a bounded table, one entry per run granted (runs of separate loans are
//! never joined; giving back part of a run splits it). Runs granted to a deferred request carry
//! its ticket until the reply is delivered.

use heapless::Vec;

use ballast_xen::FrameRun;

/// A client of the memory server, as the glue numbers them from badges (`0..CLIENTS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u16);

/// A deferred allocation, answered later by the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(pub u32);

/// One lent run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LentRun {
    /// The frames.
    pub run: FrameRun,
    /// Their owner.
    pub client: ClientId,
    /// The deferred request they were granted to, until its reply is delivered.
    pub ticket: Option<Ticket>,
}

/// The table is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableFull;

/// Sorted, non-overlapping lent runs, at most `N`.
#[derive(Debug)]
pub struct LentTable<const N: usize> {
    runs: Vec<LentRun, N>,
}

impl<const N: usize> Default for LentTable<N> {
    fn default() -> Self {
        LentTable { runs: Vec::new() }
    }
}

impl<const N: usize> LentTable<N> {
    /// The runs, sorted by frame.
    pub fn iter(&self) -> core::slice::Iter<'_, LentRun> {
        self.runs.iter()
    }

    /// Free entries left.
    pub fn free_slots(&self) -> usize {
        // The table holds at most N runs.
        N.saturating_sub(self.runs.len())
    }

    /// Index of the first run that ends after frame `gfn`.
    pub fn first_ending_after(&self, gfn: u64) -> usize {
        self.runs.partition_point(|r| r.run.end() <= gfn)
    }

    /// The runs that overlap `span`, in order.
    pub fn overlapping(&self, span: FrameRun) -> impl Iterator<Item = &LentRun> {
        self.runs[self.first_ending_after(span.start())..]
            .iter()
            .take_while(move |r| r.run.start() < span.end())
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
    ) -> Result<(), TableFull> {
        let at = self.first_ending_after(run.start());
        self.runs
            .insert(
                at,
                LentRun {
                    run,
                    client,
                    ticket,
                },
            )
            .map_err(|_| TableFull)
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

    /// Remove every lent frame of `span`, splitting a run it falls inside.
    pub fn remove_span(&mut self, span: FrameRun) -> Result<(), TableFull> {
        let mut at = self.first_ending_after(span.start());
        while at < self.runs.len() && self.runs[at].run.start() < span.end() {
            let entry = self.runs[at];
            let head = FrameRun::span(entry.run.start(), span.start().max(entry.run.start()));
            let tail = FrameRun::span(span.end().min(entry.run.end()), entry.run.end());
            match (head.frames > 0, tail.frames > 0) {
                (true, true) => {
                    if self.runs.is_full() {
                        return Err(TableFull);
                    }
                    self.runs[at].run = head;
                    self.runs
                        // `at` indexes a run of the table, so one past it is at most its length.
                        .insert(at.saturating_add(1), LentRun { run: tail, ..entry })
                        .map_err(|_| TableFull)?;
                    return Ok(());
                }
                (true, false) => {
                    self.runs[at].run = head;
                    // Below the table's length (checked by the loop).
                    at = at.saturating_add(1);
                }
                (false, true) => {
                    self.runs[at].run = tail;
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
            let gone = drop(r);
            if gone {
                removed(r);
            }
            !gone
        });
    }

    /// Clear the ticket of every run granted to `ticket` (its reply was delivered).
    pub fn deliver(&mut self, ticket: Ticket) {
        for run in self.runs.iter_mut().filter(|r| r.ticket == Some(ticket)) {
            run.ticket = None;
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
            Err(TableFull)
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
        assert_eq!(table.remove_span(FrameRun::span(30, 40)), Err(TableFull));
        assert_eq!(table.iter().map(|r| r.run.frames).sum::<u64>(), 90);
        table.remove_span(FrameRun::span(5, 25)).unwrap();
        let runs: heapless::Vec<_, 2> = table.iter().map(|r| r.run).collect();
        assert_eq!(&runs[..], &[FrameRun::span(0, 5), FrameRun::span(25, 100)]);
        let mut frames = 0;
        table.remove_where(|r| r.client == ClientId(0), |r| frames += r.run.frames);
        assert_eq!(frames, 80);
        assert_eq!(table.free_slots(), 2);
    }
}
