/* libFuzzer target for the safetensors parser (train/safetensors.h).
 *
 * Property checked on every input: parsing never crashes, reads out of bounds or leaks;
 * when it succeeds every tensor's bytes lie inside the input, sizes agree with the shapes,
 * and converting each F32/F16/BF16 tensor touches only its own bytes. Seeds:
 * tests/fuzz/corpus/safetensors/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "train/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A private copy so ASan flags any read past the end. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    train_st s;
    rw_err err;
    if (train_st_parse(buf, size, "fuzz", &s, &err) == RW_OK) {
        for (size_t i = 0; i < s.n; i++) {
            const train_st_tensor *t = &s.t[i];
            RW_ASSERT(t->data >= buf && t->data + t->nbytes <= buf + size, "tensor outside input");
            if ((t->dtype == TRAIN_ST_F32 || t->dtype == TRAIN_ST_F16 ||
                 t->dtype == TRAIN_ST_BF16) &&
                t->n_elems <= (1u << 20)) {
                float *f = malloc((size_t)t->n_elems * sizeof(float) + 1);
                if (f) {
                    (void)train_st_to_f32(t, f, &err);
                    free(f);
                }
            }
            (void)train_st_find(&s, t->name);
        }
        train_st_free(&s);
    }
    free(buf);
    return 0;
}
