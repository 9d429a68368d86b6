//! The IPC interfaces a manifest may name, with their op ids: read from `idl/` by the build script
//! and compiled into the library as const data, so that `ballast check` validates against exactly
//! the interfaces this build speaks.

use std::borrow::Cow;

/// One IDL interface, as manifests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceSpec {
    /// Interface name (as in the `.idol` file, e.g. `Balloon`).
    pub name: Cow<'static, str>,
    /// Interface id carried in message headers.
    pub id: u16,
    /// Its ops.
    pub ops: Cow<'static, [OpSpec]>,
}

/// One op of an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpSpec {
    /// Op name (snake_case).
    pub name: Cow<'static, str>,
    /// Op id carried in request headers.
    pub id: u16,
    /// The capability a caller needs (e.g. `balloon.alloc`).
    pub capability: Cow<'static, str>,
    /// What the server may do with the lease the op takes.
    pub lease: LeaseAccess,
}

/// A server's access to the lease an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseAccess {
    /// The op takes no lease.
    None,
    /// The server reads the leased bytes.
    Read,
    /// The server reads and writes the leased bytes.
    ReadWrite,
}

impl InterfaceSpec {
    /// The op called `name`, if the interface has one.
    pub fn op(&self, name: &str) -> Option<&OpSpec> {
        self.ops.iter().find(|op| op.name == name)
    }

    /// The op names, comma-separated, for messages.
    pub fn op_names(&self) -> String {
        join(self.ops.iter().map(|op| op.name.as_ref()))
    }
}

/// The interface called `name` in `catalog`.
pub fn interface<'a>(catalog: &'a [InterfaceSpec], name: &str) -> Option<&'a InterfaceSpec> {
    catalog.iter().find(|interface| interface.name == name)
}

/// The interface names of `catalog`, comma-separated, for messages.
pub fn interface_names(catalog: &[InterfaceSpec]) -> String {
    join(catalog.iter().map(|interface| interface.name.as_ref()))
}

/// `a, b, c` (or `(none)`).
pub fn join<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let joined = names.collect::<Vec<_>>().join(", ");
    if joined.is_empty() {
        String::from("(none)")
    } else {
        joined
    }
}
