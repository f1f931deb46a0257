/* sim_internal.h -- the simulator object shared by its modules (API, OAuth, control, webhooks). */
#ifndef TTDM_SIM_INTERNAL_H
#define TTDM_SIM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sim.h"
#include "sim_state.h"
#include "util/httpd.h"

struct sim_webhooks;

struct ttdm_sim {
    struct ttdm_sim_config cfg;
    struct sim_state st; /* st.lock is the simulator's one mutex */
    struct sim_webhooks *hooks;
    struct ttdm_httpd *httpd;
    uint16_t port;
    char public_url[256];
    _Atomic int64_t clock_offset_ms;
    pthread_cond_t sleep_cond; /* wakes injected delays when the simulator stops */
    bool stopping;             /* under st.lock */
    struct ttdm_sim_demo demo;
};

/* The simulator's clock: wall clock plus its own offset (never the process-wide one, so a
 * ttdm server in the same process keeps its own time). */
int64_t ttdm_sim_now_ms(struct ttdm_sim *sim);

/* Sleeps up to ms (monotonic), returning early when the simulator stops. Lock not held. */
void ttdm_sim_sleep_ms(struct ttdm_sim *sim, int64_t ms);

/* Request handlers. Each returns false when the path is not its own (the router answers 404).
 * Called without the lock on an httpd worker thread, or on the event thread for the routes
 * ttdm_sim_api_is_inline names. */
bool ttdm_sim_api_handle(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                         struct ttdm_http_response *resp);
bool ttdm_sim_control_handle(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                             struct ttdm_http_response *resp);
/* True when name is an endpoint name faults may target (or "*"). */
bool ttdm_sim_api_endpoint_known(const char *name);
/*
 * Whether a route is answered on the event thread: sending a message, the call every
 * business makes most, which only touches memory. A queued fault may sleep, so while any
 * is queued the handler passes such requests to a worker.
 */
bool ttdm_sim_api_is_inline(const char *method, const char *path);

/* E1: the login page and its form posts (/v2/auth/authorize...). */
bool ttdm_sim_oauth_page(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                         struct ttdm_http_response *resp);

/* E2-E5, routed by the API module after fault injection. */
void ttdm_sim_oauth_token(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                          struct ttdm_http_response *resp);
void ttdm_sim_oauth_refresh(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                            struct ttdm_http_response *resp);
void ttdm_sim_oauth_revoke(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                           struct ttdm_http_response *resp);
void ttdm_sim_oauth_token_info(struct ttdm_sim *sim, const struct ttdm_http_request *req,
                               struct ttdm_http_response *resp);

/* Creates an account and grants it tokens (control API and seed_demo). Lock held.
 * The account JSON (with tokens and lifetimes) is returned, or NULL with err. */
cJSON *ttdm_sim_account_create_json(struct ttdm_sim *sim, const struct sim_account_spec *spec,
                                    char *err, size_t err_size);

#endif /* TTDM_SIM_INTERNAL_H */
