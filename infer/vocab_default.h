/* The project's embedded default vocabularies, generated from a paragraph written for this
 * project so `rag-gguf new` works without any downloaded file.
 *
 * BPE (llama, qwen3): tokenizer.ggml.model = "gpt2", pre = "default"; the 256 byte tokens
 * (GPT-2's byte-to-unicode mapping, token id = byte value), the merges a tiny BPE trainer
 * learns over the paragraph (most frequent adjacent pair first, ties broken by the pair's
 * text), then the control tokens <|endoftext|> (BOS), <|im_start|>, <|im_end|> (EOS), and a
 * ChatML tokenizer.chat_template.
 * WPM (bert): tokenizer.ggml.model = "bert"; [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4,
 * then, in llama.cpp's GGUF convention, word-initial pieces prefixed with U+2581 ("▁a") and
 * continuation pieces without the "##" ("a"): every printable ASCII character (letters
 * lower-cased) both ways, then the paragraph's words that occur at least twice.
 * The output is a deterministic function of the embedded text. */
#ifndef INFER_VOCAB_DEFAULT_H
#define INFER_VOCAB_DEFAULT_H

#include <stdint.h>

#include "core/status.h"
#include "infer/gguf.h"

typedef enum infer_vocab_default_kind {
    INFER_VOCAB_DEFAULT_BPE,
    INFER_VOCAB_DEFAULT_WPM,
} infer_vocab_default_kind;

/* The embedded English paragraph (NUL-terminated, static). */
const char *infer_vocab_default_text(void);

/* Sets every tokenizer.* key of the default vocabulary on w; *n_vocab = number of tokens. */
rw_status infer_vocab_default_add(infer_gguf_writer *w, infer_vocab_default_kind kind,
                                  uint32_t *n_vocab, rw_err *err);

#endif
