/* GGUF reader: mmap + complete validation, then bounds-free accessors (see gguf.h).
 *
 * Every read goes through a cursor that checks the remaining bytes first; counts are
 * compared with the bytes left divided by the smallest possible element size before any
 * allocation, so a hostile count can never make us allocate more than O(file size).
 * Keys and tensor names are copied (NUL-terminated) and sorted once for duplicate checks
 * and binary-search lookup. Reference: the GGUF spec in ggml's docs/gguf.md and ggml's
 * gguf.cpp loader checks (alignment power of two, ne >= 0, offsets aligned, data in file). */
#include "infer/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "infer/gguf_internal.h"

typedef struct gguf_kv {
    char *key;
    infer_gguf_value v;
    uint64_t *offsets; /* owned; the view's offsets_ */
} gguf_kv;

typedef struct name_ref {
    const char *name;
    uint64_t idx;
} name_ref;

struct infer_gguf {
    const unsigned char *base;
    size_t size;
    bool mapped;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    uint32_t alignment;
    uint64_t data_offset;
    gguf_kv *kv;                  /* [n_kv] */
    infer_gguf_tensor_info *ti;   /* [n_tensors] */
    name_ref *kv_sorted;          /* [n_kv] by key */
    name_ref *ti_sorted;          /* [n_tensors] by name */
};

/* ------------------------------------------------------------------ types */

