//! What the gateway knows of borrowed frames: the runs the memory server lent to each caller (from
//! its lend and return notices) and the grants mapped in them (from Xen's answers), in fixed
//! tables. This is the ownership rule for grant mapping: a caller maps only into frames lent to
//! it, a frame holds one mapping at a time, and a frame with a mapping neither goes back to the
//! memory server nor is populated or released until unmapped.
//!
//! Why notices from the memory server: the memory server alone decides what it lends, and the
//! gateway must not take its word from the driver. The gateway cannot ask the memory server (it
//! is that server's server: a call back would deadlock), so the memory server tells it, through
//! two ops only it holds, before answering the borrower and before reusing a given-back run. The
//! gateway checks each notice against what it knows for itself: a lent run lies in RAM the memory
//! server owns and overlaps no other loan, a returned run was lent to that borrower and holds no
//! mapping. What it cannot check is that a lent frame is unpopulated; it trusts the memory server
//! there exactly as far as it already does with that RAM (which it may release or repopulate at
//! will): a lie costs the memory server's own pages, never another component's.

use ballast_xen::grant::GrantHandle;
use ballast_xen::{FrameRun, Gfn};
use heapless::Vec;

use crate::GatewayError;

/// Runs lent at once, over every borrower: the assembly checks that the memory server can never
/// lend its grant-mapping clients more (their count times its per-client run limit), so that a
/// lend or return notice never finds the table full.
pub const LENT_RUNS: usize = 128;
/// Grants mapped at once, over every caller: one full batch (a backend's 256 pages).
pub const MAPPED_GRANTS: usize = 256;

/// A run lent to one caller (by its index in the caller table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Loan {
    borrower: usize,
    run: FrameRun,
}

/// A grant mapped by one caller (by its index in the caller table) at one of its borrowed frames:
/// 16 bytes, so that the table stays small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub(crate) gfn: Gfn,
    pub(crate) handle: GrantHandle,
    pub(crate) caller: u16,
}

impl Mapping {
    /// The mapping of `handle` at `gfn` for the caller at table index `caller`, if the index fits
    /// the record (a caller table never holds 65536 callers).
    pub(crate) fn new(caller: usize, gfn: Gfn, handle: GrantHandle) -> Option<Mapping> {
        let caller = u16::try_from(caller).ok()?;
        Some(Mapping {
            gfn,
            handle,
            caller,
        })
    }

    fn of(&self, caller: usize) -> bool {
        usize::from(self.caller) == caller
    }
}

/// The loans and mappings, each table fixed in size.
#[derive(Clone, Debug, Default)]
pub(crate) struct GrantBook {
    loans: Vec<Loan, LENT_RUNS>,
    mappings: Vec<Mapping, MAPPED_GRANTS>,
}

impl GrantBook {
    /// Record that `run` is lent to `borrower`: refused if any of it is lent already, or the
    /// table is full. A run that touches a loan of the same borrower joins it (on both sides), so
    /// that a give-back spanning two loans the memory server made one after the other is one run.
    pub(crate) fn lend(&mut self, borrower: usize, run: FrameRun) -> Result<(), GatewayError> {
        if self.loans.iter().any(|loan| loan.run.overlaps(&run)) {
            return Err(GatewayError::AlreadyLent);
        }
        let mut joined = run;
        while let Some((index, wider)) = self.loans.iter().enumerate().find_map(|(index, loan)| {
            let same_borrower = loan.borrower == borrower;
            let wider = (loan.run.joined(&joined)).or_else(|| joined.joined(&loan.run));
            wider.filter(|_| same_borrower).map(|wider| (index, wider))
        }) {
            self.loans.swap_remove(index);
            joined = wider;
        }
        self.loans
            .push(Loan {
                borrower,
                run: joined,
            })
            .map_err(|_| GatewayError::TooManyGrants)
    }

