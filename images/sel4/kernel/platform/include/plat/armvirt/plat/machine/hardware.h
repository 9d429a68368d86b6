/*
 * Platform armvirt (ballast): memory and devices of an arm64 Xen 4.17 dom0less domU with 256 MiB.
 *
 * Xen puts a domU's RAM at guest-physical 0x40000000 (GUEST_RAM0_BASE), loads its kernel Image at
 * the start of it and its device tree 128 MiB in. The first 2 MiB hold ballast's loader (the Image
 * Xen boots), which copies the kernel to physBase and the root task right after it; the kernel owns
 * everything from physBase to the end of RAM (the device tree there is not read: seL4 5.0 takes its
 * layout from this file). The domU must be given at least 256 MiB; more is left unused.
 */
#ifndef __PLAT_MACHINE_HARDWARE_H
#define __PLAT_MACHINE_HARDWARE_H

#include <config.h>
#include <basic_types.h>
#include <arch/linker.h>
#include <plat/machine.h>
#include <plat/machine/devices.h>
#include <plat/machine/layout.h>

/* The generic timer's frequency: QEMU's virt machine runs it at 62.5 MHz and Xen passes the
 * host's frequency through. A debug kernel halts at boot if CNTFRQ_EL0 says otherwise. */
#define TIMER_CLOCK_HZ      62500000llu

/* Highest virtual address user level may map. */
#define USER_TOP            0x0000ffffffffffff

static const kernel_frame_t BOOT_RODATA kernel_devices[] = {
    { GIC_CONTROLLER0_PADDR, GIC_CONTROLLER_PPTR, true /* execute never */ },
    { GIC_DISTRIBUTOR_PADDR, GIC_DISTRIBUTOR_PPTR, true /* execute never */ },
#ifdef CONFIG_PRINTING
    { UART_PADDR, UART_PPTR, true /* execute never */ },
#endif
};

/* RAM the kernel hands out as untyped memory, minus its own image and the root task's. */
static const p_region_t BOOT_RODATA avail_p_regs[] = {
    { .start = physBase, .end = RAM_END },
};

/* Device memory for user level: only the window of guest-physical address space with nothing in it
 * that ballast lends frames from (4 GiB to 4 GiB + 256 MiB, in the hole between Xen's guest RAM
 * banks; the same range as the arm64 manifests' `unpopulated`). As device untyped memory the kernel
 * never touches it, and the root task can retype it into frames for a component that maps what it
 * borrowed. The kernel drives the GIC and the console itself; no other device is given out. */
static const p_region_t BOOT_RODATA dev_p_regs[] = {
    { .start = LENDING_WINDOW_START, .end = LENDING_WINDOW_END },
};

static inline void handleReservedIRQ(irq_t irq)
{
}

#endif /* __PLAT_MACHINE_HARDWARE_H */
