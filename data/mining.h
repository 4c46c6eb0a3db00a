/* Mining training data from the feedback store, every example through the governance
 * filter of a data_manifest (governance.h), every drop counted by reason in that manifest.
 *
 * Queries are grouped by lower(trim(query)) (ASCII case folding), so repeats of one
 * question merge into one set of examples (deduplication); evidence counts distinct
 * interactions. An interaction whose own source (or the default source) fails governance
 * contributes no evidence, and is counted as "query_source_<reason>".
 *
 *  triplets  sentence-transformers {"anchor","positive","negative","source"}: positives are
 *            documents clicked or up-voted (event with a doc id) in >= min_evidence
 *            interactions; hard negatives are documents retrieved for the same query and
 *            never chosen, best rank first, at most max_negatives per positive. Sources of
 *            the example: query, positive and negative documents.
 *  sft       MLX-LM chat {"messages":[user, assistant],"source"}: the answer is the latest
 *            correction of an interaction (+1 evidence), else its response with evidence
 *            ups - downs (answer-level votes, no doc id). One example per distinct
 *            (query, answer) with evidence >= min_evidence.
 *  critic    {"query","document","label","source"}: explicit judgments (up/down events with a
 *            doc id); per (query, document) net = ups - downs; label 1 when net >=
 *            min_evidence, 0 when net <= -min_evidence, else dropped ("min_evidence").
 *
 * Drop reasons (besides governance's): min_evidence, no_text (no passage or answer text),
 * no_hard_negative, duplicate (positive and negative texts equal), query_source_<reason>.
 * The "source" written per line is the query's source; the manifest has all of them. */
#ifndef RW_DATA_MINING_H
#define RW_DATA_MINING_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"
#include "data/db.h"
#include "data/governance.h"

typedef struct data_mine_options {
    int64_t since;              /* interactions with time >= since; 0 = all */
    int min_evidence;           /* <= 0 means 1 */
    int max_negatives;          /* <= 0 means 3 */
    const char *default_source; /* source of interactions logged without one; NULL = none */
} data_mine_options;

typedef enum data_mine_kind { DATA_MINE_TRIPLETS, DATA_MINE_SFT, DATA_MINE_CRITIC } data_mine_kind;

/* "triplets", "sft", "critic". */
const char *data_mine_kind_name(data_mine_kind k);
int data_mine_kind_parse(const char *s, data_mine_kind *out);

/* Writes one JSON object per line to out; *n_written (optional) gets the count. */
rw_status data_mine(data_db *db, data_mine_kind kind, const data_mine_options *opt,
                    data_manifest *m, FILE *out, int64_t *n_written, rw_err *err);

#endif
