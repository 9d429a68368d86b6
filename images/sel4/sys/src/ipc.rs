//! IPC on endpoints, notifications and saved reply capabilities, and the calls that take no
//! capability (reply, yield, the debug kernel's console). Two forms, as libsel4 has them: the
//! plain one moves message registers 0..3 between x2..x5 and the IPC buffer (so a message is
//! wholly in the buffer before a send and after a receive); the `_with_registers` one passes
//! them in and out directly and leaves the buffer to registers 4 and up.

use crate::ipc_buffer;
use crate::sys::{self, Received, Registers};
use crate::{syscall_number, Cap, Endpoint, MessageInfo, Notification, Reply, Word};

fn buffered_registers() -> Registers {
    let mut registers: Registers = [0; 4];
    // Registers 0..3 are within the buffer: the read cannot fail.
    let _ = ipc_buffer::read_message(0, &mut registers);
    registers
}

fn buffer_registers(received: Received) -> Received {
    // As above: the write cannot fail.
    let _ = ipc_buffer::write_message(0, &received.registers);
    received
}

impl Cap<Endpoint> {
    /// Sends (blocking until a receiver takes it).
    pub fn send(self, info: MessageInfo) {
        self.send_with_registers(info, buffered_registers());
    }

    pub fn send_with_registers(self, info: MessageInfo, registers: Registers) {
        sys::send(syscall_number::SEND, self.cptr().0, info, registers);
    }

    /// Sends if a receiver is waiting, else drops the message.
    pub fn nb_send(self, info: MessageInfo) {
        sys::send(
            syscall_number::NB_SEND,
            self.cptr().0,
            info,
            buffered_registers(),
        );
    }

    /// Sends and waits for the reply (the receiver gets a reply capability to this thread).
    pub fn call(self, info: MessageInfo) -> MessageInfo {
        buffer_registers(self.call_with_registers(info, buffered_registers())).info
    }

    pub fn call_with_registers(self, info: MessageInfo, registers: Registers) -> Received {
        sys::send_recv(syscall_number::CALL, self.cptr().0, info, registers)
    }

    /// Waits for a message; the badge names the sender's capability.
    pub fn recv(self) -> Received {
        buffer_registers(self.recv_with_registers())
    }

    pub fn recv_with_registers(self) -> Received {
        sys::recv(syscall_number::RECV, self.cptr().0)
    }

    /// Takes a message if one is waiting (label and length 0 and badge 0 otherwise).
    pub fn nb_recv(self) -> Received {
        buffer_registers(sys::recv(syscall_number::NB_RECV, self.cptr().0))
    }

    /// Replies to the last caller, then waits for the next message.
    pub fn reply_recv(self, info: MessageInfo) -> Received {
        buffer_registers(self.reply_recv_with_registers(info, buffered_registers()))
    }

    pub fn reply_recv_with_registers(self, info: MessageInfo, registers: Registers) -> Received {
        sys::send_recv(syscall_number::REPLY_RECV, self.cptr().0, info, registers)
    }
}

impl Cap<Notification> {
    /// Sets the badge bits of this capability in the notification word.
    pub fn signal(self) {
        sys::send_null(
            syscall_number::SEND,
            self.cptr().0,
            MessageInfo::new(0, 0, 0, 0),
        );
    }

    /// Waits until the notification word is non-zero; returns and clears it.
    pub fn wait(self) -> Word {
        sys::recv(syscall_number::RECV, self.cptr().0).badge
    }

    /// Returns and clears the notification word without waiting (0 if nothing was signalled).
    pub fn poll(self) -> Word {
        sys::recv(syscall_number::NB_RECV, self.cptr().0).badge
    }
}

impl Cap<Reply> {
    /// Delivers a deferred reply through a capability saved by `Cap<CNode>::save_caller`; the
    /// capability is used up.
    pub fn send(self, info: MessageInfo) {
        self.send_with_registers(info, buffered_registers());
    }

    pub fn send_with_registers(self, info: MessageInfo, registers: Registers) {
        sys::send(syscall_number::SEND, self.cptr().0, info, registers);
    }
}

/// Replies to the thread's last caller.
pub fn reply(info: MessageInfo) {
    reply_with_registers(info, buffered_registers());
}

pub fn reply_with_registers(info: MessageInfo, registers: Registers) {
    sys::reply(syscall_number::REPLY, info, registers);
}

/// Gives up the rest of the time slice.
pub fn yield_now() {
    sys::null(syscall_number::YIELD);
}

/// Writes one byte to the kernel's console (debug kernels only).
#[cfg(sel4_sys_debug_put_char)]
pub fn debug_put_char(byte: u8) {
    sys::send_recv(
        syscall_number::DEBUG_PUT_CHAR,
        Word::from(byte),
        MessageInfo::new(0, 0, 0, 0),
        [0; 4],
    );
}

/// Stops the kernel (debug kernels only).
#[cfg(sel4_sys_debug_halt)]
pub fn debug_halt() {
    sys::null(syscall_number::DEBUG_HALT);
}
