/* sim.c -- ttdm-sim's lifecycle and request router: one HTTP server for the TikTok API, the
 * login page, downloads and the control API. */
#include "sim.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sim_internal.h"
#include "sim_webhook.h"
#include "sim_wire.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/httpc.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

int64_t ttdm_sim_now_ms(struct ttdm_sim *sim)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + atomic_load(&sim->clock_offset_ms);
}

void ttdm_sim_sleep_ms(struct ttdm_sim *sim, int64_t ms)
{
    int64_t until = ttdm_clock_mono_ms() + ms;
    pthread_mutex_lock(&sim->st.lock);
    while (!sim->stopping) {
        struct timespec ts;
        if (ttdm_clock_mono_ms() >= until)
            break;
        ts.tv_sec = (time_t)(until / 1000);
        ts.tv_nsec = (long)(until % 1000) * 1000000L;
        pthread_cond_timedwait(&sim->sleep_cond, &sim->st.lock, &ts);
    }
    pthread_mutex_unlock(&sim->st.lock);
}

cJSON *ttdm_sim_account_create_json(struct ttdm_sim *sim, const struct sim_account_spec *spec,
                                    char *err, size_t err_size)
{
    int64_t now = ttdm_sim_now_ms(sim);
    struct sim_account *acc = ttdm_sim_state_account_create(&sim->st, spec, now, err, err_size);
    struct sim_token *access, *refresh;
    cJSON *o;

    if (!acc)
        return NULL;
    ttdm_sim_state_tokens_grant(&sim->st, acc, NULL, now, &access, &refresh);
    o = ttdm_sim_state_account_json(&sim->st, acc, now);
    ttdm_json_add_i64(o, "expires_in", sim->cfg.access_token_ttl_s);
    ttdm_json_add_i64(o, "refresh_token_expires_in", sim->cfg.refresh_token_ttl_s);
    cJSON_AddStringToObject(o, "scope", access->scope);
    return o;
}

static void index_page(struct ttdm_sim *sim, struct ttdm_http_response *resp)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", "ttdm-sim");
    cJSON_AddStringToObject(o, "what", "TikTok Business Messaging simulator (sandbox only)");
    cJSON_AddStringToObject(o, "api_base", "/open_api/v1.3/");
    cJSON_AddStringToObject(o, "authorize", "/v2/auth/authorize/");
    cJSON_AddStringToObject(o, "control", "/sim/");
    cJSON_AddStringToObject(o, "public_url", sim->public_url);
    cJSON_AddStringToObject(o, "docs", "docs/SIMULATOR.md");
    ttdm_http_resp_json(resp, 200, o);
}

static void on_request(void *ud, const struct ttdm_http_request *req,
                       struct ttdm_http_response *resp)
{
    struct ttdm_sim *sim = ud;
    const char *path = req->path;

    if (ttdm_starts_with(path, "/sim/") || strcmp(path, "/sim") == 0) {
        if (ttdm_sim_control_handle(sim, req, resp))
            return;
    } else if (ttdm_starts_with(path, "/v2/auth/authorize")) {
        if (ttdm_sim_oauth_page(sim, req, resp))
            return;
    } else if (strcmp(path, "/") == 0 && strcmp(req->method, "GET") == 0) {
        index_page(sim, resp);
        return;
    } else if (ttdm_sim_api_handle(sim, req, resp)) {
        return;
    }
    /* Like TikTok's gateway: a wrong path (often a missing final '/') is a plain 404. */
    ttdm_http_resp_bytes(resp, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
}

static bool on_is_inline(void *ud, const char *method, const char *path)
{
    (void)ud;
    return ttdm_sim_api_is_inline(method, path);
}

struct ttdm_sim *ttdm_sim_start(const struct ttdm_sim_config *cfg)
{
    struct ttdm_sim *sim = ttdm_calloc(1, sizeof(*sim));
    struct ttdm_httpd_config hc;
    pthread_condattr_t attr;
    char err[256];

