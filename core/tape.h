/* The tape: the record of forward ops that backward replays in reverse.
 *
 * DESIGN.md §2: the architecture code in infer/ calls ops on tensors; when the context
 * carries a tape, each op whose inputs need gradients appends one record (op kind, inputs,
 * output, scalar parameters, saved values). Backward for every op kind lives in train/,
 * so inference never links backward code and there is one forward per architecture.
 *
 * Invariants: records are appended in execution order; tensors and saved buffers a record
 * points to live in the step arena and stay valid until the arena is reset (after the
 * optimiser step). The tape itself is plain data; it never calls back into train/. */
#ifndef RW_CORE_TAPE_H
#define RW_CORE_TAPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"

/* Op kinds that may appear on a tape. Numbering is internal (never on disk). */
typedef enum rw_op {
    RW_OP_NONE = 0,
    RW_OP_MATMUL,        /* dst = src0(W: {K,N}) · src1(X: {K,T}) -> {N,T}; W frozen or f32 param */
    RW_OP_ADD,           /* dst = src0 + src1 (src1 may broadcast over rows) */
    RW_OP_MUL,           /* dst = src0 * src1 (src1 may broadcast over rows) */
    RW_OP_SCALE,         /* dst = src0 * f[0] */
    RW_OP_EMBED,         /* dst[:,t] = src0(table {C,V})[:, ids[t]]; ids in saved (int32) */
    RW_OP_RMSNORM,       /* dst = src0 / rms * src1(w); saved: 1/rms per row; f[0] = eps */
    RW_OP_LAYERNORM,     /* dst = (src0 - mean) * rstd * src1(w) + src2(b); saved: mean, rstd */
    RW_OP_ROPE,          /* per-head rotation; i[0] = mode, i[1] = n_rot; f[0] base, f[1] scale; saved: positions */
    RW_OP_ATTENTION,     /* dst = softmax(scale q·k + mask) v; src0 q, src1 k, src2 v; saved: lse (probs rebuilt) */
    RW_OP_SILU,
    RW_OP_GELU,          /* i[0] = 0 tanh form, 1 erf form */
    RW_OP_SWIGLU,        /* dst = silu(src0) * src1 */
    RW_OP_GEGLU,         /* dst = gelu(src0) * src1 */
    RW_OP_SOFTMAX,       /* rows; saved: probabilities are dst */
    RW_OP_CROSS_ENTROPY, /* dst (scalar) = mean over unmasked t of -log softmax(src0)[target]; saved: targets/mask */
    RW_OP_MEAN_POOL,     /* dst[:,b] = mean of src0 rows valid in sequence b; saved: lengths */
    RW_OP_L2_NORMALIZE,  /* rows; saved: norms */
    RW_OP_COSSIM,        /* dst {B1,B0} = src0 rows · src1 rows (both L2-normalised beforehand) */
    RW_OP_RESHAPE,       /* view: gradient passes through */
    RW_OP_COPY,          /* dst = src0 (e.g. gather of rows); saved: row map */
    RW_OP_CUSTOM_BASE = 64 /* kinds >= this are owned by train/ losses (InfoNCE, BCE...) */
} rw_op;

enum { RW_TAPE_MAX_SRC = 4, RW_TAPE_NF = 4, RW_TAPE_NI = 4 };

typedef struct rw_tape_rec {
    int32_t op; /* rw_op */
    rw_tensor *src[RW_TAPE_MAX_SRC];
    rw_tensor *dst;
    float f[RW_TAPE_NF];
    int32_t i[RW_TAPE_NI];
    void *saved;      /* op-specific, in the step arena */
    size_t saved_len; /* bytes */
} rw_tape_rec;

typedef struct rw_tape {
    rw_tape_rec *recs; /* owned (rw_malloc), grows */
    size_t n, cap;
    size_t high_water;
} rw_tape;

void rw_tape_init(rw_tape *t);
void rw_tape_deinit(rw_tape *t);
/* Appends a copy of rec; RW_E_NOMEM if the record array cannot grow. */
rw_status rw_tape_push(rw_tape *t, const rw_tape_rec *rec, rw_err *err);
/* Forgets all records (keeps capacity); called once per step with the arena reset. */
void rw_tape_clear(rw_tape *t);

#endif
