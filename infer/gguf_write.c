/* GGUF writer: a builder of metadata and tensors, written atomically (see gguf.h).
 *
 * Each key keeps its value already encoded as on disk (u32 type + payload), so writing is
 * a copy and values taken from a reader are byte-identical. Tensor data is borrowed.
 * Layout written: header, kv, tensor infos, zero padding to the alignment, then each
 * tensor's data at the next multiple of the alignment (ggml's layout, so llama.cpp's
 * offset check "offset == running padded size" holds). */
#include "infer/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "infer/gguf_internal.h"

enum { GGUF_MAX_TENSOR_NAME = 63 }; /* ggml's GGML_MAX_NAME (64) includes the NUL */

typedef struct wkv {
    char *key;
    unsigned char *enc; /* u32 type + payload */
    size_t enc_size;
} wkv;

typedef struct wtensor {
    char *name;
    rw_dtype type;
    int n_dims;
    int64_t ne[RW_MAX_DIMS];
    const void *data; /* borrowed */
    uint64_t nbytes;
} wtensor;

struct infer_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

rw_status infer_gguf_writer_create(infer_gguf_writer **out, rw_err *err) {
    infer_gguf_writer *w = rw_calloc(1, sizeof *w);
    if (!w) return rw_err_set(err, RW_E_NOMEM, "out of memory for a GGUF writer");
    *out = w;
    return RW_OK;
}

void infer_gguf_writer_destroy(infer_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        rw_free(w->kv[i].key);
        rw_free(w->kv[i].enc);
    }
    for (size_t i = 0; i < w->n_t; i++) rw_free(w->t[i].name);
    rw_free(w->kv);
    rw_free(w->t);
    rw_free(w);
}

static int64_t find_kv(const infer_gguf_writer *w, const char *key) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) return (int64_t)i;
    return -1;
}

/* Takes a copy of (type, payload) under key; replaces an existing value in place. */
static rw_status set_enc(infer_gguf_writer *w, const char *key, uint32_t type, const void *head,
                         size_t head_size, const void *payload, size_t size, rw_err *err) {
    if (!key || !key[0]) return rw_err_set(err, RW_E_INVALID, "empty GGUF key");
    size_t total;
    if (!rw_size_add(4 + head_size, size, &total))
        return rw_err_set(err, RW_E_RANGE, "key '%s': value too large", key);
    unsigned char *enc = rw_malloc(total);
    if (!enc) return rw_err_set(err, RW_E_NOMEM, "key '%s': out of memory (%zu bytes)", key, total);
    memcpy(enc, &type, 4);
    if (head_size) memcpy(enc + 4, head, head_size);
    if (size) memcpy(enc + 4 + head_size, payload, size);
    int64_t i = find_kv(w, key);
    if (i >= 0) {
        rw_free(w->kv[i].enc);
        w->kv[i].enc = enc;
        w->kv[i].enc_size = total;
        return RW_OK;
    }
    char *k = rw_strdup(key);
    if (!k) {
        rw_free(enc);
        return rw_err_set(err, RW_E_NOMEM, "key '%s': out of memory", key);
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *nk = rw_realloc(w->kv, cap * sizeof *nk);
        if (!nk) {
            rw_free(k);
            rw_free(enc);
            return rw_err_set(err, RW_E_NOMEM, "key '%s': out of memory", key);
        }
        w->kv = nk;
        w->cap_kv = cap;
    }
    w->kv[w->n_kv++] = (wkv){k, enc, total};
    return RW_OK;
}

#define SETTER(fn, ctype, gtype)                                                                \
    rw_status infer_gguf_writer_set_##fn(infer_gguf_writer *w, const char *key, ctype v,       \
                                         rw_err *err) {                                        \
        return set_enc(w, key, gtype, NULL, 0, &v, sizeof v, err);                              \
    }
SETTER(u8, uint8_t, INFER_GGUF_UINT8)
SETTER(i8, int8_t, INFER_GGUF_INT8)
SETTER(u16, uint16_t, INFER_GGUF_UINT16)
SETTER(i16, int16_t, INFER_GGUF_INT16)
SETTER(u32, uint32_t, INFER_GGUF_UINT32)
SETTER(i32, int32_t, INFER_GGUF_INT32)
SETTER(u64, uint64_t, INFER_GGUF_UINT64)
SETTER(i64, int64_t, INFER_GGUF_INT64)
SETTER(f32, float, INFER_GGUF_FLOAT32)
SETTER(f64, double, INFER_GGUF_FLOAT64)
#undef SETTER