static const char *const g_type_names[INFER_GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool",  "string", "array", "uint64", "int64", "float64"};
static const size_t g_type_sizes[INFER_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *infer_gguf_type_name(infer_gguf_type t) {
    return (unsigned)t < INFER_GGUF_TYPE_COUNT ? g_type_names[t] : "?";
}

size_t infer_gguf_type_size(infer_gguf_type t) {
    return (unsigned)t < INFER_GGUF_TYPE_COUNT ? g_type_sizes[t] : 0;
}

/* ------------------------------------------------------------------ cursor */

static size_t cur_left(const infer_gguf_cursor *c) { return c->size - c->pos; }

static rw_status cur_need(infer_gguf_cursor *c, uint64_t n, const char *field) {
    if (n > cur_left(c))
        return rw_err_set(c->err, RW_E_RANGE,
                          "byte %zu: %s%s%s needs %" PRIu64 " bytes but only %zu remain "
                          "(truncated file?)",
                          c->base_off + c->pos, c->what, c->what[0] ? ": " : "", field, n,
                          cur_left(c));
    return RW_OK;
}

static rw_status cur_read(infer_gguf_cursor *c, void *dst, size_t n, const char *field) {
    rw_status st = cur_need(c, n, field);
    if (st) return st;
    memcpy(dst, c->p + c->pos, n);
    c->pos += n;
    return RW_OK;
}

static rw_status cur_u32(infer_gguf_cursor *c, uint32_t *v, const char *field) {
    return cur_read(c, v, 4, field);
}
static rw_status cur_u64(infer_gguf_cursor *c, uint64_t *v, const char *field) {
    return cur_read(c, v, 8, field);
}

/* Reads a GGUF string header and returns a view of its bytes. */
static rw_status cur_str(infer_gguf_cursor *c, infer_gguf_str *s, const char *field) {
    uint64_t len;
    size_t at = c->pos;
    rw_status st = cur_u64(c, &len, field);
    if (st) return st;
    if (len > cur_left(c)) {
        c->pos = at;
        return rw_err_set(c->err, RW_E_RANGE,
                          "byte %zu: %s%s%s length %" PRIu64 " runs past the end (%zu bytes remain)",
                          c->base_off + at, c->what, c->what[0] ? ": " : "", field, len,
                          cur_left(c) - 8);
    }
    s->ptr = (const char *)c->p + c->pos;
    s->len = len;
    c->pos += (size_t)len;
    return RW_OK;
}

/* ------------------------------------------------------------------ values */

rw_status infer_gguf_parse_array_payload(infer_gguf_cursor *c, infer_gguf_type et, uint64_t count,
                                         int depth, uint64_t **offsets_out) {
    size_t start = c->pos;
    uint64_t *offs = NULL;
    rw_status st = RW_OK;
    if (offsets_out) *offsets_out = NULL;
    if ((unsigned)et >= INFER_GGUF_TYPE_COUNT)
        return rw_err_set(c->err, RW_E_FORMAT, "byte %zu: %s: unknown array element type %u",
                          c->base_off + c->pos, c->what, (unsigned)et);
    size_t es = infer_gguf_type_size(et);
    if (es) {
        if (count > cur_left(c) / es)
            return rw_err_set(c->err, RW_E_RANGE,
                              "byte %zu: %s: array of %" PRIu64 " %s needs %" PRIu64
                              " bytes but only %zu remain",
                              c->base_off + c->pos, c->what, count, infer_gguf_type_name(et),
                              count > UINT64_MAX / es ? UINT64_MAX : count * es, cur_left(c));
        if (et == INFER_GGUF_BOOL) {
            for (uint64_t i = 0; i < count; i++)
                if (c->p[c->pos + i] > 1)
                    return rw_err_set(c->err, RW_E_FORMAT,
                                      "byte %zu: %s: bool element %" PRIu64 " is %u, not 0 or 1",
                                      c->base_off + c->pos + (size_t)i, c->what, i,
                                      (unsigned)c->p[c->pos + i]);
        }
        c->pos += (size_t)(count * es);
        return RW_OK;
    }
    /* Variable-size elements: a string needs >= 8 bytes, a nested array >= 12. */
    size_t min_el = et == INFER_GGUF_STRING ? 8 : 12;
    if (count > cur_left(c) / min_el)
        return rw_err_set(c->err, RW_E_RANGE,
                          "byte %zu: %s: array count %" PRIu64 " of %s cannot fit in the %zu bytes "
                          "that remain",
                          c->base_off + c->pos, c->what, count, infer_gguf_type_name(et),
                          cur_left(c));
    if (et == INFER_GGUF_ARRAY && depth >= INFER_GGUF_MAX_ARRAY_DEPTH)
        return rw_err_set(c->err, RW_E_FORMAT, "byte %zu: %s: arrays nested deeper than %d",
                          c->base_off + c->pos, c->what, INFER_GGUF_MAX_ARRAY_DEPTH);
    if (offsets_out && count > 0) {
        offs = rw_alloc_array((size_t)count, sizeof *offs);
        if (!offs)
            return rw_err_set(c->err, RW_E_NOMEM, "%s: out of memory for %" PRIu64 " offsets",
                              c->what, count);
    }
    for (uint64_t i = 0; i < count; i++) {
        if (offs) offs[i] = c->pos - start;
        infer_gguf_value ev;
        st = infer_gguf_parse_value(c, et, depth + 1, &ev, NULL);
        if (st) goto fail;
    }
    if (offsets_out) *offsets_out = offs;
    return RW_OK;
fail:
    rw_free(offs);
    return st;
}

rw_status infer_gguf_parse_value(infer_gguf_cursor *c, infer_gguf_type t, int depth,
                                 infer_gguf_value *v, uint64_t **offsets_out) {
    infer_gguf_value r = {.type = t};
    rw_status st;
    if (offsets_out) *offsets_out = NULL;
    if ((unsigned)t >= INFER_GGUF_TYPE_COUNT)
        return rw_err_set(c->err, RW_E_FORMAT, "byte %zu: %s: unknown value type %u",
                          c->base_off + c->pos, c->what, (unsigned)t);
    size_t at = c->pos;
    if (t == INFER_GGUF_STRING) {
        infer_gguf_str s;
        if ((st = cur_str(c, &s, "string"))) return st;
        r.data = c->p + at;
        r.size = c->pos - at;
    } else if (t == INFER_GGUF_ARRAY) {
        uint32_t et;
        uint64_t count;
        if ((st = cur_u32(c, &et, "array element type"))) return st;
        if ((st = cur_u64(c, &count, "array count"))) return st;
        size_t pstart = c->pos;
        uint64_t *offs = NULL;
        st = infer_gguf_parse_array_payload(c, (infer_gguf_type)et, count, depth, offsets_out ? &offs : NULL);
        if (st) return st;
        r.elem_type = (infer_gguf_type)et;
        r.count = count;
        r.elem_size = infer_gguf_type_size(r.elem_type);
        r.data = c->p + pstart;
        r.size = c->pos - pstart;
        r.offsets_ = offs;
        if (offsets_out) *offsets_out = offs;
    } else {
        size_t n = infer_gguf_type_size(t);
        if ((st = cur_need(c, n, infer_gguf_type_name(t)))) return st;
        if (t == INFER_GGUF_BOOL && c->p[c->pos] > 1)
            return rw_err_set(c->err, RW_E_FORMAT, "byte %zu: %s: bool value %u is not 0 or 1",
                              c->base_off + c->pos, c->what, (unsigned)c->p[c->pos]);
        r.data = c->p + c->pos;
        r.size = n;
        c->pos += n;
    }
    *v = r;
    return RW_OK;
}

/* Size in bytes of an already validated encoded value of type t at p (arrays: header included
 * only when with_header). Used to walk nested arrays without an offsets table. */
static size_t encoded_size(infer_gguf_type t, const unsigned char *p) {
    if (t == INFER_GGUF_STRING) {
        uint64_t len;
        memcpy(&len, p, 8);
        return 8 + (size_t)len;
    }
    if (t == INFER_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        memcpy(&et, p, 4);
        memcpy(&n, p + 4, 8);
        size_t es = infer_gguf_type_size((infer_gguf_type)et), off = 12;
        if (es) return off + (size_t)n * es;
        for (uint64_t i = 0; i < n; i++) off += encoded_size((infer_gguf_type)et, p + off);
        return off;
    }
    return infer_gguf_type_size(t);
}

rw_status infer_gguf_arr_elem(const infer_gguf_value *a, uint64_t i, infer_gguf_value *out) {
    if (!a || a->type != INFER_GGUF_ARRAY) return RW_E_FORMAT;
    if (i >= a->count) return RW_E_RANGE;
    infer_gguf_value r = {.type = a->elem_type};
    if (a->elem_size) {
        r.data = a->data + (size_t)i * a->elem_size;
        r.size = a->elem_size;
    } else {
        size_t off = 0;
        if (a->offsets_) {
            off = (size_t)a->offsets_[i];
        } else {
            for (uint64_t k = 0; k < i; k++) off += encoded_size(a->elem_type, a->data + off);
        }
        const unsigned char *p = a->data + off;
        if (a->elem_type == INFER_GGUF_STRING) {
            r.data = p;
            r.size = encoded_size(INFER_GGUF_STRING, p);
        } else {
            uint32_t et;
            memcpy(&et, p, 4);
            memcpy(&r.count, p + 4, 8);
            r.elem_type = (infer_gguf_type)et;
            r.elem_size = infer_gguf_type_size(r.elem_type);
            r.data = p + 12;
            r.size = encoded_size(INFER_GGUF_ARRAY, p) - 12;
        }
    }
    *out = r;
    return RW_OK;
}

rw_status infer_gguf_value_int(const infer_gguf_value *v, int64_t *out) {
    const unsigned char *p = v->data;
    int64_t r;
    switch (v->type) {
    case INFER_GGUF_UINT8: r = p[0]; break;
    case INFER_GGUF_BOOL: r = p[0]; break;
    case INFER_GGUF_INT8: { int8_t x; memcpy(&x, p, 1); r = x; break; }
    case INFER_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); r = x; break; }
    case INFER_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); r = x; break; }
    case INFER_GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); r = x; break; }
    case INFER_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); r = x; break; }
    case INFER_GGUF_INT64: { memcpy(&r, p, 8); break; }
    case INFER_GGUF_UINT64: {
        uint64_t x;
        memcpy(&x, p, 8);
        if (x > (uint64_t)INT64_MAX) return RW_E_RANGE;
        r = (int64_t)x;
        break;
    }
    default: return RW_E_FORMAT;
    }
    *out = r;
    return RW_OK;
}

