/*
 * Platform armvirt (ballast): where the kernel sits in guest-physical and virtual memory. Macros
 * only, because the linker script includes this file as well as the C sources.
 *
 * physBase: the kernel image's first byte, 2 MiB into guest RAM (0x40000000): the loader Image
 * that Xen boots keeps the first 2 MiB. It must be 2 MiB aligned (the loader maps the kernel with
 * 2 MiB blocks) and the kernel window maps it at kernelBase. RAM_END: the end of a 256 MiB domU's
 * RAM.
 */
#ifndef __PLAT_MACHINE_LAYOUT_H
#define __PLAT_MACHINE_LAYOUT_H

#define physBase            0x40200000
#define kernelBase          0xffffff8000000000
#define RAM_END             0x50000000

/* Unpopulated guest-physical space ballast lends frames from: see dev_p_regs in hardware.h. */
#define LENDING_WINDOW_START 0x100000000
#define LENDING_WINDOW_END   0x110000000

#endif /* __PLAT_MACHINE_LAYOUT_H */
