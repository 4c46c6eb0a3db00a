/* Routes Jansson's heap use through rw_malloc / rw_free, so the whole process allocates
 * through core/alloc.h as CONVENTIONS.md asks.
 *
 * Where it is called, and why not a constructor: the programs call data_json_alloc_init()
 * first thing in main (rag-admin, rag-eval, rag-train, rag-adapter). A constructor would
 * not do: (1) in a static library an object file nobody references is not linked, so its
 * constructor silently never runs; (2) it would also run in every test binary, where the
 * allocation-failure tests (rw_alloc_fail_after) would then fail Jansson's allocations too,
 * and Jansson reports those as a parse error ("out of memory" in json_error_t) or a NULL
 * from json_string/json_object_set_new, which many call sites treat as bad input or do not
 * check: an injected failure would turn into a format error or a silently missing field
 * instead of RW_E_NOMEM. Test binaries therefore keep Jansson on libc's allocator unless a
 * test calls this itself (tests/data/test_json_alloc.c does, in its own process).
 *
 * Invariants: process-wide (json_set_alloc_funcs); call before any other Jansson call and
 * before threads start. Idempotent. Memory Jansson allocated before the call stays valid:
 * rw_malloc/rw_free are malloc/free underneath, so either may free the other's blocks
 * (callers that free() Jansson's json_dumps output remain correct). */
#ifndef RW_DATA_JSON_ALLOC_H
#define RW_DATA_JSON_ALLOC_H

void data_json_alloc_init(void);

#endif
