//! The system the IPC targets run: `fuzz/manifests/fuzz.toml` loaded as `ballast check` and
//! `ballast sim` load a manifest, built by `ballast::system::build` (xen-sim, the real gateway
//! and memory server), with a frontend domain beside the guest that grants it pages, as dom0's
//! granter does in `ballast hil --dom0 linux`.

use std::path::Path;
use std::sync::OnceLock;

use ballast::system::{self, Parts};
use ballast_ipc::{ComponentId, EndpointId, LeaseDescriptor, LeaseId};
use ballast_system::{Composition, Kind};
use ballast_xen_sim::{DomId, DomainConfig};

/// Frames the fuzz manifest's memory server manages: RAM, boot extra and lending space.
pub const MANAGED_END: u64 = 0x2c00;
/// Pages the frontend grants the guest.
pub const GRANTED_PAGES: u64 = 16;

/// The fuzz manifest's composition, loaded once.
pub fn composition() -> &'static Composition {
    static COMPOSITION: OnceLock<&'static Composition> = OnceLock::new();
    COMPOSITION.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/fuzz.toml");
        match ballast::composition::load(&path) {
            Ok(composition) => composition,
            Err(errors) => panic!("{}: {errors:?}", path.display()),
        }
    })
}

/// A built system and the frontend's grants to it.
#[derive(Debug)]
pub struct Built {
    /// The handlers and the map of the system.
    pub parts: Parts,
    /// The frontend domain (the only one the backend may map from).
    pub frontend: DomId,
    /// The frontend's grant references to the guest, one per page, the last read-only.
    pub grant_refs: Vec<u32>,
}

/// Build the fuzz manifest's system with interleaving `seed`.
pub fn build(seed: u64) -> Built {
    let parts = system::build(composition(), None, seed).expect("the fuzz manifest builds");
    let xen = &parts.map.xen;
    let frontend = xen.create_domain(DomainConfig::domu(0..0x100, 0x100));
    let grant_refs = (0..GRANTED_PAGES)
        .map(|page| {
            let readonly = page + 1 == GRANTED_PAGES;
            xen.grant_access(frontend, page, parts.map.dom, readonly)
                .expect("the frontend grants its pages")
        })
        .collect();
    Built {
        parts,
        frontend,
        grant_refs,
    }
}

/// The component called `name`.
pub fn component(name: &str) -> ComponentId {
    let found = composition().components.iter().find(|c| c.name == name);
    ComponentId(found.expect("a component of the fuzz manifest").id)
}

/// `client`'s capability to the first component of `kind`: its endpoint.
pub fn endpoint(client: ComponentId, kind: Kind) -> EndpointId {
    let server = composition().first_of(kind).expect("a server of that kind");
    let (endpoint, _) = composition()
        .capability(client.0, server.id)
        .expect("the client holds a capability to it");
    endpoint
}

/// `client`'s region shared with the first component of `kind`, and its size.
pub fn region(client: ComponentId, kind: Kind) -> (LeaseId, u32) {
    let server = composition().first_of(kind).expect("a server of that kind");
    composition()
        .lease(client.0, server.id)
        .expect("the client shares a region with it")
}

/// A lease as the fuzzer describes it: none, a caller's whole region, or any descriptor.
#[derive(arbitrary::Arbitrary, Debug, Clone, Copy)]
pub enum Lease {
    /// None at all.
    None,
    /// The caller's whole region.
    Whole { writable: bool },
    /// The first `len` bytes of the caller's region.
    Prefix { writable: bool, len: u16 },
    /// Any descriptor.
    Raw {
        region: u16,
        writable: u16,
        offset: u32,
        len: u32,
        reserved: u32,
    },
}

impl Lease {
    /// The descriptor for a caller whose region is `region`.
    pub fn descriptor(self, region: Option<(LeaseId, u32)>) -> Option<LeaseDescriptor> {
        let whole = |writable: bool, len: u32| {
            region.map(|(id, size)| LeaseDescriptor {
                region: id.0,
                writable: u16::from(writable),
                offset: 0,
                len: len.min(size),
                reserved: 0,
            })
        };
        match self {
            Lease::None => None,
            Lease::Whole { writable } => whole(writable, u32::MAX),
            Lease::Prefix { writable, len } => whole(writable, u32::from(len)),
            Lease::Raw {
                region,
                writable,
                offset,
                len,
                reserved,
            } => Some(LeaseDescriptor {
                region,
                writable,
                offset,
                len,
                reserved,
            }),
        }
    }
}
