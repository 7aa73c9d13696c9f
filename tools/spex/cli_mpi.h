/* MPI for `spex explain` and `spex work` (spex/mpi.h): under mpirun, every
 * rank opens the same target; ranks 1..N-1 then serve it to rank 0, which
 * runs the command with the workers' value function in place of its own. */
#ifndef SPEX_CLI_MPI_H
#define SPEX_CLI_MPI_H

#include "target.h"
#include "spex/mpi.h"

/* The options (--mpi-chunk, --mpi-deadline), listed in --help. */
extern const cli_opt cli_mpi_opts[];

/* After the target is open. A job of one rank: nothing. A worker: serves t
 * until rank 0 is done and sets *worker (the command then just returns the
 * status). Rank 0: t->vf becomes the workers' value function (the target's
 * own is kept in t->inner, for its state) and, when --batch-size was not
 * given, eo->batch_size grows to 256 masks per worker. Returns an exit status
 * after printing the problem. */
int cli_mpi_attach(spex_ctx *ctx, spex_mpi *mp, const cli_opt *o, const char *cmd, cli_target *t,
                   spex_explain_opts *eo, int *worker);

#endif
