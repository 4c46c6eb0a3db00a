/* Tokenizers built from a GGUF file's tokenizer.ggml.* metadata, with the semantics of
 * llama.cpp's llama_tokenize / llama_token_to_piece (the reference for every test vector).
 *
 * Kinds (tokenizer.ggml.model):
 *   "llama" -> INFER_TOK_SPM: SentencePiece BPE over scores, byte fallback (<0xNN>), a space
 *              prefixed to each run of text after a special token or at the start
 *              (add_space_prefix), spaces escaped as U+2581.
 *   "gpt2"  -> INFER_TOK_BPE: byte-level BPE with merge ranks; the pre-tokenizer (a list of
 *              PCRE2 regexes applied in sequence, each splitting the pieces of the previous
 *              one) is chosen by tokenizer.ggml.pre.
 *   "bert"  -> INFER_TOK_WPM: WordPiece with BERT-uncased normalisation (drop controls, NFD,
 *              strip accents, lower-case, split CJK and punctuation), "##" continuations
 *              (stored as bare text in GGUF, word starts as U+2581 + text), [UNK].
 *
 * Special tokens: tokens of type CONTROL, UNKNOWN and USER_DEFINED are matched in the input
 * text before the model runs, longest text first (llama.cpp's order). With
 * INFER_TOK_PARSE_SPECIAL all of them are matched; without it only USER_DEFINED tokens are
 * (they are "added tokens" that always win over the model, as in Hugging Face tokenizers).
 * INFER_TOK_ADD_SPECIAL adds BOS / EOS / SEP as the vocabulary's add_* flags say.
 *
 * Decoding: infer_tokenizer_piece gives the bytes a token stands for (llama_token_to_piece
 * with special=true: byte tokens give their byte, BPE text is un-byte-mapped, U+2581 becomes a
 * space). infer_detokenize concatenates pieces and, for SPM with add_space_prefix, removes
 * the space the encoder added in front of each run of text; so decode(encode(s)) == s for
 * valid UTF-8 s with SPM and BPE vocabularies that can spell every byte (WPM normalises and
 * is lossy). Invalid UTF-8 is tokenised llama.cpp's way: SPM keeps the bytes (byte fallback),
 * BPE replaces each bad byte with U+FFFD, WPM drops it.
 *
 * Threads: a tokenizer is immutable after creation; infer_tokenize, infer_detokenize and all
 * getters may be called from any number of threads at once on one tokenizer (every call
 * keeps its scratch to itself). Create and destroy are not concurrent with anything. */
#ifndef INFER_TOKENIZER_H
#define INFER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct infer_gguf infer_gguf;

enum { INFER_TOKEN_NULL = -1 };

typedef enum infer_tok_kind {
    INFER_TOK_SPM = 0, /* "llama" */
    INFER_TOK_BPE = 1, /* "gpt2" */
    INFER_TOK_WPM = 2, /* "bert" */
} infer_tok_kind;

/* tokenizer.ggml.token_type values (as stored in GGUF). */
typedef enum infer_tok_type {
    INFER_TOKTYPE_UNDEFINED = 0,
    INFER_TOKTYPE_NORMAL = 1,
    INFER_TOKTYPE_UNKNOWN = 2,
    INFER_TOKTYPE_CONTROL = 3,
    INFER_TOKTYPE_USER_DEFINED = 4,
    INFER_TOKTYPE_UNUSED = 5,
    INFER_TOKTYPE_BYTE = 6,
} infer_tok_type;

/* Pre-tokenizers of byte-level BPE (tokenizer.ggml.pre). */
typedef enum infer_tok_pre {
    INFER_PRE_DEFAULT = 0,   /* "default" or no key: llama.cpp's default regex list */
    INFER_PRE_GPT2,          /* "gpt-2", "phi-2", "mpt", "olmo", "jais", roberta-bpe ... */
    INFER_PRE_LLAMA3,        /* "llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe" */
    INFER_PRE_QWEN2,         /* "qwen2", "stablelm2", "deepseek-r1-qwen", "megrez", "hunyuan" */
    INFER_PRE_DEEPSEEK_LLM,  /* "deepseek-llm" */
    INFER_PRE_DEEPSEEK_CODER,/* "deepseek-coder" */
    INFER_PRE_FALCON,        /* "falcon" */
    INFER_PRE_STARCODER,     /* "starcoder", "refact", "command-r", "smollm", "codeshell", ... */
    INFER_PRE_COUNT
} infer_tok_pre;

/* Everything a tokenizer is built from (what the GGUF metadata holds). Arrays are borrowed
 * for the duration of infer_tokenizer_create only. Ids < 0 mean "absent"; the *_set fields
 * say whether the vocabulary gave the value (otherwise llama.cpp's per-kind default is used:
 * SPM bos=1 eos=2 unk=0 add_bos add_space_prefix; BPE bos=eos=11; WPM cls=101 unk=100
 * sep=102 pad=0 mask=103 add_bos(=CLS) add_sep). */
typedef struct infer_tok_spec {
    infer_tok_kind kind;
    const char *pre;        /* tokenizer.ggml.pre or NULL */
    const char *model_name; /* general.name or NULL (phi-3 strips spaces around specials) */
    size_t n_tokens;
    const char *const *tokens; /* [n_tokens] token texts (UTF-8 as stored) */
    const size_t *token_lens;  /* [n_tokens] or NULL (then strlen) */
    const float *scores;       /* [n_tokens] or NULL (all 0) */
    const int32_t *types;      /* [n_tokens] infer_tok_type or NULL (all NORMAL) */
    size_t n_merges;
    const char *const *merges; /* [n_merges] "left right" in rank order (BPE) */
    const size_t *merge_lens;  /* [n_merges] or NULL */
    int32_t bos, eos, eot, eom, unk, sep, pad, mask; /* ids, < 0 absent */
    bool bos_set, eos_set, eot_set, eom_set, unk_set, sep_set, pad_set, mask_set;
    bool add_bos, add_eos, add_sep, add_space_prefix;
    bool add_bos_set, add_eos_set, add_sep_set, add_space_prefix_set;
} infer_tok_spec;

