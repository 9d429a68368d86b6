//! Everything the bindings say, read from one kernel tree for aarch64: invocation labels numbered
//! as `invocation_header_gen.py` numbers them (0 is `InvalidInvocation`; the generic interface
//! XML's methods in document order, then the aarch64 XML's from where those end, then the arm
//! XML's; a method whose condition fails has no label and takes no number), every invocation laid
//! out, the system calls, object types, errors and initial CNode slots.

use crate::c_enum::{self, Enumerator, HeaderError};
use crate::condition::{self, ExpressionError};
use crate::config::Config;
use crate::interface::{self, Api, Method, XmlError};
use crate::marshal::{self, Layout, LayoutError};
use crate::syscalls::{self, Syscall, SyscallError};
use std::fmt;
use std::path::{Path, PathBuf};

/// The platform whose `autoconf.h` configures the kernel ballast builds.
pub const PLATFORM: &str = "armvirt";

/// The interface XML files, in label-numbering order: generic, sel4_arch (aarch64), arch (arm).
pub const INTERFACE_FILES: [&str; 3] = [
    "libsel4/include/interfaces/sel4.xml",
    "libsel4/sel4_arch_include/aarch64/interfaces/sel4arch.xml",
    "libsel4/arch_include/arm/interfaces/sel4arch.xml",
];
pub const SYSCALL_FILE: &str = "libsel4/include/api/syscall.xml";
/// Object-type headers, in numbering order: generic, sel4_arch, arch.
pub const OBJECT_TYPE_FILES: [&str; 3] = [
    "libsel4/include/sel4/objecttype.h",
    "libsel4/sel4_arch_include/aarch64/sel4/sel4_arch/objecttype.h",
    "libsel4/arch_include/arm/sel4/arch/objecttype.h",
];
pub const ERRORS_FILE: &str = "libsel4/include/sel4/errors.h";
pub const BOOTINFO_FILE: &str = "libsel4/include/sel4/bootinfo_types.h";
/// Headers whose `#define seL4_<Name>Bits <n>` give object sizes and capability-data widths.
pub const SIZE_FILES: [&str; 2] = [
    "libsel4/include/sel4/types.h",
    "libsel4/sel4_arch_include/aarch64/sel4/sel4_arch/constants.h",
];

/// The configuration file of `PLATFORM` in a tree.
pub fn autoconf_file() -> String {
    format!("include/plat/{PLATFORM}/autoconf.h")
}

/// One invocation, ready to emit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The interface (`seL4_Untyped`).
    pub interface: String,
    pub method: Method,
    pub label: u64,
    pub layout: Layout,
}

/// What the bindings are generated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub config: Config,
    pub apis: Vec<Api>,
    /// Label names (`UntypedRetype`) and numbers.
    pub labels: Vec<(String, u64)>,
    pub invocations: Vec<Invocation>,
    pub syscalls: Vec<Syscall>,
    pub object_types: Vec<Enumerator>,
    pub errors: Vec<Enumerator>,
    pub initial_slots: Vec<Enumerator>,
    /// `seL4_<Name>Bits` defines: log2 of object sizes, badge and guard widths.
    pub size_bits: Vec<Enumerator>,
}

/// What the C headers say, read for the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    pub object_types: Vec<Enumerator>,
    pub errors: Vec<Enumerator>,
    pub initial_slots: Vec<Enumerator>,
    pub size_bits: Vec<Enumerator>,
}

/// Why a tree could not be read.
#[derive(Debug)]
pub enum ModelError {
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    Xml {
        path: PathBuf,
        error: XmlError,
    },
    Syscalls {
        path: PathBuf,
        error: SyscallError,
    },
    Header {
        path: PathBuf,
        error: HeaderError,
    },
    Condition {
        method: String,
        error: ExpressionError,
    },
    Layout(LayoutError),
    /// A fact the bindings rely on is missing from the configuration or a header.
    Missing {
        path: PathBuf,
        what: &'static str,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, error } => write!(f, "{}: {error}", path.display()),
            Self::Xml { path, error } => write!(f, "{}: {error}", path.display()),
            Self::Syscalls { path, error } => write!(f, "{}: {error}", path.display()),
            Self::Header { path, error } => write!(f, "{}: {error}", path.display()),
            Self::Condition { method, error } => write!(f, "condition of {method}: {error}"),
            Self::Layout(error) => error.fmt(f),
            Self::Missing { path, what } => write!(f, "{}: no {what}", path.display()),
        }
    }
}

impl std::error::Error for ModelError {}

