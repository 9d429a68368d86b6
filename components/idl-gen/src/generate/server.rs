//! The server side: per op a responder (the right to answer, now or later), the server trait,
//! and `dispatch`, which checks a call and hands it to the server.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{
    allow_many, checked_from_wire, doc, error_type, ident, op_type, op_variant, reply_body_type,
    reply_type, request_type, responder_type,
};
use crate::model::{Interface, LeaseMode, Op};

pub(super) fn responder(iface: &Interface, op: &Op) -> Vec<TokenStream> {
    let name = responder_type(op);
    let error = error_type(iface);
    let about = format!(
        " The right to answer one `{}` call: now, or kept and used later.",
        op.name
    );
    let (lease_field, lease_getter) = match &op.lease {
        Some(lease) => {
            let ty = lease_type(lease.access);
            (
                quote! { lease: #ty, },
                quote! {
                    /// The caller's lease, checked when the call arrived: a server that answers
                    /// later reaches its bytes again with `self.lease().bytes(sys)`.
                    pub const fn lease(&self) -> #ty {
                        self.lease
                    }
                },
            )
        }
        None => (TokenStream::new(), TokenStream::new()),
    };
    let ok = if op.reply.is_empty() {
        quote! {
            pub fn ok(self) -> crate::support::ReplyMessage {
                let message = wire_message(crate::support::STATUS_OK, &[]);
                crate::support::ReplyMessage::new(self.token, message)
            }
        }
    } else {
        let reply = reply_type(op);
        let body = reply_body_type(op);
        quote! {
            pub fn ok(self, reply: #reply) -> crate::support::ReplyMessage {
                let body = #body::new(&reply);
                let bytes = ::zerocopy::IntoBytes::as_bytes(&body);
                let message = wire_message(crate::support::STATUS_OK, bytes);
                crate::support::ReplyMessage::new(self.token, message)
            }
        }
    };
    vec![
        quote! {
            #[doc = #about]
            #[derive(Debug)]
            #[must_use = "the caller waits until it is answered"]
            pub struct #name {
                token: ::ballast_ipc::ReplyToken,
                badge: ::ballast_ipc::Badge,
                #lease_field
            }
        },
        quote! {
            impl #name {
                /// The badge of the caller waiting for this answer.
                pub const fn badge(&self) -> ::ballast_ipc::Badge {
                    self.badge
                }

                #lease_getter

                /// A success reply.
                #ok

                /// An error reply.
                pub fn err(self, error: #error) -> crate::support::ReplyMessage {
                    let status = crate::support::InterfaceError::status(error);
                    crate::support::ReplyMessage::new(self.token, wire_message(status, &[]))
                }
            }
        },
    ]
}

/// The checked lease type a server gets for `access`.
fn lease_type(access: LeaseMode) -> TokenStream {
    match access {
        LeaseMode::Read => quote! { crate::support::ReadLease },
        LeaseMode::ReadWrite => quote! { crate::support::ReadWriteLease },
    }
}

