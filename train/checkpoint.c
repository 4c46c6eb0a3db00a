/* HDF5 training checkpoints (train/checkpoint.h has the layout and its reasons).
 *
 * Invariants: libhdf5 only ever opens a file whose user-block length and sha256 verified;
 * every HDF5 call's failure is turned into an rw_err naming the file and the object; the
 * automatic HDF5 error stack printing is switched off for the calls made here. */
#include "train/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "data/file.h"

#define CKPT_FORMAT_PREFIX "rag-workbench.checkpoint/"
#define CKPT_VERSION "2"
#define CKPT_FORMAT CKPT_FORMAT_PREFIX CKPT_VERSION
enum { UB_SIZE = 512 };
static const char k_magic[] = "RWCKPT1\n";

/* Silences HDF5's error printing (process-wide setting; idempotent). */
static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* ---- writing ------------------------------------------------------------------------- */

static herr_t attr_write(hid_t loc, const char *name, hid_t type, hsize_t n, const void *v) {
    hid_t sp = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    if (sp < 0) return -1;
    hid_t a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, type, v);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return r;
}

static herr_t attr_str(hid_t loc, const char *name, const char *s) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return -1;
    H5Tset_size(t, strlen(s) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    herr_t r = attr_write(loc, name, t, 0, s);
    H5Tclose(t);
    return r;
}

static herr_t dset_f32(hid_t f, const char *name, const float *v, size_t n) {
    hsize_t dims = n;
    hid_t sp = H5Screate_simple(1, &dims, NULL);
    if (sp < 0) return -1;
    hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = d < 0 ? -1 : (n ? H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) : 0);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    return r;
}

/* Writes the HDF5 part of the checkpoint to tmp (user block left zero). */
static rw_status write_h5(const char *tmp, const train_ckpt *c, rw_err *err) {
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fapl = H5Pcreate(H5P_FILE_ACCESS), f = -1;
    rw_status st = RW_OK;
    if (fcpl < 0 || fapl < 0 || H5Pset_userblock(fcpl, UB_SIZE) < 0 ||
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0) {
        st = rw_err_set(err, RW_E_IO, "%s: HDF5 property setup failed", tmp);
        goto out;
    }
    f = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
    if (f < 0) {
        st = rw_err_set(err, RW_E_IO, "%s: HDF5 cannot create the file", tmp);
        goto out;
    }
    uint64_t n = c->n_params;
    const char *bad = NULL;
    if (attr_str(f, "format", CKPT_FORMAT) < 0) bad = "format";
    else if (attr_write(f, "step", H5T_STD_I64LE, 0, &c->step) < 0) bad = "step";
    else if (attr_write(f, "adam_t", H5T_STD_I64LE, 0, &c->adam_t) < 0) bad = "adam_t";
    else if (attr_write(f, "epoch", H5T_STD_I64LE, 0, &c->epoch) < 0) bad = "epoch";
    else if (attr_write(f, "position", H5T_STD_I64LE, 0, &c->position) < 0) bad = "position";
    else if (attr_write(f, "tokens_seen", H5T_STD_I64LE, 0, &c->tokens_seen) < 0) bad = "tokens_seen";
    else if (attr_write(f, "threads", H5T_STD_I64LE, 0, &c->threads) < 0) bad = "threads";
    else if (attr_write(f, "rng", H5T_STD_U64LE, 4, c->rng) < 0) bad = "rng";
    else if (attr_write(f, "dropout_rng", H5T_STD_U64LE, 4, c->dropout_rng) < 0) bad = "dropout_rng";
    else if (attr_write(f, "shuffle_seed", H5T_STD_U64LE, 0, &c->shuffle_seed) < 0) bad = "shuffle_seed";
    else if (attr_write(f, "n_params", H5T_STD_U64LE, 0, &n) < 0) bad = "n_params";
    else if (attr_write(f, "metrics_offset", H5T_STD_U64LE, 0, &c->metrics_offset) < 0)
        bad = "metrics_offset";
    else if (attr_write(f, "elapsed_s", H5T_IEEE_F64LE, 0, &c->elapsed_s) < 0) bad = "elapsed_s";
    else if (attr_str(f, "recipe_sha256", c->recipe_sha256) < 0) bad = "recipe_sha256";
    else if (attr_str(f, "base_sha256", c->base_sha256) < 0) bad = "base_sha256";
    else if (dset_f32(f, "params", c->params, c->n_params) < 0) bad = "/params";
    else if (dset_f32(f, "adam_m", c->adam_m, c->n_params) < 0) bad = "/adam_m";
    else if (dset_f32(f, "adam_v", c->adam_v, c->n_params) < 0) bad = "/adam_v";
    if (bad) st = rw_err_set(err, RW_E_IO, "%s: HDF5 failed to write '%s'", tmp, bad);
out:
    if (f >= 0 && H5Fclose(f) < 0 && st == RW_OK)
        st = rw_err_set(err, RW_E_IO, "%s: HDF5 close failed", tmp);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (fapl >= 0) H5Pclose(fapl);
    return st;
}

