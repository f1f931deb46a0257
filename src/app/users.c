/* users.c -- who may do what: users and passwords, dashboard sessions, API key roles. */
#include "app/users.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "app/internal.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/str.h"

#define PWHASH_SLOTS 2 /* concurrent Argon2id hashes (64 MiB each) */
#define APIKEY_PREFIX "ttdm_"
#define GENERATED_PASSWORD_BYTES 12

/* ---- Passwords ----------------------------------------------------------------------------- */

static void pwhash_enter(struct ttdm_app *app)
{
    pthread_mutex_lock(&app->pwhash_lock);
    while (app->pwhash_busy >= PWHASH_SLOTS)
        pthread_cond_wait(&app->pwhash_cond, &app->pwhash_lock);
    app->pwhash_busy++;
    pthread_mutex_unlock(&app->pwhash_lock);
}

static void pwhash_leave(struct ttdm_app *app)
{
    pthread_mutex_lock(&app->pwhash_lock);
    app->pwhash_busy--;
    pthread_cond_signal(&app->pwhash_cond);
    pthread_mutex_unlock(&app->pwhash_lock);
}

static enum ttdm_err hash_password(struct ttdm_app *app, const char *password, char *out,
                                   size_t out_size)
{
    int rc;

    if (out_size < crypto_pwhash_STRBYTES)
        return TTDM_ERR_INTERNAL;
    pwhash_enter(app);
    rc = crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                           crypto_pwhash_MEMLIMIT_INTERACTIVE);
    pwhash_leave(app);
    if (rc != 0) {
        LOG_ERROR("users", "password hashing ran out of memory");
        return TTDM_ERR_INTERNAL;
    }
    return TTDM_OK;
}

static bool verify_password(struct ttdm_app *app, const char *hash, const char *password)
{
    int rc;

    pwhash_enter(app);
    rc = crypto_pwhash_str_verify(hash, password, strlen(password));
    pwhash_leave(app);
    return rc == 0;
}

/* A hash to verify against when the email is unknown, so that the answer takes as long as
 * for a wrong password and does not tell which emails have accounts. Made once. */
static void dummy_hash(struct ttdm_app *app, char *out, size_t out_size)
{
    char local[TTDM_PWHASH_MAX] = "";

    pthread_mutex_lock(&app->pwhash_lock);
    ttdm_strlcpy(out, app->dummy_hash, out_size);
    pthread_mutex_unlock(&app->pwhash_lock);
    if (out[0] != '\0' ||
        hash_password(app, "not a password of anyone", local, sizeof(local)) != TTDM_OK)
        return;
    pthread_mutex_lock(&app->pwhash_lock);
    if (app->dummy_hash[0] == '\0')
        ttdm_strlcpy(app->dummy_hash, local, sizeof(app->dummy_hash));
    ttdm_strlcpy(out, app->dummy_hash, out_size);
    pthread_mutex_unlock(&app->pwhash_lock);
}

/* Letters and digits people can read out; 12 random bytes give 16 of them. */
static void generate_password(char *out, size_t out_size)
{
    unsigned char raw[GENERATED_PASSWORD_BYTES];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(out, out_size, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
}

/* Trims and lower-cases an email into out; -1 unless it looks like local@domain. */
static int normalize_email(const char *in, char *out, size_t out_size)
{
    size_t start = 0, end = in ? strlen(in) : 0, n, at = 0, ats = 0;

    while (start < end && isspace((unsigned char)in[start]))
        start++;
    while (end > start && isspace((unsigned char)in[end - 1]))
        end--;
    n = end - start;
    if (n < 3 || n >= out_size || n > 254)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)in[start + i];
        if (ch <= ' ' || ch == 0x7f || ch == '"' || ch == '<' || ch == '>' || ch == ',')
            return -1;
        if (ch == '@') {
            at = i;
            ats++;
        }
        out[i] = (char)tolower(ch);
    }
    out[n] = '\0';
    if (ats != 1 || at == 0 || at == n - 1)
        return -1;
    return 0;
}

static int check_password(const char *password, struct ttdm_err_detail *detail)
{
    size_t n = password ? strlen(password) : 0;
    if (n < TTDM_PASSWORD_MIN || n > TTDM_PASSWORD_MAX) {
        snprintf(detail->message, sizeof(detail->message),
                 "The password must have %d to %d characters.", TTDM_PASSWORD_MIN,
                 TTDM_PASSWORD_MAX);
        return -1;
    }
    return 0;
}

/* ---- Users ------------------------------------------------------------------------------- */

enum ttdm_err ttdm_app_user_create(struct ttdm_app *app, int64_t workspace_id, const char *email,
                                   const char *name, const char *password, enum ttdm_role role,
                                   struct ttdm_user *out, struct ttdm_err_detail *detail)
{
    char hash[TTDM_PWHASH_MAX];
    struct ttdm_user u;
    enum ttdm_err rc;

