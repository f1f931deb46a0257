/* test_json.c -- ttdm_json_print prints exactly what cJSON_PrintUnformatted prints; parsing
 * in an arena scope gives the same trees. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "util/json.h"

/* Both printers on one tree; the tree is freed. */
static void expect_same(cJSON *v)
{
    char *ours = ttdm_json_print(v);
    char *theirs = cJSON_PrintUnformatted(v);

    assert_non_null(theirs);
    assert_string_equal(ours, theirs);
    cJSON_free(ours);
    cJSON_free(theirs);
    cJSON_Delete(v);
}

static void test_numbers(void **state)
{
    static const double values[] = {
        0,
        -0.0,
        1,
        -1,
        42,
        2147483647.0,  /* INT_MAX: cJSON's "%d" */
        2147483648.0,  /* above it: "%1.15g" in cJSON */
        -2147483648.0, /* INT_MIN */
        -2147483649.0,
        1764120000000.0, /* a millisecond timestamp */
        -1764120000000.0,
        999999999999999.0,  /* the largest printed as plain digits here */
        1000000000000000.0, /* 1e15: cJSON's own way from here on */
        9007199254740993.0, /* above 2^53 */
        1234567890123456789.0,
        1.5,
        -0.25,
        0.1,
        1.0 / 3.0,
        3.14159265358979,
        1e-7,
        1e300,
        -1e300,
        5e-324,
    };
    (void)state;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        cJSON *a = cJSON_CreateArray();
        cJSON_AddItemToArray(a, cJSON_CreateNumber(values[i]));
        expect_same(a);
    }
    /* Not numbers in JSON: both print null. */
    {
        cJSON *a = cJSON_CreateArray();
        cJSON_AddItemToArray(a, cJSON_CreateNumber(NAN));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(INFINITY));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(-INFINITY));
        expect_same(a);
    }
    /* ttdm_json_add_i64 over the whole exact range. */
    for (int64_t v = 1; v > 0 && v <= (INT64_C(1) << 53); v = v * 3 + 1) {
        cJSON *o = cJSON_CreateObject();
        ttdm_json_add_i64(o, "v", v);
        ttdm_json_add_i64(o, "n", -v);
        expect_same(o);
    }
}

static void test_strings(void **state)
{
    static const char *const values[] = {
        "",
        "plain",
        "quote \" and backslash \\ and slash /",
        "\b\f\n\r\t",
        "\x01\x02\x1f control",
        "caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80", /* UTF-8 passes through */
        "\x7f delete",
        "ends with a newline\n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "s", values[i]);
        cJSON_AddStringToObject(o, values[i], "as a key");
        expect_same(o);
    }
}

static void test_structures(void **state)
{
    cJSON *root = cJSON_CreateObject(), *arr, *inner;
    (void)state;

    expect_same(cJSON_CreateObject());
    expect_same(cJSON_CreateArray());
    expect_same(cJSON_CreateNull());
    expect_same(cJSON_CreateTrue());
    expect_same(cJSON_CreateFalse());
    expect_same(cJSON_CreateString("top-level"));

    cJSON_AddNullToObject(root, "none");
    cJSON_AddTrueToObject(root, "yes");
    cJSON_AddFalseToObject(root, "no");
    cJSON_AddRawToObject(root, "raw", "{\"already\":[1,2]}");
    arr = cJSON_AddArrayToObject(root, "list");
    for (int i = 0; i < 5; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(i * 1000000007.0));
    cJSON_AddItemToArray(arr, cJSON_CreateArray());
    cJSON_AddItemToArray(arr, cJSON_CreateObject());
    inner = cJSON_AddObjectToObject(root, "message");
    cJSON_AddStringToObject(inner, "text", "Hello \"there\"\n");
    ttdm_json_add_i64(inner, "created_at", 1764120000350);
    cJSON_AddNumberToObject(inner, "attempts", 1);
    expect_same(root);

    /* A long string grows the buffer several times. */
    {
        char big[20000];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        big[5000] = '\n';
        root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "big", big);
        expect_same(root);
    }
}

/* Random doubles (any bit pattern, integers near the 10^15 boundary, small fractions) and
 * random strings of every byte but NUL: both printers agree on each. */
