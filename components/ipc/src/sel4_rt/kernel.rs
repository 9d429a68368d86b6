//! The seL4 operations the runtime needs, as a trait the PDs implement over the seL4 system calls
//! (`images/sel4/pd-rt`, over `ballast-sel4-sys`) and the host model implements over threads
//! ([`super::host_kernel`], feature `std`), together with the memory the root task mapped into the
//! PD: its regions. Capabilities are named by what they are to the PD (its endpoint, reply slot
//! `n`, the capability it holds as `EndpointId` `e`), regions by their position in the
//! composition's region table; the implementation maps them to capability pointers and virtual
//! addresses from the PD ABI.
//!
//! seL4 5.0 (without the MCS extensions) behaves as follows, and the runtime relies on it:
//! - A `Call` through an endpoint capability with the Grant right blocks the caller and leaves a
//!   reply capability to it in the receiver's TCB (its caller slot); without Grant the caller is
//!   made inactive instead, so every client capability must carry Grant.
//! - `Recv` first deletes whatever reply capability the caller slot still holds, so a reply the
//!   server means to give later must be moved out first (`CNode_SaveCaller` into a slot of its
//!   CNode); `Send` on that slot answers and consumes it.
//! - `Reply` and `ReplyRecv` with an empty caller slot reply to no one; `Send` on an empty slot
//!   is dropped without an error (a `Send` reports none).
//! - When a caller dies while blocked on its reply, the kernel deletes the reply capability
//!   wherever it sits, so a late answer to it is dropped.
//! - A receive on an endpoint whose TCB has a bound notification returns the notification's word
//!   in the badge register when a signal is pending, and nothing else tells that apart from a
//!   message: endpoint badges carry a bit notification badges never do ([`super::Sel4Abi`]).
//! - `NBRecv` with nothing pending returns badge 0.

use crate::kernel::{EndpointId, IpcError};

/// Message registers in seL4's IPC buffer (`seL4_MsgMaxLength`).
pub const MESSAGE_REGISTERS: usize = 120;

/// The message-info word as the runtime uses it: the label and the message registers used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageInfo {
    /// The message's label (what it is; for replies the runtime puts a status here).
    pub label: u64,
    /// Message registers the message fills, at most [`MESSAGE_REGISTERS`].
    pub length: usize,
}

/// What a receive returned: the badge register and the message info. For a notification the
/// badge is the notification word and the info means nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// The sender's badge, or the notification word, or 0 when nothing arrived.
    pub badge: u64,
    /// The message's info.
    pub info: MessageInfo,
}

/// The seL4 error codes an invocation the runtime makes may answer (`seL4_Error`). C-like,
/// nonzero, numbered as seL4 numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum KernelError {
    /// `seL4_InvalidArgument`.
    InvalidArgument = 1,
    /// `seL4_InvalidCapability`.
    InvalidCapability = 2,
    /// `seL4_IllegalOperation`.
    IllegalOperation = 3,
    /// `seL4_RangeError`.
    RangeError = 4,
    /// `seL4_AlignmentError`.
    AlignmentError = 5,
    /// `seL4_FailedLookup`.
    FailedLookup = 6,
    /// `seL4_TruncatedMessage`.
    TruncatedMessage = 7,
    /// `seL4_DeleteFirst`: the destination slot is not empty.
    DeleteFirst = 8,
    /// `seL4_RevokeFirst`.
    RevokeFirst = 9,
    /// `seL4_NotEnoughMemory`.
    NotEnoughMemory = 10,
}

impl KernelError {
    /// The error of seL4 error code `code`; `None` for 0 (no error) and unknown codes.
    pub const fn from_code(code: u64) -> Option<KernelError> {
        Some(match code {
            1 => KernelError::InvalidArgument,
            2 => KernelError::InvalidCapability,
            3 => KernelError::IllegalOperation,
            4 => KernelError::RangeError,
            5 => KernelError::AlignmentError,
            6 => KernelError::FailedLookup,
            7 => KernelError::TruncatedMessage,
            8 => KernelError::DeleteFirst,
            9 => KernelError::RevokeFirst,
            10 => KernelError::NotEnoughMemory,
            _ => return None,
        })
    }
}

/// The kernel as one PD's thread reaches it.
pub trait Sel4Kernel {
    /// The message registers of the thread's IPC buffer: a send takes the first
    /// [`MessageInfo::length`] of them, a receive fills them.
    fn message_registers(&mut self) -> &mut [u64; MESSAGE_REGISTERS];

    /// `seL4_Recv` on the PD's endpoint (its bound notification included): blocks until a
    /// message or a signal arrives.
    fn recv(&mut self) -> Received;

    /// `seL4_NBRecv` on the PD's endpoint: what is pending, or badge 0.
    fn nb_recv(&mut self) -> Received;

    /// `seL4_ReplyRecv` on the PD's endpoint: answer the caller in the caller slot with `reply`,
    /// then receive as [`Self::recv`].
    fn reply_recv(&mut self, reply: MessageInfo) -> Received;

    /// `seL4_Reply`: answer the caller in the caller slot (if any) with `reply`.
    fn reply(&mut self, reply: MessageInfo);

    /// `seL4_CNode_SaveCaller`: move the reply capability of the caller slot into reply slot
    /// `slot` (nothing moves if the caller slot is empty).
    fn save_caller(&mut self, slot: u16) -> Result<(), KernelError>;

    /// `seL4_CNode_Delete` of reply slot `slot` (a slot already empty stays so).
    fn delete_saved(&mut self, slot: u16) -> Result<(), KernelError>;

    /// `seL4_Send` on reply slot `slot`: answer the caller saved there (if any) with `reply`,
    /// which empties the slot.
    fn send_saved(&mut self, slot: u16, reply: MessageInfo);

    /// `seL4_Call` through the endpoint capability the PD holds as `endpoint`: blocks until the
    /// server answers, and returns the answer's info (its message in the message registers).
    /// `NoSuchEndpoint` if the PD holds no capability for it.
    fn call(&mut self, endpoint: EndpointId, request: MessageInfo)
        -> Result<MessageInfo, IpcError>;

    /// `seL4_Signal` on the notification capability the PD holds as `endpoint`.
    fn signal(&mut self, endpoint: EndpointId) -> Result<(), IpcError>;

    /// `seL4_Wait` on the PD's own notification (bound to its thread): blocks until a bit is
    /// raised, returns the word and clears it. For a PD that serves nothing (a server's
    /// notification arrives through its receive).
    fn wait_notification(&mut self) -> u64;

    /// `seL4_Poll` on the PD's own notification: the word, cleared, or 0 without waiting.
    fn poll_notification(&mut self) -> u64;

    /// `seL4_Yield`: let another thread of the same priority run.
    fn yield_now(&mut self);

    /// Monotonic nanoseconds (on arm64 the generic timer's virtual count, read at EL0).
    fn now_ns(&self) -> u64;

    /// The bytes of the region at `index` of the composition's region table if this PD maps it
    /// read-write (it owns the region, or is granted it for writing).
    fn region_mut(&mut self, index: usize) -> Option<&mut [u8]>;

    /// The bytes of the region at `index` if this PD maps it at all (read-only or read-write).
    fn region(&mut self, index: usize) -> Option<&[u8]>;
}
