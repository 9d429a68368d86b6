//! The aarch64 system calls of seL4 5.0 (`libsel4/sel4_arch_include/aarch64/sel4/sel4_arch/
//! syscalls.h`): `svc #0` with the system call number in x7, the destination or source
//! capability in x0 (the badge comes back there), the message info in x1, message registers 0..3
//! in x2..x5; further message registers live in the IPC buffer. The kernel returns to the
//! instruction after `svc` with every other register as it was, and reads or writes memory only
//! in the calling thread's IPC buffer, which this crate touches through raw pointers only, never
//! a reference held across a call. So these are safe functions; the invocations and IPC calls
//! build on them.

use crate::{MessageInfo, Word};
use core::arch::asm;

/// Message registers 0..3, as they travel in x2..x5.
pub type Registers = [Word; 4];

/// What a receiving call returns: the message info, the sender's badge (or the notification
/// word), message registers 0..3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub info: MessageInfo,
    pub badge: Word,
    pub registers: Registers,
}

/// A send with data (`arm_sys_send`: Send, NBSend).
#[inline(always)]
pub fn send(number: i64, destination: Word, info: MessageInfo, registers: Registers) {
    // SAFETY: the seL4 system call ABI above; the kernel may change x0..x5 (declared as
    // clobbered) and touches no memory but this thread's IPC buffer, not borrowed here.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") destination => _,
            inout("x1") info.word() => _,
            inout("x2") registers[0] => _,
            inout("x3") registers[1] => _,
            inout("x4") registers[2] => _,
            inout("x5") registers[3] => _,
            in("x7") number,
            options(nostack),
        );
    }
}

/// A send of the message info alone (`arm_sys_send_null`: Signal).
#[inline(always)]
pub fn send_null(number: i64, destination: Word, info: MessageInfo) {
    // SAFETY: as for `send`; only x0 and x1 carry data.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") destination => _,
            inout("x1") info.word() => _,
            in("x7") number,
            options(nostack),
        );
    }
}

/// A reply to the thread's caller (`arm_sys_reply`: Reply).
#[inline(always)]
pub fn reply(number: i64, info: MessageInfo, registers: Registers) {
    // SAFETY: as for `send`; the kernel finds the caller in the thread's reply slot.
    unsafe {
        asm!(
            "svc #0",
            inout("x1") info.word() => _,
            inout("x2") registers[0] => _,
            inout("x3") registers[1] => _,
            inout("x4") registers[2] => _,
            inout("x5") registers[3] => _,
            in("x7") number,
            options(nostack),
        );
    }
}

/// A receive (`arm_sys_recv`: Recv, NBRecv, Wait, Poll).
#[inline(always)]
pub fn recv(number: i64, source: Word) -> Received {
    let badge: Word;
    let info: Word;
    let (mr0, mr1, mr2, mr3): (Word, Word, Word, Word);
    // SAFETY: as for `send`; the kernel writes the received message to x0..x5 and the rest of it
    // to this thread's IPC buffer.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") source => badge,
            out("x1") info,
            out("x2") mr0,
            out("x3") mr1,
            out("x4") mr2,
            out("x5") mr3,
            in("x7") number,
            options(nostack),
        );
    }
    Received {
        info: MessageInfo::from_word(info),
        badge,
        registers: [mr0, mr1, mr2, mr3],
    }
}

/// A send then a receive (`arm_sys_send_recv`: Call, ReplyRecv, and the debug calls).
#[inline(always)]
pub fn send_recv(
    number: i64,
    destination: Word,
    info: MessageInfo,
    registers: Registers,
) -> Received {
    let badge: Word;
    let info_out: Word;
    let [mut mr0, mut mr1, mut mr2, mut mr3] = registers;
    // SAFETY: as for `recv`.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") destination => badge,
            inout("x1") info.word() => info_out,
            inout("x2") mr0,
            inout("x3") mr1,
            inout("x4") mr2,
            inout("x5") mr3,
            in("x7") number,
            options(nostack),
        );
    }
    Received {
        info: MessageInfo::from_word(info_out),
        badge,
        registers: [mr0, mr1, mr2, mr3],
    }
}

/// A call with no data (`arm_sys_null`: Yield, DebugHalt).
#[inline(always)]
pub fn null(number: i64) {
    // SAFETY: as for `send`; no register carries data.
    unsafe {
        asm!("svc #0", in("x7") number, options(nostack));
    }
}