rw_status infer_gguf_writer_set_bool(infer_gguf_writer *w, const char *key, bool v, rw_err *err) {
    uint8_t b = v ? 1 : 0;
    return set_enc(w, key, INFER_GGUF_BOOL, NULL, 0, &b, 1, err);
}

rw_status infer_gguf_writer_set_str(infer_gguf_writer *w, const char *key, const char *v,
                                    rw_err *err) {
    uint64_t len = strlen(v);
    return set_enc(w, key, INFER_GGUF_STRING, &len, 8, v, (size_t)len, err);
}

rw_status infer_gguf_writer_set_arr(infer_gguf_writer *w, const char *key,
                                    infer_gguf_type elem_type, const void *data, uint64_t n,
                                    rw_err *err) {
    size_t es = infer_gguf_type_size(elem_type), bytes;
    if (es == 0)
        return rw_err_set(err, RW_E_INVALID, "key '%s': set_arr needs a fixed-size type, not %s",
                          key, infer_gguf_type_name(elem_type));
    if (!rw_size_mul((size_t)n, es, &bytes))
        return rw_err_set(err, RW_E_RANGE, "key '%s': array too large", key);
    if (elem_type == INFER_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (((const uint8_t *)data)[i] > 1)
                return rw_err_set(err, RW_E_INVALID, "key '%s': bool element %" PRIu64 " is not 0/1",
                                  key, i);
    unsigned char head[12];
    uint32_t et = (uint32_t)elem_type;
    memcpy(head, &et, 4);
    memcpy(head + 4, &n, 8);
    return set_enc(w, key, INFER_GGUF_ARRAY, head, 12, data, bytes, err);
}

rw_status infer_gguf_writer_set_arr_str(infer_gguf_writer *w, const char *key,
                                        const char *const *strs, const size_t *lens, uint64_t n,
                                        rw_err *err) {
    size_t bytes = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t l = lens ? lens[i] : strlen(strs[i]);
        if (!rw_size_add(bytes, 8, &bytes) || !rw_size_add(bytes, l, &bytes))
            return rw_err_set(err, RW_E_RANGE, "key '%s': array too large", key);
    }
    unsigned char *buf = rw_malloc(bytes ? bytes : 1);
    if (!buf) return rw_err_set(err, RW_E_NOMEM, "key '%s': out of memory (%zu bytes)", key, bytes);
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l = lens ? lens[i] : strlen(strs[i]);
        memcpy(buf + off, &l, 8);
        if (l) memcpy(buf + off + 8, strs[i], (size_t)l);
        off += 8 + (size_t)l;
    }
    unsigned char head[12];
    uint32_t et = INFER_GGUF_STRING;
    memcpy(head, &et, 4);
    memcpy(head + 4, &n, 8);
    rw_status st = set_enc(w, key, INFER_GGUF_ARRAY, head, 12, buf, bytes, err);
    rw_free(buf);
    return st;
}

rw_status infer_gguf_writer_set_value(infer_gguf_writer *w, const char *key,
                                      const infer_gguf_value *v, rw_err *err) {
    infer_gguf_cursor c = {.p = v->data, .size = v->size, .err = err};
    snprintf(c.what, sizeof c.what, "value of key '%.100s'", key);
    rw_status st;
    if ((unsigned)v->type >= INFER_GGUF_TYPE_COUNT)
        return rw_err_set(err, RW_E_INVALID, "key '%s': unknown value type %u", key, (unsigned)v->type);
    if (v->type == INFER_GGUF_ARRAY) {
        st = infer_gguf_parse_array_payload(&c, v->elem_type, v->count, 1, NULL);
        if (st) return st;
        if (c.pos != v->size)
            return rw_err_set(err, RW_E_INVALID, "key '%s': array payload has %zu bytes, %zu used",
                              key, v->size, c.pos);
        unsigned char head[12];
        uint32_t et = (uint32_t)v->elem_type;
        memcpy(head, &et, 4);
        memcpy(head + 4, &v->count, 8);
        return set_enc(w, key, INFER_GGUF_ARRAY, head, 12, v->data, v->size, err);
    }
    infer_gguf_value tmp;
    st = infer_gguf_parse_value(&c, v->type, 0, &tmp, NULL);
    if (st) return st;
    if (c.pos != v->size)
        return rw_err_set(err, RW_E_INVALID, "key '%s': %s payload has %zu bytes, %zu used", key,
                          infer_gguf_type_name(v->type), v->size, c.pos);
    return set_enc(w, key, (uint32_t)v->type, NULL, 0, v->data, v->size, err);
}

