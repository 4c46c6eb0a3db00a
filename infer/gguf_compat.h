/* Checks a parsed GGUF against rules llama.cpp's loader (ggml gguf.cpp) enforces but the
 * GGUF format itself does not require, so that `rag-gguf info` can warn about a file we read
 * but llama.cpp / Ollama would refuse.
 *
 * Rules (from gguf.cpp, read for facts): tensor names shorter than 64 bytes (GGML_MAX_NAME),
 * and tensor data stored in tensor-info order, each tensor starting exactly where the
 * previous one ends after padding to the alignment (offset 0 for the first). */
#ifndef INFER_GGUF_COMPAT_H
#define INFER_GGUF_COMPAT_H

#include "core/status.h"
#include "infer/gguf.h"

#define INFER_GGUF_LLAMA_MAX_NAME 64 /* llama.cpp refuses names of this length or more */

/* RW_OK when llama.cpp would accept the layout; otherwise RW_E_FORMAT with err naming the
 * first offending tensor, its info record's byte offset and the rule. */
rw_status infer_gguf_check_llama_compat(const infer_gguf *g, rw_err *err);

#endif
