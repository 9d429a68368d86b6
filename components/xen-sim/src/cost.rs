//! How long real Xen takes, and the guest's own work around each call: a cost per `memory_op`
//! call, per extent of populate and decrease at order 0 and 9, per page the guest scrubs, and per
//! reservation call the guest's IPC and bookkeeping, calibrated from `ballast hil --timings`
//! (Xen 4.17 under QEMU 7.2 TCG), so that the simulator's clock moves as a guest's would.
//!
//! # Where the numbers come from
//!
//! Every number is a median of `cargo run --release -- hil --timings 3` (and `--arch aarch64`)
//! in the clean-clone CI run at commit b380e9e (7 December 2026, 04:42 to 05:06 UTC, load
//! average 2 to 3.5; its tables are BENCHMARKS.md's "Real-Xen timings"). Only warm rows are
//! used: a cold row also pays QEMU's first touch of host memory, which is the emulator's, moves
//! by up to 6x between two runs of the same commit, and no model of Xen can predict.
//!
//! | median, 128 MiB, ms | x86-64 PVH dom0 | arm64 dom0less domU | row of `hil --timings` |
//! |---|---|---|---|
//! | decrease, 2 MiB extents, 1 call of 64 | 201.5 | 185.0 | raw, 2M, warm, decrease |
//! | populate, 2 MiB extents, 1 call of 64 | 12.5 | 16.0 | raw, 2M, warm, populate |
//! | decrease, 4 KiB extents, 64 calls of 512 | 407.3 | 234.4 | raw, 4K, warm, decrease |
//! | populate, 4 KiB extents, 64 calls of 512 | 310.7 | 218.6 | raw, 4K, warm, populate |
//! | scrub (guest memset), 32768 pages | 35.0 and 42.8 | 40.9 and 47.8 | raw, 2M and 4K, warm, scrub |
//! | the rest of 64 decrease calls | 47.7 | 25.6 | product, 4K, warm, set_target_down |
//! | the rest of 64 populate calls | 35.4 | 20.7 | product, 4K, warm, set_target_up |
//!
//! - **Per call, per extent.** Every reservation row has a single call count, so it cannot tell
//!   a per-call cost from a per-extent one. The per-call cost is a bound from the one-extent
//!   calls of the test app (four calls and their log lines fitted in 3 ms of 1 ms host
//!   timestamps in a CI run of 7 December 2026): [`PER_CALL_NS`], 0.75 ms, which overstates the
//!   call and shifts at most 48 ms of a 4 KiB row from its extents to its calls. The per-extent
//!   cost is the row less its calls, over its extents, so the model gives every row back.
//! - **Scrub.** The two warm scrub rows differ by policy order (which one ran first in the
//!   boot); the model takes their mean, 38.9 ms (x86-64) and 44.35 ms (arm64) per 128 MiB.
//! - **The guest's own work.** The product path splits each move into scrub, hypercalls (timed
//!   around the hypercall instruction) and the rest: the IPC from the memory server to the
//!   gateway and back, the gateway's checks and the server's bookkeeping of the batch. Under the
//!   seed policy (64 calls a move) the rest over its calls is the guest's work per call,
//!   [`GuestCosts`]: 0.745 ms a decrease and 0.553 ms a populate on x86-64, 0.400 and 0.323 ms on
//!   arm64. It is charged on every reservation call, whatever its size: under ballast's policy
//!   the same rows give 0.7 ms a call down and 1.2 ms up on x86-64 (2 calls and 1), within a
//!   millisecond of it.
//!
//! Other orders are interpolated in the extent's pages between order 0 and order 9, and above
//! order 9 scale with its 2 MiB blocks; increase_reservation costs as populate; any other command
//! costs its call only.

use ballast_xen::ReservationOp;

/// The per-call cost both architectures' one-extent calls bound (see the module doc).
pub const PER_CALL_NS: u64 = 750_000;

/// Pages of an order-9 extent past its first.
const SUPERPAGE_EXTRA_PAGES: u128 = 511;

/// One op's cost per extent completed, at the two orders measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtentCosts {
    /// Per 4 KiB extent.
    pub order0_ns: u64,
    /// Per 2 MiB extent.
    pub order9_ns: u64,
}

