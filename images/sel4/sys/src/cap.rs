//! Capability pointers and typed capabilities: `Cap<T>` is a CPtr whose marker type `T` says what
//! the capability is, so only that type's invocations are methods on it. The kernel checks every
//! capability anyway: a wrong marker costs an error reply, never memory safety.

use core::fmt;
use core::marker::PhantomData;

/// An address in the caller's CSpace (`seL4_CPtr`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CPtr(pub crate::Word);

impl CPtr {
    /// The null capability pointer.
    pub const NULL: Self = Self(0);
}

/// A capability of kind `T` at a CPtr.
pub struct Cap<T> {
    cptr: CPtr,
    kind: PhantomData<fn() -> T>,
}

impl<T> Cap<T> {
    /// The capability at `cptr`, taken to be of kind `T`.
    pub const fn from_cptr(cptr: CPtr) -> Self {
        Self {
            cptr,
            kind: PhantomData,
        }
    }

    /// Where it is.
    pub const fn cptr(self) -> CPtr {
        self.cptr
    }

    /// The same slot, taken to be of kind `U`.
    pub const fn cast<U>(self) -> Cap<U> {
        Cap::from_cptr(self.cptr)
    }
}

impl<T> Clone for Cap<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Cap<T> {}

impl<T> PartialEq for Cap<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cptr == other.cptr
    }
}

impl<T> Eq for Cap<T> {}

impl<T> fmt::Debug for Cap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Cap<{}>({:#x})",
            core::any::type_name::<T>(),
            self.cptr.0
        )
    }
}

impl<T> From<Cap<T>> for CPtr {
    fn from(cap: Cap<T>) -> Self {
        cap.cptr
    }
}

/// Marker for endpoint capabilities (no invocations: used by send, receive and call).
#[derive(Debug)]
pub enum Endpoint {}

/// Marker for notification capabilities (signal, wait, poll).
#[derive(Debug)]
pub enum Notification {}

/// Marker for a reply capability saved by `Cap<CNode>::save_caller` (a deferred reply is a send
/// on it).
#[derive(Debug)]
pub enum Reply {}

/// A VSpace root: on aarch64 5.0, a page global directory.
pub type VSpace = crate::PageGlobalDirectory;
