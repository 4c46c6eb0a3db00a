/* SFT examples -> token rows with loss masks (train/sft_data.h).
 *
 * Invariants: every kept row has n >= 2 and n_target >= 1; rows never exceed max_seq. */
#include "train/sft_data.h"

#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/log.h"

typedef struct rows_buf {
    train_sft_row *v;
    size_t n, cap;
} rows_buf;

static rw_status rows_push(rows_buf *b, train_sft_row r) {
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        train_sft_row *nv = rw_realloc(b->v, nc * sizeof *nv);
        if (!nv) return RW_E_NOMEM;
        b->v = nv;
        b->cap = nc;
    }
    b->v[b->n++] = r;
    return RW_OK;
}

static void rows_free(train_sft_row *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        rw_free(v[i].ids);
        rw_free(v[i].mask);
    }
    rw_free(v);
}

static int32_t count_targets(const uint8_t *mask, int32_t n) {
    int32_t c = 0;
    for (int32_t t = 1; t < n; t++) c += mask[t] ? 1 : 0;
    return c;
}

int32_t train_sft_targets(const train_sft_row *r, int32_t *targets) {
    int32_t c = 0;
    for (int32_t t = 0; t + 1 < r->n; t++) {
        targets[t] = r->mask[t + 1] ? r->ids[t + 1] : -1;
        c += r->mask[t + 1] ? 1 : 0;
    }
    if (r->n > 0) targets[r->n - 1] = -1;
    return c;
}

/* Tokenizes one example into ids/mask (owned by the caller on success). */
static rw_status encode(const train_sft_opts *o, const data_example *ex, infer_tok_ids *ids,
                        uint8_t **mask_out, rw_err *err) {
    rw_status st = RW_OK;
    uint8_t *mask = NULL;
    infer_chat_text ct;
    memset(&ct, 0, sizeof ct);
    infer_chat_msg two[2];
    infer_chat_msg *msgs = NULL;
    if (ex->format == DATA_JSONL_TEXT) {
        st = infer_tokenize(o->tok, ex->text, strlen(ex->text), INFER_TOK_ADD_SPECIAL, ids, err);
        if (st) goto fail;
        int32_t eos = infer_tokenizer_eos(o->tok);
        if (eos >= 0 && (ids->n == 0 || ids->v[ids->n - 1] != eos)) {
            if ((st = infer_tok_ids_push(ids, eos))) goto nomem;
        }
        mask = rw_malloc(ids->n ? ids->n : 1);
        if (!mask) goto nomem;
        memset(mask, 1, ids->n);
        int32_t bos = infer_tokenizer_bos(o->tok);
        if (ids->n && bos >= 0 && ids->v[0] == bos) mask[0] = 0;
        *mask_out = mask;
        return RW_OK;
    }
    size_t n_msgs;
    if (ex->format == DATA_JSONL_CHAT) {
        n_msgs = ex->n_messages;
        msgs = rw_alloc_array(n_msgs ? n_msgs : 1, sizeof *msgs);
        if (!msgs) goto nomem;
        for (size_t i = 0; i < n_msgs; i++) {
            msgs[i].role = ex->messages[i].role;
            msgs[i].content = ex->messages[i].content;
        }
    } else {
        two[0].role = "user";
        two[0].content = ex->prompt;
        two[1].role = "assistant";
        two[1].content = ex->completion;
        n_msgs = 2;
    }
    st = infer_chat_render(o->tmpl, msgs ? msgs : two, n_msgs, false, &ct, err);
    if (st) goto fail;
    st = infer_tokenize(o->tok, ct.text, ct.len, INFER_TOK_ADD_SPECIAL | INFER_TOK_PARSE_SPECIAL,
                        ids, err);
    if (st) goto fail;
    mask = rw_malloc(ids->n ? ids->n : 1);
    if (!mask) goto nomem;
    st = infer_chat_token_mask(o->tok, ct.text, ct.len, ids->v, ids->n, ct.spans, ct.n_spans,
                               mask, err);
    if (st) goto fail;
    infer_chat_text_deinit(&ct);
    rw_free(msgs);
    *mask_out = mask;
    return RW_OK;
nomem:
    st = rw_err_set(err, RW_E_NOMEM, "out of memory tokenizing an example");
fail:
    infer_chat_text_deinit(&ct);
    rw_free(msgs);
    rw_free(mask);
    return st;
}

/* Appends packed rows of max_seq tokens made of src rows (consumed). */
static rw_status pack(train_sft_row *src, size_t n, int max_seq, rows_buf *out) {
    train_sft_row cur = {0};
    for (size_t i = 0; i < n; i++) {
        int32_t off = 0;
        while (off < src[i].n) {
            if (!cur.ids) {
                cur.ids = rw_alloc_array((size_t)max_seq, sizeof(int32_t));
                cur.mask = rw_malloc((size_t)max_seq);
                if (!cur.ids || !cur.mask) goto nomem;
                cur.n = 0;
            }
            int32_t take = src[i].n - off;
            if (take > max_seq - cur.n) take = max_seq - cur.n;
            memcpy(cur.ids + cur.n, src[i].ids + off, (size_t)take * sizeof(int32_t));
            memcpy(cur.mask + cur.n, src[i].mask + off, (size_t)take);
            cur.n += take;
            off += take;
            if (cur.n == max_seq) {
                cur.n_target = count_targets(cur.mask, cur.n);
                if (cur.n_target > 0) {
                    if (rows_push(out, cur)) goto nomem;
                } else {
                    rw_free(cur.ids);
                    rw_free(cur.mask);
                }
                memset(&cur, 0, sizeof cur);
            }
        }
    }
    if (cur.ids) {
        cur.n_target = count_targets(cur.mask, cur.n);
        if (cur.n >= 2 && cur.n_target > 0) {
            if (rows_push(out, cur)) goto nomem;
        } else {
            rw_free(cur.ids);
            rw_free(cur.mask);
        }
    }
    return RW_OK;
nomem:
    rw_free(cur.ids);
    rw_free(cur.mask);
    return RW_E_NOMEM;
}

