/* store.c -- the parts of store.h that do not depend on a backend: freeing results. */
#include "store/store.h"

#include <string.h>

#include "util/alloc.h"

void ttdm_message_cleanup(struct ttdm_message *m)
{
    if (m == NULL)
        return;
    ttdm_free(m->text);
    m->text = NULL;
}

void ttdm_message_copy(struct ttdm_message *dst, const struct ttdm_message *src)
{
    *dst = *src;
    dst->text = src->text != NULL ? ttdm_strdup(src->text) : NULL;
}

void ttdm_messages_free(struct ttdm_message *arr, size_t n)
{
    if (arr == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        ttdm_message_cleanup(&arr[i]);
    ttdm_free(arr);
}

void ttdm_outbox_items_cleanup(struct ttdm_outbox_item *items, size_t n)
{
    if (items == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        ttdm_message_cleanup(&items[i].msg);
}

void ttdm_analytics_days_free(struct ttdm_analytics_day *days, size_t n)
{
    if (days == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        ttdm_free(days[i].response_ms);
        ttdm_free(days[i].counts);
    }
    ttdm_free(days);
}