rw_status train_ckpt_write(const char *path, const train_ckpt *c, rw_err *err) {
    RW_ASSERT(c->n_params == 0 || (c->params && c->adam_m && c->adam_v), "checkpoint arrays");
    h5_quiet();
    /* data/'s atomic file names and creates the temp file; HDF5 then rewrites it by name
     * and the user block goes in through a second descriptor. The commit's fsync covers
     * both (fsync is per file, not per descriptor). */
    data_atomic_file af;
    rw_status st = data_atomic_open(&af, path, err);
    if (st) return st;
    const char *tmp = af.tmp;
    int fd = -1;
    if ((st = write_h5(tmp, c, err))) goto fail;
    fd = open(tmp, O_RDWR);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        st = rw_err_set(err, RW_E_IO, "%s: reopen failed: %s", tmp, strerror(errno));
        goto fail;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < UB_SIZE) {
        st = rw_err_set(err, RW_E_IO, "%s: HDF5 wrote %" PRIu64 " bytes only", tmp, size);
        goto fail;
    }
    char hex[DATA_SHA256_HEX];
    st = data_sha256_fd_range(fd, UB_SIZE, size - UB_SIZE, tmp, hex, err);
    if (st) goto fail;
    char ub[UB_SIZE];
    memset(ub, 0, sizeof ub);
    snprintf(ub, sizeof ub, "%ssize=%" PRIu64 "\nsha256=%s\nformat=%s\n", k_magic, size, hex,
             CKPT_FORMAT);
    if (pwrite(fd, ub, UB_SIZE, 0) != UB_SIZE) {
        st = rw_err_set(err, RW_E_IO, "%s: writing the user block failed: %s", tmp, strerror(errno));
        goto fail;
    }
    close(fd);
    return data_atomic_commit(&af, err);
fail:
    if (fd >= 0) close(fd);
    data_atomic_abort(&af);
    return st;
}

/* ---- reading ------------------------------------------------------------------------- */

