/* render.h -- JSON shapes of the public API (docs/API.md describes them). */
#ifndef TTDM_RENDER_H
#define TTDM_RENDER_H

#include <cjson/cJSON.h>

#include "core/policy.h"
#include "store/store.h"

/* Each returns a new object owned by the caller. */
cJSON *ttdm_render_budget(const struct ttdm_reply_budget *b);
cJSON *ttdm_render_message(const struct ttdm_message *m);
cJSON *ttdm_render_conversation(const struct ttdm_conversation_view *c,
                                const struct ttdm_reply_budget *b);
cJSON *ttdm_render_channel(const struct ttdm_channel *c);

#endif /* TTDM_RENDER_H */
