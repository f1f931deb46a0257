/* sim_wire.h -- wire helpers of the simulator: TikTok envelopes, forms, multipart, base64. */
#ifndef TTDM_SIM_WIRE_H
#define TTDM_SIM_WIRE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/httpd.h"

/*
 * TikTok's envelope {"code","message","request_id","data"} with HTTP 200, also for errors.
 * Takes data (NULL means {}); message NULL means "OK".
 */
void ttdm_sim_wire_envelope(struct ttdm_http_response *resp, int code, const char *message,
                            cJSON *data);

/* Control API error {"error":{"code","message"}} with a formatted message. */
void ttdm_sim_wire_error(struct ttdm_http_response *resp, int status, const char *code,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Parses the request body as a JSON object; NULL with a sentence in err otherwise.
 * An empty body reads as {}. The caller owns the result. */
cJSON *ttdm_sim_wire_body_object(const struct ttdm_http_request *req, char *err, size_t err_size);

/* Value of `name` in an application/x-www-form-urlencoded body, decoded; NULL when absent.
 * The caller frees it with ttdm_free. */
char *ttdm_sim_wire_form_get(const char *body, size_t len, const char *name);

/* One part of a multipart/form-data body; slices point into the body. */
struct ttdm_sim_part {
    struct ttdm_slice name;
    struct ttdm_slice filename; /* len 0 when none */
    struct ttdm_slice data;
};

/* Splits a multipart/form-data body. Returns 0, or -1 when the content type has no
 * boundary, the body is malformed, or it has more than max parts. */
int ttdm_sim_wire_multipart(const char *content_type, const char *body, size_t len,
                            struct ttdm_sim_part *parts, size_t max, size_t *n);

/* The part called name, or NULL. */
const struct ttdm_sim_part *ttdm_sim_wire_part(const struct ttdm_sim_part *parts, size_t n,
                                               const char *name);

/* Decodes standard base64 (padding optional, whitespace ignored). Returns bytes allocated
 * with ttdm_malloc, or NULL when malformed or longer than max_out. */
unsigned char *ttdm_sim_wire_base64_decode(const char *in, size_t len, size_t max_out,
                                           size_t *out_len);

/* 302 to location (with a small HTML body that links to it, for clients that do not
 * expose response headers). */
void ttdm_sim_wire_redirect(struct ttdm_http_response *resp, const char *location);

/* Appends "&key=value" (or "?key=value" when the URL has no query yet), percent-encoded. */
void ttdm_sim_wire_url_param(struct ttdm_buf *url, const char *key, const char *value);

#endif /* TTDM_SIM_WIRE_H */
