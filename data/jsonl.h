/* Streaming JSONL dataset readers (one JSON object per line, never the whole file in
 * memory): MLX-LM chat ("messages": [{"role","content"}]), completions ("prompt",
 * "completion"), "text"; sentence-transformers pairs ("anchor","positive") and triplets
 * (+"negative"); query expansion ("query","output"); critic labels ("query","document",
 * "label" 0/1 or true/false, as written by data/mining.h).
 *
 * Format: forced by the caller, or detected from the keys of the first line that is a JSON
 * object (messages > prompt+completion > anchor+positive+negative > anchor+positive >
 * query+document+label > query+output > text). Every line must then match that format.
 * Source: an optional string field "source" per line, else the caller's default source id
 * (NULL when none). Blank lines and a UTF-8 BOM are ignored; CRLF endings are accepted;
 * fields other than the format's are ignored.
 *
 * Errors name file:line, the JSON field and what is wrong: bad JSON (with column), missing
 * field, wrong type, empty content (empty or whitespace-only string, empty messages),
 * bad value (unknown role, label not 0/1), invalid UTF-8 (with byte offset), line too long,
 * unknown format. Policy FATAL: data_jsonl_next returns RW_E_FORMAT. Policy SKIP: the line is
 * counted by kind, its message kept (first DATA_JSONL_KEEP_MESSAGES), and reading goes on.
 *
 * Ownership: every pointer in a data_example is a view valid until the next call to
 * data_jsonl_next or data_jsonl_close. A reader is not thread-safe (one per thread). */
#ifndef RW_DATA_JSONL_H
#define RW_DATA_JSONL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

typedef enum data_jsonl_format {
    DATA_JSONL_AUTO,
    DATA_JSONL_CHAT,
    DATA_JSONL_COMPLETIONS,
    DATA_JSONL_TEXT,
    DATA_JSONL_PAIRS,
    DATA_JSONL_TRIPLETS,
    DATA_JSONL_QUERY_EXPANSION,
    DATA_JSONL_CRITIC,
} data_jsonl_format;

/* "auto", "chat", "completions", "text", "pairs", "triplets", "query-expansion", "critic". */
const char *data_jsonl_format_name(data_jsonl_format f);
bool data_jsonl_format_parse(const char *s, data_jsonl_format *out);

typedef enum data_jsonl_policy { DATA_JSONL_FATAL, DATA_JSONL_SKIP } data_jsonl_policy;

typedef enum data_jsonl_error {
    DATA_JSONL_E_BAD_JSON,
    DATA_JSONL_E_MISSING_FIELD,
    DATA_JSONL_E_WRONG_TYPE,
    DATA_JSONL_E_EMPTY,
    DATA_JSONL_E_BAD_VALUE,
    DATA_JSONL_E_BAD_UTF8,
    DATA_JSONL_E_TOO_LONG,
    DATA_JSONL_E_UNKNOWN_FORMAT,
    DATA_JSONL_E_COUNT,
} data_jsonl_error;

/* "bad_json", "missing_field", "wrong_type", "empty", "bad_value", "bad_utf8", "too_long",
 * "unknown_format". */
const char *data_jsonl_error_name(data_jsonl_error e);

enum { DATA_JSONL_KEEP_MESSAGES = 16 };

typedef struct data_jsonl_options {
    data_jsonl_format format;   /* AUTO = detect */
    data_jsonl_policy policy;
    const char *default_source; /* copied; NULL = none */
    size_t max_line_bytes;      /* 0 = 16 MiB */
} data_jsonl_options;

typedef struct data_chat_message {
    const char *role; /* system, user, assistant or tool */
    const char *content;
} data_chat_message;

typedef struct data_example {
    data_jsonl_format format;
    size_t line;        /* 1-based line number in the file */
    const char *source; /* line's "source", else the default, else NULL */
    const data_chat_message *messages; /* chat */
    size_t n_messages;
    const char *prompt, *completion;            /* completions */
    const char *text;                           /* text */
    const char *anchor, *positive, *negative;   /* pairs (negative NULL), triplets */
    const char *query, *output;                 /* query-expansion (query also critic) */
    const char *document;                       /* critic */
    int label;                                  /* critic: 0 or 1 */
} data_example;

typedef struct data_jsonl_reader data_jsonl_reader;

/* opt may be NULL (AUTO, FATAL, no default source). */
rw_status data_jsonl_open(const char *path, const data_jsonl_options *opt, data_jsonl_reader **out,
                          rw_err *err);
/* Reads from memory (borrowed; must outlive the reader); name is used in messages. */
rw_status data_jsonl_open_mem(const void *buf, size_t len, const char *name,
                              const data_jsonl_options *opt, data_jsonl_reader **out, rw_err *err);
/* Next example into *out and *got = true; *got = false at end of input. Under FATAL a bad
 * line returns RW_E_FORMAT (reading further is allowed and resumes at the next line);
 * RW_E_IO / RW_E_NOMEM are returned under either policy. */
rw_status data_jsonl_next(data_jsonl_reader *r, data_example *out, bool *got, rw_err *err);
/* The format in force (AUTO until detected). */
data_jsonl_format data_jsonl_format_of(const data_jsonl_reader *r);
size_t data_jsonl_n_read(const data_jsonl_reader *r);     /* examples returned */
size_t data_jsonl_n_skipped(const data_jsonl_reader *r);  /* lines skipped (SKIP policy) */
size_t data_jsonl_n_skipped_kind(const data_jsonl_reader *r, data_jsonl_error e);
/* i-th kept skip message (i < min(n_skipped, DATA_JSONL_KEEP_MESSAGES)); borrowed. */
const char *data_jsonl_skip_message(const data_jsonl_reader *r, size_t i);
void data_jsonl_close(data_jsonl_reader *r);

#endif
