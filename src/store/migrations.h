/* migrations.h -- the SQL migrations embedded at build time from src/store/migrations/. */
#ifndef TTDM_MIGRATIONS_H
#define TTDM_MIGRATIONS_H

#include <stddef.h>

struct ttdm_migration {
    int version;      /* from the file name prefix, strictly increasing */
    const char *name; /* file name without extension */
    const char *sql;  /* NUL-terminated script */
};

extern const struct ttdm_migration ttdm_migrations[];
extern const size_t ttdm_migrations_count;

#endif /* TTDM_MIGRATIONS_H */
