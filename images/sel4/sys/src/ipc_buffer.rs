//! The calling thread's IPC buffer (`seL4_IPCBuffer`, 1 KiB): the message registers past the
//! four that travel in x2..x5, the extra capabilities sent (or badges received), and where
//! received capabilities go. Its address is in TPIDR_EL0 (see the crate docs). Every access is a
//! bounds-checked raw-pointer read or write of one word, so no reference to the buffer outlives a
//! system call that the kernel uses to change it.

use crate::{CPtr, Word};
use core::arch::asm;

/// Message registers in the buffer (`seL4_MsgMaxLength`).
pub const MESSAGE_MAX_WORDS: usize = 120;
/// Extra capabilities per message (`seL4_MsgMaxExtraCaps`).
pub const MESSAGE_MAX_EXTRA_CAPS: usize = 3;

/// The buffer's layout (`libsel4/include/sel4/shared_types.h`).
#[derive(Debug)]
#[repr(C)]
pub struct IpcBuffer {
    pub tag: Word,
    pub msg: [Word; MESSAGE_MAX_WORDS],
    pub user_data: Word,
    pub caps_or_badges: [Word; MESSAGE_MAX_EXTRA_CAPS],
    pub receive_cnode: Word,
    pub receive_index: Word,
    pub receive_depth: Word,
}

const _: () = assert!(core::mem::size_of::<IpcBuffer>() == 1024);

/// An index past the buffer's message registers or extra caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum IpcBufferError {
    OutOfRange = 1,
}

fn buffer() -> *mut IpcBuffer {
    let address: usize;
    // SAFETY: reads TPIDR_EL0, an EL0-readable register; no memory is touched.
    unsafe {
        asm!("mrs {}, tpidr_el0", out(reg) address, options(nomem, nostack, preserves_flags));
    }
    core::ptr::with_exposed_provenance_mut(address)
}

/// Message register `index`, `None` past the buffer.
pub fn message_register(index: usize) -> Option<Word> {
    if index >= MESSAGE_MAX_WORDS {
        return None;
    }
    // SAFETY: TPIDR_EL0 holds the address of this thread's mapped IPC buffer (crate docs) and
    // `index` is within `msg`; the read goes through a raw pointer, no reference is formed.
    Some(unsafe {
        (&raw const (*buffer()).msg)
            .cast::<Word>()
            .add(index)
            .read()
    })
}

/// Sets message register `index`.
pub fn set_message_register(index: usize, value: Word) -> Result<(), IpcBufferError> {
    if index >= MESSAGE_MAX_WORDS {
        return Err(IpcBufferError::OutOfRange);
    }
    // SAFETY: as for `message_register`; the buffer is writable and only this thread uses it.
    unsafe {
        (&raw mut (*buffer()).msg)
            .cast::<Word>()
            .add(index)
            .write(value)
    };
    Ok(())
}

/// Copies message registers `first..first + into.len()` into `into`.
pub fn read_message(first: usize, into: &mut [Word]) -> Result<(), IpcBufferError> {
    if first
        .checked_add(into.len())
        .is_none_or(|end| end > MESSAGE_MAX_WORDS)
    {
        return Err(IpcBufferError::OutOfRange);
    }
    for (offset, word) in into.iter_mut().enumerate() {
        *word = message_register(first + offset).ok_or(IpcBufferError::OutOfRange)?;
    }
    Ok(())
}

/// Copies `from` into message registers `first..first + from.len()`.
pub fn write_message(first: usize, from: &[Word]) -> Result<(), IpcBufferError> {
    if first
        .checked_add(from.len())
        .is_none_or(|end| end > MESSAGE_MAX_WORDS)
    {
        return Err(IpcBufferError::OutOfRange);
    }
    for (offset, word) in from.iter().enumerate() {
        set_message_register(first + offset, *word)?;
    }
    Ok(())
}

/// Sets extra capability `index` of the next message sent.
pub fn set_extra_cap(index: usize, cap: CPtr) -> Result<(), IpcBufferError> {
    if index >= MESSAGE_MAX_EXTRA_CAPS {
        return Err(IpcBufferError::OutOfRange);
    }
    // SAFETY: as for `set_message_register`, `index` within `caps_or_badges`.
    unsafe {
        (&raw mut (*buffer()).caps_or_badges)
            .cast::<Word>()
            .add(index)
            .write(cap.0)
    };
    Ok(())
}

/// The badge of unwrapped extra capability `index` of the last message received.
pub fn received_badge(index: usize) -> Option<Word> {
    if index >= MESSAGE_MAX_EXTRA_CAPS {
        return None;
    }
    // SAFETY: as for `message_register`, `index` within `caps_or_badges`.
    Some(unsafe {
        (&raw const (*buffer()).caps_or_badges)
            .cast::<Word>()
            .add(index)
            .read()
    })
}

/// Where a capability received in the next message goes: slot `index` resolved `depth` bits
/// deep in the CSpace whose root is `cnode`.
pub fn set_receive_path(cnode: CPtr, index: CPtr, depth: Word) {
    let buffer = buffer();
    // SAFETY: as for `set_message_register`; three single-word fields.
    unsafe {
        (&raw mut (*buffer).receive_cnode).write(cnode.0);
        (&raw mut (*buffer).receive_index).write(index.0);
        (&raw mut (*buffer).receive_depth).write(depth);
    }
}

/// The buffer's user-data word (free for the thread's own use).
pub fn user_data() -> Word {
    // SAFETY: as for `message_register`; one word.
    unsafe { (&raw const (*buffer()).user_data).read() }
}

/// Sets the user-data word.
pub fn set_user_data(value: Word) {
    // SAFETY: as for `set_message_register`; one word.
    unsafe { (&raw mut (*buffer()).user_data).write(value) };
}