impl ExtentCosts {
    /// Fitted from a row of `calls` calls moving `extents` extents of order 0 in `order0_ms` and
    /// one of `superpages` order-9 extents in `order9_ms` (see the module doc).
    const fn fit(
        order0_ms: f64,
        calls: u64,
        extents: u64,
        order9_ms: f64,
        superpages: u64,
    ) -> Self {
        // Evaluated for the constants below only: each row is far above its calls' cost and no
        // count is 0, so nothing saturates (the tests give every row back).
        let order0 = ((order0_ms * 1e6) as u64).saturating_sub(calls.saturating_mul(PER_CALL_NS));
        let order9 = ((order9_ms * 1e6) as u64).saturating_sub(PER_CALL_NS);
        ExtentCosts {
            order0_ns: match order0.checked_div(extents) {
                Some(ns) => ns,
                None => 0,
            },
            order9_ns: match order9.checked_div(superpages) {
                Some(ns) => ns,
                None => 0,
            },
        }
    }

    /// One extent of `order`: between 0 and 9 linear in its pages, above 9 per 2 MiB block.
    pub fn extent_ns(&self, order: u32) -> u64 {
        if order >= 9 {
            let blocks = 1u64
                .checked_shl(order.saturating_sub(9))
                .unwrap_or(u64::MAX);
            return self.order9_ns.saturating_mul(blocks);
        }
        // Below order 9 an extent has at most 511 pages past its first, so `extra` is at most
        // `step` and the sum at most `order9_ns`: nothing saturates.
        let extra_pages = (1u64 << order).saturating_sub(1);
        let step = u128::from(self.order9_ns.saturating_sub(self.order0_ns));
        let extra = step.saturating_mul(u128::from(extra_pages)) / SUPERPAGE_EXTRA_PAGES;
        self.order0_ns.saturating_add(extra as u64)
    }
}

/// What Xen's answers and the guest's scrub cost on one architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CostModel {
    /// What it was calibrated on.
    pub name: &'static str,
    /// Any `memory_op` call, whatever it does.
    pub per_call_ns: u64,
    /// decrease_reservation, per extent completed.
    pub decrease: ExtentCosts,
    /// populate_physmap (and increase_reservation), per extent completed.
    pub populate: ExtentCosts,
    /// The guest zeroing one 4 KiB page.
    pub scrub_page_ns: u64,
    /// The guest's own work around each reservation call.
    pub guest: GuestCosts,
}

/// The guest's own work around one reservation call on the product path: the memory server's
/// IPC to the gateway and back, the gateway's checks, the server's bookkeeping of the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestCosts {
    /// Around a decrease_reservation call.
    pub decrease_call_ns: u64,
    /// Around a populate_physmap (or increase_reservation) call.
    pub populate_call_ns: u64,
}

impl GuestCosts {
    /// Fitted from the rest of `calls` decrease calls taking `decrease_ms` and as many populate
    /// calls taking `populate_ms` (see the module doc).
    const fn fit(decrease_ms: f64, populate_ms: f64, calls: u64) -> Self {
        // Evaluated for the constants below only, whose call count is not 0 (the tests give
        // every row back).
        GuestCosts {
            decrease_call_ns: match ((decrease_ms * 1e6) as u64).checked_div(calls) {
                Some(ns) => ns,
                None => 0,
            },
            populate_call_ns: match ((populate_ms * 1e6) as u64).checked_div(calls) {
                Some(ns) => ns,
                None => 0,
            },
        }
    }
}

/// 128 MiB in 4 KiB pages: the rows' size.
const ROW_PAGES: u64 = 32768;
/// The 4 KiB rows: 64 calls of 512 extents.
const ROW_CALLS: u64 = 64;
/// The 2 MiB rows: one call of 64 extents.
const ROW_SUPERPAGES: u64 = 64;

impl CostModel {
    /// Xen 4.17, x86-64 PVH dom0 under QEMU TCG.
    pub const X86_64: CostModel = CostModel {
        name: "x86-64",
        per_call_ns: PER_CALL_NS,
        decrease: ExtentCosts::fit(407.3, ROW_CALLS, ROW_PAGES, 201.5, ROW_SUPERPAGES),
        populate: ExtentCosts::fit(310.7, ROW_CALLS, ROW_PAGES, 12.5, ROW_SUPERPAGES),
        scrub_page_ns: 38_900_000 / ROW_PAGES,
        guest: GuestCosts::fit(47.7, 35.4, ROW_CALLS),
    };

    /// Xen 4.17, arm64 dom0less domU under QEMU TCG.
    pub const ARM64: CostModel = CostModel {
        name: "arm64",
        per_call_ns: PER_CALL_NS,
        decrease: ExtentCosts::fit(234.4, ROW_CALLS, ROW_PAGES, 185.0, ROW_SUPERPAGES),
        populate: ExtentCosts::fit(218.6, ROW_CALLS, ROW_PAGES, 16.0, ROW_SUPERPAGES),
        scrub_page_ns: 44_350_000 / ROW_PAGES,
        guest: GuestCosts::fit(25.6, 20.7, ROW_CALLS),
    };