    memset(detail, 0, sizeof(*detail));
    memset(&u, 0, sizeof(u));
    u.workspace_id = workspace_id;
    u.role = role;
    if (normalize_email(email, u.email, sizeof(u.email))) {
        snprintf(detail->message, sizeof(detail->message),
                 "Field 'email' must be an email address like agent@example.com.");
        return TTDM_ERR_BAD_REQUEST;
    }
    if (name && ttdm_strlcpy(u.name, name, sizeof(u.name))) {
        snprintf(detail->message, sizeof(detail->message), "Field 'name' is too long.");
        return TTDM_ERR_BAD_REQUEST;
    }
    if (check_password(password, detail))
        return TTDM_ERR_BAD_REQUEST;
    rc = hash_password(app, password, hash, sizeof(hash));
    if (rc)
        return rc;
    rc = ttdm_store_user_create(app->store, &u, hash, &u.id);
    sodium_memzero(hash, sizeof(hash));
    if (rc == TTDM_ERR_CONFLICT)
        snprintf(detail->message, sizeof(detail->message),
                 "A user with this email already exists.");
    if (rc)
        return rc;
    u.created_at = ttdm_clock_now_ms();
    LOG_INFO("users", "user=%lld created in workspace=%lld as %s", (long long)u.id,
             (long long)workspace_id, ttdm_role_name(role));
    if (out)
        *out = u;
    return TTDM_OK;
}

enum ttdm_err ttdm_app_bootstrap_admin(struct ttdm_app *app, bool *created, bool *generated,
                                       char *password_out, size_t password_size)
{
    struct ttdm_err_detail d;
    char password[TTDM_PASSWORD_MAX + 1];
    int64_t users = 0, ws = 0;
    enum ttdm_err rc;

    *created = false;
    *generated = false;
    if (password_size)
        password_out[0] = '\0';
    rc = ttdm_store_user_count(app->store, &users);
    if (rc || users > 0)
        return rc;
    rc = ttdm_store_workspace_first(app->store, &ws);
    if (rc)
        return rc;
    if (app->cfg.admin_password[0]) {
        ttdm_strlcpy(password, app->cfg.admin_password, sizeof(password));
    } else {
        generate_password(password, sizeof(password));
        *generated = true;
    }
    rc = ttdm_app_user_create(app, ws, app->cfg.admin_email, "Admin", password, TTDM_ROLE_ADMIN,
                              NULL, &d);
    if (rc) {
        LOG_ERROR("users", "cannot create the first admin %s: %s", app->cfg.admin_email,
                  d.message[0] ? d.message : ttdm_err_message(rc));
    } else {
        *created = true;
        if (*generated)
            ttdm_strlcpy(password_out, password, password_size);
    }
    sodium_memzero(password, sizeof(password));
    return rc;
}

enum ttdm_err ttdm_app_workspace_create(struct ttdm_app *app, const char *name,
                                        const char *admin_email, const char *admin_password,
                                        int64_t *workspace_id, char *password_out,
                                        size_t password_size, struct ttdm_err_detail *detail)
{
    char password[TTDM_PASSWORD_MAX + 1];
    char email[TTDM_EMAIL_MAX];
    enum ttdm_err rc;

    memset(detail, 0, sizeof(*detail));
    if (password_size)
        password_out[0] = '\0';
    /* Checked before the workspace exists, so that a bad argument leaves nothing behind. */
    if (normalize_email(admin_email, email, sizeof(email))) {
        snprintf(detail->message, sizeof(detail->message),
                 "The admin email must be an email address like admin@example.com.");
        return TTDM_ERR_BAD_REQUEST;
    }
    if (admin_password && admin_password[0]) {
        if (check_password(admin_password, detail))
            return TTDM_ERR_BAD_REQUEST;
        ttdm_strlcpy(password, admin_password, sizeof(password));
    } else {
        generate_password(password, sizeof(password));
        ttdm_strlcpy(password_out, password, password_size);
    }
    rc = ttdm_store_workspace_create(app->store, name && *name ? name : "Workspace", workspace_id);
    if (rc == TTDM_OK)
        rc = ttdm_app_user_create(app, *workspace_id, email, "Admin", password, TTDM_ROLE_ADMIN,
                                  NULL, detail);
    sodium_memzero(password, sizeof(password));
    return rc;
}

/* ---- Sessions ---------------------------------------------------------------------------- */

static bool is_hex_token(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n != TTDM_HEX_TOKEN - 1)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

enum ttdm_err ttdm_app_login(struct ttdm_app *app, const char *email, const char *password,
                             struct ttdm_login *out)
{
    struct ttdm_session se;
    char norm[TTDM_EMAIL_MAX], hash[TTDM_PWHASH_MAX] = "", token_hash[TTDM_HEX_TOKEN];
    size_t pw_len = password ? strlen(password) : 0;
    bool known = false, ok = false;
    int64_t now = ttdm_clock_now_ms();
    enum ttdm_err rc;

