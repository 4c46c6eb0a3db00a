/* A small BM25 / TF-IDF ranker used only by the eval tests to produce run files over the
 * shared BEIR collections (README of shared/data/ir: k1=0.9, b=0.4, title+text, lower-case,
 * split on non-alphanumerics, English stopwords removed, no stemming). */
#ifndef RW_TEST_BM25_H
#define RW_TEST_BM25_H

#include <stddef.h>

typedef enum bm25_kind { BM25_OKAPI, BM25_TFIDF_RAW } bm25_kind;

/* Ranks every query of <dir>/queries.jsonl against <dir>/corpus.jsonl and writes a 6-field
 * TREC run (top `depth` documents with score > 0, ties by doc id) to run_path.
 * Returns 0 on success. */
int bm25_write_run(const char *dir, const char *run_path, bm25_kind kind, double k1, double b,
                   size_t depth, const char *tag);

#endif
