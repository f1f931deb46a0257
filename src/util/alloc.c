/* alloc.c -- allocation wrappers that log and abort on out-of-memory. */
#include "util/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t size)
{
    fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", size);
    abort();
}

void *ttdm_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        oom(size);
    return p;
}

void *ttdm_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *ttdm_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        oom(size);
    return p;
}

char *ttdm_strdup(const char *s)
{
    return ttdm_strndup(s, strlen(s));
}

char *ttdm_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = ttdm_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void ttdm_free(void *ptr)
{
    free(ptr);
}