/// The parameters of a server method, after `&mut self`.
fn server_params(op: &Op) -> Vec<TokenStream> {
    let mut params = vec![
        quote! { sys: &mut dyn ::ballast_ipc::Sys },
        quote! { badge: ::ballast_ipc::Badge },
    ];
    params.extend(super::params(&op.args));
    if let Some(lease) = &op.lease {
        let name = ident(&lease.name);
        let ty = lease_type(lease.access);
        params.push(quote! { #name: #ty });
    }
    let responder = responder_type(op);
    params.push(quote! { reply: #responder });
    params
}

pub(super) fn server_trait(iface: &Interface) -> TokenStream {
    let name = format_ident!("{}Server", iface.name);
    let about = doc(
        &format!(
            "A server of `{}`: [`dispatch`] calls one method per checked call, with `sys`; an \
             op's lease comes checked, its bytes reached through `sys`. Each method answers \
             through its responder now (`Answer::Now`), keeps it to answer later \
             (`Answer::Deferred`), or sends the answer itself to work on after it \
             (`Answer::Sent`).",
            iface.name
        ),
        "",
        0,
    );
    let methods = iface.ops.iter().map(|op| {
        let about = doc(&op.doc, &format!("`{}`.", op.name), 1);
        let method = ident(&op.name);
        let params = server_params(op);
        let allow = allow_many(params.len() + 1);
        quote! {
            #about
            #allow
            fn #method(&mut self, #(#params),*) -> crate::support::Answer;
        }
    });
    quote! {
        #about
        pub trait #name { #(#methods)* }
    }
}

pub(super) fn dispatch(iface: &Interface) -> Vec<TokenStream> {
    let server = format_ident!("{}Server", iface.name);
    let ops = op_type(iface);
    let arms = iface.ops.iter().map(|op| dispatch_arm(iface, op));
    vec![
        quote! {
            /// Checks one call and hands it to `server`; a call that fails a check is answered
            /// with that protocol error (returned too). Checks, in order: message length, interface,
            /// version, op, body length, the caller's capability, the lease, argument values.
            pub fn dispatch<S: #server + ?Sized>(
                server: &mut S,
                sys: &mut dyn ::ballast_ipc::Sys,
                call: ::ballast_ipc::IncomingCall<'_>,
                permissions: &dyn crate::support::Permissions,
            ) -> Result<(), crate::support::ProtocolError> {
                let ::ballast_ipc::IncomingCall { badge, message, lease, reply } = call;
                let (op, body) = match crate::support::check_header(message, INTERFACE_ID, VERSION) {
                    Ok(parts) => parts,
                    Err(error) => return reject(sys, reply, error),
                };
                let Ok(op) = #ops::try_from(op) else {
                    return reject(sys, reply, crate::support::ProtocolError::UnknownOp);
                };
                match op { #(#arms)* }
            }
        },
        quote! {
            fn reject(
                sys: &mut dyn ::ballast_ipc::Sys,
                token: ::ballast_ipc::ReplyToken,
                error: crate::support::ProtocolError,
            ) -> Result<(), crate::support::ProtocolError> {
                crate::support::ReplyMessage::new(token, wire_message(error.status(), &[])).send(sys);
                Err(error)
            }
        },
    ]
}

fn dispatch_arm(iface: &Interface, op: &Op) -> TokenStream {
    let ops = op_type(iface);
    let variant = op_variant(op);
    let decode = if op.args.is_empty() {
        quote! {
            let () = match crate::support::decode_request::<()>(body) {
                Ok(request) => request,
                Err(error) => return reject(sys, reply, error),
            };
        }
    } else {
        let request = request_type(op);
        quote! {
            let request = match crate::support::decode_request::<#request>(body) {
                Ok(request) => request,
                Err(error) => return reject(sys, reply, error),
            };
        }
    };
    let lease_check = match &op.lease {
        Some(lease) => {
            let writable = lease.access == LeaseMode::ReadWrite;
            quote! {
                let lease = match crate::support::check_lease(lease, #writable) {
                    Ok(lease) => lease,
                    Err(error) => return reject(sys, reply, error),
                };
            }
        }
        None => quote! {
            if let Err(error) = crate::support::check_no_lease(lease) {
                return reject(sys, reply, error);
            }
        },
    };
    let mut args = vec![quote! { sys }, quote! { badge }];
    let mut values = TokenStream::new();
    for field in &op.args {
        let name = ident(&field.name);
        match checked_from_wire(field, quote! { request.#name }) {
            Some(checked) => {
                let local = format_ident!("arg_{}", field.name);
                values.extend(quote! {
                    let Some(#local) = #checked else {
                        return reject(sys, reply, crate::support::ProtocolError::BadArgument);
                    };
                });
                args.push(quote! { #local });
            }
            None => args.push(quote! { request.#name }),
        }
    }
    let (bytes, lease_field) = match &op.lease {
        Some(checked) => {
            args.push(quote! { lease });
            let ty = lease_type(checked.access);
            (
                quote! {
                    if sys.lease_bytes(badge, &lease).is_err() {
                        return reject(sys, reply, crate::support::ProtocolError::BadLease);
                    }
                    let lease = #ty::checked(badge, lease);
                },
                quote! { lease, },
            )
        }
        None => (TokenStream::new(), TokenStream::new()),
    };
    let responder = responder_type(op);
    let method = ident(&op.name);
    quote! {
        #ops::#variant => {
            #decode
            if !permissions.allows(badge, INTERFACE_ID, op as u16) {
                return reject(sys, reply, crate::support::ProtocolError::PermissionDenied);
            }
            #lease_check
            #values
            #bytes
            let responder = #responder { token: reply, badge, #lease_field };
            let answer = server.#method(#(#args,)* responder);
            crate::support::answer(sys, answer)
        }
    }
}
