/* safetensors parse/write with Jansson (train/safetensors.h has the rules and why this
 * project writes its own: no packaged C library exists).
 *
 * Invariants: the parser never reads outside buf[0..len); every size is overflow-checked;
 * on failure nothing is returned and everything allocated is released. */
#pragma GCC diagnostic warning "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#include "train/safetensors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "data/file.h"
#include "kernels/convert.h"

enum { ST_MAX_HEADER = 100 * 1000 * 1000 };

static const struct {
    const char *name;
    train_st_dtype dt;
    size_t size;
} k_dtypes[] = {
    {"F32", TRAIN_ST_F32, 4}, {"F16", TRAIN_ST_F16, 2}, {"BF16", TRAIN_ST_BF16, 2},
    {"F64", TRAIN_ST_F64, 8}, {"I64", TRAIN_ST_I64, 8}, {"I32", TRAIN_ST_I32, 4},
    {"I16", TRAIN_ST_I16, 2}, {"I8", TRAIN_ST_I8, 1},   {"U8", TRAIN_ST_U8, 1},
    {"BOOL", TRAIN_ST_BOOL, 1},
};

void train_st_free(train_st *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) rw_free(s->t[i].name);
    rw_free(s->t);
    s->t = NULL;
    s->n = 0;
}

long train_st_find(const train_st *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name)) return (long)i;
    return -1;
}

typedef struct span {
    uint64_t begin, end;
    size_t idx;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : (x->end > y->end ? 1 : 0);
}

/* Reads a JSON integer >= 0 into *out. */
static int json_u64(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0) return -1;
    *out = (uint64_t)x;
    return 0;
}

rw_status train_st_parse(const void *buf, size_t len, const char *name, train_st *out,
                         rw_err *err) {
    const unsigned char *b = buf;
    train_st s = {0};
    json_t *root = NULL;
    span *spans = NULL;
    rw_status st = RW_OK;
    if (!name) name = "<safetensors>";
    if (len < 8) return rw_err_set(err, RW_E_FORMAT, "%s: %zu bytes, too short for the header length", name, len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    if (hl > ST_MAX_HEADER || hl > len - 8)
        return rw_err_set(err, RW_E_RANGE,
                          "%s: header length %llu at byte 0 exceeds the file (%zu bytes) or 100 MB",
                          name, (unsigned long long)hl, len);
    if (hl < 2) return rw_err_set(err, RW_E_FORMAT, "%s: header length %llu is too small", name, (unsigned long long)hl);
    const unsigned char *data = b + 8 + hl;
    uint64_t data_len = len - 8 - hl;
    json_error_t je;
    root = json_loadb((const char *)b + 8, (size_t)hl, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        st = rw_err_set(err, RW_E_FORMAT, "%s: header JSON: %s at byte %d", name, je.text,
                        8 + je.position);
        goto fail;
    }
    if (!json_is_object(root)) {
        st = rw_err_set(err, RW_E_FORMAT, "%s: header is not a JSON object", name);
        goto fail;
    }
    size_t n = json_object_size(root);
    s.t = rw_calloc(n ? n : 1, sizeof *s.t);
    spans = rw_calloc(n ? n : 1, sizeof *spans);
    if (!s.t || !spans) goto nomem;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(val)) {
                st = rw_err_set(err, RW_E_FORMAT, "%s: __metadata__ is not an object", name);
                goto fail;
            }
            json_object_foreach(val, mk, mv) {
                if (!json_is_string(mv)) {
                    st = rw_err_set(err, RW_E_FORMAT, "%s: __metadata__.%s is not a string", name, mk);
                    goto fail;
                }
            }
            continue;
        }
        if (!*key) {
            st = rw_err_set(err, RW_E_FORMAT, "%s: empty tensor name", name);
            goto fail;
        }
        if (!json_is_object(val) || json_object_size(val) != 3) {
            st = rw_err_set(err, RW_E_FORMAT,
                            "%s: tensor '%s' must be an object with dtype, shape, data_offsets",
                            name, key);
            goto fail;
        }
        json_t *jd = json_object_get(val, "dtype"), *js = json_object_get(val, "shape"),
               *jo = json_object_get(val, "data_offsets");
        if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) ||
            json_array_size(jo) != 2) {
            st = rw_err_set(err, RW_E_FORMAT,
                            "%s: tensor '%s': dtype (string), shape (array), data_offsets "
                            "([begin, end]) required",
                            name, key);
            goto fail;
        }
        train_st_tensor *t = &s.t[s.n];
        size_t esz = 0;
        const char *ds = json_string_value(jd);
        for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
            if (!strcmp(ds, k_dtypes[i].name)) {
                t->dtype = k_dtypes[i].dt;
                esz = k_dtypes[i].size;
            }
        if (!esz) {
            st = rw_err_set(err, RW_E_UNSUPPORTED, "%s: tensor '%s': unknown dtype '%.16s'", name,
                            key, ds);
            goto fail;
        }
        size_t nd = json_array_size(js);
        if (nd > TRAIN_ST_MAX_DIMS) {
            st = rw_err_set(err, RW_E_RANGE, "%s: tensor '%s': %zu dims (at most %d)", name, key,
                            nd, TRAIN_ST_MAX_DIMS);
            goto fail;
        }
        uint64_t ne = 1;
        for (size_t d = 0; d < nd; d++) {
            uint64_t v;
            if (json_u64(json_array_get(js, d), &v) || v > ((uint64_t)1 << 48)) {
                st = rw_err_set(err, RW_E_FORMAT, "%s: tensor '%s': shape[%zu] is not a size", name,
                                key, d);
                goto fail;
            }
            t->shape[d] = (int64_t)v;
            if (v && ne > UINT64_MAX / v) {
                st = rw_err_set(err, RW_E_RANGE, "%s: tensor '%s': shape overflows", name, key);
                goto fail;
            }
            ne *= v;
        }
        t->n_dims = (int)nd;
        uint64_t beg, end;
        if (json_u64(json_array_get(jo, 0), &beg) || json_u64(json_array_get(jo, 1), &end) ||
            end < beg || end > data_len) {
            st = rw_err_set(err, RW_E_RANGE,
                            "%s: tensor '%s': data_offsets outside the %llu-byte buffer", name, key,
                            (unsigned long long)data_len);
            goto fail;
        }
        if (ne > UINT64_MAX / esz || ne * esz != end - beg) {
            st = rw_err_set(err, RW_E_FORMAT,
                            "%s: tensor '%s': data_offsets span %llu bytes, shape x %s needs %llu",
                            name, key, (unsigned long long)(end - beg), ds,
                            (unsigned long long)(ne <= UINT64_MAX / esz ? ne * esz : 0));
            goto fail;
        }
        t->n_elems = ne;
        t->nbytes = (size_t)(end - beg);
        t->data = data + beg;
        if (!(t->name = rw_strdup(key))) goto nomem;
        spans[s.n].begin = beg;
        spans[s.n].end = end;
        spans[s.n].idx = s.n;
        s.n++;
    }
    qsort(spans, s.n, sizeof *spans, span_cmp);
    uint64_t pos = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (spans[i].begin != pos) {
            st = rw_err_set(err, RW_E_FORMAT,
                            "%s: tensor '%s' starts at buffer byte %llu, expected %llu (holes or "
                            "overlaps)",
                            name, s.t[spans[i].idx].name, (unsigned long long)spans[i].begin,
                            (unsigned long long)pos);
            goto fail;
        }
        pos = spans[i].end;
    }
    if (pos != data_len) {
        st = rw_err_set(err, RW_E_FORMAT, "%s: %llu bytes after the last tensor", name,
                        (unsigned long long)(data_len - pos));
        goto fail;
    }
    rw_free(spans);
    json_decref(root);
    *out = s;
    return RW_OK;
