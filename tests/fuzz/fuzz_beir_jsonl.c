/* libFuzzer target for the BEIR corpus/queries JSONL reader (data/beir.c: one JSON object per
 * line, '_id' string or integer, 'text' string, optional 'title'). The reader takes a path,
 * so each input goes through one temp file. Every record handed out must have a non-empty
 * id and a text; every failure must carry a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/beir.h"

static rw_status check(void *user, const data_beir_record *rec, rw_err *err) {
    (void)user;
    (void)err;
    if (!rec->id || !*rec->id || !rec->text || !rec->title || rec->line == 0) __builtin_trap();
    return RW_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[] = "/tmp/fuzz_beir_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(fd);
    rw_err err;
    err.msg[0] = '\0';
    rw_status st = data_beir_read_jsonl(path, check, NULL, &err);
    if (st != RW_OK && err.msg[0] == '\0') __builtin_trap();
    unlink(path);
    return 0;
}
