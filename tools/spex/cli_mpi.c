/* MPI for the commands that ask a target (cli_mpi.h). */
#include "cli_mpi.h"

#include <stdio.h>
#include <string.h>

const cli_opt cli_mpi_opts[] = {
    {"mpi-chunk", "S",
     "under mpirun: masks per chunk sent to a worker so that a chunk\n"
     "takes about S seconds (default 2)",
     NULL},
    {"mpi-deadline", "S",
     "under mpirun: a chunk unanswered after S seconds (and 4x what it\n"
     "should take at the rate seen so far) is sent to an idle worker\n"
     "too; the first answer wins (default 30)",
     NULL},
    {NULL, NULL, NULL, NULL},
};

int cli_mpi_attach(spex_ctx *ctx, spex_mpi *mp, const cli_opt *o, const char *cmd, cli_target *t,
                   spex_explain_opts *eo, int *worker) {
    *worker = 0;
    int size = spex_mpi_size(mp);
    if (size < 2) return CLI_OK;
    spex_mpi_opts mo = spex_mpi_opts_default();
    const char *s;
    int rc = CLI_OK;
    if ((s = cli_get(o, "mpi-chunk"))) rc = cli_double("mpi-chunk", s, 1e-3, 1e6, &mo.chunk_s);
    if (!rc && (s = cli_get(o, "mpi-deadline")))
        rc = cli_double("mpi-deadline", s, 1e-3, 1e7, &mo.deadline_s);
    if (rc) return rc;
    const char *check = t->fingerprint ? t->fingerprint : "";
    if (spex_mpi_rank(mp) > 0) {
        *worker = 1;
        int src = spex_mpi_serve(ctx, mp, &t->vf, check);
        if (src) {
            fprintf(stderr, "spex %s: MPI rank %d: %s\n", cmd, spex_mpi_rank(mp), spex_errmsg(ctx));
            return cli_exit_code(src);
        }
        return CLI_OK;
    }
    spex_valuefn remote;
    int src = spex_mpi_valuefn(ctx, mp, t->n, check, &mo, &remote);
    if (src) {
        fprintf(stderr, "spex %s: %s\n", cmd, spex_errmsg(ctx));
        return cli_exit_code(src);
    }
    t->inner = t->vf;
    t->vf = remote;
    /* Every batch ends with workers idle while the last chunks finish (the
     * method needs the whole batch), so batches are long: 256 masks per
     * worker. Answers are saved and progress is shown while a batch runs. */
    if (!cli_get(o, "batch-size") && eo->batch_size < 256 * (int64_t)(size - 1))
        eo->batch_size = 256 * (int64_t)(size - 1);
    return CLI_OK;
}