/* Checks the user block's magic, size and digest. */
static rw_status verify(const char *path, rw_err *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return rw_err_set(err, RW_E_IO, "%s: cannot open checkpoint: %s", path, strerror(errno));
    rw_status st = RW_OK;
    struct stat sb;
    char ub[UB_SIZE + 1];
    if (fstat(fd, &sb) != 0) {
        st = rw_err_set(err, RW_E_IO, "%s: stat failed: %s", path, strerror(errno));
        goto out;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < UB_SIZE) {
        st = rw_err_set(err, RW_E_FORMAT,
                        "%s: not a rag-workbench checkpoint or truncated (%" PRIu64
                        " bytes, header needs %d)",
                        path, size, UB_SIZE);
        goto out;
    }
    if (pread(fd, ub, UB_SIZE, 0) != UB_SIZE) {
        st = rw_err_set(err, RW_E_IO, "%s: read failed: %s", path, strerror(errno));
        goto out;
    }
    ub[UB_SIZE] = 0;
    if (memcmp(ub, k_magic, sizeof k_magic - 1) != 0) {
        st = rw_err_set(err, RW_E_FORMAT, "%s: not a rag-workbench checkpoint (bad magic at byte 0)",
                        path);
        goto out;
    }
    uint64_t want = 0;
    char hex_want[DATA_SHA256_HEX] = {0};
    const char *p = ub + sizeof k_magic - 1;
    char *end;
    if (strncmp(p, "size=", 5) != 0) goto bad_header;
    errno = 0;
    want = strtoull(p + 5, &end, 10);
    if (errno || end == p + 5 || *end != '\n') goto bad_header;
    p = end + 1;
    if (strncmp(p, "sha256=", 7) != 0) goto bad_header;
    memcpy(hex_want, p + 7, 64);
    hex_want[64] = 0;
    if (!data_sha256_valid(hex_want) || p[7 + 64] != '\n') goto bad_header;
    /* Another format version: say which, before the exact comparison below calls it corrupt. */
    {
        const char *fl = strstr(p, "\nformat=" CKPT_FORMAT_PREFIX);
        if (fl) {
            fl += strlen("\nformat=" CKPT_FORMAT_PREFIX);
            size_t vl = strcspn(fl, "\n");
            if (vl > 0 && vl < 8 && (vl != strlen(CKPT_VERSION) || strncmp(fl, CKPT_VERSION, vl) != 0)) {
                st = rw_err_set(err, RW_E_FORMAT,
                                "%s: checkpoint format version %.*s, this build reads version %s "
                                "only (%s): start the run again without --resume in a new "
                                "[output].dir",
                                path, (int)vl, fl, CKPT_VERSION,
                                vl == 1 && fl[0] == '1'
                                    ? "version 1 lacks the LoRA dropout RNG state"
                                    : "written by another rag-workbench version");
                goto out;
            }
        }
    }
    /* The whole user block must be exactly what the writer makes of these values (so a
     * flipped byte in its padding is caught too). */
    {
        char ref[UB_SIZE];
        memset(ref, 0, sizeof ref);
        snprintf(ref, sizeof ref, "%ssize=%" PRIu64 "\nsha256=%s\nformat=%s\n", k_magic, want,
                 hex_want, CKPT_FORMAT);
        if (memcmp(ref, ub, UB_SIZE) != 0) goto bad_header;
    }
    if (want != size) {
        st = rw_err_set(err, RW_E_FORMAT,
                        "%s: checkpoint is truncated or extended: %" PRIu64
                        " bytes on disk, header says %" PRIu64,
                        path, size, want);
        goto out;
    }
    char hex[DATA_SHA256_HEX];
    st = data_sha256_fd_range(fd, UB_SIZE, size - UB_SIZE, path, hex, err);
    if (st) goto out;
    if (strcmp(hex, hex_want) != 0)
        st = rw_err_set(err, RW_E_FORMAT,
                        "%s: checkpoint is corrupt: sha256 of its contents is %.12s..., header "
                        "says %.12s...",
                        path, hex, hex_want);
    goto out;
bad_header:
    st = rw_err_set(err, RW_E_FORMAT, "%s: checkpoint header is corrupt (size/sha256 lines)", path);
out:
    close(fd);
    return st;
}

static rw_status attr_read(hid_t f, const char *path, const char *name, hid_t mem, hsize_t n,
                           void *out, rw_err *err) {
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    if (a < 0) return rw_err_set(err, RW_E_FORMAT, "%s: checkpoint attribute '%s' is missing", path, name);
    rw_status st = RW_OK;
    hid_t sp = H5Aget_space(a);
    hssize_t np = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    if (np != (hssize_t)(n ? n : 1) || H5Aread(a, mem, out) < 0)
        st = rw_err_set(err, RW_E_FORMAT, "%s: checkpoint attribute '%s' is malformed", path, name);
    if (sp >= 0) H5Sclose(sp);
    H5Aclose(a);
    return st;
}

