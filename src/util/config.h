/* config.h -- one table drives configuration: file, environment, command line and --help. */
#ifndef TTDM_CONFIG_H
#define TTDM_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum ttdm_cfg_type {
    TTDM_CFG_STR = 0, /* char[size] in the target struct */
    TTDM_CFG_INT,     /* int64_t */
    TTDM_CFG_BOOL,    /* bool; "true/false/yes/no/on/off/1/0" */
};

struct ttdm_cfg_entry {
    const char *name; /* "listen_port"; env var is PREFIX + upper-case name */
    enum ttdm_cfg_type type;
    const char *def;  /* default, as text */
    int64_t min, max; /* INT bounds */
    size_t offset;    /* offsetof(target struct, field) */
    size_t size;      /* STR: sizeof the char array */
    const char *help;
};

/*
 * Loads, in increasing priority: defaults, the file `path` (may be NULL; "key = value"
 * lines, '#' comments), environment variables env_prefix + NAME, and `--name=value` /
 * `--name value` arguments from argv[first_arg..argc). Arguments that are not options
 * are left alone and their indexes are not reported here. Returns 0, or -1 with a
 * sentence in err such as "unknown key 'x' at ttdm.conf:12" or
 * "listen_port must be between 1 and 65535 (got 70000) in the environment".
 */
int ttdm_config_load(const struct ttdm_cfg_entry *table, size_t n, void *target, const char *path,
                     const char *env_prefix, int argc, char **argv, int first_arg, char *err,
                     size_t err_size);

/* Sets one key from text; same error sentences (with `where` naming the source). */
int ttdm_config_set(const struct ttdm_cfg_entry *table, size_t n, void *target, const char *key,
                    const char *value, const char *where, char *err, size_t err_size);

/* Prints "  --name=VALUE  help (default: x)" for every entry. */
void ttdm_config_print_help(FILE *out, const struct ttdm_cfg_entry *table, size_t n,
                            const char *env_prefix);

#endif /* TTDM_CONFIG_H */
