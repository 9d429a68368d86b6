//! What every generated invocation method does once its parameters are packed (as libsel4's
//! generated stubs do): extra caps into the IPC buffer, message words 0..3 into x2..x5 and the
//! rest into the buffer, a `Call` on the invoked capability with the label, then the reply label
//! read as an error (message registers 0..3 copied back to the buffer on error, so a caller can
//! read the failure's details there, as the C stubs leave them).

use crate::ipc_buffer::{self, MESSAGE_MAX_EXTRA_CAPS, MESSAGE_MAX_WORDS};
use crate::sys::{self, Registers};
use crate::{syscall_number, CPtr, MessageInfo, Sel4Error, Word};

/// A successful invocation's reply message.
pub(crate) struct Reply {
    registers: Registers,
}

impl Reply {
    /// Message register `index` of the reply (0 past the buffer; the generator only asks for
    /// registers within it).
    pub(crate) fn mr(&self, index: usize) -> Word {
        match self.registers.get(index) {
            Some(word) => *word,
            None => ipc_buffer::message_register(index).unwrap_or(0),
        }
    }
}

/// Invokes `service` with `label`, extra `caps` and message `words` (the generator keeps them
/// within the buffer: at most 3 caps, 120 words).
pub(crate) fn invoke(
    service: CPtr,
    label: Word,
    caps: &[CPtr],
    words: &[Word],
) -> Result<Reply, Sel4Error> {
    let caps = &caps[..caps.len().min(MESSAGE_MAX_EXTRA_CAPS)];
    let words = &words[..words.len().min(MESSAGE_MAX_WORDS)];
    for (index, cap) in caps.iter().enumerate() {
        ipc_buffer::set_extra_cap(index, *cap).map_err(|_| Sel4Error::RangeError)?;
    }
    let mut registers: Registers = [0; 4];
    for (index, word) in words.iter().enumerate() {
        match registers.get_mut(index) {
            Some(register) => *register = *word,
            None => {
                ipc_buffer::set_message_register(index, *word)
                    .map_err(|_| Sel4Error::RangeError)?;
            }
        }
    }
    let info = MessageInfo::new(label, 0, caps.len() as Word, words.len() as Word);
    let reply = sys::send_recv(syscall_number::CALL, service.0, info, registers);
    match Sel4Error::from_label(reply.info.label()) {
        None => Ok(Reply {
            registers: reply.registers,
        }),
        Some(error) => {
            // The four registers fit the buffer: its writes cannot fail.
            let _ = ipc_buffer::write_message(0, &reply.registers);
            Err(error)
        }
    }
}
