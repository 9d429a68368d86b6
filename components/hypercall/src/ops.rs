//! The operations a caller may be granted, and the set of them a caller holds (its capability).

use ballast_xen::ReservationOp;

/// One operation the gateway performs on a caller's behalf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum GatewayOp {
    /// `XENMEM_increase_reservation`.
    Increase = 0,
    /// `XENMEM_decrease_reservation`.
    Decrease = 1,
    /// `XENMEM_populate_physmap`.
    Populate = 2,
    /// `XENMEM_current_reservation`.
    Current = 3,
    /// `XENMEM_maximum_reservation`.
    Maximum = 4,
}

impl GatewayOp {
    /// Every operation, in index order.
    pub const ALL: [GatewayOp; 5] = [
        GatewayOp::Increase,
        GatewayOp::Decrease,
        GatewayOp::Populate,
        GatewayOp::Current,
        GatewayOp::Maximum,
    ];
    /// Number of operations.
    pub const COUNT: usize = GatewayOp::ALL.len();

    /// Dense index, `0..COUNT`.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The operation a reservation op is.
    pub const fn of_reservation(op: ReservationOp) -> GatewayOp {
        match op {
            ReservationOp::Increase => GatewayOp::Increase,
            ReservationOp::Decrease => GatewayOp::Decrease,
            ReservationOp::Populate => GatewayOp::Populate,
        }
    }
}

/// A set of [`GatewayOp`]s: what one caller may call, as the manifest grants it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OpSet(u8);

impl OpSet {
    /// No operation at all.
    pub const NONE: OpSet = OpSet(0);

    /// The set holding exactly `ops`.
    pub const fn of(ops: &[GatewayOp]) -> OpSet {
        let mut bits = 0;
        let mut i = 0;
        while i < ops.len() {
            bits |= 1 << ops[i].index();
            i += 1;
        }
        OpSet(bits)
    }

    /// This set plus `op`.
    pub const fn with(self, op: GatewayOp) -> OpSet {
        OpSet(self.0 | 1 << op.index())
    }

    /// Whether the two sets share an op.
    pub const fn intersects(self, other: OpSet) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether `op` is in the set.
    pub const fn contains(self, op: GatewayOp) -> bool {
        self.0 & (1 << op.index()) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_holds_exactly_what_was_put_in() {
        let set = OpSet::of(&[GatewayOp::Decrease, GatewayOp::Current]);
        for op in GatewayOp::ALL {
            assert_eq!(
                set.contains(op),
                matches!(op, GatewayOp::Decrease | GatewayOp::Current)
            );
        }
        assert!(set.with(GatewayOp::Populate).contains(GatewayOp::Populate));
        assert!(!OpSet::NONE.contains(GatewayOp::Maximum));
        assert!(set.intersects(OpSet::of(&[GatewayOp::Current, GatewayOp::Maximum])));
        assert!(!set.intersects(OpSet::of(&[GatewayOp::Maximum])));
    }

    #[test]
    fn indices_are_dense_and_reservation_ops_map_to_theirs() {
        for (i, op) in GatewayOp::ALL.into_iter().enumerate() {
            assert_eq!(op.index(), i);
        }
        assert_eq!(
            GatewayOp::of_reservation(ReservationOp::Populate),
            GatewayOp::Populate
        );
        assert_eq!(
            GatewayOp::of_reservation(ReservationOp::Decrease),
            GatewayOp::Decrease
        );
        assert_eq!(
            GatewayOp::of_reservation(ReservationOp::Increase),
            GatewayOp::Increase
        );
    }
}
