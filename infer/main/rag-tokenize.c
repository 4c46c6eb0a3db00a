/* rag-tokenize: tokenize text with the tokenizer of a GGUF model (llama-tokenize's defaults:
 * BOS/EOS added as the vocabulary says, special-token text parsed).
 *
 *   rag-tokenize MODEL.gguf [--ids|--pieces] [--no-bos] [--no-special] [TEXT]
 *
 * Without TEXT the text is read from stdin (all of it, bytes as they are). Output: one line
 * "ID -> 'PIECE'" per token; --ids prints "[id, id, ...]"; --pieces prints one escaped piece
 * per line. Non-printable and invalid UTF-8 bytes of pieces are shown as \xNN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "infer/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: rag-tokenize MODEL.gguf [--ids|--pieces] [--no-bos] [--no-special] [TEXT]\n"
            "  --ids         print the ids as a list: [1, 2, 3]\n"
            "  --pieces      print the text of each token, one per line\n"
            "  --no-bos      do not add BOS/EOS/SEP (default: as the vocabulary's flags say)\n"
            "  --no-special  do not parse special-token text such as <|im_start|>\n"
            "  TEXT          the text; read from stdin when absent\n");
}

/* Escaped piece: printable ASCII and valid UTF-8 as is; the rest as \xNN; \n \t \r \\. */
static void print_piece(const char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n') fputs("\\n", stdout), i++;
        else if (c == '\t') fputs("\\t", stdout), i++;
        else if (c == '\r') fputs("\\r", stdout), i++;
        else if (c == '\\') fputs("\\\\", stdout), i++;
        else if (c >= 0x20 && c < 0x7F) putchar(c), i++;
        else {
            size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
            bool ok = k > 0 && k <= n - i && c <= 0xF4;
            for (size_t j = 1; ok && j < k; j++) ok = ((unsigned char)p[i + j] & 0xC0) == 0x80;
            if (ok) {
                fwrite(p + i, 1, k, stdout);
                i += k;
            } else {
                printf("\\x%02x", c);
                i++;
            }
        }
    }
}

static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = rw_malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n == cap) {
            char *b = cap < ((size_t)1 << 40) ? rw_realloc(buf, cap * 2) : NULL;
            if (!b) {
                rw_free(buf);
                return NULL;
            }
            buf = b;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n, stdin);
        n += k;
        if (k == 0) break;
    }
    if (ferror(stdin)) {
        rw_free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    const char *model = NULL, *text = NULL;
    int mode = 0; /* 0 table, 1 ids, 2 pieces */
    unsigned flags = INFER_TOK_ADD_SPECIAL | INFER_TOK_PARSE_SPECIAL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--ids") == 0) mode = 1;
        else if (strcmp(a, "--pieces") == 0) mode = 2;
        else if (strcmp(a, "--no-bos") == 0) flags &= ~(unsigned)INFER_TOK_ADD_SPECIAL;
        else if (strcmp(a, "--no-special") == 0) flags &= ~(unsigned)INFER_TOK_PARSE_SPECIAL;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--") == 0 && i + 1 < argc && !text && model) {
            text = argv[++i];
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "rag-tokenize: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (!model) model = a;
        else if (!text) text = a;
        else {
            fprintf(stderr, "rag-tokenize: unexpected argument \"%s\" (quote the text)\n", a);
            return 2;
        }
    }
    if (!model) {
        usage(stderr);
        return 2;
    }
    rw_err err;
    infer_tokenizer *t = NULL;
    if (infer_tokenizer_load(model, &t, &err)) {
        fprintf(stderr, "rag-tokenize: %s\n", err.msg);
        return 1;
    }
    char *owned = NULL;
    size_t len;
    if (text) {
        len = strlen(text);
    } else {
        owned = read_stdin(&len);
        if (!owned) {
            fprintf(stderr, "rag-tokenize: cannot read stdin\n");
            infer_tokenizer_destroy(t);
            return 1;
        }
        text = owned;
    }
    infer_tok_ids ids = {0};
    int rc = 0;
    if (infer_tokenize(t, text, len, flags, &ids, &err)) {
        fprintf(stderr, "rag-tokenize: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    if (mode == 1) {
        putchar('[');
        for (size_t i = 0; i < ids.n; i++) printf(i ? ", %d" : "%d", (int)ids.v[i]);
        puts("]");
    } else {
        for (size_t i = 0; i < ids.n; i++) {
            size_t pn;
            const char *p = infer_tokenizer_piece(t, ids.v[i], &pn);
            if (mode == 0) printf("%6d -> '", (int)ids.v[i]);
            print_piece(p, pn);
            puts(mode == 0 ? "'" : "");
        }
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "rag-tokenize: cannot write the output\n");
        rc = 1;
    }
done:
    infer_tok_ids_deinit(&ids);
    rw_free(owned);
    infer_tokenizer_destroy(t);
    return rc;
}
