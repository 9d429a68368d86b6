//! The one-word parameter types of the invocations, laid out by 5.0's `shared_types_64.bf` and
//! `types_64.bf` (fields from the top of the low 32 bits down):
//! - `seL4_CapRights`: grant (bit 2), read (bit 1), write (bit 0);
//! - `seL4_PrioProps`: maximum controlled priority (bits 8..16), priority (bits 0..8);
//! - `seL4_CapData`, tag in bit 31: a badge (tag 0, 28 bits at 0..28) or a CNode guard (tag 1,
//!   guard value 18 bits at 8..26, guard size 6 bits at 2..8);
//! - `seL4_ARM_VMAttributes`: cacheable (1), parity (2), execute-never (4); 3 is the default.

use crate::Word;

/// Access rights of a capability (`seL4_CapRights_t`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CapRights(Word);

impl CapRights {
    pub const NONE: Self = Self::new(false, false, false);
    pub const READ: Self = Self::new(false, true, false);
    pub const WRITE: Self = Self::new(false, false, true);
    pub const GRANT: Self = Self::new(true, false, false);
    pub const READ_WRITE: Self = Self::new(false, true, true);
    pub const ALL: Self = Self::new(true, true, true);

    pub const fn new(grant: bool, read: bool, write: bool) -> Self {
        Self(((grant as Word) << 2) | ((read as Word) << 1) | (write as Word))
    }

    pub const fn word(self) -> Word {
        self.0
    }

    pub const fn from_word(word: Word) -> Self {
        Self(word & 0x7)
    }
}

/// A thread's priority and maximum controlled priority (`seL4_PrioProps_t`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PrioProps(Word);

impl PrioProps {
    pub const fn new(max_controlled_priority: u8, priority: u8) -> Self {
        Self(((max_controlled_priority as Word) << 8) | priority as Word)
    }

    pub const fn word(self) -> Word {
        self.0
    }

    pub const fn from_word(word: Word) -> Self {
        Self(word & 0xffff)
    }
}

/// A badge for a minted endpoint or notification capability, or a guard for a CNode
/// capability (`seL4_CapData_t`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CapData(Word);

/// Why a badge or guard does not fit 5.0's capability data word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CapDataError {
    /// A badge wider than [`CapData::BADGE_BITS`].
    BadgeTooWide = 1,
    /// A guard value wider than [`CapData::GUARD_BITS`].
    GuardTooWide = 2,
    /// A guard size of 64 or more bits.
    GuardSizeTooLarge = 3,
}

impl CapData {
    /// Bits of a badge (`seL4_BadgeBits`: 28 in 5.0).
    pub const BADGE_BITS: Word = crate::size_bits::BADGE_BITS;
    /// Bits of a guard value (`seL4_GuardBits`: 18 in 5.0).
    pub const GUARD_BITS: Word = crate::size_bits::GUARD_BITS;
    /// No badge, no guard (`seL4_NilData`).
    pub const NONE: Self = Self(0);

    const GUARD_TAG: Word = 1 << 31;
    const GUARD_SIZE_LIMIT: Word = 1 << 6;

    /// A badge.
    pub const fn badge(badge: Word) -> Result<Self, CapDataError> {
        if badge >> Self::BADGE_BITS != 0 {
            return Err(CapDataError::BadgeTooWide);
        }
        Ok(Self(badge))
    }

    /// A CNode guard: `guard_size` bits of `guard` that a CPtr must match before the CNode's
    /// index bits.
    pub const fn guard(guard: Word, guard_size: Word) -> Result<Self, CapDataError> {
        if guard >> Self::GUARD_BITS != 0 {
            return Err(CapDataError::GuardTooWide);
        }
        if guard_size >= Self::GUARD_SIZE_LIMIT {
            return Err(CapDataError::GuardSizeTooLarge);
        }
        Ok(Self(Self::GUARD_TAG | (guard << 8) | (guard_size << 2)))
    }

    pub const fn word(self) -> Word {
        self.0
    }

    /// From a raw word, unchecked: for a capability type with its own reading of the word, as
    /// the Xen hypercall capability of ballast's patched kernel takes the whole word as its badge
    /// (`(hypercall << 32) | sub_op`).
    pub const fn from_word(word: Word) -> Self {
        Self(word)
    }
}

/// Mapping attributes of a frame or paging structure (`seL4_ARM_VMAttributes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VmAttributes(Word);

impl VmAttributes {
    pub const NONE: Self = Self(0);
    pub const CACHEABLE: Self = Self(0x1);
    pub const PARITY_ENABLED: Self = Self(0x2);
    pub const EXECUTE_NEVER: Self = Self(0x4);
    /// Cacheable, parity enabled (`seL4_ARM_Default_VMAttributes`).
    pub const DEFAULT: Self = Self(0x3);

    /// Both sets of attributes.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub const fn word(self) -> Word {
        self.0
    }

    pub const fn from_word(word: Word) -> Self {
        Self(word)
    }
}

impl Default for VmAttributes {
    fn default() -> Self {
        Self::DEFAULT
    }
}