static void test_random(void **state)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    (void)state;
    for (int i = 0; i < 20000; i++) {
        cJSON *a = cJSON_CreateArray();
        uint64_t bits;
        double d;
        char str[40];

        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        bits = x;
        memcpy(&d, &bits, sizeof(d));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(d));
        cJSON_AddItemToArray(
            a, cJSON_CreateNumber((double)(int64_t)(x % 4000000000000000ULL) - 2000000000000000.0));
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)(int64_t)(x % 2000001) / 64.0));
        for (size_t k = 0; k < sizeof(str) - 1; k++)
            str[k] = (char)(1 + (x >> (k % 56)) % 255);
        str[sizeof(str) - 1] = '\0';
        cJSON_AddItemToArray(a, cJSON_CreateString(str));
        expect_same(a);
    }
}

/* Where cJSON cannot print (it returns NULL), ours prints null and stays JSON. */
static void test_unprintable(void **state)
{
    cJSON *a = cJSON_CreateArray(), *raw = cJSON_CreateRaw("1");
    char *s;
    (void)state;

    cJSON_free(raw->valuestring);
    raw->valuestring = NULL;
    cJSON_AddItemToArray(a, raw);
    cJSON_AddItemToArray(a, cJSON_CreateNumber(1));
    s = ttdm_json_print(a);
    assert_string_equal(s, "[null,1]");
    cJSON_free(s);
    cJSON_Delete(a);

    s = ttdm_json_print(NULL);
    assert_string_equal(s, "");
    cJSON_free(s);
}

