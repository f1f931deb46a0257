/* empty.c -- keeps a layer library buildable while it has no sources of its own. */
typedef int ttdm_empty_translation_unit;
