//! The generator run on a real seL4 5.0 tree (`BALLAST_SEL4_SOURCE`, the directory holding
//! `libsel4/`): the numbers and packings libsel4's python generators give for that tree.

use crate::model::Model;
use std::path::PathBuf;

fn tree() -> PathBuf {
    let Some(root) = std::env::var_os("BALLAST_SEL4_SOURCE") else {
        panic!(
            "BALLAST_SEL4_SOURCE is not set: point it at the seL4 5.0 tree the kernel build step \
             prepares (target/sel4/source, made by `cargo run -- image --kernel sel4`)"
        );
    };
    PathBuf::from(root)
}

fn model() -> Model {
    Model::read(&tree()).unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn labels_number_generic_methods_from_one_then_aarch64_then_arm_without_failed_conditions() {
    let model = model();
    let generic = [
        ("UntypedRetype", 1),
        ("TCBReadRegisters", 2),
        ("TCBConfigure", 5),
        ("TCBSetPriority", 6),
        ("TCBResume", 11),
        ("TCBBindNotification", 12),
        ("TCBUnbindNotification", 13),
        ("CNodeRevoke", 14),
        ("CNodeDelete", 15),
        ("CNodeCopy", 17),
        ("CNodeMint", 18),
        ("CNodeSaveCaller", 22),
        ("IRQIssueIRQHandler", 23),
        ("DomainSetSet", 27),
        ("ARMPageGlobalDirectoryClean_Data", 28),
        ("ARMPageUpperDirectoryMap", 32),
        ("ARMPageDirectoryMap", 34),
    ];
    for (id, label) in generic {
        assert_eq!(model.label(id), Some(label), "{id}");
    }
    for absent in [
        "TCBSetAffinity",
        "TCBSetBreakpoint",
        "ARMIOPageTableMap",
        "ARMPageMapIO",
    ] {
        assert_eq!(model.label(absent), None, "{absent}");
    }
    // The arm file's labels follow the aarch64 file's, however many a patch adds there.
    let aarch64_methods = crate::interface::parse(
        &std::fs::read_to_string(tree().join(crate::model::INTERFACE_FILES[1])).unwrap(),
    )
    .unwrap()
    .interfaces
    .iter()
    .map(|interface| interface.methods.len())
    .sum::<usize>();
    let first_arm = 28 + u64::try_from(aarch64_methods).unwrap();
    assert_eq!(model.label("ARMPageTableMap"), Some(first_arm));
    assert_eq!(model.label("ARMPageMap"), Some(first_arm + 2));
    assert_eq!(model.label("ARMPageGetAddress"), Some(first_arm + 9));
    assert_eq!(model.label("ARMASIDControlMakePool"), Some(first_arm + 10));
    assert_eq!(model.label("ARMASIDPoolAssign"), Some(first_arm + 11));
}

/// The tree's own `invocation_header_gen.py` (python3 with Tempita, as the kernel build needs)
/// writes the three label enums; read for the same configuration they give every label ours do.
#[test]
fn labels_equal_those_of_the_trees_own_invocation_header_generator() {
    let tree = tree();
    let out = std::env::temp_dir().join(format!("ballast-sel4-labels-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let model = model();
    let mut earlier: Vec<crate::c_enum::Enumerator> = Vec::new();
    for (file, layer) in crate::model::INTERFACE_FILES
        .iter()
        .zip(["", "--sel4_arch", "--arch"])
    {
        let header = out.join("invocation.h");
        let mut command = std::process::Command::new("python3");
        command.arg(tree.join("libsel4/tools/invocation_header_gen.py"));
        command
            .arg("--xml")
            .arg(tree.join(file))
            .arg("--libsel4")
            .arg("--dest")
            .arg(&header);
        if !layer.is_empty() {
            command.arg(layer);
        }
        let status = command
            .status()
            .expect("python3 runs (./scripts/setup installs it)");
        assert!(
            status.success(),
            "invocation_header_gen.py failed on {file}"
        );
        let text = std::fs::read_to_string(&header).unwrap();
        let found = crate::c_enum::enumerators(&text, &model.config, &earlier).unwrap();
        earlier.extend(found);
    }
    std::fs::remove_dir_all(&out).unwrap();
    let theirs: Vec<(String, u64)> = earlier
        .iter()
        .filter(|e| e.name != "InvalidInvocation" && !e.name.starts_with('n'))
        .map(|e| (e.name.clone(), u64::try_from(e.value).unwrap()))
        .collect();
    assert_eq!(model.labels, theirs);
}

fn words(model: &Model, id: &str) -> Vec<Vec<(String, u32)>> {
    let invocation = model.invocation(id).unwrap();
    invocation
        .layout
        .words
        .iter()
        .map(|word| {
            word.iter()
                .map(|piece| (piece.param.clone(), piece.offset))
                .collect()
        })
        .collect()
}

fn caps(model: &Model, id: &str) -> Vec<String> {
    model
        .invocation(id)
        .unwrap()
        .layout
        .caps
        .iter()
        .map(|cap| cap.name.clone())
        .collect()
}

fn one_per_word(names: &[&str]) -> Vec<Vec<(String, u32)>> {
    names
        .iter()
        .map(|name| vec![((*name).to_owned(), 0)])
        .collect()
}

#[test]
fn untyped_retype_sends_six_words_and_the_destination_cnode_as_its_one_extra_cap() {
    let model = model();
    assert_eq!(
        words(&model, "UntypedRetype"),
        one_per_word(&[
            "type",
            "size_bits",
            "node_index",
            "node_depth",
            "node_offset",
            "num_objects"
        ])
    );
    assert_eq!(caps(&model, "UntypedRetype"), ["root"]);
}

#[test]
fn cnode_copy_gives_each_depth_its_own_word_and_the_rights_the_fifth() {
    let model = model();
    assert_eq!(
        words(&model, "CNodeCopy"),
        one_per_word(&[
            "dest_index",
            "dest_depth",
            "src_index",
            "src_depth",
            "rights"
        ])
    );
    assert_eq!(caps(&model, "CNodeCopy"), ["src_root"]);
    assert_eq!(
        words(&model, "CNodeMint"),
        one_per_word(&[
            "dest_index",
            "dest_depth",
            "src_index",
            "src_depth",
            "rights",
            "badge"
        ])
    );
}

#[test]
fn tcb_configure_packs_five_words_and_three_caps_in_parameter_order() {
    let model = model();
    assert_eq!(
        words(&model, "TCBConfigure"),
        one_per_word(&[
            "fault_ep",
            "priority",
            "cspace_root_data",
            "vspace_root_data",
            "buffer"
        ])
    );
    assert_eq!(
        caps(&model, "TCBConfigure"),
        ["cspace_root", "vspace_root", "bufferFrame"]
    );
}

#[test]
fn tcb_copy_registers_packs_four_flags_and_the_arch_flags_into_one_word() {
    let model = model();
    let expected: Vec<(String, u32)> = [
        ("suspend_source", 0),
        ("resume_target", 1),
        ("transfer_frame", 2),
        ("transfer_integer", 3),
        ("arch_flags", 8),
    ]
    .map(|(name, offset)| (name.to_owned(), offset))
    .to_vec();
    assert_eq!(words(&model, "TCBCopyRegisters"), [expected]);
    assert_eq!(caps(&model, "TCBCopyRegisters"), ["source"]);
}

#[test]
fn tcb_write_registers_sends_the_34_word_user_context_after_its_count() {
    let model = model();
    let layout = &model.invocation("TCBWriteRegisters").unwrap().layout;
    assert_eq!(layout.words.len(), 2 + 34);
    assert_eq!(
        layout.words[0].iter().map(|p| p.offset).collect::<Vec<_>>(),
        [0, 8]
    );
    assert_eq!(layout.words[2][0].member.as_deref(), Some("pc"));
    assert_eq!(layout.words[35][0].member.as_deref(), Some("x28"));
    let read = &model.invocation("TCBReadRegisters").unwrap().layout;
    assert_eq!(read.outputs.len(), 34);
    assert_eq!(read.outputs[3].member.as_deref(), Some("x0"));
}

#[test]
fn page_map_sends_vaddr_rights_and_attributes_with_the_vspace_as_extra_cap() {
    let model = model();
    assert_eq!(
        words(&model, "ARMPageMap"),
        one_per_word(&["vaddr", "rights", "attr"])
    );
    assert_eq!(caps(&model, "ARMPageMap"), ["pd"]);
    assert_eq!(caps(&model, "ARMASIDPoolAssign"), ["vroot"]);
    assert!(model
        .invocation("ARMASIDPoolAssign")
        .unwrap()
        .layout
        .words
        .is_empty());
    let address = &model.invocation("ARMPageGetAddress").unwrap().layout;
    assert_eq!(
        address
            .outputs
            .iter()
            .map(|p| p.param.as_str())
            .collect::<Vec<_>>(),
        ["paddr"]
    );
}

fn value(enumerators: &[crate::c_enum::Enumerator], name: &str) -> i64 {
    enumerators
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .value
}

#[test]
fn object_types_number_generic_then_aarch64_then_arm_without_aarch32_or_smmu_types() {
    let model = model();
    let expected = [
        ("seL4_UntypedObject", 0),
        ("seL4_TCBObject", 1),
        ("seL4_EndpointObject", 2),
        ("seL4_NotificationObject", 3),
        ("seL4_CapTableObject", 4),
        ("seL4_ARM_HugePageObject", 5),
        ("seL4_ARM_PageUpperDirectoryObject", 6),
        ("seL4_ARM_PageGlobalDirectoryObject", 7),
        ("seL4_ARM_SmallPageObject", 8),
        ("seL4_ARM_LargePageObject", 9),
        ("seL4_ARM_PageTableObject", 10),
        ("seL4_ARM_PageDirectoryObject", 11),
    ];
    for (name, number) in expected {
        assert_eq!(value(&model.object_types, name), number, "{name}");
    }
    assert!(model
        .object_types
        .iter()
        .all(|e| e.name != "seL4_ARM_SectionObject"));
}

#[test]
fn errors_syscalls_and_initial_slots_have_their_5_0_numbers() {
    let model = model();
    assert_eq!(value(&model.errors, "seL4_InvalidArgument"), 1);
    assert_eq!(value(&model.errors, "seL4_NotEnoughMemory"), 10);
    assert_eq!(value(&model.initial_slots, "seL4_CapInitThreadTCB"), 1);
    assert_eq!(value(&model.initial_slots, "seL4_CapInitThreadCNode"), 2);
    assert_eq!(value(&model.initial_slots, "seL4_CapInitThreadVSpace"), 3);
    assert_eq!(value(&model.initial_slots, "seL4_CapInitThreadASIDPool"), 6);
    assert_eq!(value(&model.initial_slots, "seL4_CapDomain"), 11);
    assert!(value(&model.initial_slots, "seL4_NumInitialCaps") >= 12);
    let number = |name: &str| {
        model
            .syscalls
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.number)
    };
    assert_eq!(number("Call"), Some(-1));
    assert_eq!(number("ReplyRecv"), Some(-2));
    assert_eq!(number("Send"), Some(-3));
    assert_eq!(number("Recv"), Some(-5));
    assert_eq!(number("Reply"), Some(-6));
    assert_eq!(number("Yield"), Some(-7));
    assert_eq!(number("NBRecv"), Some(-8));
    assert_eq!(number("DebugPutChar"), Some(-9));
}

#[test]
fn object_sizes_and_capability_data_widths_come_from_the_headers() {
    let model = model();
    let bits = |name: &str| value(&model.size_bits, name);
    assert_eq!(bits("seL4_PageBits"), 12);
    assert_eq!(bits("seL4_LargePageBits"), 21);
    assert_eq!(bits("seL4_HugePageBits"), 30);
    assert_eq!(bits("seL4_SlotBits"), 5);
    assert_eq!(bits("seL4_TCBBits"), 11);
    assert_eq!(bits("seL4_EndpointBits"), 4);
    assert_eq!(bits("seL4_NotificationBits"), 5);
    assert_eq!(bits("seL4_PGDBits"), 12);
    assert_eq!(bits("seL4_BadgeBits"), 28);
    assert_eq!(bits("seL4_GuardBits"), 18);
    assert!(model
        .size_bits
        .iter()
        .all(|define| define.name != "seL4_WordBits"));
}

#[test]
fn the_generated_retype_marshals_into_the_invoke_call_in_xml_order() {
    let bindings = crate::generate(&tree()).unwrap_or_else(|error| panic!("{error}"));
    let invocations = &bindings
        .files
        .iter()
        .find(|(name, _)| *name == "invocations.rs")
        .unwrap()
        .1;
    assert!(invocations.contains(
        "pub fn retype(self, type_: Word, size_bits: Word, root: impl Into<CPtr>, node_index: Word, \
         node_depth: Word, node_offset: Word, num_objects: Word) -> Result<(), Sel4Error> {"
    ));
    assert!(invocations.contains(
        "crate::invocation::invoke(self.cptr(), crate::label::UNTYPED_RETYPE, &[root.into()], \
         &[type_, size_bits, node_index, node_depth, node_offset, num_objects])?;"
    ));
    assert!(invocations.contains("impl crate::Cap<SmallPage> {"));
    let labels = &bindings
        .files
        .iter()
        .find(|(name, _)| *name == "labels.rs")
        .unwrap()
        .1;
    assert!(labels.contains("pub const CNODE_SAVE_CALLER: Word = 22;"));
}
