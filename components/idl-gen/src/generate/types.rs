//! The interface's constants, its error and op enums, and per op the zerocopy wire bodies and
//! the typed reply.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{
    allow_many, checked_from_wire, doc, error_type, ident, int, op_type, op_variant, params,
    reply_body_type, reply_type, request_type, rust_type, scalar, to_wire, wire_type,
};
use crate::layout::{layout, Slot};
use crate::model::{EnumType, Field, FieldType, Interface, Op, ScalarType};

pub(super) fn constants(iface: &Interface) -> TokenStream {
    let about = doc(&iface.doc, &format!("The `{}` interface.", iface.name), 0);
    let name = &iface.name;
    let id = int(iface.id);
    let version = int(iface.version);
    quote! {
        #about
        pub const INTERFACE_NAME: &str = #name;
        /// Interface id (the header's `interface`).
        pub const INTERFACE_ID: u16 = #id;
        /// Interface version (the header's `version`).
        pub const VERSION: u16 = #version;
    }
}

pub(super) fn error_enum(iface: &Interface) -> Vec<TokenStream> {
    let ty = error_type(iface);
    let about = format!(" Errors of `{}`: reply statuses 1..=0x7fff.", iface.name);
    let variants = iface.errors.iter().map(|variant| {
        let about = doc(&variant.doc, &format!("`{}`.", variant.name), 1);
        let name = ident(&variant.name);
        let value = int(variant.value);
        quote! { #about #name = #value }
    });
    let arms = iface.errors.iter().map(|variant| {
        let name = ident(&variant.name);
        let value = int(variant.value);
        quote! { #value => Ok(#ty::#name) }
    });
    let server_died = match iface.server_died_variant() {
        Some(died) => {
            let name = ident(&died.name);
            quote! { const SERVER_DIED: #ty = #ty::#name; }
        }
        None => quote! { compile_error!("no error variant is marked `server_died = true`"); },
    };
    vec![
        quote! {
            #[doc = #about]
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
            #[repr(u16)]
            pub enum #ty { #(#variants,)* }
        },
        quote! {
            impl TryFrom<u16> for #ty {
                type Error = u16;

                fn try_from(status: u16) -> Result<#ty, u16> {
                    match status {
                        #(#arms,)*
                        other => Err(other),
                    }
                }
            }
        },
        quote! {
            impl crate::support::InterfaceError for #ty {
                #server_died

                fn status(self) -> u16 {
                    self as u16
                }
            }
        },
    ]
}

/// A C-like enum of the IDL: the type, its checked conversion from the wire integer and the
/// conversion back.
pub(super) fn enum_type(declared: &EnumType) -> Vec<TokenStream> {
    let ty = ident(&declared.name);
    let repr = scalar(declared.repr);
    let about = doc(&declared.doc, &format!("`{}`.", declared.name), 0);
    let variants = declared.variants.iter().map(|variant| {
        let about = doc(&variant.doc, &format!("`{}`.", variant.name), 1);
        let name = ident(&variant.name);
        let value = int(variant.value);
        quote! { #about #name = #value }
    });
    let all = declared.variants.iter().map(|variant| ident(&variant.name));
    let count = int(declared.variants.len() as u64);
    let arms = declared.variants.iter().map(|variant| {
        let name = ident(&variant.name);
        let value = int(variant.value);
        quote! { #value => Ok(#ty::#name) }
    });
    vec![
        quote! {
            #about
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
            #[repr(#repr)]
            pub enum #ty { #(#variants,)* }
        },
        quote! {
            impl #ty {
                /// Every variant, in declaration order.
                pub const ALL: [#ty; #count] = [#(#ty::#all),*];
            }
        },
        quote! {
            impl TryFrom<#repr> for #ty {
                type Error = #repr;

                /// The variant with wire value `value`; an unknown value (0 among them) is
                /// handed back.
                fn try_from(value: #repr) -> Result<#ty, #repr> {
                    match value {
                        #(#arms,)*
                        other => Err(other),
                    }
                }
            }
        },
        quote! {
            impl From<#ty> for #repr {
                fn from(value: #ty) -> #repr {
                    value as #repr
                }
            }
        },
    ]
}