    /// Record that `run`, lent to `borrower` (all of it inside one loan), came back: refused if it
    /// was not lent to `borrower`, if a grant is mapped in it, or if cutting it out of the middle
    /// of a loan needs a slot the table does not have. Nothing changes on a refusal.
    pub(crate) fn give_back(&mut self, borrower: usize, run: FrameRun) -> Result<(), GatewayError> {
        let index = self
            .loans
            .iter()
            .position(|loan| loan.borrower == borrower && loan.run.contains_run(&run))
            .ok_or(GatewayError::FrameNotLent)?;
        if self
            .mappings
            .iter()
            .any(|mapping| run.contains(mapping.gfn.0))
        {
            return Err(GatewayError::FrameMapped);
        }
        let lent = self.loans[index].run;
        // The loan contains `run` (found above), so neither piece's length goes below zero.
        let before = FrameRun::checked(lent.first, run.start().saturating_sub(lent.start()));
        let after = FrameRun::checked(Gfn(run.end()), lent.end().saturating_sub(run.end()));
        match (before, after) {
            (Some(before), Some(after)) => {
                let rest = Loan {
                    borrower,
                    run: after,
                };
                self.loans
                    .push(rest)
                    .map_err(|_| GatewayError::TooManyGrants)?;
                self.loans[index].run = before;
            }
            (Some(piece), None) | (None, Some(piece)) => self.loans[index].run = piece,
            (None, None) => {
                self.loans.swap_remove(index);
            }
        }
        Ok(())
    }

    /// Whether `gfn` lies in a run lent to `caller`.
    pub(crate) fn lent_to(&self, caller: usize, gfn: Gfn) -> bool {
        (self.loans.iter()).any(|loan| loan.borrower == caller && loan.run.contains(gfn.0))
    }

    /// Whether any run is lent.
    pub(crate) fn lends(&self) -> bool {
        !self.loans.is_empty()
    }

    /// Whether a frame of `run` is lent.
    pub(crate) fn any_lent_in(&self, run: &FrameRun) -> bool {
        (self.loans.iter()).any(|loan| loan.run.overlaps(run))
    }

    /// Whether a grant is mapped at a frame of `run`.
    pub(crate) fn any_mapped_in(&self, run: &FrameRun) -> bool {
        (self.mappings.iter()).any(|mapping| run.contains(mapping.gfn.0))
    }

    /// Mappings the table still has room for.
    pub(crate) fn room(&self) -> usize {
        // The table holds at most MAPPED_GRANTS mappings.
        MAPPED_GRANTS.saturating_sub(self.mappings.len())
    }

    /// Record a mapping Xen made. The gateway checks [`Self::room`] before a batch goes to Xen, so
    /// this fits; should it not, the mapping comes back and the gateway unmaps it at once.
    pub(crate) fn record(&mut self, mapping: Mapping) -> Result<(), Mapping> {
        self.mappings.push(mapping)
    }

    /// The frame `caller`'s mapping `handle` sits at.
    pub(crate) fn mapped_at(&self, caller: usize, handle: GrantHandle) -> Option<Gfn> {
        (self.mappings.iter())
            .find(|mapping| mapping.of(caller) && mapping.handle == handle)
            .map(|mapping| mapping.gfn)
    }

    /// Forget `caller`'s mapping `handle`, once Xen unmapped it.
    pub(crate) fn forget(&mut self, caller: usize, handle: GrantHandle) {
        let found = (self.mappings.iter())
            .position(|mapping| mapping.of(caller) && mapping.handle == handle);
        if let Some(index) = found {
            self.mappings.swap_remove(index);
        }
    }

