/*
 * Platform armvirt (ballast): the devices the kernel itself drives, at the guest-physical addresses
 * Xen 4.17 gives every arm64 guest (its public header arch-arm.h: GUEST_GICD_BASE,
 * GUEST_GICC_BASE, GUEST_PL011_BASE), and where the kernel maps each one, a 4 KiB page in the
 * device window at the top of its address space.
 */
#ifndef __PLAT_MACHINE_DEVICES_H
#define __PLAT_MACHINE_DEVICES_H

/* GICv2 distributor and CPU interface (Xen's vGIC). */
#define GIC_DISTRIBUTOR_PADDR       0x03001000
#define GIC_CONTROLLER0_PADDR       0x03002000
/* The PL011 that Xen emulates when the domain asks for `vpl011`: the kernel's debug console. */
#define UART_PADDR                  0x22000000

#define UART_PPTR                   0xffffffffffff0000
#define GIC_DISTRIBUTOR_PPTR        0xffffffffffff1000
#define GIC_CONTROLLER_PPTR         0xffffffffffff2000

/* The names seL4's GICv2 driver uses. */
#define GIC_PL390_DISTRIBUTOR_PPTR  GIC_DISTRIBUTOR_PPTR
#define GIC_PL390_CONTROLLER_PPTR   GIC_CONTROLLER_PPTR

#endif /* __PLAT_MACHINE_DEVICES_H */
