/* The registry of `spex explain` targets: one line per target, in --help
 * order (target.h). A new lens is one file, target_<name>.c defining
 * cli_target_<name>, and one line here. Also the release of an opened
 * target, the same for every kind. */
#include <stdlib.h>
#include <string.h>

#include "target.h"

#define CLI_TARGETS(X)                                                                             \
    X(game)                                                                                        \
    X(exec)                                                                                        \
    X(llm)                                                                                         \
    X(heads)                                                                                       \
    X(heads_server) /* target_heads.c: the mechanistic lens over spex serve */                     \
    X(server)       /* target_llm.c: the prompt lens over --server */                              \
    X(data)

#define DECLARE(name) extern const cli_target_kind cli_target_##name;
CLI_TARGETS(DECLARE)
#undef DECLARE

#define ENTRY(name) &cli_target_##name,
const cli_target_kind *const cli_target_kinds[] = {CLI_TARGETS(ENTRY) NULL};
#undef ENTRY

void cli_target_close(cli_target *t) {
    spex_valuefn_release(&t->vf);
    spex_valuefn_release(&t->inner);
    if (t->free_state) t->free_state(t->state);
    if (t->names)
        for (int64_t j = 0; j < t->n; j++)
            free(t->names[j]);
    free(t->names);
    free(t->fingerprint);
    free(t->label);
    memset(t, 0, sizeof *t);
}
