/* Programmer-error checks. RW_ASSERT is always compiled in and aborts with file:line and a
 * message; RW_DASSERT is for costly invariant checks and exists only in Debug/Sanitize
 * builds (RW_DEBUG). Never use either on untrusted input: return an rw_status instead. */
#ifndef RW_CORE_ASSERT_H
#define RW_CORE_ASSERT_H

_Noreturn void rw_assert_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define RW_ASSERT(cond, ...) \
    do { \
        if (!(cond)) rw_assert_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
    } while (0)

#ifdef RW_DEBUG
#define RW_DASSERT(cond, ...) RW_ASSERT(cond, __VA_ARGS__)
#else
#define RW_DASSERT(cond, ...) ((void)0)
#endif

#endif