rw_status infer_gguf_writer_copy_kv(infer_gguf_writer *w, const infer_gguf *src,
                                    const char *prefix, rw_err *err) {
    size_t pl = strlen(prefix);
    for (uint64_t i = 0; i < infer_gguf_n_kv(src); i++) {
        const char *k = infer_gguf_key(src, i);
        if (strncmp(k, prefix, pl) != 0) continue;
        rw_status st = infer_gguf_writer_set_value(w, k, infer_gguf_kv_value(src, i), err);
        if (st) return st;
    }
    return RW_OK;
}

void infer_gguf_writer_remove(infer_gguf_writer *w, const char *key) {
    int64_t i = find_kv(w, key);
    if (i < 0) return;
    rw_free(w->kv[i].key);
    rw_free(w->kv[i].enc);
    memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - (size_t)i - 1) * sizeof *w->kv);
    w->n_kv--;
}

rw_status infer_gguf_writer_add_tensor(infer_gguf_writer *w, const char *name, rw_dtype type,
                                       int n_dims, const int64_t *ne, const void *data,
                                       rw_err *err) {
    size_t nl = strlen(name);
    if (nl == 0 || nl > GGUF_MAX_TENSOR_NAME)
        return rw_err_set(err, RW_E_INVALID, "tensor name '%s' must have 1..%d bytes", name,
                          GGUF_MAX_TENSOR_NAME);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return rw_err_set(err, RW_E_INVALID, "duplicate tensor name '%s'", name);
    rw_tensor tv;
    if (!rw_tensor_init(&tv, type, n_dims, ne, NULL))
        return rw_err_set(err, RW_E_INVALID,
                          "tensor '%s': bad type %d or shape (n_dims %d; ne[0] must be a multiple "
                          "of the block size)", name, (int)type, n_dims);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *nt = rw_realloc(w->t, cap * sizeof *nt);
        if (!nt) return rw_err_set(err, RW_E_NOMEM, "tensor '%s': out of memory", name);
        w->t = nt;
        w->cap_t = cap;
    }
    char *nm = rw_strdup(name);
    if (!nm) return rw_err_set(err, RW_E_NOMEM, "tensor '%s': out of memory", name);
    wtensor *t = &w->t[w->n_t++];
    *t = (wtensor){.name = nm, .type = type, .n_dims = n_dims, .data = data,
                   .nbytes = rw_tensor_nbytes(&tv)};
    for (int d = 0; d < RW_MAX_DIMS; d++) t->ne[d] = tv.ne[d];
    return RW_OK;
}

uint64_t infer_gguf_writer_n_tensors(const infer_gguf_writer *w) { return w->n_t; }

/* ------------------------------------------------------------------ output */

typedef struct wout {
    FILE *f;
    uint64_t pos;
    bool failed;
} wout;

static void put(wout *o, const void *p, size_t n) {
    if (o->failed || n == 0) return;
    if (fwrite(p, 1, n, o->f) != n) o->failed = true;
    o->pos += n;
}

static void put_u32(wout *o, uint32_t v) { put(o, &v, 4); }
static void put_u64(wout *o, uint64_t v) { put(o, &v, 8); }

static void put_str(wout *o, const char *s) {
    uint64_t n = strlen(s);
    put_u64(o, n);
    put(o, s, (size_t)n);
}

static void pad_to(wout *o, uint32_t align) {
    static const unsigned char zeros[256];
    uint64_t pad = (align - o->pos % align) % align;
    while (pad > 0) {
        size_t k = pad > sizeof zeros ? sizeof zeros : (size_t)pad;
        put(o, zeros, k);
        pad -= k;
    }
}

