/*
 * Platform armvirt (ballast): the interrupt lines of an arm64 Xen 4.17 guest. Xen gives its guests
 * a virtual GICv2 (driven by seL4's pl390 driver) and routes the EL1 virtual timer, private
 * peripheral interrupt 11, to the vCPU. seL4 ticks on that timer; every other line is for user level.
 */
#ifndef __PLAT_MACHINE_H
#define __PLAT_MACHINE_H

/* GICv2 numbering: 0-15 software generated, 16-31 private peripheral, 32 and up shared. */
#define N_INTERRUPTS 256

enum IRQConstants {
    INTERRUPT_VIRTUAL_TIMER = 16 + 11,
    maxIRQ = N_INTERRUPTS - 1
};

/* The IRQ CNode holds one capability slot (2^seL4_SlotBits = 32 bytes) per line: 256 * 32 = 2^13. */
#define IRQ_CNODE_BITS 13

#define KERNEL_TIMER_IRQ INTERRUPT_VIRTUAL_TIMER

#include <arch/machine/gic_pl390.h>

#endif /* __PLAT_MACHINE_H */
