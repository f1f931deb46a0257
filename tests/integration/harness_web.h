/* harness_web.h -- a small browser for integration tests: cookies, CSRF token, redirects
 * seen (not followed), and the simulator's TikTok login page driven like a person would. */
#ifndef TTDM_HARNESS_WEB_H
#define TTDM_HARNESS_WEB_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

/* One browser: its own cookie jar (libcurl's, which honours Path) and the CSRF token that
 * signing in returned. */
struct h_browser {
    void *curl; /* CURL * */
    char csrf[128];
};

/* An answer: status, body (heap, NUL-terminated) and the raw response headers. */
struct h_resp {
    long status;
    char *body;
    size_t body_len;
    char *headers;
};

void h_browser_init(struct h_browser *b);
void h_browser_cleanup(struct h_browser *b);
void h_resp_cleanup(struct h_resp *r);

/* The value of response header `name` (case-insensitive) into out; false when absent. */
bool h_resp_header(const struct h_resp *r, const char *name, char *out, size_t out_size);
/* The body parsed as JSON (caller deletes), NULL when it is not JSON. */
cJSON *h_resp_json(const struct h_resp *r);

/*
 * One request with the browser's cookies. `headers` NULL-terminated or NULL; `body` may be
 * NULL; body_len 0 means strlen(body). Redirects are not followed. Returns the status.
 */
long h_browser_do(struct h_browser *b, const char *method, const char *url,
                  const char *const *headers, const char *body, size_t body_len,
                  struct h_resp *out);

/* ttdm's API with the session: JSON body, X-CSRF-Token (unless b->csrf is ""). *json may be
 * NULL. */
long h_browser_api(struct h_browser *b, struct h_env *env, const char *method, const char *path,
                   const char *body, cJSON **json);

/* Signs in; keeps the CSRF token. Returns the status. */
long h_login(struct h_browser *b, struct h_env *env, const char *email, const char *password);

/*
 * On the simulator's TikTok login page at authorize_url, presses Continue for `account` (or
 * Cancel when account is NULL) and writes the Location TikTok redirected to into callback.
 */
void h_tiktok_login(struct h_browser *b, const char *authorize_url, const char *account,
                    char *callback, size_t callback_size);

/* Starts a connect (channel_id 0) or reconnect as the signed-in admin; the authorize URL. */
void h_start_connect(struct h_browser *b, struct h_env *env, int64_t channel_id, char *url,
                     size_t url_size);

/* The whole Add TikTok Account round trip for `account`; returns the callback's JSON answer
 * (status in *status). Caller deletes. */
cJSON *h_connect_account(struct h_browser *b, struct h_env *env, int64_t channel_id,
                         const char *account, long *status);

#endif /* TTDM_HARNESS_WEB_H */
