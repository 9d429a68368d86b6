//! [`TakeOnce`]: a static the PD hands out once, for memory too large for its stack (the memory
//! server's bitmaps, a region-sized scratch buffer): it lives in .bss, zeroed by the root task.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// A value in a static, handed out once as `&'static mut`.
#[derive(Debug)]
pub struct TakeOnce<T> {
    taken: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through `take`, which hands it out at most once (the swap
// of `taken` decides), so no two threads ever hold it; `T: Send` lets it move to the taker.
unsafe impl<T: Send> Sync for TakeOnce<T> {}

impl<T> TakeOnce<T> {
    /// `value`, not taken yet.
    pub const fn new(value: T) -> TakeOnce<T> {
        TakeOnce {
            taken: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, the first time; `None` after.
    #[allow(
        clippy::mut_from_ref,
        reason = "a shared static handed out mutably once: `taken` guards it"
    )]
    pub fn take(&'static self) -> Option<&'static mut T> {
        if self.taken.swap(true, Ordering::Acquire) {
            return None;
        }
        // SAFETY: `taken` was clear and is now set for good: this is the only reference ever
        // made to the value, and the static lives for the program.
        Some(unsafe { &mut *self.value.get() })
    }
}
