/*
 * Platform armvirt (ballast): the platform adds no constants to libsel4.
 */
#ifndef __LIBSEL4_SEL4_PLAT_API_CONSTANTS_H_
#define __LIBSEL4_SEL4_PLAT_API_CONSTANTS_H_

#ifdef HAVE_AUTOCONF
#include <autoconf.h>
#endif

#endif /* __LIBSEL4_SEL4_PLAT_API_CONSTANTS_H_ */
