/* regions.h -- ISO 3166-1 alpha-2 regions where TikTok does not allow DM images (R6). */
#ifndef TTDM_REGIONS_H
#define TTDM_REGIONS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True when images may not be sent to or received from an account in `code` (any case,
 * exactly two letters). Australia, Colombia, the 27 EU member states, India, Iran, Japan,
 * Nigeria, North Korea, Philippines, Russia, South Korea, Turkey, Ukraine, United Kingdom
 * (GB; "UK" is accepted too), United States. NULL, "" or malformed codes return false.
 */
bool ttdm_region_image_blocked(const char *code);

/* True when `code` is two ASCII letters (does not check that the country exists). */
bool ttdm_region_valid(const char *code);

/* Number of entries and the i-th blocked code (upper case), for docs and tests. */
size_t ttdm_region_blocked_count(void);
const char *ttdm_region_blocked_at(size_t i);

#endif /* TTDM_REGIONS_H */
