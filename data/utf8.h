/* Strict UTF-8 validation for the data/ readers (JSONL lines, TOML documents).
 * Reference: RFC 3629 and Unicode Table 3-7 (well-formed byte sequences). */
#ifndef RW_DATA_UTF8_H
#define RW_DATA_UTF8_H

#include <stddef.h>

/* Offset of the first byte that does not start a well-formed UTF-8 sequence (overlong
 * forms, surrogates, > U+10FFFF and truncated tails are ill-formed), or len when s[0..len)
 * is valid. */
size_t data_utf8_invalid_at(const unsigned char *s, size_t len);

#endif
