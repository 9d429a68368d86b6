//! Errors of runtime operations driven from outside the components (kill, client handles).

/// Why a runtime refused an operation. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum RuntimeError {
    /// No component has that id.
    UnknownComponent = 1,
    /// The component is already dead.
    AlreadyDead = 2,
    /// The operation is for external components and this one runs a handler.
    NotExternal = 3,
    /// The external component's handle was already handed out.
    HandleTaken = 4,
}
