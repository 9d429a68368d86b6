//! Fault messages: when a thread faults, the kernel sends a message on its fault endpoint whose
//! label says what happened (5.0's `seL4_FaultType` tags, `shared_types.bf` of arm) and whose
//! message registers describe it.

use crate::Word;

/// What a fault message's label says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum FaultKind {
    /// A capability lookup failed in a send or receive phase.
    CapFault = 1,
    /// An `svc` with a number the kernel does not serve.
    UnknownSyscall = 2,
    /// An exception the kernel does not handle itself (undefined instruction, ...).
    UserException = 3,
    /// A data or instruction abort on an unmapped or forbidden address.
    VmFault = 5,
}

impl FaultKind {
    /// The kind a fault message's label names, `None` for any other label.
    pub const fn from_label(label: Word) -> Option<Self> {
        match label {
            1 => Some(Self::CapFault),
            2 => Some(Self::UnknownSyscall),
            3 => Some(Self::UserException),
            5 => Some(Self::VmFault),
            _ => None,
        }
    }
}

/// Message registers of a VM fault: the faulting instruction, the address, whether it was an
/// instruction fetch, the fault status register.
pub mod vm_fault {
    pub const IP: usize = 0;
    pub const ADDRESS: usize = 1;
    pub const PREFETCH_FAULT: usize = 2;
    pub const FSR: usize = 3;
}

/// Message registers of a user exception: the faulting instruction, stack pointer, SPSR,
/// exception number and code.
pub mod user_exception {
    pub const IP: usize = 0;
    pub const SP: usize = 1;
    pub const SPSR: usize = 2;
    pub const NUMBER: usize = 3;
    pub const CODE: usize = 4;
}

/// Message registers of a capability fault: the faulting instruction, the CPtr that failed,
/// whether it was in the receive phase, the lookup failure type.
pub mod cap_fault {
    pub const IP: usize = 0;
    pub const ADDRESS: usize = 1;
    pub const IN_RECEIVE_PHASE: usize = 2;
    pub const LOOKUP_FAILURE_TYPE: usize = 3;
}
