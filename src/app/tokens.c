/* tokens.c -- channels' TikTok tokens at rest: sealed before the store sees them, opened for
 * each call, and sealed at start where an older database still holds them in clear. */
#include <sodium.h>
#include <string.h>

#include "app/internal.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/str.h"

enum ttdm_err ttdm_app_token_seal(struct ttdm_app *app, const char *plain, char *out,
                                  size_t out_size)
{
    return ttdm_secrets_seal(app->secret_key, plain, out, out_size);
}

enum ttdm_err ttdm_app_token_open(struct ttdm_app *app, const char *stored, char *out,
                                  size_t out_size)
{
    enum ttdm_err rc = ttdm_secrets_open(app->secret_key, stored, out, out_size);
    if (rc)
        LOG_ERROR("secrets",
                  "a stored TikTok token cannot be decrypted: is this the key_file (or "
                  "secret_key) the token was written with? The channel must be reconnected "
                  "otherwise");
    return rc;
}

void ttdm_app_token_open_inplace(struct ttdm_app *app, char *token, size_t size)
{
    char *plain = ttdm_malloc(size);

    ttdm_app_token_open(app, token, plain, size);
    ttdm_strlcpy(token, plain, size);
    sodium_memzero(plain, size);
    ttdm_free(plain);
}

void ttdm_app_secrets_migrate(struct ttdm_app *app)
{
    struct ttdm_channel *chans = NULL;
    size_t n = 0;

    if (ttdm_store_channel_list(app->store, 0, &chans, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        struct ttdm_channel *ch = &chans[i];
        char access[TTDM_TOKEN_MAX], refresh[TTDM_TOKEN_MAX];
        bool clear_access = ch->access_token[0] && !ttdm_secrets_looks_sealed(ch->access_token);
        bool clear_refresh = ch->refresh_token[0] && !ttdm_secrets_looks_sealed(ch->refresh_token);

        if (!clear_access && !clear_refresh)
            continue;
        ttdm_strlcpy(access, ch->access_token, sizeof(access));
        ttdm_strlcpy(refresh, ch->refresh_token, sizeof(refresh));
        if ((clear_access && ttdm_app_token_seal(app, ch->access_token, access, sizeof(access))) ||
            (clear_refresh &&
             ttdm_app_token_seal(app, ch->refresh_token, refresh, sizeof(refresh))))
            continue;
        if (ttdm_store_channel_set_tokens(app->store, ch->id, ch->refresh_token, access, refresh,
                                          ch->token_expires_at, ch->refresh_expires_at) == TTDM_OK)
            LOG_INFO("secrets", "channel=%lld: tokens stored in clear are now encrypted",
                     (long long)ch->id);
    }
    for (size_t i = 0; i < n; i++) {
        sodium_memzero(chans[i].access_token, sizeof(chans[i].access_token));
        sodium_memzero(chans[i].refresh_token, sizeof(chans[i].refresh_token));
    }
    ttdm_free(chans);
}