static rw_status load(data_jsonl_reader *rd, const char *name, const train_sft_opts *o,
                      train_sft_set *out, rw_err *err) {
    rw_status st = RW_OK;
    rows_buf rows = {0}, packed = {0};
    train_sft_set s;
    memset(&s, 0, sizeof s);
    infer_tok_ids ids = {0};
    RW_ASSERT(o->tok && o->max_seq >= 2, "train_sft: tokenizer and max_seq >= 2 required");
    for (;;) {
        data_example ex;
        bool got = false;
        st = data_jsonl_next(rd, &ex, &got, err);
        if (st) goto fail;
        if (!got) break;
        if (ex.format != DATA_JSONL_TEXT && o->tmpl == INFER_CHAT_NONE) {
            st = rw_err_set(err, RW_E_INVALID,
                            "%s:%zu: %s examples need a chat template (set [model].chat_template)",
                            name, ex.line, data_jsonl_format_name(ex.format));
            goto fail;
        }
        ids.n = 0;
        uint8_t *mask = NULL;
        st = encode(o, &ex, &ids, &mask, err);
        if (st) {
            rw_err_prefix(err, "%s:%zu: ", name, ex.line);
            goto fail;
        }
        int32_t n = (int32_t)(ids.n > (size_t)o->max_seq ? (size_t)o->max_seq : ids.n);
        if (ids.n > (size_t)o->max_seq) s.n_truncated++;
        int32_t nt = count_targets(mask, n);
        if (n < 2 || nt == 0) {
            rw_free(mask);
            s.n_no_target++;
            if (o->manifest && data_manifest_reject(o->manifest, "no_target")) goto nomem;
            continue;
        }
        if (o->manifest) {
            const char *src = ex.source;
            data_gov_reason why = data_manifest_admit(o->manifest, &src, 1);
            if (why != DATA_GOV_OK) {
                rw_free(mask);
                s.n_rejected++;
                continue;
            }
        }
        train_sft_row r = {.n = n, .n_target = nt, .mask = mask};
        r.ids = rw_alloc_array((size_t)n, sizeof(int32_t));
        if (!r.ids) {
            rw_free(mask);
            goto nomem;
        }
        memcpy(r.ids, ids.v, (size_t)n * sizeof(int32_t));
        if (rows_push(&rows, r)) {
            rw_free(r.ids);
            rw_free(mask);
            goto nomem;
        }
        s.n_examples++;
    }
    s.n_lines_skipped = data_jsonl_n_skipped(rd);
    size_t keep = s.n_lines_skipped < DATA_JSONL_KEEP_MESSAGES ? s.n_lines_skipped
                                                                : DATA_JSONL_KEEP_MESSAGES;
    for (size_t i = 0; i < keep; i++) RW_LOGW("skipped: %s", data_jsonl_skip_message(rd, i));
    if (s.n_lines_skipped > keep)
        RW_LOGW("%s: %zu more bad lines skipped", name, s.n_lines_skipped - keep);
    for (size_t i = 0; o->manifest && i < s.n_lines_skipped; i++)
        if (data_manifest_reject(o->manifest, "parse_error")) goto nomem;
    s.format = data_jsonl_format_of(rd);
    if (o->packing) {
        if (pack(rows.v, rows.n, o->max_seq, &packed)) goto nomem;
        rows_free(rows.v, rows.n);
        rows = packed;
        memset(&packed, 0, sizeof packed);
    }
    s.rows = rows.v;
    s.n_rows = rows.n;
    for (size_t i = 0; i < s.n_rows; i++) {
        s.n_tokens += s.rows[i].n;
        s.n_targets += s.rows[i].n_target;
    }
    infer_tok_ids_deinit(&ids);
    *out = s;
    return RW_OK;
nomem:
    st = rw_err_set(err, RW_E_NOMEM, "%s: out of memory building SFT rows", name);
fail:
    infer_tok_ids_deinit(&ids);
    rows_free(rows.v, rows.n);
    rows_free(packed.v, packed.n);
    return st;
}

static void jsonl_opts(const train_sft_opts *o, data_jsonl_options *jo) {
    memset(jo, 0, sizeof *jo);
    jo->format = o->format;
    jo->policy = o->on_error;
    jo->default_source = o->default_source;
}

rw_status train_sft_load(const char *path, const train_sft_opts *o, train_sft_set *out,
                         rw_err *err) {
    data_jsonl_options jo;
    jsonl_opts(o, &jo);
    data_jsonl_reader *rd = NULL;
    rw_status st = data_jsonl_open(path, &jo, &rd, err);
    if (st) return st;
    st = load(rd, path, o, out, err);
    data_jsonl_close(rd);
    return st;
}

rw_status train_sft_load_mem(const void *buf, size_t len, const char *name,
                             const train_sft_opts *o, train_sft_set *out, rw_err *err) {
    data_jsonl_options jo;
    jsonl_opts(o, &jo);
    data_jsonl_reader *rd = NULL;
    rw_status st = data_jsonl_open_mem(buf, len, name, &jo, &rd, err);
    if (st) return st;
    st = load(rd, name, o, out, err);
    data_jsonl_close(rd);
    return st;
}

void train_sft_set_deinit(train_sft_set *s) {
    if (!s) return;
    rows_free(s->rows, s->n_rows);
    memset(s, 0, sizeof *s);
}
