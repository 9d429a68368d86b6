//! Changing the worker's policy and tunables at run time (the control interface's `configure`),
//! so that one system can run the seed's algorithm and ballast's side by side.

use super::BalloonCore;
use crate::config::{Policy, Tunables};
use crate::schedule::Schedule;
use crate::Storage;

/// Why a reconfiguration was refused; nothing changed. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TuningError {
    /// `max_schedule_delay_s` is 0.
    BadTunables = 1,
    /// A batch's outcome is still unknown; try again after the next step.
    BatchInFlight = 2,
}

impl<W: Storage, const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<W, LENT, CLIENTS, PENDING>
{
    /// Pages Xen counts for the domain beyond the server's model (memory outside the managed
    /// ranges), measured when the baseline was taken; 0 before that.
    pub fn domain_offset(&self) -> i64 {
        self.pages.domain_offset()
    }

    /// Switch to `policy` with `tunables`. The retry schedule restarts at 1 s, and a cancelled
    /// operation is taken up again (as a new target would).
    pub fn configure(&mut self, policy: Policy, tunables: Tunables) -> Result<(), TuningError> {
        if tunables.max_schedule_delay_s == 0 {
            return Err(TuningError::BadTunables);
        }
        if self.list.is_in_flight() {
            return Err(TuningError::BatchInFlight);
        }
        self.steering.set_policy(policy);
        self.schedule = Schedule::new(tunables);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::config::Config;
    use ballast_xen::FrameRun;

    #[test]
    fn policy_and_tunables_change_and_bad_ones_change_nothing() {
        let ram = [FrameRun::span(0, 1024)];
        let config = Config::new(&ram, Policy::Ballast);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = BalloonCore::<&mut [u64], 8, 2, 2>::new(&config, &mut words).unwrap();
        assert_eq!(
            core.configure(
                Policy::Seed,
                Tunables {
                    max_schedule_delay_s: 0,
                    max_retry_count: 0
                }
            ),
            Err(TuningError::BadTunables)
        );
        assert_eq!(core.policy(), Policy::Ballast);
        core.configure(
            Policy::Seed,
            Tunables {
                max_schedule_delay_s: 8,
                max_retry_count: 3,
            },
        )
        .unwrap();
        assert_eq!(core.policy(), Policy::Seed);
        assert!(!core.steering.superpages());
        assert_eq!(core.stats().max_schedule_delay_s, 8);
        core.configure(Policy::Ballast, Tunables::default())
            .unwrap();
        assert!(core.steering.superpages());
    }
}
