/*
 * Platform armvirt (ballast): the debug console, a PL011 (Xen's vpl011 when the domain sets
 * `vpl011`; its output appears on Xen's console prefixed with the domain). seL4_DebugPutChar
 * ends here. Registers: data at 0x00; flags at 0x18, bit 5 transmit FIFO full, bit 4 receive FIFO
 * empty.
 */
#include <config.h>
#include <stdint.h>
#include <util.h>
#include <machine/io.h>
#include <plat/machine/devices.h>

#define PL011_DATA          0x00
#define PL011_FLAGS         0x18
#define PL011_FLAGS_RXFE    BIT(4)
#define PL011_FLAGS_TXFF    BIT(5)

static inline volatile uint32_t *pl011_register(word_t offset)
{
    return (volatile uint32_t *)(UART_PPTR + offset);
}

#if defined(CONFIG_DEBUG_BUILD) || defined(CONFIG_PRINTING)
void putDebugChar(unsigned char c)
{
    while (*pl011_register(PL011_FLAGS) & PL011_FLAGS_TXFF) {
    }
    *pl011_register(PL011_DATA) = c;
}
#endif

#ifdef CONFIG_DEBUG_BUILD
unsigned char getDebugChar(void)
{
    if (*pl011_register(PL011_FLAGS) & PL011_FLAGS_RXFE) {
        return 0;
    }
    return (unsigned char)*pl011_register(PL011_DATA);
}
#endif
