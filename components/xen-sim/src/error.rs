//! Errors of the simulator's own API (not Xen's answers, which are raw values as Xen gives them).

use core::fmt;

/// Why the simulator refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SimError {
    /// No domain has that id.
    NoSuchDomain = 1,
    /// The gfn is not populated: there is no page to write.
    NotPopulated = 2,
    /// Every domain id is taken.
    DomainIdsExhausted = 3,
    /// A boot RAM range reaches past the guest-physical limit ([`crate::GFN_LIMIT`]).
    RamPastLimit = 4,
    /// A PoD build's target is below the pages Xen populates for real.
    PodTargetBelowReal = 5,
    /// The domain has crashed (see [`crate::DomainCrash`]): it runs no more.
    DomainCrashed = 6,
    /// Every event-channel port of the domain is bound ([`crate::EVENT_PORTS`]).
    PortsExhausted = 7,
    /// Every entry of the domain's grant table is in use ([`crate::GRANT_ENTRIES`]).
    GrantsExhausted = 8,
    /// The domain granted nothing under that reference.
    NoSuchGrant = 9,
    /// The grant is mapped by its grantee: it cannot end until unmapped.
    GrantInUse = 10,
    /// No grant is mapped at that gfn.
    NotGrantMapped = 11,
    /// The mapping is read-only.
    ReadOnlyGrant = 12,
    /// The host already has a domain 0.
    Dom0Exists = 13,
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SimError::NoSuchDomain => "no domain has that id",
            SimError::NotPopulated => "the gfn is not populated",
            SimError::DomainIdsExhausted => "every domain id is taken",
            SimError::RamPastLimit => {
                "a boot RAM range reaches past the guest-physical limit (2^40 frames)"
            }
            SimError::PodTargetBelowReal => {
                "the PoD target is below the pages populated for real at build"
            }
            SimError::DomainCrashed => "the domain has crashed",
            SimError::PortsExhausted => "every event-channel port of the domain is bound",
            SimError::GrantsExhausted => "every entry of the domain's grant table is in use",
            SimError::NoSuchGrant => "the domain granted nothing under that reference",
            SimError::GrantInUse => "the grant is mapped by its grantee",
            SimError::NotGrantMapped => "no grant is mapped at that gfn",
            SimError::ReadOnlyGrant => "the grant mapping is read-only",
            SimError::Dom0Exists => "the host already has a domain 0",
        })
    }
}

impl std::error::Error for SimError {}