rw_status infer_gguf_value_uint(const infer_gguf_value *v, uint64_t *out) {
    if (v->type == INFER_GGUF_UINT64) {
        memcpy(out, v->data, 8);
        return RW_OK;
    }
    int64_t x;
    rw_status st = infer_gguf_value_int(v, &x);
    if (st) return st;
    if (x < 0) return RW_E_RANGE;
    *out = (uint64_t)x;
    return RW_OK;
}

rw_status infer_gguf_value_float(const infer_gguf_value *v, double *out) {
    if (v->type == INFER_GGUF_FLOAT32) {
        float f;
        memcpy(&f, v->data, 4);
        *out = (double)f;
        return RW_OK;
    }
    if (v->type == INFER_GGUF_FLOAT64) {
        memcpy(out, v->data, 8);
        return RW_OK;
    }
    return RW_E_FORMAT;
}

rw_status infer_gguf_value_str(const infer_gguf_value *v, infer_gguf_str *out) {
    if (v->type != INFER_GGUF_STRING) return RW_E_FORMAT;
    uint64_t len;
    memcpy(&len, v->data, 8);
    out->ptr = (const char *)v->data + 8;
    out->len = len;
    return RW_OK;
}

rw_status infer_gguf_arr_str(const infer_gguf_value *a, uint64_t i, infer_gguf_str *out) {
    infer_gguf_value e;
    rw_status st = infer_gguf_arr_elem(a, i, &e);
    return st ? st : infer_gguf_value_str(&e, out);
}

rw_status infer_gguf_arr_int(const infer_gguf_value *a, uint64_t i, int64_t *out) {
    infer_gguf_value e;
    rw_status st = infer_gguf_arr_elem(a, i, &e);
    return st ? st : infer_gguf_value_int(&e, out);
}

rw_status infer_gguf_arr_float(const infer_gguf_value *a, uint64_t i, double *out) {
    infer_gguf_value e;
    rw_status st = infer_gguf_arr_elem(a, i, &e);
    if (st) return st;
    if (e.type == INFER_GGUF_FLOAT32 || e.type == INFER_GGUF_FLOAT64)
        return infer_gguf_value_float(&e, out);
    int64_t x;
    if ((st = infer_gguf_value_int(&e, &x))) return st;
    *out = (double)x;
    return RW_OK;
}

rw_status infer_gguf_arr_to_f32(const infer_gguf_value *a, float *dst, rw_err *err) {
    if (a->type != INFER_GGUF_ARRAY || a->elem_size == 0 || a->elem_type == INFER_GGUF_BOOL)
        return rw_err_set(err, RW_E_FORMAT, "array of %s cannot be read as float32",
                          a->type == INFER_GGUF_ARRAY ? infer_gguf_type_name(a->elem_type)
                                                      : infer_gguf_type_name(a->type));
    if (a->elem_type == INFER_GGUF_FLOAT32) {
        memcpy(dst, a->data, (size_t)a->count * 4);
        return RW_OK;
    }
    for (uint64_t i = 0; i < a->count; i++) {
        double x;
        rw_status st = infer_gguf_arr_float(a, i, &x);
        if (st) return rw_err_set(err, st, "array element %" PRIu64 " is out of range", i);
        dst[i] = (float)x;
    }
    return RW_OK;
}