static rw_status get_alignment(const infer_gguf_writer *w, uint32_t *align, rw_err *err) {
    *align = INFER_GGUF_DEFAULT_ALIGNMENT;
    int64_t i = find_kv(w, "general.alignment");
    if (i < 0) return RW_OK;
    const wkv *kv = &w->kv[i];
    uint32_t type, a;
    memcpy(&type, kv->enc, 4);
    if (type != INFER_GGUF_UINT32)
        return rw_err_set(err, RW_E_INVALID, "general.alignment must be uint32, is %s",
                          infer_gguf_type_name((infer_gguf_type)type));
    memcpy(&a, kv->enc + 4, 4);
    if (a == 0 || (a & (a - 1)))
        return rw_err_set(err, RW_E_INVALID, "general.alignment %u is not a power of two", a);
    *align = a;
    return RW_OK;
}

/* The folder of path (heap), "." when path has no slash. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? rw_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : rw_strdup(".");
}

static rw_status fsync_dir(const char *dir, rw_err *err) {
    rw_status st = RW_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        st = rw_err_set(err, RW_E_IO, "%s: fsync of folder failed: %s", dir, strerror(errno));
    if (fd >= 0) close(fd);
    return st;
}

rw_status infer_gguf_writer_write(infer_gguf_writer *w, const char *path, rw_err *err) {
    uint32_t align;
    rw_status st = get_alignment(w, &align, err);
    if (st) return st;
    size_t plen = strlen(path);
    /* Allocate everything before creating any file, so out-of-memory leaves nothing behind. */
    char *dir = dir_of(path);
    char *tmp = rw_malloc(plen + 16);
    if (!tmp || !dir) {
        rw_free(tmp);
        rw_free(dir);
        return rw_err_set(err, RW_E_NOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    FILE *f = NULL;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = rw_err_set(err, RW_E_IO, "%s: cannot create temporary file: %s", path, strerror(errno));
        goto fail;
    }
    (void)fchmod(fd, 0644);
    f = fdopen(fd, "wb");
    if (!f) {
        st = rw_err_set(err, RW_E_IO, "%s: fdopen failed: %s", tmp, strerror(errno));
        close(fd);
        goto fail_unlink;
    }
    wout o = {.f = f};
    put(&o, "GGUF", 4);
    put_u32(&o, 3);
    put_u64(&o, w->n_t);
    put_u64(&o, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(&o, w->kv[i].key);
        put(&o, w->kv[i].enc, w->kv[i].enc_size);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(&o, t->name);
        put_u32(&o, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) put_u64(&o, (uint64_t)t->ne[d]);
        put_u32(&o, (uint32_t)t->type);
        put_u64(&o, off);
        off += t->nbytes;
        off += (align - off % align) % align;
    }
    pad_to(&o, align);
    for (size_t i = 0; i < w->n_t; i++) {
        put(&o, w->t[i].data, (size_t)w->t[i].nbytes);
        if (w->n_t > 0) pad_to(&o, align);
    }
    if (o.failed || fflush(f) != 0) {
        st = rw_err_set(err, RW_E_IO, "%s: write failed: %s", tmp, strerror(errno));
        goto fail_close;
    }
    if (fsync(fileno(f)) != 0) {
        st = rw_err_set(err, RW_E_IO, "%s: fsync failed: %s", tmp, strerror(errno));
        goto fail_close;
    }
    if (fclose(f) != 0) {
        f = NULL;
        st = rw_err_set(err, RW_E_IO, "%s: close failed: %s", tmp, strerror(errno));
        goto fail_unlink;
    }
    f = NULL;
    if (rename(tmp, path) != 0) {
        st = rw_err_set(err, RW_E_IO, "%s: rename to %s failed: %s", tmp, path, strerror(errno));
        goto fail_unlink;
    }
    rw_free(tmp);
    st = fsync_dir(dir, err);
    rw_free(dir);
    return st;
fail_close:
    fclose(f);
fail_unlink:
    unlink(tmp);
fail:
    rw_free(tmp);
    rw_free(dir);
    return st;
}