nomem:
    st = rw_err_set(err, RW_E_NOMEM, "%s: out of memory", name);
fail:
    rw_free(spans);
    json_decref(root);
    train_st_free(&s);
    return st;
}

rw_status train_st_to_f32(const train_st_tensor *t, float *dst, rw_err *err) {
    size_t n = (size_t)t->n_elems;
    switch (t->dtype) {
    case TRAIN_ST_F32:
        memcpy(dst, t->data, n * 4);
        return RW_OK;
    case TRAIN_ST_F16:
    case TRAIN_ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(t->data[2 * i] | (t->data[2 * i + 1] << 8));
            dst[i] = t->dtype == TRAIN_ST_F16 ? kern_f16_to_f32(h) : kern_bf16_to_f32(h);
        }
        return RW_OK;
    default:
        return rw_err_set(err, RW_E_UNSUPPORTED, "tensor '%s': dtype is not F32, F16 or BF16",
                          t->name);
    }
}

rw_status train_st_write(const char *path, const train_st_out *t, size_t n,
                         const char *const *meta, size_t n_meta, rw_err *err) {
    rw_status st = RW_OK;
    json_t *root = json_object();
    char *hdr = NULL, *buf = NULL;
    size_t *order = NULL;
    if (!root) goto nomem;
    if (n_meta) {
        json_t *m = json_object();
        if (!m || json_object_set_new(root, "__metadata__", m)) goto nomem;
        for (size_t i = 0; i < n_meta; i++)
            if (json_object_set_new(m, meta[2 * i], json_string(meta[2 * i + 1]))) goto nomem;
    }
    /* Data in sorted-name order, so the header (sorted keys) and the buffer agree. */
    order = rw_alloc_array(n ? n : 1, sizeof *order);
    if (!order) goto nomem;
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(t[order[j - 1]].name, t[order[j]].name) > 0; j--) {
            size_t x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
    uint64_t off = 0;
    for (size_t k = 0; k < n; k++) {
        const train_st_out *o = &t[order[k]];
        uint64_t ne = 1;
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        if (!e || !shape || !offs) {
            json_decref(e);
            json_decref(shape);
            json_decref(offs);
            goto nomem;
        }
        for (int d = 0; d < o->n_dims; d++) {
            json_array_append_new(shape, json_integer(o->shape[d]));
            ne *= (uint64_t)o->shape[d];
        }
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + ne * 4)));
        off += ne * 4;
        json_object_set_new(e, "dtype", json_string("F32"));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets", offs);
        if (json_object_set_new(root, o->name, e)) goto nomem;
    }
    hdr = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
    if (!hdr) goto nomem;
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    size_t total = 8 + padded + (size_t)off;
    buf = rw_malloc(total);
    if (!buf) goto nomem;
    for (int i = 0; i < 8; i++) buf[i] = (char)(((uint64_t)padded >> (8 * i)) & 0xff);
    memcpy(buf + 8, hdr, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    size_t p = 8 + padded;
    for (size_t k = 0; k < n; k++) {
        const train_st_out *o = &t[order[k]];
        size_t ne = 1;
        for (int d = 0; d < o->n_dims; d++) ne *= (size_t)o->shape[d];
        memcpy(buf + p, o->data, ne * 4); /* little-endian host (x86-64, arm64) */
        p += ne * 4;
    }
    st = data_file_write_atomic(path, buf, total, err);
    goto out;
nomem:
    st = rw_err_set(err, RW_E_NOMEM, "%s: out of memory writing safetensors", path);
out:
    free(hdr); /* jansson allocates with malloc */
    rw_free(buf);
    rw_free(order);
    json_decref(root);
    return st;
}
