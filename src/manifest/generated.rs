//! Tables the build script generated: the IDL catalog (`INTERFACES`) and the composition of the
//! default manifest `manifests/sim.toml` (`SIM`), as const data.

include!(concat!(env!("OUT_DIR"), "/manifest_tables.rs"));