    memset(out, 0, sizeof(*out));
    if (pw_len > TTDM_PASSWORD_MAX)
        return TTDM_ERR_INVALID_CREDENTIALS;
    if (normalize_email(email, norm, sizeof(norm)) == 0) {
        rc = ttdm_store_user_find_by_email(app->store, norm, &out->user, hash, sizeof(hash));
        if (rc && rc != TTDM_ERR_NOT_FOUND)
            return rc;
        known = rc == TTDM_OK;
    }
    if (!known)
        dummy_hash(app, hash, sizeof(hash));
    ok = hash[0] != '\0' && verify_password(app, hash, password ? password : "") && known;
    sodium_memzero(hash, sizeof(hash));
    if (!ok) {
        LOG_INFO("users", "sign-in refused");
        memset(out, 0, sizeof(*out));
        return TTDM_ERR_INVALID_CREDENTIALS;
    }

    memset(&se, 0, sizeof(se));
    se.workspace_id = out->user.workspace_id;
    se.user_id = out->user.id;
    se.created_at = now;
    se.expires_at = now + app->cfg.session_ttl_s * 1000;
    ttdm_random_hex(32, out->session_token);
    ttdm_random_hex(32, out->oauth_binding);
    ttdm_random_hex(32, out->csrf_token);
    ttdm_strlcpy(se.csrf_token, out->csrf_token, sizeof(se.csrf_token));
    ttdm_sha256_hex(out->oauth_binding, strlen(out->oauth_binding), se.oauth_binding_sha256);
    ttdm_sha256_hex(out->session_token, strlen(out->session_token), token_hash);
    rc = ttdm_store_session_create(app->store, &se, token_hash, NULL);
    if (rc) {
        memset(out, 0, sizeof(*out));
        return rc;
    }
    out->expires_at = se.expires_at;
    LOG_INFO("users", "user=%lld signed in", (long long)out->user.id);
    return TTDM_OK;
}

enum ttdm_err ttdm_app_session_check(struct ttdm_app *app, const char *token,
                                     struct ttdm_principal *out)
{
    struct ttdm_session se;
    char hash[TTDM_HEX_TOKEN];
    enum ttdm_err rc;

    memset(out, 0, sizeof(*out));
    if (!is_hex_token(token))
        return TTDM_ERR_UNAUTHORIZED;
    ttdm_sha256_hex(token, strlen(token), hash);
    rc = ttdm_store_session_find(app->store, hash, ttdm_clock_now_ms(), &se);
    if (rc)
        return rc;
    out->workspace_id = se.workspace_id;
    out->user_id = se.user_id;
    out->session_id = se.id;
    out->role = se.role;
    ttdm_strlcpy(out->csrf_token, se.csrf_token, sizeof(out->csrf_token));
    return TTDM_OK;
}

enum ttdm_err ttdm_app_logout(struct ttdm_app *app, int64_t session_id)
{
    return ttdm_store_session_delete(app->store, session_id);
}

/* ---- API keys ---------------------------------------------------------------------------- */

enum ttdm_err ttdm_app_apikey_principal(struct ttdm_app *app, const char *key,
                                        struct ttdm_principal *out)
{
    return ttdm_app_apikey_principal_ex(app, key, out, true);
}

enum ttdm_err ttdm_app_apikey_principal_ex(struct ttdm_app *app, const char *key,
                                           struct ttdm_principal *out, bool may_block)
{
    char hash[TTDM_HEX_TOKEN];
    size_t len = key ? strlen(key) : 0;
    int64_t workspace_id, role, read_ms;
    uint64_t gen;
    enum ttdm_err rc;

    memset(out, 0, sizeof(*out));
    if (len < sizeof(APIKEY_PREFIX) || len > 128)
        return TTDM_ERR_UNAUTHORIZED;
    ttdm_sha256_hex(key, len, hash);
    /* Every API call asks this: a key seen lately is answered from memory (keys are never
     * changed in place, only created). */
    if (ttdm_lcache_get(&app->apikeys, hash, &workspace_id, &role)) {
        out->workspace_id = workspace_id;
        out->role = (enum ttdm_role)role;
        return TTDM_OK;
    }
    if (!may_block)
        return TTDM_ERR_UNAVAILABLE;
    gen = ttdm_lcache_gen(&app->apikeys);
    read_ms = ttdm_clock_mono_ms();
    rc = ttdm_store_apikey_lookup(app->store, hash, &out->workspace_id, &out->role);
    if (rc == TTDM_OK)
        ttdm_lcache_put(&app->apikeys, gen, read_ms, hash, out->workspace_id, (int64_t)out->role);
    return rc;
}

enum ttdm_err ttdm_app_apikey_create_role(struct ttdm_app *app, int64_t workspace_id,
                                          const char *name, enum ttdm_role role, char *key_out,
                                          size_t key_size)
{
    char random[TTDM_HEX_TOKEN], hash[TTDM_HEX_TOKEN];
    enum ttdm_err rc;

    if (key_size < sizeof(APIKEY_PREFIX) + 64)
        return TTDM_ERR_INTERNAL;
    if (!workspace_id) {
        rc = ttdm_store_workspace_first(app->store, &workspace_id);
        if (rc)
            return rc;
    }
    ttdm_random_hex(32, random);
    snprintf(key_out, key_size, "%s%s", APIKEY_PREFIX, random);
    ttdm_sha256_hex(key_out, strlen(key_out), hash);
    return ttdm_store_apikey_create_role(app->store, workspace_id, name, role, hash, NULL);
}
