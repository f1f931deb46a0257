/* alloc.h -- allocation wrappers that log and abort on out-of-memory. */
#ifndef TTDM_ALLOC_H
#define TTDM_ALLOC_H

#include <stddef.h>

/*
 * Every size an attacker controls is bounded before we allocate, so running out of memory
 * is an operational failure, not an input error: log it and abort (Redis zmalloc).
 * All return non-NULL. ttdm_free(NULL) is a no-op.
 */
void *ttdm_malloc(size_t size);
void *ttdm_calloc(size_t n, size_t size);
void *ttdm_realloc(void *ptr, size_t size);
char *ttdm_strdup(const char *s);
char *ttdm_strndup(const char *s, size_t n); /* copies at most n bytes, always NUL-terminates */
void ttdm_free(void *ptr);

#endif /* TTDM_ALLOC_H */
