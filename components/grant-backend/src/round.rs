//! One round of the grant handshake as the backend serves it: borrow, map, check and answer,
//! unmap, give back, each step timed; and the offer's modes that try what must be refused. Every
//! path ends with the grants unmapped and the frames given back, except a refused give-back
//! (said in the answer) and mode `die-mapped`, which leaves both to the backend's death.

use core::fmt::{Debug, Write};

use ballast_balloon_client::FrameLoan;
use ballast_grant_offer::{Answer, Mode, Name, Offer, Outcome, MAX_REFS};
use ballast_interfaces::support::CallError;
use ballast_ipc::Sys;
use heapless::Vec;

use crate::entries::{self, Mapped};
use crate::pages;
use crate::{Backend, GrantedFrames, Served};

/// `what:<the error's name>` (the interface's error variant, or how the call broke).
fn failure<E: Debug>(what: &str, error: &CallError<E>) -> Name {
    let mut name = Name::new();
    let _ = match error {
        CallError::Interface(error) => write!(name, "{what}:{error:?}"),
        CallError::Protocol(_) => write!(name, "{what}:Protocol"),
        CallError::Transport(_) => write!(name, "{what}:Transport"),
    };
    name
}

/// A name from plain text (the names used here are short and have no space).
fn named(text: &str) -> Name {
    let mut name = Name::new();
    let _ = name.push_str(text);
    name
}

/// The answer being built and the clock of the step being timed.
struct Round {
    answer: Answer,
    step_ns: u64,
}

impl Round {
    fn new(offer: &Offer, now_ns: u64) -> Round {
        Round {
            answer: Answer::before_any_step(offer.round, offer.refs.len() as u32, Outcome::Ok),
            step_ns: now_ns,
        }
    }

    /// Microseconds since the last step ended, and start the next.
    fn lap(&mut self, sys: &dyn Sys) -> u64 {
        let now = sys.now_ns();
        let micros = now.saturating_sub(self.step_ns) / 1000;
        self.step_ns = now;
        micros
    }

    fn answered(mut self, outcome: Outcome) -> Served {
        self.answer.outcome = outcome;
        Served::Answered(self.answer)
    }
}

impl Backend {
    /// Serve `offer`: borrow its number of frames, map its grants into them, check and answer
    /// the pages through `frames`, unmap, give the frames back. See the module for the modes.
    pub fn serve(
        &self,
        sys: &mut dyn Sys,
        frames: &mut dyn GrantedFrames,
        offer: &Offer,
    ) -> Served {
        let mut round = Round::new(offer, sys.now_ns());
        let loan = match self.balloon.borrow(sys, offer.refs.len() as u64, u64::MAX) {
            Ok(loan) => loan,
            Err(error) => return round.answered(Outcome::Error(failure("borrow", &error))),
        };
        round.answer.borrow_us = round.lap(sys);
        let gfns: Vec<u64, MAX_REFS> = loan.gfns().take(MAX_REFS).collect();
        let mut targets = gfns.clone();
        if offer.mode == Mode::UnlentFrame {
            // The frame just past the loan: not lent to this backend.
            if let Some(first) = targets.first_mut() {
                // Frame 0 (reserved, never lent) if the loan ends at the last frame number.
                *first = (gfns.iter().max())
                    .and_then(|last| last.checked_add(1))
                    .unwrap_or(0);
            }
        }
        let mapped = match self.map(sys, offer, &targets) {
            Ok(mapped) => mapped,
            Err(outcome) => {
                return match self.give_back(sys, loan) {
                    Ok(()) => round.answered(outcome),
                    Err(error) => round.answered(Outcome::Error(error)),
                };
            }
        };
        round.answer.map_us = round.lap(sys);
        round.answer.mapped = mapped.iter().filter(|entry| entry.status == 0).count() as u32;
        let failed = (0u32..).zip(&mapped).find(|(_, entry)| entry.status != 0);
        if let Some((index, entry)) = failed {
            let outcome = Outcome::GrantStatus {
                index,
                status: i16::try_from(entry.status).unwrap_or(i16::MIN),
            };
            return self.finish(sys, round, loan, &mapped, outcome);
        }
        if offer.mode == Mode::UnlentFrame {
            let outcome = Outcome::Error(named("UnlentFrameMapped"));
            return self.finish(sys, round, loan, &mapped, outcome);
        }
        if offer.mode == Mode::DieMapped {
            // The loan stays lent: the backend's death is what gives it back.
            return Served::HoldingGrants {
                round: offer.round,
                loan,
            };
        }
        let (checked, pages) = pages::check_and_answer(frames, offer.round, &gfns);
        round.answer.checked = checked;
        round.answer.check_us = round.lap(sys);
        let mut outcome = match pages {
            Ok(()) => Outcome::Ok,
            Err(error) => Outcome::Error(named(error.name())),
        };
        let loan = if offer.mode == Mode::GiveBackMapped {
            match self.balloon.give_back(sys, loan) {
                Err((loan, CallError::Interface(error))) => {
                    outcome = Outcome::GiveBackRefused(failure_name(error));
                    loan
                }
                Err((loan, error)) => {
                    outcome = Outcome::Error(failure("give_back_mapped", &error));
                    loan
                }
                Ok(()) => {
                    // The server took frames back with grants mapped: the protection failed.
                    let unmapped = self.unmap(sys, &mapped);
                    round.answer.unmap_us = round.lap(sys);
                    let what = unmapped
                        .err()
                        .unwrap_or_else(|| named("GiveBackWhileMapped"));
                    return round.answered(Outcome::Error(what));
                }
            }
        } else {
            loan
        };
        self.finish(sys, round, loan, &mapped, outcome)
    }

