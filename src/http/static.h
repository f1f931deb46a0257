/* static.h -- the dashboard's files, embedded in the binary at build time, served over HTTP. */
#ifndef TTDM_STATIC_H
#define TTDM_STATIC_H

#include <stdbool.h>

#include "util/httpd.h"

/*
 * Answers GET/HEAD requests for the embedded dashboard (web/). Returns true when it filled
 * `resp` (the path belongs to the dashboard), false to let other routes try.
 */
bool ttdm_static_serve(const struct ttdm_http_request *req, struct ttdm_http_response *resp);

#endif /* TTDM_STATIC_H */
