/* Replacements for functions the C library may lack (AC_REPLACE_FUNCS). */
#ifndef COMPAT_H
#define COMPAT_H

#include "config.h"

#include <stddef.h>

#ifndef HAVE_STRLCPY
size_t	 strlcpy(char *, const char *, size_t);
#endif
#ifndef HAVE_STRLCAT
size_t	 strlcat(char *, const char *, size_t);
#endif

#endif /* COMPAT_H */
