/* fuzz_json.c — the JSON reader (zoo/json.c) on hostile input, as the program reads args.json
 * and config.json: the file whole through zoo_slurp, then json_member_text for the keys the
 * readers ask for, into buffers from 1 byte to roomy (in turn), and json_first_difference, which
 * compares a run's config.json with a fresh one. The input is both texts: up to its first
 * newline and after it (the files themselves have none). Both texts are also written as string
 * values with JsonWriter and read back. What must hold: zoo_slurp returns every byte; a value is
 * cut to its buffer and terminated; a text does not differ from itself; json_member_text gives
 * back every string json_string wrote. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"
#include "zoo/zoo_internal.h"

/* {"first": first, "second": second} written by JsonWriter must give both strings back (at most
 * 599 bytes of each: the value buffer holds them whole). */
static void check_written(const char *dir, const char *first, const char *second)
{
    char path[FUZZ_PATH], err[RR_ERRLEN], a[600], b[600], got[600];
    snprintf(a, sizeof a, "%s", first);
    snprintf(b, sizeof b, "%s", second);
    fuzz_path(path, dir, "written.json");
    JsonWriter w;
    FUZZ_CHECK(json_begin(&w, path, err) == RR_OK, "%s", err);
    json_string(&w, "first", a);
    json_int(&w, "between", 1);
    json_string(&w, "second", b);
    FUZZ_CHECK(json_end(&w, err) == RR_OK, "%s", err);
    size_t len;
    char *text = zoo_slurp(path, &len);
    FUZZ_CHECK(text != NULL, "%s: cannot read", path);
    FUZZ_CHECK(json_member_text(text, "first", got, sizeof got) && !strcmp(got, a), "\"first\" read back differs");
    FUZZ_CHECK(json_member_text(text, "second", got, sizeof got) && !strcmp(got, b), "\"second\" read back differs");
    FUZZ_CHECK(json_member_text(text, "between", got, sizeof got) && !strcmp(got, "1"), "\"between\" read back differs");
    free(text);
}

int fuzz_json(const char *dir, const uint8_t *data, size_t size, char *err)
{
    static const char *const keys[] = {"zoo_kind", "zoo_snapshots", "zoo_parameters", "zoo_stored_sequences",
                                       "zoo", "encoder", "preset", "seed", "steps", "kind", "snapshot_steps", "lr_values",
                                       "program", "mnist_dir", ""};
    static const size_t lens[] = {1, 2, 7, 64, 600};
    char path[FUZZ_PATH], value[600], key[128];
    fuzz_path(path, dir, "config.json");
    if (fuzz_write(path, data, size)) return rr_error(err, RR_ERR_IO, "%s: cannot write the input", path);

    size_t len = 0;
    char *text = zoo_slurp(path, &len);
    if (!text) return rr_error(err, RR_ERR_OPEN, "%s: cannot read", path);
    FUZZ_CHECK(len == size && !memcmp(text, data, size) && text[len] == '\0', "zoo_slurp: %zu of %zu bytes", len, size);
    for (size_t k = 0, l = 0; k < sizeof keys / sizeof keys[0]; k++, l = (l + 1) % (sizeof lens / sizeof lens[0])) {
        memset(value, 'x', sizeof value);
        int found = json_member_text(text, keys[k], value, lens[l]);
        FUZZ_CHECK(found == 0 || found == 1, "json_member_text returned %d", found);
        FUZZ_CHECK(memchr(value, '\0', lens[l]) != NULL, "the value of '%s' is not terminated within %zu bytes",
                   keys[k], lens[l]);
    }
    memset(key, 'x', sizeof key);
    FUZZ_CHECK(!json_first_difference(text, text, key, sizeof key), "a text differs from itself in '%s'", key);

    char *second = memchr(text, '\n', len);
    if (second) {
        *second++ = '\0';
        for (int order = 0; order < 2; order++) {
            memset(key, 'x', sizeof key);
            int differs = order ? json_first_difference(second, text, key, sizeof key)
                                : json_first_difference(text, second, key, sizeof key);
            FUZZ_CHECK(differs == 0 || differs == 1, "json_first_difference returned %d", differs);
            FUZZ_CHECK(differs || !strcmp(text, second), "different texts reported equal");
            FUZZ_CHECK(!differs || memchr(key, '\0', sizeof key), "the key is not terminated");
        }
    }
    check_written(dir, text, second ? second : "");
    free(text);
    return RR_OK;
}

FUZZ_ENTRY(fuzz_json)