    /// `caller`'s mappings.
    pub(crate) fn mappings_of(&self, caller: usize) -> impl Iterator<Item = Mapping> + '_ {
        (self.mappings.iter())
            .filter(move |mapping| mapping.of(caller))
            .copied()
    }

    /// Grants mapped now, over every caller.
    pub(crate) fn mapped(&self) -> usize {
        self.mappings.len()
    }

    /// Frames lent now to `caller`.
    pub(crate) fn lent_frames(&self, caller: usize) -> u64 {
        (self.loans.iter())
            .filter(|loan| loan.borrower == caller)
            .map(|loan| loan.run.frames)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(start: u64, frames: u64) -> FrameRun {
        FrameRun::checked(Gfn(start), frames).expect("valid")
    }

    #[test]
    fn a_loan_is_one_borrowers_and_comes_back_in_pieces() {
        let mut book = GrantBook::default();
        assert_eq!(book.lend(1, run(100, 10)), Ok(()));
        assert_eq!(book.lend(2, run(109, 1)), Err(GatewayError::AlreadyLent));
        assert!(book.lent_to(1, Gfn(105)) && !book.lent_to(2, Gfn(105)));
        assert!(!book.lent_to(1, Gfn(110)));
        assert_eq!(
            book.give_back(2, run(100, 1)),
            Err(GatewayError::FrameNotLent)
        );
        assert_eq!(book.give_back(1, run(104, 2)), Ok(()), "from the middle");
        assert_eq!(book.lent_frames(1), 8);
        assert!(!book.lent_to(1, Gfn(104)) && book.lent_to(1, Gfn(106)));
        assert_eq!(book.give_back(1, run(100, 4)), Ok(()));
        assert_eq!(book.give_back(1, run(106, 4)), Ok(()));
        assert_eq!(book.lent_frames(1), 0);
        assert_eq!(
            book.give_back(1, run(106, 1)),
            Err(GatewayError::FrameNotLent)
        );
    }

    #[test]
    fn touching_loans_of_one_borrower_join_and_come_back_as_one_run() {
        let mut book = GrantBook::default();
        book.lend(1, run(100, 4)).expect("lent");
        book.lend(1, run(108, 4)).expect("lent");
        book.lend(2, run(112, 1)).expect("lent");
        book.lend(1, run(104, 4)).expect("lent");
        assert_eq!(book.loans.len(), 2, "100..112 for 1, 112 for 2");
        assert_eq!(book.give_back(1, run(102, 8)), Ok(()));
        assert_eq!(book.lent_frames(1), 4);
        assert!(!book.lent_to(1, Gfn(112)) && book.lent_to(2, Gfn(112)));
    }

    #[test]
    fn a_frame_with_a_mapping_does_not_go_back() {
        let mut book = GrantBook::default();
        book.lend(1, run(100, 4)).expect("lent");
        let mapping = Mapping::new(1, Gfn(102), 7).expect("a small index");
        assert_eq!(book.record(mapping), Ok(()));
        assert_eq!(core::mem::size_of::<Mapping>(), 16);
        assert!(book.any_mapped_in(&run(102, 1)) && !book.any_mapped_in(&run(103, 1)));
        assert_eq!(
            book.give_back(1, run(100, 4)),
            Err(GatewayError::FrameMapped)
        );
        assert_eq!(book.lent_frames(1), 4, "nothing changed");
        assert_eq!(book.mapped_at(1, 7), Some(Gfn(102)));
        assert_eq!(book.mapped_at(2, 7), None, "handles are per caller");
        book.forget(1, 7);
        assert_eq!(book.mapped(), 0);
        assert_eq!(book.give_back(1, run(100, 4)), Ok(()));
    }

    #[test]
    fn full_tables_refuse_without_a_change() {
        let mut book = GrantBook::default();
        for index in 0..LENT_RUNS as u64 {
            book.lend(1, run(index * 10, 5)).expect("room");
        }
        let past = LENT_RUNS as u64 * 10;
        assert_eq!(book.lend(1, run(past, 1)), Err(GatewayError::TooManyGrants));
        assert_eq!(
            book.give_back(1, run(1, 1)),
            Err(GatewayError::TooManyGrants),
            "a cut from the middle needs a slot"
        );
        assert!(book.lent_to(1, Gfn(1)));
        assert_eq!(book.room(), MAPPED_GRANTS);
    }
}
