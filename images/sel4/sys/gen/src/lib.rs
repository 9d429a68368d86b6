//! The generator behind ballast-sel4-sys: reads an seL4 5.0 kernel tree (the directory holding
//! `libsel4/`) and writes the Rust bindings for aarch64 as the tree's own python generators would
//! write libsel4's C: invocation labels numbered as `invocation_header_gen.py` numbers them, each
//! invocation's parameters packed into message words and extra caps as `syscall_stub_gen.py`
//! packs them, system call numbers as `syscall_header_gen.py` gives them, and the object types,
//! errors and initial CNode slots of libsel4's headers for the kernel's configuration. Whatever a
//! patched tree adds to those files comes out here with no change to this crate.

pub mod c_enum;
pub mod condition;
pub mod config;
pub mod emit;
pub mod interface;
pub mod marshal;
pub mod model;
pub mod names;
pub mod syscalls;
pub mod types;

pub use model::{Model, ModelError};
use std::path::{Path, PathBuf};

/// Generated source files (name, content), the `cfg`s to set, and the files read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bindings {
    pub files: Vec<(&'static str, String)>,
    /// `cfg` names and whether each is set.
    pub cfgs: Vec<(String, bool)>,
    pub inputs: Vec<PathBuf>,
}

/// Configuration options the bindings cannot do without: an aarch64 kernel that puts the IPC
/// buffer's address in TPIDR_EL0 (the crate reads the buffer from there).
pub const REQUIRED_OPTIONS: [&str; 2] = ["CONFIG_ARCH_AARCH64", "CONFIG_IPC_BUF_TPIDRURW"];

/// Generates the bindings for the tree at `root`.
pub fn generate(root: &Path) -> Result<Bindings, ModelError> {
    let model = Model::read(root)?;
    let autoconf = root.join(model::autoconf_file());
    for option in REQUIRED_OPTIONS {
        if !model.config.is_defined(option) {
            return Err(ModelError::Missing {
                path: autoconf,
                what: option,
            });
        }
    }
    if model.config.number("CONFIG_WORD_SIZE") != Some(64) {
        return Err(ModelError::Missing {
            path: autoconf,
            what: "CONFIG_WORD_SIZE 64",
        });
    }
    let config = emit::config(&model).map_err(|what| ModelError::Missing {
        path: autoconf,
        what,
    })?;
    let files = vec![
        ("labels.rs", emit::labels(&model)),
        ("syscall_numbers.rs", emit::syscalls(&model)),
        ("object_types.rs", emit::object_types(&model)),
        ("errors.rs", emit::errors(&model)),
        ("initial_slots.rs", emit::initial_slots(&model)),
        ("size_bits.rs", emit::size_bits(&model)),
        ("config.rs", config),
        ("structs.rs", emit::structs(&model)),
        ("invocations.rs", emit::invocations(&model)),
    ];
    let mut cfgs = emit::syscall_cfgs(&model);
    cfgs.push((
        "sel4_debug_build".to_owned(),
        model.config.is_defined("CONFIG_DEBUG_BUILD"),
    ));
    let inputs = [
        model::autoconf_file().as_str(),
        model::SYSCALL_FILE,
        model::ERRORS_FILE,
        model::BOOTINFO_FILE,
    ]
    .into_iter()
    .chain(model::INTERFACE_FILES)
    .chain(model::OBJECT_TYPE_FILES)
    .chain(model::SIZE_FILES)
    .map(|file| root.join(file))
    .collect();
    Ok(Bindings {
        files,
        cfgs,
        inputs,
    })
}

#[cfg(test)]
mod tree_tests;
