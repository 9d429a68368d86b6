//! Composition tables and the interface catalog as Rust source (const data), written by the
//! build script and included by `manifest::generated`. Every struct is emitted field by field,
//! so a field added to a table type without being emitted fails the build.

use super::catalog::{InterfaceSpec, LeaseAccess, OpSpec};
use super::compose::{ComponentEntry, Composition, EndpointEntry, Grant, RegionEntry};
use super::schema::{
    GfnRange, Kind, MemoryLayout, NamedRange, Policy, RamSource, ServerSizing, SimHost, Target,
    XenLimits,
};
use std::borrow::Cow;
use std::fmt::Write;

/// `pub const NAME: Composition = ...;`
pub fn composition_const(name: &str, composition: &Composition) -> String {
    let mut out = format!(
        "/// Composition tables of manifest `{}`.\n",
        composition.image
    );
    out.push_str(&format!(
        "pub const {name}: crate::manifest::Composition = "
    ));
    composition.emit(&mut out);
    out.push_str(";\n");
    out
}

/// `pub const NAME: &[InterfaceSpec] = ...;`
pub fn catalog_const(name: &str, catalog: &[InterfaceSpec]) -> String {
    let mut out = String::from("/// The interfaces of idl/ this build was made with.\n");
    out.push_str(&format!(
        "pub const {name}: &[crate::manifest::InterfaceSpec] = "
    ));
    emit_slice(catalog, &mut out);
    out.push_str(";\n");
    out
}

/// A value that can write itself as a Rust const expression.
trait Emit {
    fn emit(&self, out: &mut String);
}

macro_rules! emit_number {
    ($($ty:ty),*) => {$(
        impl Emit for $ty {
            fn emit(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}

emit_number!(u8, u16, u32, u64);

macro_rules! emit_unit_enum {
    ($($ty:ident),*) => {$(
        impl Emit for $ty {
            fn emit(&self, out: &mut String) {
                let _ = write!(out, "crate::manifest::{}::{:?}", stringify!($ty), self);
            }
        }
    )*};
}

emit_unit_enum!(Target, Kind, Policy, RamSource, LeaseAccess);

macro_rules! emit_struct {
    ($($ty:ident { $($field:ident),* })*) => {$(
        impl Emit for $ty {
            fn emit(&self, out: &mut String) {
                out.push_str(concat!("crate::manifest::", stringify!($ty), " {"));
                $(
                    out.push_str(concat!(" ", stringify!($field), ": "));
                    self.$field.emit(out);
                    out.push(',');
                )*
                out.push_str(" }");
            }
        }
    )*};
}

emit_struct! {
    Composition { image, target, components, endpoints, regions, memory, xen, memory_server, sim }
    ComponentEntry { id, name, kind, serves, max_lent_frames }
    EndpointEntry { id, badge, client, server, grants }
    Grant { interface, ops }
    RegionEntry { id, name, size, lender, sharers, writers }
    MemoryLayout { ram_source, ram, ram_ceiling, reserved, unpopulated, boot_extra }
    GfnRange { start, end }
    NamedRange { name, start, end }
    XenLimits { max_extent_order, max_frames_per_call }
    ServerSizing {
        max_clients, max_lent_runs_per_client, pending_depth, pending_timeout_ms, batch_size,
        policy, schedule_delay_s, max_schedule_delay_s, max_retry_count
    }
    SimHost { host_free_pages, domain_max_pages }
    InterfaceSpec { name, id, ops }
    OpSpec { name, id, capability, lease }
}

impl<T: Emit> Emit for Option<T> {
    fn emit(&self, out: &mut String) {
        match self {
            Some(value) => {
                out.push_str("Some(");
                value.emit(out);
                out.push(')');
            }
            None => out.push_str("None"),
        }
    }
}

impl Emit for Cow<'static, str> {
    fn emit(&self, out: &mut String) {
        let _ = write!(out, "::std::borrow::Cow::Borrowed({:?})", self.as_ref());
    }
}

impl<T: Emit + Clone> Emit for Cow<'static, [T]> {
    fn emit(&self, out: &mut String) {
        out.push_str("::std::borrow::Cow::Borrowed(");
        emit_slice(self, out);
        out.push(')');
    }
}

fn emit_slice<T: Emit>(items: &[T], out: &mut String) {
    out.push_str("&[");
    for item in items {
        item.emit(out);
        out.push_str(",\n");
    }
    out.push(']');
}