    sim->cfg = *cfg;
    if (ttdm_crypto_init()) {
        LOG_ERROR("sim", "the crypto libraries (libsodium, libcrypto) cannot be initialised");
        ttdm_free(sim);
        return NULL;
    }
    ttdm_httpc_global_init();
    if (ttdm_sim_state_init(&sim->st, &sim->cfg, err, sizeof(err))) {
        LOG_ERROR("sim", "%s", err);
        ttdm_free(sim);
        return NULL;
    }
    atomic_store(&sim->clock_offset_ms, cfg->clock_offset_ms);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&sim->sleep_cond, &attr);
    pthread_condattr_destroy(&attr);

    ttdm_httpd_config_default(&hc);
    hc.bind_addr = sim->cfg.listen_addr;
    hc.port = (uint16_t)sim->cfg.port;
    hc.workers = (unsigned)sim->cfg.http_workers;
    /* Room for a base64 image in a control call and for uploads just over the limit, so
     * the simulator itself can answer 40907 instead of the server's 413. */
    hc.max_body = (size_t)sim->cfg.image_max_bytes * 2 + 1024 * 1024;
    sim->hooks = ttdm_sim_webhook_start(sim);
    sim->httpd = ttdm_httpd_start(&hc, on_request, on_is_inline, sim);
    if (!sim->httpd) {
        ttdm_sim_stop(sim);
        return NULL;
    }
    sim->port = ttdm_httpd_port(sim->httpd);
    if (sim->cfg.public_url[0])
        ttdm_strlcpy(sim->public_url, sim->cfg.public_url, sizeof(sim->public_url));
    else
        snprintf(sim->public_url, sizeof(sim->public_url), "http://%s:%u", sim->cfg.listen_addr,
                 (unsigned)sim->port);
    /* No trailing slash: paths are appended to it. */
    {
        size_t n = strlen(sim->public_url);
        while (n > 0 && sim->public_url[n - 1] == '/')
            sim->public_url[--n] = '\0';
    }

    if (sim->cfg.seed_demo) {
        struct sim_account_spec spec = {
            .username = "demo_shop", .display_name = "Demo Shop", .region = "SG", .origin_app = 1};
        cJSON *acc;
        pthread_mutex_lock(&sim->st.lock);
        acc = ttdm_sim_account_create_json(sim, &spec, err, sizeof(err));
        pthread_mutex_unlock(&sim->st.lock);
        if (acc) {
            ttdm_json_copy_str(acc, "business_id", sim->demo.business_id,
                               sizeof(sim->demo.business_id));
            ttdm_json_copy_str(acc, "username", sim->demo.username, sizeof(sim->demo.username));
            ttdm_json_copy_str(acc, "access_token", sim->demo.access_token,
                               sizeof(sim->demo.access_token));
            ttdm_json_copy_str(acc, "refresh_token", sim->demo.refresh_token,
                               sizeof(sim->demo.refresh_token));
            cJSON_Delete(acc);
        }
    }
    LOG_INFO("sim", "listening on %s (app_id %s, callback %s)", sim->public_url, sim->cfg.app_id,
             sim->cfg.callback_url[0] ? sim->cfg.callback_url : "not set");
    return sim;
}

uint16_t ttdm_sim_port(const struct ttdm_sim *sim)
{
    return sim->port;
}

const char *ttdm_sim_public_url(const struct ttdm_sim *sim)
{
    return sim->public_url;
}

const struct ttdm_sim_demo *ttdm_sim_demo(const struct ttdm_sim *sim)
{
    return &sim->demo;
}

void ttdm_sim_stop(struct ttdm_sim *sim)
{
    if (!sim)
        return;
    /* Wake injected delays first so the HTTP server can drain its handlers quickly. */
    pthread_mutex_lock(&sim->st.lock);
    sim->stopping = true;
    pthread_cond_broadcast(&sim->sleep_cond);
    pthread_mutex_unlock(&sim->st.lock);
    ttdm_httpd_stop(sim->httpd);
    ttdm_sim_webhook_stop(sim->hooks);
    ttdm_sim_state_cleanup(&sim->st);
    pthread_cond_destroy(&sim->sleep_cond);
    ttdm_free(sim);
}
