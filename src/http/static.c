/* static.c -- the dashboard's files, embedded in the binary at build time, served over HTTP. */
#include "http/static.h"

bool ttdm_static_serve(const struct ttdm_http_request *req, struct ttdm_http_response *resp)
{
    (void)req;
    (void)resp;
    return false;
}
