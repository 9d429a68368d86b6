//! The worker's outcome states and retry schedule, with the seed's meaning: the delay starts at
//! 1 s, doubles after each failed batch up to `max_schedule_delay`, and resets on success;
//! `retry_count` past a nonzero `max_retry_count` cancels the operation. The schedule also holds
//! the worker back: until the retry time after a failure, or after a cancellation until
//! something new happens.

use crate::config::Tunables;

/// The outcome of one worker step (the seed's `enum bp_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BpState {
    /// Done, or nothing to do (`BP_DONE`). Run again at once if the credit is not zero.
    Done = 1,
    /// Waiting for something outside the worker: a client to give frames back, a deadline
    /// (`BP_WAIT`).
    Wait = 2,
    /// The batch failed; try again after the retry delay (`BP_EAGAIN`).
    EAgain = 3,
    /// Too many failures in a row; stop until the next target (`BP_ECANCELED`).
    Cancelled = 4,
}

const NS_PER_S: u64 = 1_000_000_000;

/// What holds the worker back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    /// Nothing: the next step runs a batch.
    Free,
    /// A batch failed: no batch before this time (the caller's clock, ns).
    RetryAt(u64),
    /// Too many failures: no batch until a new target or a client event.
    Cancelled,
}

/// Retry state and tunables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// Current retry delay in seconds (seed: `schedule_delay`).
    delay_s: u32,
    /// Failed batches in a row, plus one (seed: `retry_count`).
    retry_count: u32,
    tunables: Tunables,
    hold: Hold,
}

impl Schedule {
    /// The schedule at boot: 1 s delay, retry count 1, nothing held.
    pub fn new(tunables: Tunables) -> Schedule {
        Schedule {
            delay_s: 1,
            retry_count: 1,
            tunables,
            hold: Hold::Free,
        }
    }

    fn reset(&mut self) {
        self.delay_s = 1;
        self.retry_count = 1;
    }

    /// Fold a batch's raw outcome into the schedule (the seed's `update_schedule`).
    fn update(&mut self, state: BpState) -> BpState {
        match state {
            BpState::Wait | BpState::Cancelled => state,
            BpState::Done => {
                self.reset();
                BpState::Done
            }
            BpState::EAgain => {
                self.retry_count = self.retry_count.saturating_add(1);
                let max = self.tunables.max_retry_count;
                if max != 0 && self.retry_count > max {
                    self.reset();
                    return BpState::Cancelled;
                }
                self.delay_s = self
                    .delay_s
                    .saturating_mul(2)
                    .min(self.tunables.max_schedule_delay_s);
                BpState::EAgain
            }
        }
    }

    /// The outcome of a step at `now_ns` that may not run a batch: `Cancelled` after a
    /// cancellation, `EAgain` before the retry time; `None` if a batch may run.
    pub fn held(&self, now_ns: u64) -> Option<BpState> {
        match self.hold {
            Hold::Cancelled => Some(BpState::Cancelled),
            Hold::RetryAt(at) if now_ns < at => Some(BpState::EAgain),
            _ => None,
        }
    }

    /// Fold the raw outcome of a batch run at `now_ns` into the schedule and return the step's
    /// outcome: a failure holds the worker until the retry time, a cancellation until
    /// [`Schedule::resume`].
    pub fn after_batch(&mut self, raw: BpState, now_ns: u64) -> BpState {
        let state = self.update(raw);
        self.hold = match state {
            BpState::EAgain => {
                Hold::RetryAt(now_ns.saturating_add(u64::from(self.delay_s) * NS_PER_S))
            }
            BpState::Cancelled => Hold::Cancelled,
            BpState::Done | BpState::Wait => Hold::Free,
        };
        state
    }

    /// When a failed batch may be retried, if one failed last.
    pub fn retry_at_ns(&self) -> Option<u64> {
        match self.hold {
            Hold::RetryAt(at) => Some(at),
            _ => None,
        }
    }

    /// A new target: nothing holds the worker any more.
    pub fn restart(&mut self) {
        self.hold = Hold::Free;
    }

    /// A client event: a cancelled operation is taken up again (a retry delay still holds).
    pub fn resume(&mut self) {
        if self.hold == Hold::Cancelled {
            self.hold = Hold::Free;
        }
    }

    /// Current retry delay, seconds.
    pub fn delay_s(&self) -> u32 {
        self.delay_s
    }

    /// Failed batches in a row, plus one.
    pub fn retry_count(&self) -> u32 {
        self.retry_count
    }

    /// The tunables.
    pub fn tunables(&self) -> Tunables {
        self.tunables
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_to_the_maximum_and_resets_on_success() {
        let mut schedule = Schedule::new(Tunables::default());
        let delays: heapless::Vec<u32, 8> = (0..7)
            .map(|_| {
                assert_eq!(schedule.update(BpState::EAgain), BpState::EAgain);
                schedule.delay_s
            })
            .collect();
        assert_eq!(&delays[..], &[2, 4, 8, 16, 32, 32, 32]);
        assert_eq!(schedule.update(BpState::Done), BpState::Done);
        assert_eq!((schedule.delay_s, schedule.retry_count), (1, 1));
    }

    #[test]
    fn exceeding_max_retry_count_cancels() {
        let mut schedule = Schedule::new(Tunables {
            max_schedule_delay_s: 32,
            max_retry_count: 3,
        });
        assert_eq!(schedule.update(BpState::EAgain), BpState::EAgain);
        assert_eq!(schedule.update(BpState::EAgain), BpState::EAgain);
        assert_eq!(schedule.update(BpState::EAgain), BpState::Cancelled);
        assert_eq!((schedule.delay_s, schedule.retry_count), (1, 1));
        assert_eq!(schedule.update(BpState::Wait), BpState::Wait);
    }

    #[test]
    fn a_failure_holds_until_the_retry_time_and_a_cancellation_until_resumed() {
        let mut schedule = Schedule::new(Tunables {
            max_schedule_delay_s: 32,
            max_retry_count: 2,
        });
        assert_eq!(schedule.held(0), None);
        assert_eq!(schedule.after_batch(BpState::EAgain, 10), BpState::EAgain);
        let retry = 10 + 2 * NS_PER_S;
        assert_eq!(schedule.retry_at_ns(), Some(retry));
        schedule.resume();
        assert_eq!(schedule.held(retry - 1), Some(BpState::EAgain));
        assert_eq!(schedule.held(retry), None);
        assert_eq!(
            schedule.after_batch(BpState::EAgain, retry),
            BpState::Cancelled
        );
        assert_eq!(schedule.retry_at_ns(), None);
        assert_eq!(schedule.held(u64::MAX), Some(BpState::Cancelled));
        schedule.resume();
        assert_eq!(schedule.held(0), None);
        assert_eq!(schedule.after_batch(BpState::EAgain, 0), BpState::EAgain);
        schedule.restart();
        assert_eq!(schedule.held(0), None);
    }
}