static rw_status attr_hex(hid_t f, const char *path, const char *name, char out[DATA_SHA256_HEX],
                          rw_err *err) {
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    if (a < 0) return rw_err_set(err, RW_E_FORMAT, "%s: checkpoint attribute '%s' is missing", path, name);
    rw_status st = RW_OK;
    hid_t ft = H5Aget_type(a), mt = H5Tcopy(H5T_C_S1);
    char buf[DATA_SHA256_HEX + 1];
    memset(buf, 0, sizeof buf);
    if (ft < 0 || mt < 0 || H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) != 0 ||
        H5Tget_size(ft) != DATA_SHA256_HEX || H5Tset_size(mt, DATA_SHA256_HEX) < 0 ||
        H5Aread(a, mt, buf) < 0 || (buf[DATA_SHA256_HEX - 1] = 0, !data_sha256_valid(buf)))
        st = rw_err_set(err, RW_E_FORMAT, "%s: checkpoint attribute '%s' is not a sha256", path, name);
    else
        memcpy(out, buf, DATA_SHA256_HEX);
    if (ft >= 0) H5Tclose(ft);
    if (mt >= 0) H5Tclose(mt);
    H5Aclose(a);
    return st;
}

static rw_status dset_read(hid_t f, const char *path, const char *name, size_t n, float **out,
                           rw_err *err) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return rw_err_set(err, RW_E_FORMAT, "%s: checkpoint dataset '/%s' is missing", path, name);
    rw_status st = RW_OK;
    hid_t sp = H5Dget_space(d);
    float *v = NULL;
    if (sp < 0 || H5Sget_simple_extent_ndims(sp) != 1 ||
        H5Sget_simple_extent_npoints(sp) != (hssize_t)n) {
        st = rw_err_set(err, RW_E_FORMAT, "%s: checkpoint dataset '/%s' does not hold %zu floats",
                        path, name, n);
        goto out;
    }
    v = rw_alloc_array(n ? n : 1, sizeof(float));
    if (!v) {
        st = rw_err_set(err, RW_E_NOMEM, "%s: out of memory for '/%s' (%zu floats)", path, name, n);
        goto out;
    }
    if (n && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        st = rw_err_set(err, RW_E_FORMAT, "%s: reading '/%s' failed", path, name);
        goto out;
    }
    *out = v;
    v = NULL;
out:
    rw_free(v);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return st;
}

