/* regions.c -- the ISO 3166-1 alpha-2 regions where TikTok refuses DM images (R6). */
#include "core/regions.h"

#include <string.h>

/*
 * The seed's list of unsupported regions. Sorted so that docs and tests print it in a
 * stable order; it is short enough that a linear scan beats anything cleverer.
 */
static const char *const blocked[] = {
    "AT", /* Austria (EU) */
    "AU", /* Australia */
    "BE", /* Belgium (EU) */
    "BG", /* Bulgaria (EU) */
    "CO", /* Colombia */
    "CY", /* Cyprus (EU) */
    "CZ", /* Czechia (EU) */
    "DE", /* Germany (EU) */
    "DK", /* Denmark (EU) */
    "EE", /* Estonia (EU) */
    "ES", /* Spain (EU) */
    "FI", /* Finland (EU) */
    "FR", /* France (EU) */
    "GB", /* United Kingdom */
    "GR", /* Greece (EU) */
    "HR", /* Croatia (EU) */
    "HU", /* Hungary (EU) */
    "IE", /* Ireland (EU) */
    "IN", /* India */
    "IR", /* Iran */
    "IT", /* Italy (EU) */
    "JP", /* Japan */
    "KP", /* North Korea */
    "KR", /* South Korea */
    "LT", /* Lithuania (EU) */
    "LU", /* Luxembourg (EU) */
    "LV", /* Latvia (EU) */
    "MT", /* Malta (EU) */
    "NG", /* Nigeria */
    "NL", /* Netherlands (EU) */
    "PH", /* Philippines */
    "PL", /* Poland (EU) */
    "PT", /* Portugal (EU) */
    "RO", /* Romania (EU) */
    "RU", /* Russia */
    "SE", /* Sweden (EU) */
    "SI", /* Slovenia (EU) */
    "SK", /* Slovakia (EU) */
    "TR", /* Turkey */
    "UA", /* Ukraine */
    "US", /* United States */
};

#define BLOCKED_COUNT (sizeof(blocked) / sizeof(blocked[0]))

static bool is_ascii_letter(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* ASCII only on purpose: toupper() depends on the locale. */
static char ascii_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

bool ttdm_region_valid(const char *code)
{
    return code != NULL && is_ascii_letter(code[0]) && is_ascii_letter(code[1]) && code[2] == '\0';
}

bool ttdm_region_image_blocked(const char *code)
{
    if (!ttdm_region_valid(code))
        return false;

    char upper[3] = {ascii_upper(code[0]), ascii_upper(code[1]), '\0'};
    /* "UK" is not the ISO code but is exceptionally reserved for the United Kingdom and
     * common in user-entered data. */
    if (upper[0] == 'U' && upper[1] == 'K') {
        upper[0] = 'G';
        upper[1] = 'B';
    }

    for (size_t i = 0; i < BLOCKED_COUNT; i++) {
        if (memcmp(blocked[i], upper, 3) == 0)
            return true;
    }
    return false;
}

size_t ttdm_region_blocked_count(void)
{
    return BLOCKED_COUNT;
}

const char *ttdm_region_blocked_at(size_t i)
{
    return i < BLOCKED_COUNT ? blocked[i] : NULL;
}
