//! x86-64: the hypercall page. Xen is found through CPUID leaves 0x40000000 + n*0x100; leaf
//! base+2 names the MSR that makes Xen fill a page with one 32-byte stub per hypercall. Arguments
//! go in rdi, rsi, rdx, r10, r8; the result comes back in rax.
//! Measured: `docs/XEN-BEHAVIOUR.md#x86-hypercall-abi`.

use core::arch::asm;
use core::arch::x86_64::__cpuid;

use super::RawHypercall;

/// One page-aligned page for Xen's hypercall stubs.
#[derive(Debug)]
#[repr(C, align(4096))]
pub struct HypercallPage(pub [u8; 4096]);

/// Why the hypercall page could not be installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstallError {
    /// No CPUID leaf in the hypervisor range carries the "XenVMMXenVMM" signature.
    NotXen,
}

/// The CPUID base of Xen's leaves, if this CPU runs on Xen.
pub fn xen_cpuid_base() -> Option<u32> {
    (0x4000_0000u32..0x4001_0000).step_by(0x100).find(|&base| {
        let leaf = __cpuid(base);
        let signature = [
            leaf.ebx.to_le_bytes(),
            leaf.ecx.to_le_bytes(),
            leaf.edx.to_le_bytes(),
        ];
        signature.concat_eq(b"XenVMMXenVMM") && leaf.eax >= msr_leaf(base)
    })
}

trait ConcatEq {
    fn concat_eq(&self, other: &[u8; 12]) -> bool;
}

impl ConcatEq for [[u8; 4]; 3] {
    fn concat_eq(&self, other: &[u8; 12]) -> bool {
        self.iter().flatten().eq(other.iter())
    }
}

/// The leaf naming the hypercall page's MSR, two past the base. Bases are multiples of 0x100, so
/// setting bit 1 adds the two.
const fn msr_leaf(base: u32) -> u32 {
    base | 2
}

/// The installed hypercall page.
#[derive(Debug, Clone, Copy)]
pub struct X86Hypercall {
    page: &'static HypercallPage,
}

impl X86Hypercall {
    /// Ask Xen to fill `page` with hypercall stubs.
    ///
    /// # Safety
    /// `page` must be mapped 1:1 (its address is its guest-physical address), and must stay
    /// untouched by anyone else for the rest of the guest's life: Xen writes code into it.
    pub unsafe fn install(page: &'static mut HypercallPage) -> Result<X86Hypercall, InstallError> {
        let base = xen_cpuid_base().ok_or(InstallError::NotXen)?;
        let msr = __cpuid(msr_leaf(base)).ebx;
        let address = page as *mut HypercallPage as u64;
        // SAFETY: the MSR index comes from Xen's own CPUID leaf; writing the page's address to it
        // makes Xen fill that page, which the caller reserved for it.
        unsafe {
            asm!("wrmsr", in("ecx") msr, in("eax") address as u32, in("edx") (address >> 32) as u32,
                 options(nostack, preserves_flags));
        }
        Ok(X86Hypercall { page })
    }
}

impl RawHypercall for X86Hypercall {
    unsafe fn hypercall5(&self, nr: u32, args: [u64; 5]) -> i64 {
        // Xen writes one 32-byte stub per hypercall number; a number past the page has none.
        let Some(stub) = (nr as usize)
            .checked_mul(32)
            .and_then(|offset| self.page.0.get(offset))
        else {
            return const { -(crate::hypervisor::XenErrno::ENOSYS.0 as i64) };
        };
        let stub = stub as *const u8 as u64;
        let ret: i64;
        // SAFETY: `stub` is Xen's entry for hypercall `nr` in the installed page; the stub may
        // clobber the argument registers, rcx and r11, and uses the stack for the `call`. The
        // caller vouches for the pointer arguments.
        unsafe {
            asm!(
                "call {stub}",
                stub = in(reg) stub,
                inlateout("rdi") args[0] => _,
                inlateout("rsi") args[1] => _,
                inlateout("rdx") args[2] => _,
                inlateout("r10") args[3] => _,
                inlateout("r8") args[4] => _,
                lateout("rax") ret,
                lateout("rcx") _,
                lateout("r11") _,
            );
        }
        ret
    }
}