rw_status infer_gguf_arr_to_i32(const infer_gguf_value *a, int32_t *dst, rw_err *err) {
    if (a->type != INFER_GGUF_ARRAY || a->elem_size == 0 || a->elem_type == INFER_GGUF_FLOAT32 ||
        a->elem_type == INFER_GGUF_FLOAT64)
        return rw_err_set(err, RW_E_FORMAT, "array of %s cannot be read as int32",
                          a->type == INFER_GGUF_ARRAY ? infer_gguf_type_name(a->elem_type)
                                                      : infer_gguf_type_name(a->type));
    for (uint64_t i = 0; i < a->count; i++) {
        int64_t x;
        rw_status st = infer_gguf_arr_int(a, i, &x);
        if (st || x < INT32_MIN || x > INT32_MAX)
            return rw_err_set(err, RW_E_RANGE, "array element %" PRIu64 " does not fit int32", i);
        dst[i] = (int32_t)x;
    }
    return RW_OK;
}

char *infer_gguf_str_dup(infer_gguf_str s) {
    if (s.len >= SIZE_MAX) return NULL;
    return rw_strndup(s.ptr, (size_t)s.len);
}

bool infer_gguf_str_eq(infer_gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

/* ------------------------------------------------------------------ open */

static int cmp_name_ref(const void *a, const void *b) {
    const name_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_u64_pair(const void *a, const void *b) {
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Quotes a name for messages, cut at 80 bytes, non-printables as '?'. */
static void quote(char *dst, size_t cap, const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < cap && i < 80; i++) {
        unsigned char ch = (unsigned char)s[i];
        dst[k++] = (ch >= 32 && ch < 127) ? (char)ch : '?';
    }
    if (n > 80 && k + 4 < cap) {
        memcpy(dst + k, "...", 3);
        k += 3;
    }
    dst[k] = '\0';
}

static rw_status copy_name(infer_gguf_cursor *c, infer_gguf_str s, size_t at, const char *kind,
                           char **out) {
    if (memchr(s.ptr, '\0', (size_t)s.len)) {
        char q[100];
        quote(q, sizeof q, s.ptr, (size_t)s.len);
        return rw_err_set(c->err, RW_E_FORMAT, "byte %zu: %s '%s' contains a NUL byte",
                          c->base_off + at, kind, q);
    }
    if (s.len == 0)
        return rw_err_set(c->err, RW_E_FORMAT, "byte %zu: %s: empty name", c->base_off + at, kind);
    char *n = rw_strndup(s.ptr, (size_t)s.len);
    if (!n) return rw_err_set(c->err, RW_E_NOMEM, "out of memory copying a %s", kind);
    *out = n;
    return RW_OK;
}

static void gguf_free(infer_gguf *g) {
    if (!g) return;
    if (g->kv) {
        for (uint64_t i = 0; i < g->n_kv; i++) {
            rw_free(g->kv[i].key);
            rw_free(g->kv[i].offsets);
        }
    }
    if (g->ti) {
        for (uint64_t i = 0; i < g->n_tensors; i++) rw_free((char *)g->ti[i].name);
    }
    rw_free(g->kv);
    rw_free(g->ti);
    rw_free(g->kv_sorted);
    rw_free(g->ti_sorted);
    if (g->mapped && g->base) munmap((void *)g->base, g->size);
    rw_free(g);
}

static rw_status parse_kv(infer_gguf *g, infer_gguf_cursor *c) {
    rw_status st;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        size_t at = c->pos;
        infer_gguf_str key;
        snprintf(c->what, sizeof c->what, "key #%" PRIu64, i);
        if ((st = cur_str(c, &key, "name"))) return st;
        if ((st = copy_name(c, key, at, c->what, &kv->key))) return st;
        char q[100];
        quote(q, sizeof q, key.ptr, (size_t)key.len);
        snprintf(c->what, sizeof c->what, "key #%" PRIu64 " '%s'", i, q);
        uint32_t t;
        if ((st = cur_u32(c, &t, "value type"))) return st;
        if (t >= INFER_GGUF_TYPE_COUNT)
            return rw_err_set(c->err, RW_E_FORMAT, "byte %zu: %s: unknown value type %u",
                              c->base_off + c->pos - 4, c->what, t);
        if ((st = infer_gguf_parse_value(c, (infer_gguf_type)t, 0, &kv->v, &kv->offsets))) return st;
    }
    return RW_OK;
}

static rw_status check_sorted_unique(name_ref *refs, uint64_t n, const char *kind,
                                     infer_gguf_cursor *c) {
    if (n < 2) return RW_OK;
    qsort(refs, (size_t)n, sizeof *refs, cmp_name_ref);
    for (uint64_t i = 1; i < n; i++)
        if (strcmp(refs[i].name, refs[i - 1].name) == 0) {
            char q[100];
            quote(q, sizeof q, refs[i].name, strlen(refs[i].name));
            return rw_err_set(c->err, RW_E_FORMAT, "duplicate %s '%s' (#%" PRIu64 " and #%" PRIu64 ")",
                              kind, q, refs[i - 1].idx, refs[i].idx);
        }
    return RW_OK;
}

static rw_status parse_alignment(infer_gguf *g, infer_gguf_cursor *c) {
    g->alignment = INFER_GGUF_DEFAULT_ALIGNMENT;
    int64_t k = infer_gguf_find_key(g, "general.alignment");
    if (k < 0) return RW_OK;
    const infer_gguf_value *v = &g->kv[k].v;
    size_t at = (size_t)(v->data - c->p) + c->base_off;
    if (v->type != INFER_GGUF_UINT32)
        return rw_err_set(c->err, RW_E_FORMAT, "byte %zu: key 'general.alignment' has type %s, "
                          "expected uint32", at, infer_gguf_type_name(v->type));
    uint32_t a;
    memcpy(&a, v->data, 4);
    if (a == 0 || (a & (a - 1)) != 0)
        return rw_err_set(c->err, RW_E_FORMAT,
                          "byte %zu: key 'general.alignment' = %u is not a power of two", at, a);
    g->alignment = a;
    return RW_OK;
}

static rw_status parse_tensor_infos(infer_gguf *g, infer_gguf_cursor *c) {
    rw_status st;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        infer_gguf_tensor_info *t = &g->ti[i];
        size_t at = c->pos;
        t->file_offset = c->base_off + at;
        infer_gguf_str name;
        snprintf(c->what, sizeof c->what, "tensor #%" PRIu64, i);
        if ((st = cur_str(c, &name, "name"))) return st;
        char *nm = NULL;
        if ((st = copy_name(c, name, at, c->what, &nm))) return st;
        t->name = nm;
        char q[100];
        quote(q, sizeof q, name.ptr, (size_t)name.len);
        snprintf(c->what, sizeof c->what, "tensor #%" PRIu64 " '%s'", i, q);
        uint32_t nd;
        if ((st = cur_u32(c, &nd, "n_dims"))) return st;
        if (nd > RW_MAX_DIMS)
            return rw_err_set(c->err, RW_E_FORMAT, "byte %zu: %s: n_dims %u > %d",
                              c->base_off + c->pos - 4, c->what, nd, RW_MAX_DIMS);
        t->n_dims = (int)nd;
        int64_t total = 1;
        for (int d = 0; d < RW_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t ne;
            if ((st = cur_u64(c, &ne, "ne"))) return st;
            if (ne > (uint64_t)INT64_MAX)
                return rw_err_set(c->err, RW_E_RANGE, "byte %zu: %s: ne[%u] = %" PRIu64 " is negative",
                                  c->base_off + c->pos - 8, c->what, d, ne);
            t->ne[d] = (int64_t)ne;
            /* the product of the NON-ZERO dims must fit, so that no partial product of ne
             * overflows even when another dim is 0 */
            if (ne != 0 && total > INT64_MAX / (int64_t)ne)
                return rw_err_set(c->err, RW_E_RANGE,
                                  "byte %zu: %s: element count overflows int64 at ne[%u] = %" PRIu64,
                                  c->base_off + c->pos - 8, c->what, d, ne);
            if (ne != 0) total *= (int64_t)ne;
        }
        uint32_t type;
        if ((st = cur_u32(c, &type, "type"))) return st;
        const rw_dtype_info *di = rw_dtype_get(type);
        if (!di)
            return rw_err_set(c->err, RW_E_FORMAT, "byte %zu: %s: unknown tensor type %u",
                              c->base_off + c->pos - 4, c->what, type);
        t->type = (rw_dtype)type;
        if (t->ne[0] % di->block_size != 0)
            return rw_err_set(c->err, RW_E_FORMAT,
                              "byte %zu: %s: ne[0] = %" PRId64 " is not a multiple of the %s block "
                              "size %u",
                              c->base_off + c->pos - 4, c->what, t->ne[0], di->name, di->block_size);
        uint64_t row, nb;
        if (!rw_dtype_row_bytes(t->type, (uint64_t)t->ne[0], &row) ||
            __builtin_mul_overflow(row, (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]), &nb))
            return rw_err_set(c->err, RW_E_RANGE, "byte %zu: %s: byte size overflows",
                              c->base_off + c->pos - 4, c->what);
        t->nbytes = nb;
        if ((st = cur_u64(c, &t->offset, "offset"))) return st;
    }
    return RW_OK;
}

