//! The worker's outcome states and retry schedule, with the seed's meaning: the delay starts at
//! 1 s, doubles after each failed batch up to `max_schedule_delay`, and resets on success;
//! `retry_count` past a nonzero `max_retry_count` cancels the operation.

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

/// Retry state and tunables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Current retry delay in seconds (seed: `schedule_delay`).
    pub delay_s: u32,
    /// Failed batches in a row, plus one (seed: `retry_count`).
    pub retry_count: u32,
    /// The tunables.
    pub tunables: Tunables,
}

impl Schedule {
    /// The schedule at boot: 1 s delay, retry count 1.
    pub fn new(tunables: Tunables) -> Schedule {
        Schedule {
            delay_s: 1,
            retry_count: 1,
            tunables,
        }
    }

    fn reset(&mut self) {
        self.delay_s = 1;
        self.retry_count = 1;
    }

    /// Fold a batch's raw outcome into the schedule (the seed's `update_schedule`).
    pub fn update(&mut self, state: BpState) -> BpState {
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
}
