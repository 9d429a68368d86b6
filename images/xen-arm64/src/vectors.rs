//! The exception vector table (VBAR_EL1, installed by `boot.rs`) and the probe read.
//!
//! Every exception saves the general registers, ELR and SPSR and enters [`ballast_exception`].
//! One case is expected: a synchronous data abort raised by the load in `ballast_probe_read`
//! (reading a guest frame Xen no longer backs: Xen injects a data abort). It is answered by
//! skipping the load and returning the syndrome. Anything else is reported on the console with
//! its syndrome, return and fault addresses, and ends the run as a FAIL.

use core::arch::{asm, global_asm};

use crate::exit::{self, Verdict};

/// Saved state, laid out as the assembly stores it.
#[derive(Debug)]
#[repr(C)]
pub struct Frame {
    /// x0..x30.
    registers: [u64; 31],
    /// Where the exception returns to.
    elr: u64,
    spsr: u64,
    padding: u64,
}
const FRAME_BYTES: usize = core::mem::size_of::<Frame>();
const _: () = assert!(FRAME_BYTES == 34 * 8 && FRAME_BYTES.is_multiple_of(16));

global_asm!(
    r#"
    .macro ballast_vector kind
    .balign 0x80
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    b       ballast_exception_entry
    .endm

    .section .text.vectors, "ax"
    .balign 0x800
    .global ballast_vectors
ballast_vectors:
    ballast_vector 0
    ballast_vector 1
    ballast_vector 2
    ballast_vector 3
    ballast_vector 4
    ballast_vector 5
    ballast_vector 6
    ballast_vector 7
    ballast_vector 8
    ballast_vector 9
    ballast_vector 10
    ballast_vector 11
    ballast_vector 12
    ballast_vector 13
    ballast_vector 14
    ballast_vector 15

ballast_exception_entry:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x1, elr_el1
    stp     x30, x1, [sp, #240]
    mrs     x1, spsr_el1
    str     x1, [sp, #256]
    mov     x1, sp
    bl      ballast_exception
    ldp     x30, x1, [sp, #240]
    msr     elr_el1, x1
    ldr     x1, [sp, #256]
    msr     spsr_el1, x1
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    add     sp, sp, #{frame}
    eret

    /* x0: address. Returns x0 = the word and x1 = 0, or x0 = ESR_EL1 and x1 = 1 after an abort. */
    .section .text.probe, "ax"
    .global ballast_probe_read
ballast_probe_read:
    mov     x1, #0
    .global ballast_probe_load
ballast_probe_load:
    ldr     x0, [x0]
    ret
    "#,
    frame = const FRAME_BYTES,
);

/// The vector offsets' order: current EL with SP0, current EL with SPx, lower EL (AArch64),
/// lower EL (AArch32); in each, synchronous, IRQ, FIQ, SError.
const SYNC_CURRENT_SPX: u64 = 4;
/// ESR_EL1.EC of a data abort taken without a change of exception level.
const EC_DATA_ABORT_SAME_EL: u64 = 0x25;

#[repr(C)]
struct ProbeResult {
    value: u64,
    aborted: u64,
}

extern "C" {
    fn ballast_probe_read(address: u64) -> ProbeResult;
    static ballast_probe_load: u8;
}

/// What reading one word found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum Probe {
    /// The word.
    Value(u64),
    /// The read raised a data abort with this syndrome (ESR_EL1).
    Aborted(u64),
}

/// Read the word at `address`, surviving a data abort.
///
/// # Safety
/// `address` must be 8-byte aligned and mapped by the image's page tables (an abort can then
/// only come from stage 2: Xen).
pub unsafe fn probe_read(address: u64) -> Probe {
    // SAFETY: the caller vouches for the address; an abort is caught by `ballast_exception`,
    // which resumes after the load with the syndrome.
    let result = unsafe { ballast_probe_read(address) };
    if result.aborted == 0 {
        Probe::Value(result.value)
    } else {
        Probe::Aborted(result.value)
    }
}

fn esr() -> u64 {
    let value: u64;
    // SAFETY: reads a system register; no memory is touched.
    unsafe { asm!("mrs {}, esr_el1", out(reg) value, options(nomem, nostack)) };
    value
}

fn far() -> u64 {
    let value: u64;
    // SAFETY: reads a system register; no memory is touched.
    unsafe { asm!("mrs {}, far_el1", out(reg) value, options(nomem, nostack)) };
    value
}

#[no_mangle]
extern "C" fn ballast_exception(kind: u64, frame: &mut Frame) {
    let syndrome = esr();
    let class = syndrome >> 26;
    let probe_load = core::ptr::addr_of!(ballast_probe_load) as u64;
    if kind == SYNC_CURRENT_SPX && class == EC_DATA_ABORT_SAME_EL && frame.elr == probe_load {
        frame.registers[0] = syndrome;
        frame.registers[1] = 1;
        frame.elr += 4;
        return;
    }
    defmt::error!(
        "fault kind={=u64} esr={=u64:#x} class={=u64:#x} elr={=u64:#x} far={=u64:#x} spsr={=u64:#x}",
        kind,
        syndrome,
        class,
        frame.elr,
        far(),
        frame.spsr
    );
    defmt::error!("RESULT FAIL");
    exit::finish(Verdict::Fail)
}