static rw_status check_tensor_data(infer_gguf *g, infer_gguf_cursor *c) {
    uint64_t avail = g->size >= g->data_offset ? g->size - g->data_offset : 0;
    rw_status st = RW_OK;
    if (g->n_tensors > 0 && g->data_offset > g->size)
        return rw_err_set(c->err, RW_E_RANGE,
                          "data section starts at byte %" PRIu64 " (after padding to %u) but the "
                          "file has %zu bytes (truncated file?)",
                          g->data_offset, g->alignment, g->size);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const infer_gguf_tensor_info *t = &g->ti[i];
        if (t->offset % g->alignment != 0)
            return rw_err_set(c->err, RW_E_FORMAT,
                              "byte %" PRIu64 ": tensor '%s': data offset %" PRIu64
                              " is not a multiple of the alignment %u",
                              t->file_offset, t->name, t->offset, g->alignment);
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return rw_err_set(c->err, RW_E_RANGE,
                              "byte %" PRIu64 ": tensor '%s': data [%" PRIu64 ", +%" PRIu64
                              ") runs past the end of the data section (%" PRIu64
                              " bytes; truncated file?)",
                              t->file_offset, t->name, t->offset, t->nbytes, avail);
    }
    if (g->n_tensors < 2) return RW_OK;
    /* Overlap: sort (offset, index) pairs. */
    uint64_t *pairs = rw_alloc_array((size_t)g->n_tensors, 2 * sizeof(uint64_t));
    if (!pairs) return rw_err_set(c->err, RW_E_NOMEM, "out of memory checking tensor overlap");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        pairs[2 * i] = g->ti[i].offset;
        pairs[2 * i + 1] = i;
    }
    qsort(pairs, (size_t)g->n_tensors, 2 * sizeof(uint64_t), cmp_u64_pair);
    /* Walk by offset, remembering the non-empty tensor that reaches furthest. */
    const infer_gguf_tensor_info *far = NULL;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const infer_gguf_tensor_info *b = &g->ti[pairs[2 * i + 1]];
        if (b->nbytes == 0) continue;
        if (far && b->offset < far->offset + far->nbytes) {
            st = rw_err_set(c->err, RW_E_FORMAT,
                            "byte %" PRIu64 ": tensor '%s' data at %" PRIu64
                            " overlaps tensor '%s' [%" PRIu64 ", +%" PRIu64 ")",
                            b->file_offset, b->name, b->offset, far->name, far->offset, far->nbytes);
            break;
        }
        if (!far || b->offset + b->nbytes > far->offset + far->nbytes) far = b;
    }
    rw_free(pairs);
    return st;
}

