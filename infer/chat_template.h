/* Chat templates: render a messages array to the prompt text of a model family, with the
 * byte spans of every assistant turn, and map those spans to tokens for SFT masking.
 *
 * Families and their text are llama.cpp's llm_chat_apply_template (facts, not the Jinja
 * engine): chatml (Qwen), llama3, gemma, phi3, llama2 and its variants ([INST] with
 * <<SYS>>, <s> inside the history, stripped content), mistral v1/v3/v3-tekken/v7.
 * A family is chosen by name (recipes) or recognised from the GGUF key
 * tokenizer.chat_template with llama.cpp's substring heuristics.
 *
 * The rendered text does not contain the BOS token: tokenize it with
 * INFER_TOK_ADD_SPECIAL | INFER_TOK_PARSE_SPECIAL (what llama.cpp's server does), so the
 * template's markers (<|im_start|>, <|eot_id|>, </s>, ...) become their special tokens.
 * An assistant span covers the message content as rendered (trimmed where the family trims)
 * and the end-of-turn marker that follows it (<|im_end|>, <|eot_id|>, <end_of_turn>,
 * <|end|>, </s>): the tokens a model must learn to produce. Message content is inserted
 * verbatim; text in it that spells a special token is parsed as one (as in llama.cpp). */
#ifndef INFER_CHAT_TEMPLATE_H
#define INFER_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "infer/tokenizer.h"

typedef enum infer_chat_tmpl {
    INFER_CHAT_NONE = 0,
    INFER_CHAT_CHATML,           /* "chatml" (aliases "qwen", "qwen2", "qwen3") */
    INFER_CHAT_LLAMA3,           /* "llama3" */
    INFER_CHAT_GEMMA,            /* "gemma" */
    INFER_CHAT_PHI3,             /* "phi3" */
    INFER_CHAT_LLAMA2,           /* "llama2": [INST] ..., system folded into the turn */
    INFER_CHAT_LLAMA2_SYS,       /* "llama2-sys": <<SYS>> block */
    INFER_CHAT_LLAMA2_SYS_BOS,   /* "llama2-sys-bos": <s>[INST] inside the history */
    INFER_CHAT_LLAMA2_SYS_STRIP, /* "llama2-sys-strip": like sys-bos, content trimmed */
    INFER_CHAT_MISTRAL_V1,       /* "mistral-v1" */
    INFER_CHAT_MISTRAL_V3,       /* "mistral-v3" (alias "mistral") */
    INFER_CHAT_MISTRAL_V3_TEKKEN,/* "mistral-v3-tekken" */
    INFER_CHAT_MISTRAL_V7,       /* "mistral-v7" */
    INFER_CHAT_COUNT
} infer_chat_tmpl;

/* INFER_CHAT_NONE for an unknown name. */
infer_chat_tmpl infer_chat_tmpl_from_name(const char *name);
const char *infer_chat_tmpl_name(infer_chat_tmpl t);
/* Recognises a family from Jinja template text; INFER_CHAT_NONE when none fits. */
infer_chat_tmpl infer_chat_tmpl_detect(const char *jinja, size_t len);

typedef struct infer_gguf infer_gguf;
/* Reads tokenizer.chat_template: RW_E_NOTFOUND when absent, RW_E_UNSUPPORTED (message
 * quoting the start of the template) when no family is recognised. */
rw_status infer_chat_tmpl_from_gguf(const infer_gguf *g, infer_chat_tmpl *out, rw_err *err);

typedef struct infer_chat_msg {
    const char *role;    /* "system", "user", "assistant" (others are passed through) */
    const char *content; /* UTF-8, NUL-terminated */
} infer_chat_msg;

typedef struct infer_chat_span {
    size_t begin, end; /* bytes [begin, end) of the rendered text */
    size_t msg;        /* index of the assistant message */
} infer_chat_span;

/* A rendered conversation: text (NUL-terminated, owned) and assistant spans (owned). */
typedef struct infer_chat_text {
    char *text;
    size_t len;
    infer_chat_span *spans;
    size_t n_spans;
} infer_chat_text;

/* Renders msgs[0..n) with `tmpl`; add_generation_prompt appends the opening of an assistant
 * turn. RW_E_INVALID names a message with a NULL role or content. out is zeroed on entry
 * and filled only on success. */
rw_status infer_chat_render(infer_chat_tmpl tmpl, const infer_chat_msg *msgs, size_t n,
                            bool add_generation_prompt, infer_chat_text *out, rw_err *err);
void infer_chat_text_deinit(infer_chat_text *c);

/* Marks, in mask[0..n_ids), the tokens of ids that overlap an assistant span (1) and the
 * others (0). ids must be the tokenization of text (special tokens added by the tokenizer
 * and absent from the text, such as BOS, take no bytes). Token byte ranges come from the
 * pieces; RW_E_FORMAT (naming the token position) when the pieces do not spell the text,
 * which happens only for lossy vocabularies (WordPiece). */
rw_status infer_chat_token_mask(const infer_tokenizer *t, const char *text, size_t len,
                                const int32_t *ids, size_t n_ids, const infer_chat_span *spans,
                                size_t n_spans, uint8_t *mask, rw_err *err);

#endif