rw_status train_ckpt_read(const char *path, train_ckpt *out, rw_err *err) {
    rw_status st = verify(path, err);
    if (st) return st;
    h5_quiet();
    train_ckpt c;
    memset(&c, 0, sizeof c);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return rw_err_set(err, RW_E_FORMAT, "%s: HDF5 cannot open the checkpoint", path);
    char fmt[64];
    memset(fmt, 0, sizeof fmt);
    {
        hid_t a = H5Aopen(f, "format", H5P_DEFAULT);
        hid_t mt = H5Tcopy(H5T_C_S1);
        hid_t ft = a >= 0 ? H5Aget_type(a) : -1;
        if (a < 0 || mt < 0 || ft < 0 || H5Tget_class(ft) != H5T_STRING ||
            H5Tis_variable_str(ft) != 0 || H5Tget_size(ft) >= sizeof fmt ||
            H5Tset_size(mt, H5Tget_size(ft)) < 0 || H5Aread(a, mt, fmt) < 0 ||
            strcmp(fmt, CKPT_FORMAT) != 0)
            st = rw_err_set(err, RW_E_FORMAT, "%s: format attribute is not '%s'", path, CKPT_FORMAT);
        if (ft >= 0) H5Tclose(ft);
        if (mt >= 0) H5Tclose(mt);
        if (a >= 0) H5Aclose(a);
        if (st) goto fail;
    }
    uint64_t n = 0;
#define RD(name, mem, cnt, ptr)                                                                   \
    do {                                                                                       \
        st = attr_read(f, path, name, mem, cnt, ptr, err);                                     \
        if (st) goto fail;                                                                     \
    } while (0)
    RD("step", H5T_NATIVE_INT64, 0, &c.step);
    RD("adam_t", H5T_NATIVE_INT64, 0, &c.adam_t);
    RD("epoch", H5T_NATIVE_INT64, 0, &c.epoch);
    RD("position", H5T_NATIVE_INT64, 0, &c.position);
    RD("tokens_seen", H5T_NATIVE_INT64, 0, &c.tokens_seen);
    RD("threads", H5T_NATIVE_INT64, 0, &c.threads);
    RD("rng", H5T_NATIVE_UINT64, 4, c.rng);
    RD("dropout_rng", H5T_NATIVE_UINT64, 4, c.dropout_rng);
    RD("shuffle_seed", H5T_NATIVE_UINT64, 0, &c.shuffle_seed);
    RD("n_params", H5T_NATIVE_UINT64, 0, &n);
    RD("metrics_offset", H5T_NATIVE_UINT64, 0, &c.metrics_offset);
    RD("elapsed_s", H5T_NATIVE_DOUBLE, 0, &c.elapsed_s);
#undef RD
    if ((st = attr_hex(f, path, "recipe_sha256", c.recipe_sha256, err))) goto fail;
    if ((st = attr_hex(f, path, "base_sha256", c.base_sha256, err))) goto fail;
    if (c.step < 0 || c.adam_t < 0 || c.epoch < 0 || c.position < 0 || n > ((uint64_t)1 << 40)) {
        st = rw_err_set(err, RW_E_RANGE, "%s: checkpoint counters out of range (step %" PRId64
                        ", n_params %" PRIu64 ")", path, c.step, n);
        goto fail;
    }
    c.n_params = (size_t)n;
    if ((st = dset_read(f, path, "params", c.n_params, &c.params, err))) goto fail;
    if ((st = dset_read(f, path, "adam_m", c.n_params, &c.adam_m, err))) goto fail;
    if ((st = dset_read(f, path, "adam_v", c.n_params, &c.adam_v, err))) goto fail;
    H5Fclose(f);
    *out = c;
    return RW_OK;
fail:
    H5Fclose(f);
    train_ckpt_deinit(&c);
    return st;
}

void train_ckpt_deinit(train_ckpt *c) {
    if (!c) return;
    rw_free(c->params);
    rw_free(c->adam_m);
    rw_free(c->adam_v);
    c->params = c->adam_m = c->adam_v = NULL;
}

rw_status train_ckpt_check(const train_ckpt *c, const char *path, const char *recipe_sha256,
                           const char *base_sha256, size_t n_params, int64_t threads, rw_err *err) {
    if (strcmp(c->base_sha256, base_sha256) != 0)
        return rw_err_set(err, RW_E_STATE,
                          "%s: checkpoint was made with another base model (sha256 %.12s..., this "
                          "model is %.12s...); refusing to resume: use the same model file or "
                          "start a new run in another output folder",
                          path, c->base_sha256, base_sha256);
    if (strcmp(c->recipe_sha256, recipe_sha256) != 0)
        return rw_err_set(err, RW_E_STATE,
                          "%s: checkpoint was made with another recipe (sha256 %.12s..., this "
                          "recipe is %.12s...); refusing to resume: undo the recipe or --set "
                          "changes, or start a new run in another output folder",
                          path, c->recipe_sha256, recipe_sha256);
    if (c->threads != threads)
        return rw_err_set(err, RW_E_STATE,
                          "%s: checkpoint was made with %lld threads, this run has %lld; the thread "
                          "count fixes the reduction order: resume with --threads %lld",
                          path, (long long)c->threads, (long long)threads, (long long)c->threads);
    if (c->n_params != n_params)
        return rw_err_set(err, RW_E_STATE,
                          "%s: checkpoint holds %zu parameters, this run has %zu; refusing to resume",
                          path, c->n_params, n_params);
    return RW_OK;
}