/* The validator as it was written first, a byte at a time: the reference for the fast one. */
static bool utf8_valid_bytewise(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

/* Valid and invalid sequences at every offset around the eight-byte steps of the ASCII
 * fast path, cut short at every length, and random mostly-ASCII bytes: the fast validator
 * agrees with the bytewise one on each. */
static const char WEBHOOK_CONTENT[] =
    "{\"conversation_id\":\"c-1\",\"message_id\":\"7100000000000000001\","
    "\"timestamp\":1765000000123,\"type\":\"text\",\"from_user\":{\"id\":\"u-1\","
    "\"region\":\"SG\"},\"text\":{\"body\":\"Is the blue jacket still available?\"}}";

static void expect_content(const cJSON *v)
{
    const char *s = NULL;
    int64_t ts = 0;

    assert_non_null(v);
    assert_int_equal(ttdm_json_get_str(v, "message_id", 64, &s), 0);
    assert_string_equal(s, "7100000000000000001");
    assert_int_equal(ttdm_json_get_i64(v, "timestamp", 0, INT64_MAX, &ts), 0);
    assert_int_equal(ts, 1765000000123);
    assert_int_equal(
        ttdm_json_get_str(cJSON_GetObjectItemCaseSensitive(v, "text"), "body", 200, &s), 0);
    assert_string_equal(s, "Is the blue jacket still available?");
}

static cJSON *parse_content(void)
{
    char err[128];
    return ttdm_json_parse(WEBHOOK_CONTENT, strlen(WEBHOOK_CONTENT), err, sizeof(err));
}

static void test_arena(void **state)
{
    struct ttdm_json_arena a;
    char buf[4096];
    cJSON *v, *created;

    (void)state;
    ttdm_json_arena_begin(&a, buf, sizeof(buf));
    v = parse_content();
    expect_content(v);
    created = cJSON_CreateString("made in the scope");
    assert_string_equal(created->valuestring, "made in the scope");
    assert_true(a.used > 0 && a.used <= a.cap);
    assert_true((char *)v >= buf && (char *)v < buf + sizeof(buf));
    assert_true(a.live > 0);
    cJSON_Delete(created);
    cJSON_Delete(v);
    assert_int_equal(a.live, 0);
    ttdm_json_arena_end(&a);

    /* Outside the scope cJSON allocates as usual. */
    v = parse_content();
    expect_content(v);
    assert_false((char *)v >= buf && (char *)v < buf + sizeof(buf));
    cJSON_Delete(v);
}

/* A buffer too small for the tree: the rest comes from malloc, and all of it is freed. */
static void test_arena_spills(void **state)
{
    struct ttdm_json_arena a;
    char buf[200];
    cJSON *v;

    (void)state;
    ttdm_json_arena_begin(&a, buf + 1, sizeof(buf) - 1); /* unaligned on purpose */
    assert_int_equal((uintptr_t)a.buf % 16, 0);
    v = parse_content();
    expect_content(v);
    assert_true(a.used > 0 && a.used <= a.cap);
    cJSON_Delete(v);
    assert_int_equal(a.live, 0);
    ttdm_json_arena_end(&a);
}

/* Trees from an outer scope, or from no scope, may be deleted inside an inner one. */
static void test_arena_nested(void **state)
{
    struct ttdm_json_arena outer, inner;
    char obuf[4096], ibuf[4096];
    cJSON *before, *in_outer, *in_inner;

    (void)state;
    before = parse_content();
    ttdm_json_arena_begin(&outer, obuf, sizeof(obuf));
    in_outer = parse_content();
    ttdm_json_arena_begin(&inner, ibuf, sizeof(ibuf));
    in_inner = parse_content();
    assert_true((char *)in_outer >= obuf && (char *)in_outer < obuf + sizeof(obuf));
    assert_true((char *)in_inner >= ibuf && (char *)in_inner < ibuf + sizeof(ibuf));
    expect_content(before);
    expect_content(in_outer);
    expect_content(in_inner);
    cJSON_Delete(before);
    cJSON_Delete(in_outer);
    assert_int_equal(outer.live, 0);
    cJSON_Delete(in_inner);
    assert_int_equal(inner.live, 0);
    ttdm_json_arena_end(&inner);
    ttdm_json_arena_end(&outer);
}

/* Ends the scope with the tree `leave` still in it (or ends `first` while `second` is open). */
static void end_wrongly(bool leave_tree)
{
    struct ttdm_json_arena a, b;
    char buf[4096], buf2[4096];
    cJSON *v;

    ttdm_json_arena_begin(&a, buf, sizeof(buf));
    v = parse_content();
    if (leave_tree) {
        ttdm_json_arena_end(&a); /* v still lives in buf */
        return;
    }
    cJSON_Delete(v);
    ttdm_json_arena_begin(&b, buf2, sizeof(buf2));
    ttdm_json_arena_end(&a); /* not the innermost */
}

/* A scope ended with a tree still in it, or out of order, stops the process in every build. */
static void test_arena_end_checks(void **state)
{
    (void)state;
    for (int leave = 0; leave <= 1; leave++) {
        int status = 0;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            fclose(stderr); /* the expected "fatal:" line */
            end_wrongly(leave == 1);
            _exit(0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
    }
}

static void test_utf8_valid(void **state)
{
    static const char *const seqs[] = {
        "\xC3\xA9",
        "\xE2\x82\xAC",
        "\xF0\x9F\x98\x80",
        "\xF4\x8F\xBF\xBF",
        "\xC0\x80",
        "\xC1\xBF",
        "\xE0\x80\x80",
        "\xED\xA0\x80",
        "\xF4\x90\x80\x80",
        "\xF5\x80",
        "\x80",
        "\xBF",
        "\xFF",
        "\xC3",
        "\xE2\x82",
        "\xC3\x28",
    };
    unsigned char buf[64];
    uint64_t x = 0x2545F4914F6CDD1DULL;
    (void)state;

    for (size_t q = 0; q < sizeof(seqs) / sizeof(seqs[0]); q++) {
        size_t sl = strlen(seqs[q]);
        for (size_t before = 0; before <= 20; before++) {
            for (size_t after = 0; after <= 20; after++) {
                size_t len = before + sl + after;
                memset(buf, 'a', sizeof(buf));
                memcpy(buf + before, seqs[q], sl);
                for (size_t cut = 0; cut <= len; cut++)
                    assert_int_equal(ttdm_utf8_valid((const char *)buf, cut),
                                     utf8_valid_bytewise(buf, cut));
            }
        }
    }
    for (int i = 0; i < 200000; i++) {
        size_t len;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        len = (size_t)(x % sizeof(buf));
        for (size_t k = 0; k < len; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[k] = (x % 8 == 0) ? (unsigned char)(x >> 8) : (unsigned char)('a' + x % 26);
        }
        assert_int_equal(ttdm_utf8_valid((const char *)buf, len), utf8_valid_bytewise(buf, len));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),      cmocka_unit_test(test_strings),
        cmocka_unit_test(test_structures),   cmocka_unit_test(test_random),
        cmocka_unit_test(test_unprintable),  cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_arena),        cmocka_unit_test(test_arena_spills),
        cmocka_unit_test(test_arena_nested), cmocka_unit_test(test_arena_end_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
