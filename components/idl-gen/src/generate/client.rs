//! The client stub: one blocking method per op.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{
    allow_many, doc, error_type, ident, op_type, op_variant, reply_body_type, reply_or_unit,
    request_type,
};
use crate::model::{Interface, Op};

pub(super) fn client(iface: &Interface) -> Vec<TokenStream> {
    let name = format_ident!("{}Client", iface.name);
    let about = format!(" Calls `{}` through one endpoint.", iface.name);
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
    let mut params = super::params(&op.args);
    if let Some(lease) = &op.lease {
        let lease = ident(&lease.name);
        params.push(quote! { #lease: ::ballast_ipc::LeaseDescriptor });
    }
    let allow = allow_many(params.len() + 2);
    let reply = reply_or_unit(op);
    // Locals use only names the parser reserves, so no argument or lease is shadowed.
    let (encode, request) = if op.args.is_empty() {
        (TokenStream::new(), quote! { &[] })
    } else {
        let request = request_type(op);
        let names = op.args.iter().map(|f| ident(&f.name));
        (
            quote! { let request = #request::new(#(#names),*); },
            quote! { ::zerocopy::IntoBytes::as_bytes(&request) },
        )
    };
    let lease = match &op.lease {
        Some(lease) => {
            let lease = ident(&lease.name);
            quote! { Some(#lease) }
        }
        None => quote! { None },
    };
    let ops = op_type(iface);
    let variant = op_variant(op);
    let decode = if op.reply.is_empty() {
        quote! { crate::support::decode_reply::<(), _>(reply) }
    } else {
        let body = reply_body_type(op);
        quote! {
            let reply = crate::support::decode_reply::<#body, _>(reply)?;
            reply.decode().ok_or_else(crate::support::malformed)
        }
    };
    quote! {
        #about
        #allow
        pub fn #name(
            &self,
            sys: &mut dyn ::ballast_ipc::Sys,
            #(#params),*
        ) -> Result<#reply, crate::support::CallError<#error>> {
            #encode
            let mut response = [0; ::ballast_ipc::MESSAGE_BYTES];
            let reply = crate::support::call::<#error>(
                sys,
                self.endpoint,
                INTERFACE_ID,
                VERSION,
                #ops::#variant as u16,
                #request,
                #lease,
                &mut response,
            )?;
            #decode
        }
    }
}