impl Model {
    /// Reads the tree at `root` (the directory holding `libsel4/`).
    pub fn read(root: &Path) -> Result<Self, ModelError> {
        let config = Config::parse(&read(root, &autoconf_file())?);
        let apis = INTERFACE_FILES
            .iter()
            .map(|file| {
                interface::parse(&read(root, file)?).map_err(|error| ModelError::Xml {
                    path: root.join(file),
                    error,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let syscalls = syscalls::parse(&read(root, SYSCALL_FILE)?, &config).map_err(|error| {
            ModelError::Syscalls {
                path: root.join(SYSCALL_FILE),
                error,
            }
        })?;
        let mut object_types = Vec::new();
        for file in OBJECT_TYPE_FILES {
            let found = header(root, file, &config, &object_types)?;
            object_types.extend(found);
        }
        let errors = header(root, ERRORS_FILE, &config, &[])?;
        let initial_slots = header(root, BOOTINFO_FILE, &config, &[])?;
        let mut size_bits = Vec::new();
        for file in SIZE_FILES {
            let defines =
                c_enum::integer_defines(&read(root, file)?, &config).map_err(|error| {
                    ModelError::Header {
                        path: root.join(file),
                        error,
                    }
                })?;
            size_bits.extend(defines.into_iter().filter(|define| {
                define.name.starts_with("seL4_") && define.name.ends_with("Bits")
            }));
        }
        let headers = Headers {
            object_types,
            errors,
            initial_slots,
            size_bits,
        };
        Self::assemble(config, apis, syscalls, headers)
    }

    /// Numbers the labels and lays out the invocations of `apis` (in numbering order).
    pub fn assemble(
        config: Config,
        apis: Vec<Api>,
        syscalls: Vec<Syscall>,
        headers: Headers,
    ) -> Result<Self, ModelError> {
        let mut labels = Vec::new();
        let mut invocations = Vec::new();
        for api in &apis {
            for interface in &api.interfaces {
                for method in &interface.methods {
                    let present =
                        condition::holds(&method.condition, &config).map_err(|error| {
                            ModelError::Condition {
                                method: method.id.clone(),
                                error,
                            }
                        })?;
                    if !present {
                        continue;
                    }
                    let label = u64::try_from(labels.len()).unwrap_or(u64::MAX) + 1;
                    labels.push((method.id.clone(), label));
                    invocations.push(Invocation {
                        interface: interface.name.clone(),
                        method: method.clone(),
                        label,
                        layout: marshal::layout(method, &apis).map_err(ModelError::Layout)?,
                    });
                }
            }
        }
        Ok(Self {
            config,
            apis,
            labels,
            invocations,
            syscalls,
            object_types: headers.object_types,
            errors: headers.errors,
            initial_slots: headers.initial_slots,
            size_bits: headers.size_bits,
        })
    }

    /// The label numbered for `id`.
    pub fn label(&self, id: &str) -> Option<u64> {
        self.labels
            .iter()
            .find(|(name, _)| name == id)
            .map(|(_, label)| *label)
    }

    /// The invocation whose label is `id`.
    pub fn invocation(&self, id: &str) -> Option<&Invocation> {
        self.invocations
            .iter()
            .find(|invocation| invocation.method.id == id)
    }
}

fn read(root: &Path, file: &str) -> Result<String, ModelError> {
    let path = root.join(file);
    std::fs::read_to_string(&path).map_err(|error| ModelError::Read { path, error })
}

fn header(
    root: &Path,
    file: &str,
    config: &Config,
    earlier: &[Enumerator],
) -> Result<Vec<Enumerator>, ModelError> {
    c_enum::enumerators(&read(root, file)?, config, earlier).map_err(|error| ModelError::Header {
        path: root.join(file),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENERIC: &str = r#"<api><interface name="seL4_Untyped">
        <method id="UntypedRetype" name="Retype"/></interface>
        <interface name="seL4_TCB"><method id="TCBSetAffinity" name="SetAffinity" condition="CONFIG_MAX_NUM_NODES > 1"/>
        <method id="TCBResume" name="Resume"/></interface></api>"#;
    const SEL4_ARCH: &str = r#"<api><interface name="seL4_ARM_PageUpperDirectory">
        <method id="ARMPageUpperDirectoryMap" name="Map"/></interface></api>"#;
    const ARCH: &str = r#"<api><interface name="seL4_ARM_PageTable">
        <method id="ARMPageTableMap" name="Map"/></interface></api>"#;

    fn model(config: &str) -> Model {
        let apis = [GENERIC, SEL4_ARCH, ARCH]
            .map(|xml| interface::parse(xml).unwrap())
            .to_vec();
        Model::assemble(Config::parse(config), apis, vec![], Headers::default()).unwrap()
    }

    #[test]
    fn labels_count_from_one_through_generic_then_sel4_arch_then_arch_skipping_failed_conditions() {
        let uniprocessor = model("#define CONFIG_MAX_NUM_NODES 1\n");
        assert_eq!(
            uniprocessor.labels,
            [
                ("UntypedRetype".to_owned(), 1),
                ("TCBResume".to_owned(), 2),
                ("ARMPageUpperDirectoryMap".to_owned(), 3),
                ("ARMPageTableMap".to_owned(), 4)
            ]
        );
        assert!(uniprocessor.invocation("TCBSetAffinity").is_none());
        let multiprocessor = model("#define CONFIG_MAX_NUM_NODES 4\n");
        assert_eq!(multiprocessor.label("TCBSetAffinity"), Some(2));
        assert_eq!(multiprocessor.label("ARMPageTableMap"), Some(5));
    }
}
