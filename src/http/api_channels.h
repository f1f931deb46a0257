/* api_channels.h -- HTTP handlers of sign-in and users and of a channel's life (connect,
 * reconnect, settings, badge icon, analytics, retry); server.c routes requests to them. */
#ifndef TTDM_API_CHANNELS_H
#define TTDM_API_CHANNELS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/users.h"
#include "store/store.h"
#include "util/httpd.h"

struct ttdm_app;

/* One request as server.c hands it over, authenticated unless the route is public. */
struct ttdm_api_call {
    struct ttdm_app *app;
    const struct ttdm_http_request *req;
    struct ttdm_http_response *resp;
    struct ttdm_principal who; /* zeroed on public routes */
    int64_t id;                /* the path id (fourth segment), 0 when the route has none */
};

struct ttdm_api_route {
    const char *method;
    const char *pattern; /* as in server.c: segments, ":" takes a positive id */
    void (*handler)(struct ttdm_api_call *call);
    bool admin_only; /* agents get 403 */
};

/* The authenticated routes of this file, matched by server.c after its own. */
extern const struct ttdm_api_route ttdm_api_channel_routes[];
extern const size_t ttdm_api_channel_routes_count;

/* Runs a matched route: 403 for an agent on an admin route, else the handler. */
void ttdm_api_run(const struct ttdm_api_route *route, struct ttdm_api_call *call);

/* Public routes: POST /api/v1/auth/login and GET /oauth/tiktok/callback. */
void ttdm_api_login(struct ttdm_api_call *call);
void ttdm_api_oauth_callback(struct ttdm_api_call *call);

/* A channel as every API answer shows it, with its auto-responder text. New object. */
cJSON *ttdm_api_render_channel(struct ttdm_app *app, const struct ttdm_channel *ch);

#endif /* TTDM_API_CHANNELS_H */
