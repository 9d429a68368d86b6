/*
 * Platform armvirt (ballast): the kernel configuration, written by hand because seL4 5.0's
 * standalone Makefile copies this file instead of running Kconfig. One Cortex-A57 vCPU of an
 * arm64 Xen 4.17 guest; a debug kernel (its console is seL4_DebugPutChar's, which ballast's
 * protection domains log through); the fast IPC path.
 */
#define AUTOCONF_INCLUDED

/* The machine: arm64, ARMv8-A, Cortex-A57 with FP/SIMD, one CPU. */
#define CONFIG_ARCH_ARM 1
#define CONFIG_ARCH_AARCH64 1
#define CONFIG_ARCH_ARM_V8A 1
#define CONFIG_ARM_CORTEX_A57 1
#define CONFIG_PLAT_ARMVIRT 1
#define CONFIG_WORD_SIZE 64
#define CONFIG_HAVE_FPU 1
#define CONFIG_FPU_MAX_RESTORES_SINCE_SWITCH 64
#define CONFIG_MAX_NUM_NODES 1
/* The kernel keeps each thread's IPC buffer address in TPIDR_EL0, where user level finds it. */
#define CONFIG_IPC_BUF_TPIDRURW 1

/* Scheduling: one domain, 256 priorities, a 2 ms tick, 5 ticks per time slice. */
#define CONFIG_NUM_DOMAINS 1
#define CONFIG_NUM_PRIORITIES 256
#define CONFIG_TIMER_TICK_MS 2
#define CONFIG_TIME_SLICE 5
#define CONFIG_FASTPATH 1

/* The root task: a 2^14-slot CNode (every boot capability, every untyped, and the objects it
 * creates for the protection domains), and room in the boot info for 230 untyped descriptors
 * (the 4 KiB boot info frame holds about 330). */
#define CONFIG_ROOT_CNODE_SIZE_BITS 14
#define CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS 230

/* Object creation and preemption: the kernel's defaults. */
#define CONFIG_RETYPE_FAN_OUT_LIMIT 256
#define CONFIG_MAX_NUM_WORK_UNITS_PER_PREEMPTION 100
#define CONFIG_RESET_CHUNK_BITS 8
#define CONFIG_KERNEL_STACK_BITS 12

/* Debugging: seL4_DebugPutChar and the kernel's own messages on the PL011; unexpected interrupts
 * reported; no benchmark trace points. */
#define CONFIG_DEBUG_BUILD 1
#define CONFIG_PRINTING 1
#define CONFIG_IRQ_REPORTING 1
#define CONFIG_MAX_NUM_TRACE_POINTS 0

/* User level may read the virtual counter, CNTVCT_EL0, for its clock (patches/0003). */
#define CONFIG_EXPORT_VCNT_USER 1

/* The kernel runs as a Xen guest (patches/0002), and issues Xen hypercalls for the holders of
 * hypercall capabilities (patches/0004). */
#define CONFIG_ARM_XEN_GUEST 1
#define CONFIG_ARM_XEN_HYPERCALLS 1