pub(super) fn op_enum(iface: &Interface) -> Vec<TokenStream> {
    let ty = op_type(iface);
    let about = format!(
        " Ops of `{}` (the request header's `op_or_status`).",
        iface.name
    );
    let variants = iface.ops.iter().map(|op| {
        let about = format!(" `{}`.", op.name);
        let name = op_variant(op);
        let id = int(op.id);
        quote! { #[doc = #about] #name = #id }
    });
    let all = iface.ops.iter().map(op_variant);
    let count = int(iface.ops.len() as u64);
    let names = iface.ops.iter().map(|op| {
        let variant = op_variant(op);
        let name = &op.name;
        quote! { #ty::#variant => #name }
    });
    let capabilities = iface.ops.iter().map(|op| {
        let variant = op_variant(op);
        let capability = &op.capability;
        quote! { #ty::#variant => #capability }
    });
    let arms = iface.ops.iter().map(|op| {
        let variant = op_variant(op);
        let id = int(op.id);
        quote! { #id => Ok(#ty::#variant) }
    });
    let indices = iface.ops.iter().enumerate().map(|(index, op)| {
        let variant = op_variant(op);
        let index = int(index as u64);
        quote! { #ty::#variant => #index }
    });
    vec![
        quote! {
            #[doc = #about]
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
            #[repr(u16)]
            pub enum #ty { #(#variants,)* }
        },
        quote! {
            impl #ty {
                /// Every op, in declaration order.
                pub const ALL: [#ty; #count] = [#(#ty::#all),*];

                /// The op's position in [`Self::ALL`] (for tables with one entry per op).
                pub const fn index(self) -> usize {
                    match self { #(#indices,)* }
                }

                /// The op's name in the IDL.
                pub const fn name(self) -> &'static str {
                    match self { #(#names,)* }
                }

                /// The capability a caller needs, as manifests name it.
                pub const fn capability(self) -> &'static str {
                    match self { #(#capabilities,)* }
                }
            }
        },
        quote! {
            impl TryFrom<u16> for #ty {
                type Error = u16;

                fn try_from(op: u16) -> Result<#ty, u16> {
                    match op {
                        #(#arms,)*
                        other => Err(other),
                    }
                }
            }
        },
    ]
}

/// A zerocopy struct for `fields`, with explicit padding and a size check.
fn wire_struct(name: &proc_macro2::Ident, about: &str, fields: &[Field]) -> Vec<TokenStream> {
    let body = layout(fields);
    let about = doc(about, "", 0);
    let mut pads = 0usize;
    let slots = body.slots.iter().map(|slot| match slot {
        Slot::Field(index) => {
            let field = &fields[*index];
            let mut about = doc(&field.doc, &format!("`{}`.", field.name), 1);
            match &field.ty {
                FieldType::Scalar(ScalarType::Bool) => {
                    about.extend(quote! { #[doc = " A `bool` on the wire: 0 or 1."] });
                }
                FieldType::Enum { name, .. } => {
                    let note = format!(" A [`{name}`] on the wire: one of its values.");
                    about.extend(quote! { #[doc = #note] });
                }
                FieldType::Scalar(_) => {}
            }
            let name = ident(&field.name);
            let ty = wire_type(field);
            quote! { #about pub #name: #ty }
        }
        Slot::Padding(bytes) => {
            let name = format_ident!("_pad{}", pads);
            pads += 1;
            let bytes = int(*bytes as u64);
            quote! { #name: [u8; #bytes] }
        }
    });
    let slots: Vec<TokenStream> = slots.collect();
    let size = int(body.size as u64);
    vec![
        quote! {
            #about
            #[derive(
                Clone,
                Copy,
                Debug,
                PartialEq,
                Eq,
                ::zerocopy::FromBytes,
                ::zerocopy::IntoBytes,
                ::zerocopy::Immutable,
                ::zerocopy::KnownLayout,
            )]
            #[repr(C)]
            pub struct #name { #(#slots,)* }
        },
        quote! {
            /// The size the IDL laid out (a different size fails the build).
            const _: [(); #size] = [(); ::core::mem::size_of::<#name>()];
        },
    ]
}

/// The fields of a wire struct literal (`a`, `b: b as u8`, `_pad0: [0; 3]`), each value read
/// from `source` (a local per field when `None`).
fn wire_literal(fields: &[Field], source: Option<&TokenStream>) -> Vec<TokenStream> {
    let mut pads = 0usize;
    layout(fields)
        .slots
        .iter()
        .map(|slot| match slot {
            Slot::Field(index) => {
                let field = &fields[*index];
                let name = ident(&field.name);
                let value = match source {
                    Some(source) => quote! { #source.#name },
                    None => quote! { #name },
                };
                let plain = matches!(field.ty, FieldType::Scalar(ty) if ty != ScalarType::Bool);
                if plain && source.is_none() {
                    quote! { #name }
                } else {
                    let wire = to_wire(field, value);
                    quote! { #name: #wire }
                }
            }
            Slot::Padding(bytes) => {
                let name = format_ident!("_pad{}", pads);
                pads += 1;
                let bytes = int(*bytes as u64);
                quote! { #name: [0; #bytes] }
            }
        })
        .collect()
}

/// The request body, the reply and the reply body of `op`.
pub(super) fn op_types(_iface: &Interface, op: &Op) -> Vec<TokenStream> {
    let mut items = Vec::new();
    if !op.args.is_empty() {
        let name = request_type(op);
        items.extend(wire_struct(
            &name,
            &format!("Request body of `{}`.", op.name),
            &op.args,
        ));
        let params = params(&op.args);
        let allow = allow_many(params.len());
        let fields = wire_literal(&op.args, None);
        items.push(quote! {
            impl #name {
                /// The body for these arguments.
                #allow
                pub const fn new(#(#params),*) -> Self {
                    Self { #(#fields),* }
                }
            }
        });
    }
    if !op.reply.is_empty() {
        let reply = reply_type(op);
        let body = reply_body_type(op);
        let about = format!(" Reply of `{}`.", op.name);
        let fields = op.reply.iter().map(|field| {
            let about = doc(&field.doc, &format!("`{}`.", field.name), 1);
            let name = ident(&field.name);
            let ty = rust_type(field);
            quote! { #about pub #name: #ty }
        });
        items.push(quote! {
            #[doc = #about]
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub struct #reply { #(#fields,)* }
        });
        items.extend(wire_struct(
            &body,
            &format!("Reply body of `{}`.", op.name),
            &op.reply,
        ));
        let encoded = wire_literal(&op.reply, Some(&quote! { reply }));
        let decoded = op.reply.iter().map(|field| {
            let name = ident(&field.name);
            match checked_from_wire(field, quote! { self.#name }) {
                Some(checked) => quote! { #name: #checked? },
                None => quote! { #name: self.#name },
            }
        });
        items.push(quote! {
            impl #body {
                /// The body for a reply.
                pub const fn new(reply: &#reply) -> Self {
                    Self { #(#encoded),* }
                }

                /// The reply, or `None` if a `bool` is neither 0 nor 1 or an enum value unknown.
                pub fn decode(&self) -> Option<#reply> {
                    Some(#reply { #(#decoded),* })
                }
            }
        });
    }
    items
}