static rw_status gguf_parse(infer_gguf *g, rw_err *err) {
    infer_gguf_cursor cur = {.p = g->base, .size = g->size, .err = err};
    infer_gguf_cursor *c = &cur;
    rw_status st;
    char magic[4];
    snprintf(c->what, sizeof c->what, "header");
    if ((st = cur_read(c, magic, 4, "magic"))) return st;
    if (memcmp(magic, "GGUF", 4) != 0) {
        char q[8];
        quote(q, sizeof q, magic, 4);
        return rw_err_set(err, RW_E_FORMAT, "byte 0: bad magic '%s' (expected 'GGUF'): not a GGUF file", q);
    }
    if ((st = cur_u32(c, &g->version, "version"))) return st;
    if (g->version == 1)
        return rw_err_set(err, RW_E_UNSUPPORTED, "byte 4: GGUF version 1 is not supported (convert "
                          "the file to version 3)");
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0 && g->version != 0)
            return rw_err_set(err, RW_E_UNSUPPORTED, "byte 4: version 0x%08x: big-endian GGUF files "
                              "are not supported", g->version);
        return rw_err_set(err, RW_E_FORMAT, "byte 4: unsupported GGUF version %u (expected 3)",
                          g->version);
    }
    if ((st = cur_u64(c, &g->n_tensors, "n_tensors"))) return st;
    if ((st = cur_u64(c, &g->n_kv, "n_kv"))) return st;
    /* A kv needs >= 13 bytes (key length, type, one byte), a tensor info >= 24. */
    if (g->n_kv > cur_left(c) / 13)
        return rw_err_set(err, RW_E_RANGE, "byte 16: n_kv = %" PRIu64 " cannot fit in the %zu "
                          "bytes that remain", g->n_kv, cur_left(c));
    if (g->n_tensors > cur_left(c) / 24)
        return rw_err_set(err, RW_E_RANGE, "byte 8: n_tensors = %" PRIu64 " cannot fit in the %zu "
                          "bytes that remain", g->n_tensors, cur_left(c));
    uint64_t n_kv = g->n_kv, n_t = g->n_tensors;
    g->n_kv = g->n_tensors = 0; /* counts of initialized entries, for gguf_free */
    if (n_kv) {
        g->kv = rw_calloc((size_t)n_kv, sizeof *g->kv);
        g->kv_sorted = rw_alloc_array((size_t)n_kv, sizeof *g->kv_sorted);
        if (!g->kv || !g->kv_sorted) return rw_err_set(err, RW_E_NOMEM, "out of memory for %" PRIu64 " keys", n_kv);
    }
    if (n_t) {
        g->ti = rw_calloc((size_t)n_t, sizeof *g->ti);
        g->ti_sorted = rw_alloc_array((size_t)n_t, sizeof *g->ti_sorted);
        if (!g->ti || !g->ti_sorted)
            return rw_err_set(err, RW_E_NOMEM, "out of memory for %" PRIu64 " tensors", n_t);
    }
    g->n_kv = n_kv;
    if ((st = parse_kv(g, c))) return st;
    for (uint64_t i = 0; i < n_kv; i++) g->kv_sorted[i] = (name_ref){g->kv[i].key, i};
    if ((st = check_sorted_unique(g->kv_sorted, n_kv, "key", c))) return st;
    if ((st = parse_alignment(g, c))) return st;
    g->n_tensors = n_t;
    if ((st = parse_tensor_infos(g, c))) return st;
    for (uint64_t i = 0; i < n_t; i++) g->ti_sorted[i] = (name_ref){g->ti[i].name, i};
    if ((st = check_sorted_unique(g->ti_sorted, n_t, "tensor name", c))) return st;
    uint64_t pad = (g->alignment - c->pos % g->alignment) % g->alignment;
    g->data_offset = (uint64_t)c->pos + pad;
    return check_tensor_data(g, c);
}

static rw_status open_common(infer_gguf *g, infer_gguf **out, rw_err *err) {
    rw_status st = gguf_parse(g, err);
    if (st) {
        gguf_free(g);
        return st;
    }
    *out = g;
    return RW_OK;
}

