/*
 * spex/spex.h - the whole public API of libspex in one include.
 *
 *     #include <spex/spex.h>
 *     cc prog.c $(pkg-config --cflags --libs spex)
 *
 * Each header below documents its part; spex/common.h (errors, the
 * context, allocation) is the one every other includes.
 */
#ifndef SPEX_SPEX_H
#define SPEX_SPEX_H

#include "spex/common.h"
#include "spex/version.h"

#include "spex/coefs.h"
#include "spex/masks.h"
#include "spex/rng.h"
#include "spex/value.h"

#include "spex/codes.h"
#include "spex/linalg.h"
#include "spex/transform.h"

#include "spex/query.h"
#include "spex/store.h"

#include "spex/explain.h"
#include "spex/topk.h"

#include "spex/backend.h"
#include "spex/data.h"
#include "spex/heads.h"
#include "spex/learn.h"
#include "spex/llm.h"
#include "spex/mpi.h"
#include "spex/plan.h"
#include "spex/prompt.h"
#include "spex/remote.h"
#include "spex/serve.h"

#include "spex/report.h"

#endif