    /// A `memory_op` call that completed `extents` extents of `order` of reservation op `op`;
    /// any other command (`None`) costs the call only.
    pub fn call_ns(&self, op: Option<ReservationOp>, order: u32, extents: u64) -> u64 {
        let per_extent = match op {
            Some(ReservationOp::Increase | ReservationOp::Populate) => {
                self.populate.extent_ns(order)
            }
            Some(ReservationOp::Decrease) => self.decrease.extent_ns(order),
            None => 0,
        };
        self.per_call_ns
            .saturating_add(per_extent.saturating_mul(extents))
    }

    /// The guest's own work around one call of reservation op `op` (`None`: any other command,
    /// which the product path does not make per batch).
    pub fn guest_call_ns(&self, op: Option<ReservationOp>) -> u64 {
        match op {
            Some(ReservationOp::Increase | ReservationOp::Populate) => self.guest.populate_call_ns,
            Some(ReservationOp::Decrease) => self.guest.decrease_call_ns,
            None => 0,
        }
    }

    /// The guest zeroing `pages` pages.
    pub fn scrub_ns(&self, pages: u64) -> u64 {
        self.scrub_page_ns.saturating_mul(pages)
    }
}

impl Default for CostModel {
    fn default() -> CostModel {
        CostModel::X86_64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row's time under the model, in ms.
    fn row_ms(model: &CostModel, op: ReservationOp, order: u32, calls: u64, per_call: u64) -> f64 {
        (model.call_ns(Some(op), order, per_call) * calls) as f64 / 1e6
    }

    #[test]
    fn the_model_gives_back_the_rows_it_was_fitted_from() {
        let rows = [
            (CostModel::X86_64, [201.5, 12.5, 407.3, 310.7]),
            (CostModel::ARM64, [185.0, 16.0, 234.4, 218.6]),
        ];
        for (model, [decrease9, populate9, decrease0, populate0]) in rows {
            let near = |got: f64, want: f64| (got - want).abs() < 0.1;
            assert!(
                near(row_ms(&model, ReservationOp::Decrease, 9, 1, 64), decrease9),
                "{model:?}"
            );
            assert!(
                near(row_ms(&model, ReservationOp::Populate, 9, 1, 64), populate9),
                "{model:?}"
            );
            assert!(
                near(
                    row_ms(&model, ReservationOp::Decrease, 0, 64, 512),
                    decrease0
                ),
                "{model:?}"
            );
            assert!(
                near(
                    row_ms(&model, ReservationOp::Populate, 0, 64, 512),
                    populate0
                ),
                "{model:?}"
            );
        }
    }

    #[test]
    fn the_guests_work_gives_back_the_seed_rows_rest() {
        let rows = [
            (CostModel::X86_64, 47.7, 35.4),
            (CostModel::ARM64, 25.6, 20.7),
        ];
        for (model, decrease, populate) in rows {
            let rest = |op| (model.guest_call_ns(Some(op)) * ROW_CALLS) as f64 / 1e6;
            assert!(
                (rest(ReservationOp::Decrease) - decrease).abs() < 0.1,
                "{model:?}"
            );
            assert!(
                (rest(ReservationOp::Populate) - populate).abs() < 0.1,
                "{model:?}"
            );
            assert_eq!(
                model.guest_call_ns(Some(ReservationOp::Increase)),
                model.guest.populate_call_ns
            );
            assert_eq!(model.guest_call_ns(None), 0);
        }
    }

    #[test]
    fn orders_between_the_measured_ones_cost_between_them() {
        let costs = CostModel::X86_64.populate;
        assert_eq!(costs.extent_ns(0), costs.order0_ns);
        assert_eq!(costs.extent_ns(9), costs.order9_ns);
        assert!(costs.extent_ns(4) > costs.order0_ns && costs.extent_ns(4) < costs.order9_ns);
        assert_eq!(costs.extent_ns(10), 2 * costs.order9_ns);
        assert_eq!(costs.extent_ns(200), u64::MAX);
    }

    #[test]
    fn queries_cost_the_call_and_scrubs_cost_per_page() {
        let model = CostModel::ARM64;
        assert_eq!(model.call_ns(None, 0, 0), PER_CALL_NS);
        assert_eq!(
            model.call_ns(Some(ReservationOp::Decrease), 9, 0),
            PER_CALL_NS
        );
        assert_eq!(model.scrub_ns(2), 2 * model.scrub_page_ns);
        assert_eq!(model.scrub_ns(u64::MAX), u64::MAX);
    }
}
