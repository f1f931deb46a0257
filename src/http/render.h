/* render.h -- JSON shapes of the public API (docs/API.md describes them). */
#ifndef TTDM_RENDER_H
#define TTDM_RENDER_H

#include <cjson/cJSON.h>

#include "core/policy.h"
#include "store/store.h"

struct ttdm_err_detail;
struct ttdm_http_response;

/*
 * Fills resp with the API's error shape {"error":{"code","message",...}}: `specific` (or
 * the detail's sentence, or the code's own) as message, plus tiktok_code, region and
 * reply_budget when they apply. `d` may be NULL.
 */
void ttdm_render_error(struct ttdm_http_response *resp, enum ttdm_err err, const char *specific,
                       const struct ttdm_err_detail *d);

/* Each returns a new object owned by the caller. */
cJSON *ttdm_render_budget(const struct ttdm_reply_budget *b);
cJSON *ttdm_render_message(const struct ttdm_message *m);
cJSON *ttdm_render_conversation(const struct ttdm_conversation_view *c,
                                const struct ttdm_reply_budget *b);
cJSON *ttdm_render_channel(const struct ttdm_channel *c);

#endif /* TTDM_RENDER_H */
