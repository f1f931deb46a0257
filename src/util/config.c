/* config.c -- one table drives configuration: file, environment, command line and --help. */
#include "util/config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

static const struct ttdm_cfg_entry *find(const struct ttdm_cfg_entry *t, size_t n, const char *k,
                                         size_t klen)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(t[i].name) == klen && strncmp(t[i].name, k, klen) == 0)
            return &t[i];
    return NULL;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (ttdm_slice_ieq(v, strlen(v), yes[i])) {
            *out = true;
            return 0;
        }
        if (ttdm_slice_ieq(v, strlen(v), no[i])) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static int apply(const struct ttdm_cfg_entry *e, void *target, const char *value, const char *where,
                 char *err, size_t err_size)
{
    char *field = (char *)target + e->offset;
    switch (e->type) {
    case TTDM_CFG_STR:
        if (ttdm_strlcpy(field, value, e->size)) {
            snprintf(err, err_size, "%s is longer than %zu bytes %s", e->name, e->size - 1, where);
            return -1;
        }
        return 0;
    case TTDM_CFG_INT: {
        int64_t v;
        if (ttdm_parse_i64(value, (size_t)-1, INT64_MIN, INT64_MAX, &v)) {
            snprintf(err, err_size, "%s must be a whole number (got '%s') %s", e->name, value,
                     where);
            return -1;
        }
        if (v < e->min || v > e->max) {
            snprintf(err, err_size, "%s must be between %lld and %lld (got %lld) %s", e->name,
                     (long long)e->min, (long long)e->max, (long long)v, where);
            return -1;
        }
        memcpy(field, &v, sizeof(v));
        return 0;
    }
    case TTDM_CFG_BOOL: {
        bool b;
        if (parse_bool(value, &b)) {
            snprintf(err, err_size, "%s must be true or false (got '%s') %s", e->name, value,
                     where);
            return -1;
        }
        memcpy(field, &b, sizeof(b));
        return 0;
    }
    }
    return -1;
}

int ttdm_config_set(const struct ttdm_cfg_entry *table, size_t n, void *target, const char *key,
                    const char *value, const char *where, char *err, size_t err_size)
{
    const struct ttdm_cfg_entry *e = find(table, n, key, strlen(key));
    if (!e) {
        snprintf(err, err_size, "unknown key '%s' %s", key, where);
        return -1;
    }
    return apply(e, target, value, where, err, err_size);
}

static char *trim(char *s)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int load_file(const struct ttdm_cfg_entry *table, size_t n, void *target, const char *path,
                     char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int lineno = 0;
    int rc = 0;

    if (!f) {
        snprintf(err, err_size, "cannot open configuration file %s", path);
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        char *s, *eq, where[512];
        lineno++;
        s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        snprintf(where, sizeof(where), "at %s:%d", path, lineno);
        eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, err_size, "expected 'key = value' %s", where);
            rc = -1;
            break;
        }
        *eq = '\0';
        rc = ttdm_config_set(table, n, target, trim(s), trim(eq + 1), where, err, err_size);
        if (rc)
            break;
    }
    fclose(f);
    return rc;
}

int ttdm_config_load(const struct ttdm_cfg_entry *table, size_t n, void *target, const char *path,
                     const char *env_prefix, int argc, char **argv, int first_arg, char *err,
                     size_t err_size)
{
    for (size_t i = 0; i < n; i++)
        if (apply(&table[i], target, table[i].def, "(built-in default)", err, err_size))
            return -1;
    if (path && load_file(table, n, target, path, err, err_size))
        return -1;
    for (size_t i = 0; env_prefix && i < n; i++) {
        char var[128];
        const char *v;
        size_t k, p = strlen(env_prefix);
        if (p + strlen(table[i].name) + 1 > sizeof(var))
            continue;
        memcpy(var, env_prefix, p);
        for (k = 0; table[i].name[k]; k++)
            var[p + k] = (char)toupper((unsigned char)table[i].name[k]);
        var[p + k] = '\0';
        v = getenv(var);
        if (v) {
            char where[160];
            snprintf(where, sizeof(where), "in environment variable %s", var);
            if (apply(&table[i], target, v, where, err, err_size))
                return -1;
        }
    }
    for (int i = first_arg; i < argc; i++) {
        const char *a = argv[i], *eq, *val;
        const struct ttdm_cfg_entry *e;
        if (strncmp(a, "--", 2) != 0)
            continue;
        a += 2;
        eq = strchr(a, '=');
        e = find(table, n, a, eq ? (size_t)(eq - a) : strlen(a));
        if (!e)
            continue; /* not a configuration option; the caller handles it */
        if (eq) {
            val = eq + 1;
        } else if (e->type == TTDM_CFG_BOOL &&
                   (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
            val = "true";
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            snprintf(err, err_size, "option --%s needs a value", e->name);
            return -1;
        }
        if (apply(e, target, val, "on the command line", err, err_size))
            return -1;
    }
    return 0;
}

void ttdm_config_print_help(FILE *out, const struct ttdm_cfg_entry *table, size_t n,
                            const char *env_prefix)
{
    for (size_t i = 0; i < n; i++) {
        const struct ttdm_cfg_entry *e = &table[i];
        fprintf(out, "  --%-28s %s (default: %s", e->name, e->help, *e->def ? e->def : "\"\"");
        if (e->type == TTDM_CFG_INT)
            fprintf(out, ", %lld..%lld", (long long)e->min, (long long)e->max);
        fprintf(out, "; env %s", env_prefix ? env_prefix : "");
        for (const char *c = e->name; *c; c++)
            fputc(toupper((unsigned char)*c), out);
        fprintf(out, ")\n");
    }
}