/* A spec with every id absent, nothing set and kind SPM. */
void infer_tok_spec_init(infer_tok_spec *spec);

typedef struct infer_tokenizer infer_tokenizer;

/* Builds a tokenizer; RW_E_INVALID / RW_E_FORMAT name the offending token or merge index,
 * RW_E_UNSUPPORTED for an unknown kind or pre-tokenizer name (the value is named).
 * *out written only on success. */
rw_status infer_tokenizer_create(const infer_tok_spec *spec, infer_tokenizer **out, rw_err *err);
/* From an open GGUF (tokenizer.ggml.model, .pre, .tokens, .scores, .token_type, .merges,
 * *_token_id, add_*_token, add_space_prefix, general.name). The GGUF may be closed after. */
rw_status infer_tokenizer_from_gguf(const infer_gguf *g, infer_tokenizer **out, rw_err *err);
/* Opens path, builds, closes. */
rw_status infer_tokenizer_load(const char *path, infer_tokenizer **out, rw_err *err);
void infer_tokenizer_destroy(infer_tokenizer *t);

/* Token ids: a growable array owned by the caller (zero-initialise, then pass to
 * infer_tokenize which appends; release with infer_tok_ids_deinit). */
typedef struct infer_tok_ids {
    int32_t *v;
    size_t n, cap;
} infer_tok_ids;
void infer_tok_ids_deinit(infer_tok_ids *ids);
/* Appends one id (RW_E_NOMEM on failure). */
rw_status infer_tok_ids_push(infer_tok_ids *ids, int32_t id);

enum {
    INFER_TOK_ADD_SPECIAL = 1u << 0,   /* BOS/EOS/SEP as the add_* flags say */
    INFER_TOK_PARSE_SPECIAL = 1u << 1, /* match CONTROL/UNKNOWN token texts in the input */
};

/* Appends the ids of text[0..len) to out. On failure out->n is restored (RW_E_NOMEM only:
 * every byte string is accepted). */
rw_status infer_tokenize(const infer_tokenizer *t, const char *text, size_t len, unsigned flags,
                         infer_tok_ids *out, rw_err *err);

enum {
    INFER_DETOK_SKIP_SPECIAL = 1u << 0, /* CONTROL/UNKNOWN tokens give no text */
    INFER_DETOK_KEEP_PREFIX_SPACE = 1u << 1, /* SPM: keep the space the encoder prefixed */
};
/* Text of ids[0..n) as a NUL-terminated heap string (rw_free) and its length (it may hold
 * NUL bytes). RW_E_RANGE names an id outside the vocabulary. */
rw_status infer_detokenize(const infer_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                           char **text, size_t *len, rw_err *err);

/* The bytes of one token (special=true semantics), borrowed until destroy; NULL for an id
 * out of range. */
const char *infer_tokenizer_piece(const infer_tokenizer *t, int32_t id, size_t *len);
/* The token's text as stored in the vocabulary (e.g. "Ġthe", "▁the", "<0x0A>"); borrowed
 * until destroy, NULL for an id out of range. */
const char *infer_tokenizer_text(const infer_tokenizer *t, int32_t id, size_t *len);
/* Id of an exact vocabulary text, INFER_TOKEN_NULL when absent. */
int32_t infer_tokenizer_find(const infer_tokenizer *t, const char *text, size_t len);

infer_tok_kind infer_tokenizer_kind(const infer_tokenizer *t);
infer_tok_pre infer_tokenizer_pre(const infer_tokenizer *t);
/* "spm", "bpe", "wpm"; pre names as in infer_tok_pre comments ("default", "gpt-2", ...). */
const char *infer_tok_kind_name(infer_tok_kind k);
const char *infer_tok_pre_name(infer_tok_pre p);
size_t infer_tokenizer_n_vocab(const infer_tokenizer *t);
infer_tok_type infer_tokenizer_type(const infer_tokenizer *t, int32_t id);
float infer_tokenizer_score(const infer_tokenizer *t, int32_t id);

/* Special ids (INFER_TOKEN_NULL when the vocabulary has none). */
int32_t infer_tokenizer_bos(const infer_tokenizer *t); /* CLS for WPM */
int32_t infer_tokenizer_eos(const infer_tokenizer *t);
int32_t infer_tokenizer_eot(const infer_tokenizer *t);
int32_t infer_tokenizer_unk(const infer_tokenizer *t);
int32_t infer_tokenizer_sep(const infer_tokenizer *t);
int32_t infer_tokenizer_pad(const infer_tokenizer *t);
int32_t infer_tokenizer_mask(const infer_tokenizer *t);
bool infer_tokenizer_add_bos(const infer_tokenizer *t);
bool infer_tokenizer_add_eos(const infer_tokenizer *t);
bool infer_tokenizer_add_sep(const infer_tokenizer *t);
/* End of generation: EOS, EOT, EOM and control tokens such as <|im_end|>, <end_of_turn>. */
bool infer_tokenizer_is_eog(const infer_tokenizer *t, int32_t id);

#endif
