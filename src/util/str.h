/* str.h -- bounded parsing and formatting helpers: no atoi, no sscanf, no strcpy. */
#ifndef TTDM_STR_H
#define TTDM_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parses a whole decimal integer (optional leading '-') from s[0..len) into *out.
 * Returns 0, or -1 for empty input, stray characters, overflow, or a value outside
 * [min, max]. `len` may be (size_t)-1 to mean strlen(s).
 */
int ttdm_parse_i64(const char *s, size_t len, int64_t min, int64_t max, int64_t *out);

/* Copies at most dst_size-1 bytes and NUL-terminates; returns -1 when src was cut. */
int ttdm_strlcpy(char *dst, const char *src, size_t dst_size);

/* Same from a slice. */
int ttdm_strlcpy_n(char *dst, size_t dst_size, const char *src, size_t src_len);

/* Lower-case hex of `len` bytes into out (2*len+1 bytes). */
void ttdm_hex_encode(const unsigned char *in, size_t len, char *out);

/* Case-insensitive ASCII comparison of a slice with a C string. */
bool ttdm_slice_ieq(const char *s, size_t len, const char *cstr);

/* True when s starts with prefix. */
bool ttdm_starts_with(const char *s, const char *prefix);

/* Decodes %XX and '+' (as space when plus_is_space) in place; returns the new length or -1. */
long ttdm_url_decode(char *s, size_t len, bool plus_is_space);

/* Appends s percent-encoded (RFC 3986 unreserved kept) to out of out_size; -1 if cut. */
int ttdm_url_encode(const char *s, char *out, size_t out_size);

#endif /* TTDM_STR_H */
