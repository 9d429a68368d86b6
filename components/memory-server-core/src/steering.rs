//! What the worker steers to and how it shapes batches: the target, the policy (and with it the
//! extent sizes allowed), the batch length, and which superpage calls have failed since the
//! last target.

use ballast_xen::{ExtentOrder, ReservationOp, FRAMES_PER_SUPERPAGE, SUPERPAGE_ORDER};

use crate::config::{Config, Policy};
use crate::scan::Pieces;

/// Whether superpage calls failed, per direction, since the last target (then 4 KiB is used).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct SuperpageFallback {
    /// Populating 2 MiB extents failed.
    populate: bool,
    /// Releasing 2 MiB extents failed.
    release: bool,
}

impl SuperpageFallback {
    /// Whether 2 MiB extents failed for batches of `op`.
    fn failed(&self, op: ReservationOp) -> bool {
        match op {
            ReservationOp::Decrease => self.release,
            _ => self.populate,
        }
    }

    /// Note that 2 MiB extents failed for batches of `op`.
    fn fail(&mut self, op: ReservationOp) {
        match op {
            ReservationOp::Decrease => self.release = true,
            _ => self.populate = true,
        }
    }
}

/// The target and the shape of batches.
#[derive(Debug)]
pub(crate) struct Steering {
    /// The requested target, in populated pages.
    target: u64,
    /// Whether the target was requested (not the count at build time).
    target_set: bool,
    policy: Policy,
    /// Largest extent order the gateway accepts.
    max_order: ExtentOrder,
    /// Extents per reservation call.
    batch_extents: usize,
    fallback: SuperpageFallback,
}

impl Steering {
    /// Steering for `config`, aiming at `target`.
    pub fn new(config: &Config<'_>, target: u64) -> Steering {
        Steering {
            target,
            target_set: false,
            policy: config.policy,
            max_order: config.max_order,
            batch_extents: config.batch_extents,
            fallback: SuperpageFallback::default(),
        }
    }

    /// The requested target.
    pub fn target(&self) -> u64 {
        self.target
    }

    /// Replace the target taken at build time by `pages` (no target was requested yet).
    pub fn lower_initial_target(&mut self, pages: u64) {
        if !self.target_set {
            self.target = self.target.min(pages);
        }
    }

    /// Aim at `pages`, forgetting superpage failures.
    pub fn set_target(&mut self, pages: u64) {
        self.target = pages;
        self.target_set = true;
        self.fallback = SuperpageFallback::default();
    }

    /// The worker's policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Switch to `policy`.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// Whether the policy and the gateway allow 2 MiB extents.
    pub fn superpages(&self) -> bool {
        self.policy == Policy::Ballast && self.max_order >= SUPERPAGE_ORDER
    }

    /// Whether the next batch of `op` may use superpages for `want` frames.
    pub fn superpage_batch(&self, op: ReservationOp, want: u64) -> bool {
        self.superpages() && !self.fallback.failed(op) && want >= FRAMES_PER_SUPERPAGE
    }

    /// Note that a 2 MiB call of `op` failed: batches of `op` use 4 KiB until the next target.
    pub fn fail_superpages(&mut self, op: ReservationOp) {
        self.fallback.fail(op);
    }

    /// Which pieces single frames come from first.
    pub fn first_pieces(&self) -> Pieces {
        match self.policy {
            Policy::Seed => Pieces::All,
            Policy::Ballast => Pieces::Partial,
        }
    }

    /// Extents per reservation call.
    pub fn batch_extents(&self) -> usize {
        self.batch_extents
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_xen::FrameRun;

    const RAM: [FrameRun; 1] = [FrameRun::span(0, 4096)];

    #[test]
    fn a_failed_superpage_call_falls_back_in_its_direction_until_the_next_target() {
        let mut steering = Steering::new(&Config::new(&RAM, Policy::Ballast), 4096);
        let (release, populate) = (ReservationOp::Decrease, ReservationOp::Populate);
        assert!(steering.superpage_batch(release, FRAMES_PER_SUPERPAGE));
        assert!(!steering.superpage_batch(release, FRAMES_PER_SUPERPAGE - 1));
        steering.fail_superpages(release);
        assert!(!steering.superpage_batch(release, FRAMES_PER_SUPERPAGE));
        assert!(steering.superpage_batch(populate, FRAMES_PER_SUPERPAGE));
        steering.set_target(1024);
        assert_eq!(steering.target(), 1024);
        assert!(steering.superpage_batch(release, FRAMES_PER_SUPERPAGE));
        assert_eq!(steering.first_pieces(), Pieces::Partial);
        steering.set_policy(Policy::Seed);
        assert!(!steering.superpage_batch(populate, FRAMES_PER_SUPERPAGE));
        assert_eq!(steering.first_pieces(), Pieces::All);
    }

    #[test]
    fn a_gateway_without_superpages_keeps_ballast_to_single_pages() {
        let mut config = Config::new(&RAM, Policy::Ballast);
        config.max_order = ExtentOrder::PAGE;
        let steering = Steering::new(&config, 4096);
        assert!(!steering.superpages());
        assert_eq!(steering.first_pieces(), Pieces::Partial);
    }
}
