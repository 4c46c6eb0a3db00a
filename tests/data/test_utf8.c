/* data/utf8: the strict validator on hand-worked cases (Unicode Table 3-7 boundaries and the
 * classic malformed forms: overlong, surrogate, beyond U+10FFFF, lone continuation,
 * truncated tail). Each input is copied into an exact-size heap block so ASan catches any
 * read past the end. */
#include <stdlib.h>
#include <string.h>

#include "data/utf8.h"
#include "rw_test.h"

static void test_cases(void **state) {
    (void)state;
    static const struct {
        const char *s;
        size_t want; /* offset of the first bad byte; strlen(s) when valid */
    } cases[] = {
        {"", 0},
        {"abc", 3},
        {"\xC3\xA9", 2},             /* U+00E9 */
        {"\xE2\x82\xAC", 3},         /* U+20AC */
        {"\xED\x9F\xBF", 3},         /* U+D7FF, last before the surrogates */
        {"\xEE\x80\x80", 3},         /* U+E000, first after them */
        {"\xF0\x90\x80\x80", 4},     /* U+10000 */
        {"\xF4\x8F\xBF\xBF", 4},     /* U+10FFFF */
        {"\xC0\x80", 0},             /* overlong U+0000 */
        {"\xC1\xBF", 0},             /* overlong U+007F */
        {"\xE0\x80\x80", 0},         /* overlong */
        {"\xE0\x9F\xBF", 0},         /* overlong U+07FF */
        {"\xF0\x8F\xBF\xBF", 0},     /* overlong U+FFFF */
        {"\xED\xA0\x80", 0},         /* U+D800 */
        {"\xED\xB0\x80", 0},         /* U+DC00 */
        {"\xED\xBF\xBF", 0},         /* U+DFFF */
        {"\xF4\x90\x80\x80", 0},     /* U+110000 */
        {"\xF5\x80\x80\x80", 0},     /* lead byte beyond F4 */
        {"\xFF", 0},
        {"\x80", 0},                 /* lone continuation */
        {"ab\xC3", 2},               /* truncated at the end */
        {"a\xE2\x82", 1},            /* truncated at the end */
        {"x\xF0\x90\x80", 1},        /* truncated at the end */
        {"\xC3(", 0},                /* continuation missing */
        {"ok\xE2\x28\xA1", 2},       /* bad second byte */
        {"\xE2\x82\xAC\xC3", 3},     /* valid then truncated */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].s);
        unsigned char *b = malloc(n ? n : 1);
        memcpy(b, cases[i].s, n);
        size_t got = data_utf8_invalid_at(b, n);
        free(b);
        if (got != cases[i].want)
            fail_msg("case %zu: offset %zu, expected %zu", i, got, cases[i].want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cases)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
