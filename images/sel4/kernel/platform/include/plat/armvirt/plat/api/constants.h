/*
 * Platform armvirt (ballast): the platform adds no constants to the kernel's API.
 */
#ifndef __PLAT_API_CONSTANTS_H
#define __PLAT_API_CONSTANTS_H

#ifdef HAVE_AUTOCONF
#include <autoconf.h>
#endif

#endif /* __PLAT_API_CONSTANTS_H */
