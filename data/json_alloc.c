/* Jansson's allocator hook (see json_alloc.h). */
#include "data/json_alloc.h"

#include <jansson.h>

#include "core/alloc.h"

void data_json_alloc_init(void) { json_set_alloc_funcs(rw_malloc, rw_free); }