    /// Map the grants of `offer` at `targets` in one batch: Xen's answer per entry, or the
    /// outcome of a refusal.
    fn map(
        &self,
        sys: &mut dyn Sys,
        offer: &Offer,
        targets: &[u64],
    ) -> Result<Vec<Mapped, MAX_REFS>, Outcome> {
        let batch = targets.iter().copied().zip(offer.refs.iter().copied());
        let lease = entries::write_map(sys, self.grants, batch)
            .ok_or_else(|| Outcome::Error(named("GrantRegionTooSmall")))?;
        match self.xen.grant_map(sys, offer.granter, lease) {
            Ok(_) => entries::read_map(sys, self.grants, targets.len())
                .ok_or_else(|| Outcome::Error(named("GrantRegionTooSmall"))),
            Err(CallError::Interface(error)) => Err(Outcome::Refused(failure_name(error))),
            Err(error) => Err(Outcome::Error(failure("grant_map", &error))),
        }
    }

    /// Unmap what mapped (one batch), give the loan back, and answer with `outcome` unless a
    /// step of the clean-up failed.
    fn finish(
        &self,
        sys: &mut dyn Sys,
        mut round: Round,
        loan: FrameLoan,
        mapped: &[Mapped],
        outcome: Outcome,
    ) -> Served {
        if let Err(error) = self.unmap(sys, mapped) {
            // The frames keep a mapping: they must not go back.
            let _kept: FrameLoan = loan;
            return round.answered(Outcome::Error(error));
        }
        round.answer.unmap_us = round.lap(sys);
        if let Err(error) = self.give_back(sys, loan) {
            return round.answered(Outcome::Error(error));
        }
        round.answer.give_back_us = round.lap(sys);
        round.answered(outcome)
    }

    /// Unmap every entry that mapped, in one batch.
    fn unmap(&self, sys: &mut dyn Sys, mapped: &[Mapped]) -> Result<(), Name> {
        let handles: Vec<u32, MAX_REFS> = mapped
            .iter()
            .filter(|entry| entry.status == 0)
            .map(|entry| entry.handle)
            .collect();
        if handles.is_empty() {
            return Ok(());
        }
        let lease = entries::write_unmap(sys, self.grants, handles.iter().copied())
            .ok_or_else(|| named("GrantRegionTooSmall"))?;
        self.xen
            .grant_unmap(sys, lease)
            .map_err(|error| failure("grant_unmap", &error))?;
        let statuses = entries::unmap_statuses(sys, self.grants, handles.len())
            .ok_or_else(|| named("GrantRegionTooSmall"))?;
        match statuses.into_iter().find(|&status| status != 0) {
            None => Ok(()),
            Some(status) => {
                let mut name = Name::new();
                let _ = write!(name, "grant_unmap:status{status}");
                Err(name)
            }
        }
    }

    fn give_back(&self, sys: &mut dyn Sys, loan: FrameLoan) -> Result<(), Name> {
        self.balloon
            .give_back(sys, loan)
            .map_err(|(_still_lent, error)| failure("give_back", &error))
    }
}

/// An interface error's name, as the IDL spells it.
fn failure_name<E: Debug>(error: E) -> Name {
    let mut name = Name::new();
    let _ = write!(name, "{error:?}");
    name
}
