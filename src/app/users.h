/* users.h -- who may do what: users and passwords, dashboard sessions, API key roles. */
#ifndef TTDM_APP_USERS_H
#define TTDM_APP_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/app.h"
#include "core/model.h"
#include "store/store.h"

#define TTDM_SESSION_COOKIE "ttdm_session"
/* SameSite=Lax companion of the session, sent only to /oauth/tiktok/: TikTok's redirect back
 * is a cross-site navigation, which never carries the SameSite=Strict session cookie. */
#define TTDM_OAUTH_COOKIE "ttdm_oauth"
#define TTDM_PASSWORD_MIN 8
#define TTDM_PASSWORD_MAX 1024

/* Who is calling, as authentication found out. Embedded; no ownership. */
struct ttdm_principal {
    int64_t workspace_id;
    int64_t user_id;    /* 0 for an API key */
    int64_t session_id; /* 0 for an API key */
    enum ttdm_role role;
    char csrf_token[TTDM_HEX_TOKEN]; /* sessions only, "" otherwise */
};

/* What a successful sign-in gives the browser. The three tokens are shown once. */
struct ttdm_login {
    struct ttdm_user user;
    char session_token[TTDM_HEX_TOKEN]; /* the session cookie's value */
    char oauth_binding[TTDM_HEX_TOKEN]; /* the OAuth binding cookie's value */
    char csrf_token[TTDM_HEX_TOKEN];
    int64_t expires_at;
};

/*
 * Checks the password (Argon2id, at most two hashes at a time so that sign-ins cannot
 * exhaust memory) and starts a session of session_ttl_s. INVALID_CREDENTIALS for an unknown
 * email or a wrong password alike, after the same amount of work.
 */
enum ttdm_err ttdm_app_login(struct ttdm_app *app, const char *email, const char *password,
                             struct ttdm_login *out);
/* UNAUTHORIZED unless `token` is the cookie of a live session. */
enum ttdm_err ttdm_app_session_check(struct ttdm_app *app, const char *token,
                                     struct ttdm_principal *out);
/* Ends the session. */
enum ttdm_err ttdm_app_logout(struct ttdm_app *app, int64_t session_id);

/*
 * UNAUTHORIZED when the key is unknown; else the key's workspace and role. With may_block
 * false (an event loop calls) only keys seen lately are answered, from memory; any other
 * key gives TTDM_ERR_UNAVAILABLE without reading: ask again from a thread.
 */
enum ttdm_err ttdm_app_apikey_principal_ex(struct ttdm_app *app, const char *key,
                                           struct ttdm_principal *out, bool may_block);
enum ttdm_err ttdm_app_apikey_principal(struct ttdm_app *app, const char *key,
                                        struct ttdm_principal *out);
/* ttdm_app_apikey_create with a role (workspace 0: the first one). */
enum ttdm_err ttdm_app_apikey_create_role(struct ttdm_app *app, int64_t workspace_id,
                                          const char *name, enum ttdm_role role, char *key_out,
                                          size_t key_size);

/*
 * Creates a user in the workspace. The email is trimmed and lower-cased and must look like
 * one; the password has TTDM_PASSWORD_MIN..MAX bytes. BAD_REQUEST (detail says which field),
 * CONFLICT when the email is taken.
 */
enum ttdm_err ttdm_app_user_create(struct ttdm_app *app, int64_t workspace_id, const char *email,
                                   const char *name, const char *password, enum ttdm_role role,
                                   struct ttdm_user *out, struct ttdm_err_detail *detail);

/*
 * First start: when no user exists at all, creates the admin admin_email of the first
 * workspace with admin_password, or with a generated password written to password_out
 * (*generated true) for the caller to show once. *created is false when users existed.
 */
enum ttdm_err ttdm_app_bootstrap_admin(struct ttdm_app *app, bool *created, bool *generated,
                                       char *password_out, size_t password_size);

/*
 * A new workspace with its first admin (for the operator's command line). A NULL or empty
 * password is generated into password_out.
 */
enum ttdm_err ttdm_app_workspace_create(struct ttdm_app *app, const char *name,
                                        const char *admin_email, const char *admin_password,
                                        int64_t *workspace_id, char *password_out,
                                        size_t password_size, struct ttdm_err_detail *detail);

#endif /* TTDM_APP_USERS_H */
