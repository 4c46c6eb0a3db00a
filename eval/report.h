/* Run reports: report.html (self-contained: inline CSS, charts as inline SVG data URIs),
 * report.md (charts as SVG files beside it) and metrics.json, rendered from a RUN_DIR.
 *
 * RUN_DIR layout (docs/eval.md):
 *   comparison.json   required; written by `rag-eval compare --out RUN_DIR` or
 *                     eval_comparison_write() (schema rag-eval/comparison/1)
 *   metrics.jsonl     optional training log, one object per line with "step" and any of
 *                     "train_loss", "val_loss" (or "loss") -> loss-curve chart
 *   manifest.json     optional training manifest (rag-workbench.manifest/1, see
 *                     data/governance.h): {"sources": [{"id", "classification",
 *                     "examples" | "count" | "documents", "withdrawn"?}, ...],
 *                     "examples_accepted", "examples_rejected", "rejected": {reason: n}}
 *                     -> counts by classification and a summary line
 *   timings.json      optional {"<stage>": seconds, ...} from the caller (training etc.),
 *                     shown beside the evaluation timings of comparison.json
 * Written: report.html, report.md, metrics.json (summary: decision, per-metric means, CIs,
 * p-values), charts/metrics.svg, charts/winloss.svg, charts/loss.svg (when a log exists).
 * Files are written atomically (temp + rename). */
#ifndef RW_EVAL_REPORT_H
#define RW_EVAL_REPORT_H

#include "core/status.h"

rw_status eval_report_write(const char *run_dir, rw_err *err);

#endif