rw_status infer_gguf_open_memory(const void *data, size_t size, infer_gguf **out, rw_err *err) {
    infer_gguf *g = rw_calloc(1, sizeof *g);
    if (!g) return rw_err_set(err, RW_E_NOMEM, "out of memory for a GGUF handle");
    g->base = data;
    g->size = size;
    return open_common(g, out, err);
}

rw_status infer_gguf_open(const char *path, infer_gguf **out, rw_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rw_err_set(err, RW_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    rw_status st = RW_OK;
    infer_gguf *g = NULL;
    if (fstat(fd, &sb) != 0) {
        st = rw_err_set(err, RW_E_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = rw_err_set(err, RW_E_IO, "%s: not a regular file", path);
        goto fail;
    }
    if (sb.st_size < 24) {
        st = rw_err_set(err, RW_E_RANGE, "%s: file has %lld bytes, too short for a GGUF header (24)",
                        path, (long long)sb.st_size);
        goto fail;
    }
    g = rw_calloc(1, sizeof *g);
    if (!g) {
        st = rw_err_set(err, RW_E_NOMEM, "%s: out of memory for a GGUF handle", path);
        goto fail;
    }
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        st = rw_err_set(err, RW_E_IO, "%s: mmap failed: %s", path, strerror(errno));
        rw_free(g);
        goto fail;
    }
    close(fd);
    fd = -1;
    g->base = m;
    g->size = (size_t)sb.st_size;
    g->mapped = true;
    st = open_common(g, out, err);
    if (st) rw_err_prefix(err, "%s: ", path);
    return st;
fail:
    if (fd >= 0) close(fd);
    return st;
}

void infer_gguf_close(infer_gguf *g) { gguf_free(g); }

/* ------------------------------------------------------------------ accessors */

uint32_t infer_gguf_version(const infer_gguf *g) { return g->version; }
uint64_t infer_gguf_n_kv(const infer_gguf *g) { return g->n_kv; }
uint64_t infer_gguf_n_tensors(const infer_gguf *g) { return g->n_tensors; }
uint32_t infer_gguf_alignment(const infer_gguf *g) { return g->alignment; }
uint64_t infer_gguf_data_offset(const infer_gguf *g) { return g->data_offset; }
uint64_t infer_gguf_file_size(const infer_gguf *g) { return g->size; }
const void *infer_gguf_base(const infer_gguf *g) { return g->base; }

const char *infer_gguf_key(const infer_gguf *g, uint64_t i) {
    return i < g->n_kv ? g->kv[i].key : NULL;
}

const infer_gguf_value *infer_gguf_kv_value(const infer_gguf *g, uint64_t i) {
    return i < g->n_kv ? &g->kv[i].v : NULL;
}

static int64_t find_sorted(const name_ref *refs, uint64_t n, const char *name) {
    size_t lo = 0, hi = (size_t)n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(refs[mid].name, name);
        if (c == 0) return (int64_t)refs[mid].idx;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int64_t infer_gguf_find_key(const infer_gguf *g, const char *key) {
    return find_sorted(g->kv_sorted, g->n_kv, key);
}

const infer_gguf_value *infer_gguf_get(const infer_gguf *g, const char *key) {
    int64_t i = infer_gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i].v;
}

/* Describes a scalar value for messages ("int32 -5"). */
static void describe(const infer_gguf_value *v, char *buf, size_t cap) {
    int64_t i;
    uint64_t u;
    double d;
    if (v->type == INFER_GGUF_UINT64 && infer_gguf_value_uint(v, &u) == RW_OK)
        snprintf(buf, cap, "uint64 %" PRIu64, u);
    else if (infer_gguf_value_int(v, &i) == RW_OK)
        snprintf(buf, cap, "%s %" PRId64, infer_gguf_type_name(v->type), i);
    else if (infer_gguf_value_float(v, &d) == RW_OK)
        snprintf(buf, cap, "%s %g", infer_gguf_type_name(v->type), d);
    else if (v->type == INFER_GGUF_ARRAY)
        snprintf(buf, cap, "array of %" PRIu64 " %s", v->count, infer_gguf_type_name(v->elem_type));
    else
        snprintf(buf, cap, "%s", infer_gguf_type_name(v->type));
}

static rw_status lookup(const infer_gguf *g, const char *key, const infer_gguf_value **v,
                        rw_err *err) {
    *v = infer_gguf_get(g, key);
    if (!*v) return rw_err_set(err, RW_E_NOTFOUND, "key '%s' not found", key);
    return RW_OK;
}

static rw_status mismatch(const infer_gguf_value *v, const char *key, const char *want, rw_err *err) {
    char d[96];
    describe(v, d, sizeof d);
    return rw_err_set(err, RW_E_FORMAT, "key '%s' is %s, expected %s", key, d, want);
}

static rw_status get_int_range(const infer_gguf *g, const char *key, int64_t lo, uint64_t hi,
                               const char *want, uint64_t *uout, int64_t *iout, rw_err *err) {
    const infer_gguf_value *v;
    rw_status st = lookup(g, key, &v, err);
    if (st) return st;
    if (v->type == INFER_GGUF_UINT64) {
        uint64_t u;
        infer_gguf_value_uint(v, &u);
        if (u > hi) return mismatch(v, key, want, err);
        if (uout) *uout = u;
        if (iout) *iout = (int64_t)u;
        return RW_OK;
    }
    int64_t x;
    if (infer_gguf_value_int(v, &x) != RW_OK) return mismatch(v, key, want, err);
    if (x < lo || (x > 0 && (uint64_t)x > hi)) return mismatch(v, key, want, err);
    if (uout) *uout = (uint64_t)x;
    if (iout) *iout = x;
    return RW_OK;
}

rw_status infer_gguf_get_u32(const infer_gguf *g, const char *key, uint32_t *out, rw_err *err) {
    uint64_t u;
    rw_status st = get_int_range(g, key, 0, UINT32_MAX, "an integer in uint32 range", &u, NULL, err);
    if (!st) *out = (uint32_t)u;
    return st;
}

rw_status infer_gguf_get_i32(const infer_gguf *g, const char *key, int32_t *out, rw_err *err) {
    int64_t i;
    rw_status st = get_int_range(g, key, INT32_MIN, INT32_MAX, "an integer in int32 range", NULL, &i, err);
    if (!st) *out = (int32_t)i;
    return st;
}

rw_status infer_gguf_get_u64(const infer_gguf *g, const char *key, uint64_t *out, rw_err *err) {
    uint64_t u;
    rw_status st = get_int_range(g, key, 0, UINT64_MAX, "a non-negative integer", &u, NULL, err);
    if (!st) *out = u;
    return st;
}

rw_status infer_gguf_get_i64(const infer_gguf *g, const char *key, int64_t *out, rw_err *err) {
    int64_t i;
    rw_status st = get_int_range(g, key, INT64_MIN, INT64_MAX, "an integer in int64 range", NULL, &i, err);
    if (!st) *out = i;
    return st;
}

rw_status infer_gguf_get_f64(const infer_gguf *g, const char *key, double *out, rw_err *err) {
    const infer_gguf_value *v;
    rw_status st = lookup(g, key, &v, err);
    if (st) return st;
    double d;
    if (infer_gguf_value_float(v, &d) != RW_OK) return mismatch(v, key, "float32 or float64", err);
    *out = d;
    return RW_OK;
}

rw_status infer_gguf_get_f32(const infer_gguf *g, const char *key, float *out, rw_err *err) {
    const infer_gguf_value *v;
    rw_status st = lookup(g, key, &v, err);
    if (st) return st;
    double d;
    if (infer_gguf_value_float(v, &d) != RW_OK) return mismatch(v, key, "float32 or float64", err);
    if (isfinite(d) && fabs(d) > (double)3.4028234663852886e38f)
        return mismatch(v, key, "a value in float32 range", err);
    *out = (float)d;
    return RW_OK;
}

rw_status infer_gguf_get_bool(const infer_gguf *g, const char *key, bool *out, rw_err *err) {
    const infer_gguf_value *v;
    rw_status st = lookup(g, key, &v, err);
    if (st) return st;
    if (v->type != INFER_GGUF_BOOL) return mismatch(v, key, "bool", err);
    *out = v->data[0] != 0;
    return RW_OK;
}

rw_status infer_gguf_get_str(const infer_gguf *g, const char *key, infer_gguf_str *out, rw_err *err) {
    const infer_gguf_value *v;
    rw_status st = lookup(g, key, &v, err);
    if (st) return st;
    if (v->type != INFER_GGUF_STRING) return mismatch(v, key, "string", err);
    return infer_gguf_value_str(v, out);
}

rw_status infer_gguf_get_arr(const infer_gguf *g, const char *key, infer_gguf_value *out,
                             rw_err *err) {
    const infer_gguf_value *v;
    rw_status st = lookup(g, key, &v, err);
    if (st) return st;
    if (v->type != INFER_GGUF_ARRAY) return mismatch(v, key, "array", err);
    *out = *v;
    return RW_OK;
}

const infer_gguf_tensor_info *infer_gguf_tensor_info_at(const infer_gguf *g, uint64_t i) {
    return i < g->n_tensors ? &g->ti[i] : NULL;
}

int64_t infer_gguf_find_tensor(const infer_gguf *g, const char *name) {
    return find_sorted(g->ti_sorted, g->n_tensors, name);
}

rw_status infer_gguf_tensor_at(const infer_gguf *g, uint64_t i, rw_tensor *out) {
    if (i >= g->n_tensors) return RW_E_RANGE;
    const infer_gguf_tensor_info *t = &g->ti[i];
    rw_tensor r;
    int nd = t->n_dims < 1 ? 1 : t->n_dims;
    /* Validated at open: sizes fit, data lies inside the mapping. */
    void *data = (void *)(uintptr_t)(g->base + g->data_offset + t->offset);
    if (!rw_tensor_init(&r, t->type, nd, t->ne, data)) return RW_E_RANGE;
    r.name = t->name;
    *out = r;
    return RW_OK;
}

rw_status infer_gguf_get_tensor(const infer_gguf *g, const char *name, rw_tensor *out,
                                rw_err *err) {
    int64_t i = infer_gguf_find_tensor(g, name);
    if (i < 0) return rw_err_set(err, RW_E_NOTFOUND, "tensor '%s' not found", name);
    rw_status st = infer_gguf_tensor_at(g, (uint64_t)i, out);
    if (st) return rw_err_set(err, st, "tensor '%s': size does not fit in memory", name);
    return RW_OK;
}
