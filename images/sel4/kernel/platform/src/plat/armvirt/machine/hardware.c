/*
 * Platform armvirt (ballast): the kernel's tick is the EL1 virtual timer, and there is no outer
 * cache to maintain (a guest cannot reach one; Xen keeps the host's caches coherent).
 */
#include <config.h>
#include <types.h>
#include <arch/machine.h>
#include <mode/machine/timer.h>
#include <arch/linker.h>

void resetTimer(void)
{
    resetGenericTimer();
}

BOOT_CODE void initTimer(void)
{
    initGenericTimer();
}

BOOT_CODE void initL2Cache(void)
{
}

void plat_cleanL2Range(paddr_t start, paddr_t end)
{
}

void plat_invalidateL2Range(paddr_t start, paddr_t end)
{
}

void plat_cleanInvalidateL2Range(paddr_t start, paddr_t end)
{
}

void plat_cleanInvalidateCache(void)
{
}
