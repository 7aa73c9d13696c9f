/* Internals of src/core shared between its files (not public API). */
#ifndef SPEX_CORE_INT_H
#define SPEX_CORE_INT_H

#include "spex/common.h"

struct spex_ctx {
    char errmsg[1024];
    int errcode;
    int64_t fail_after; /* fault injection: see spexi_ctx_fail_alloc_after */
    int n_threads;
    spex_progress_fn progress;
    void *progress_user;
    spex_notice_fn notice;
    void *notice_user;
};

#endif
