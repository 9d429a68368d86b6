//! The caller's side: per op a request encoder and a reply decoder that neither send nor block,
//! the blocking client stub built on them, and the client for callers that must not block
//! (submit now, decode the reply when it has come).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{
    allow_many, doc, error_type, ident, op_type, op_variant, reply_body_type, reply_or_unit,
    request_type,
};
use crate::model::{Interface, Op};

/// The one function that fills in this interface's message headers.
pub(super) fn wire_message() -> TokenStream {
    quote! {
        /// A message of this interface: the header for `op_or_status`, then `body`.
        fn wire_message(op_or_status: u16, body: &[u8]) -> crate::support::Message {
            let header = ::ballast_ipc::MessageHeader {
                interface: INTERFACE_ID,
                op_or_status,
                version: VERSION,
                body_len: body.len() as u16,
            };
            crate::support::Message::new(header, body)
        }
    }
}

/// `encode_<op>` and `decode_<op>` for every op.
pub(super) fn codecs(iface: &Interface, op: &Op) -> Vec<TokenStream> {
    let error = error_type(iface);
    let encode = format_ident!("encode_{}", op.name);
    let decode = format_ident!("decode_{}", op.name);
    let params = super::params(&op.args);
    let allow = allow_many(params.len());
    let ops = op_type(iface);
    let variant = op_variant(op);
    let body = if op.args.is_empty() {
        quote! { wire_message(#ops::#variant as u16, &[]) }
    } else {
        let request = request_type(op);
        let names = op.args.iter().map(|f| ident(&f.name));
        quote! {
            let request = #request::new(#(#names),*);
            wire_message(#ops::#variant as u16, ::zerocopy::IntoBytes::as_bytes(&request))
        }
    };
    let lease_note = match &op.lease {
        Some(lease) => format!(" Send it with the `{}` lease.", lease.name),
        None => String::new(),
    };
    let encode_doc = super::doc(
        &format!(
            "The request message of `{}`, encoded without sending it.{lease_note}",
            op.name
        ),
        "",
        0,
    );
    let decode_doc = format!(
        " The outcome a reply message of `{}` carries: its reply, the interface's error, or a \
         protocol error (a reply that is not one of this op's is malformed).",
        op.name
    );
    let decode_doc = super::doc(&decode_doc, "", 0);
    let reply = reply_or_unit(op);
    let decoded = if op.reply.is_empty() {
        quote! { crate::support::decode_reply::<(), _>(body) }
    } else {
        let body_type = reply_body_type(op);
        quote! {
            let body = crate::support::decode_reply::<#body_type, _>(body)?;
            body.decode().ok_or_else(crate::support::malformed)
        }
    };
    vec![
        quote! {
            #encode_doc
            #allow
            pub fn #encode(#(#params),*) -> crate::support::Message {
                #body
            }
        },
        quote! {
            #decode_doc
            pub fn #decode(reply: &[u8]) -> Result<#reply, crate::support::CallError<#error>> {
                let body = crate::support::check_reply::<#error>(reply, INTERFACE_ID, VERSION)?;
                #decoded
            }
        },
    ]
}

/// The op's parameters after the receiver and `sys`: its arguments, then its lease.
fn call_params(op: &Op) -> Vec<TokenStream> {
    let mut params = super::params(&op.args);
    if let Some(lease) = &op.lease {
        let lease = ident(&lease.name);
        params.push(quote! { #lease: ::ballast_ipc::LeaseDescriptor });
    }
    params
}

/// `Some(lease)` or `None`, as the runtime takes it.
fn lease_arg(op: &Op) -> TokenStream {
    match &op.lease {
        Some(lease) => {
            let lease = ident(&lease.name);
            quote! { Some(#lease) }
        }
        None => quote! { None },
    }
}

/// The encoder call for `op` with its arguments, by name.
fn encode_call(op: &Op) -> TokenStream {
    let encode = format_ident!("encode_{}", op.name);
    let names = op.args.iter().map(|f| ident(&f.name));
    quote! { #encode(#(#names),*) }
}

pub(super) fn client(iface: &Interface) -> Vec<TokenStream> {
    let name = format_ident!("{}Client", iface.name);
    let about = format!(
        " Calls `{}` through one endpoint, blocking until each reply.",
        iface.name
    );
    let methods = iface.ops.iter().map(|op| method(iface, op));
    vec![
        quote! {
            #[doc = #about]
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub struct #name {
                endpoint: ::ballast_ipc::EndpointId,
            }
        },
        quote! {
            impl #name {
                /// A client of the server behind `endpoint`.
                pub const fn new(endpoint: ::ballast_ipc::EndpointId) -> Self {
                    Self { endpoint }
                }

                /// The endpoint it calls.
                pub const fn endpoint(&self) -> ::ballast_ipc::EndpointId {
                    self.endpoint
                }

                #(#methods)*
            }
        },
    ]
}

fn method(iface: &Interface, op: &Op) -> TokenStream {
    let error = error_type(iface);
    let about = doc(&op.doc, &format!("Calls `{}`.", op.name), 1);
    let name = ident(&op.name);
    let params = call_params(op);
    let allow = allow_many(params.len() + 2);
    let reply = reply_or_unit(op);
    let encode = encode_call(op);
    let decode = format_ident!("decode_{}", op.name);
    let lease = lease_arg(op);
    // Locals use only names the parser reserves, so no argument or lease is shadowed.
    quote! {
        #about
        #allow
        pub fn #name(
            &self,
            sys: &mut dyn ::ballast_ipc::Sys,
            #(#params),*
        ) -> Result<#reply, crate::support::CallError<#error>> {
            let request = #encode;
            let mut response = [0; ::ballast_ipc::MESSAGE_BYTES];
            let reply = crate::support::call::<#error>(sys, self.endpoint, &request, #lease, &mut response)?;
            #decode(reply)
        }
    }
}

pub(super) fn deferred_client(iface: &Interface) -> Vec<TokenStream> {
    let name = format_ident!("{}DeferredClient", iface.name);
    let about = doc(
        &format!(
            "Calls `{}` without blocking, for callers driven from outside a runtime: each method \
             submits its request and returns a [`crate::support::Pending`] that decodes the reply \
             once the runtime has it.",
            iface.name
        ),
        "",
        0,
    );
    let methods = iface.ops.iter().map(|op| deferred_method(iface, op));
    vec![
        quote! {
            #about
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub struct #name {
                endpoint: ::ballast_ipc::EndpointId,
            }
        },
        quote! {
            impl #name {
                /// A client of the server behind `endpoint`.
                pub const fn new(endpoint: ::ballast_ipc::EndpointId) -> Self {
                    Self { endpoint }
                }

                /// The endpoint it calls.
                pub const fn endpoint(&self) -> ::ballast_ipc::EndpointId {
                    self.endpoint
                }

                #(#methods)*
            }
        },
    ]
}

fn deferred_method(iface: &Interface, op: &Op) -> TokenStream {
    let error = error_type(iface);
    let about = doc(&format!("Submits `{}`.", op.name), "", 1);
    let name = ident(&op.name);
    let params = call_params(op);
    let allow = allow_many(params.len() + 2);
    let reply = reply_or_unit(op);
    let encode = encode_call(op);
    let decode = format_ident!("decode_{}", op.name);
    let lease = lease_arg(op);
    quote! {
        #about
        #allow
        pub fn #name<S: crate::support::Submit + ?Sized>(
            &self,
            sys: &mut S,
            #(#params),*
        ) -> Result<crate::support::Pending<S::Call, #reply, #error>, crate::support::CallError<#error>> {
            let request = #encode;
            crate::support::Pending::submit(sys, self.endpoint, &request, #lease, #decode)
        }
    }
}
